//! The connectivity map: which endpoints may reach which, on which ports of which protocols,
//! computed on classes rather than pod pairs.
//!
//! Pods that every policy treats alike form one class; addresses outside the pod network form
//! classes by the CIDRs policies name (and node addresses by their node's labels). Each side of
//! a pair is decided per behaviour and peer group by the engine's own tier walk, on the port
//! classes the rules draw (every port from 1 to 65535 of TCP, UDP and SCTP, and ICMP), so the
//! cost grows with the classes, not with the pods squared. The result is a set of edges from a
//! set of classes to a set of classes with the ports allowed; `expand` gives back every pair
//! of endpoints an edge stands for.

mod classes;
mod pairs;
mod peers;
mod portset;
mod sides;
#[cfg(test)]
mod tests;

use serde::Serialize;

pub use classes::{ClassId, ClassKind, EndpointClass};
pub use portset::PortSet;

use crate::cluster::PodId;
use crate::engine::Engine;
use crate::eval::{Endpoint, PortSpec};
use crate::model::Protocol;
use sides::{ALL, PortSetId, PortSets};

pub type SetId = u32;

/// Whether the two ends of an edge are on the same node: the own-node rule of NetworkPolicy
/// can set such pairs apart from the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NodeRelation {
    OtherNode,
    SameNode,
}

/// Which ports the map shows.
#[derive(Clone, Debug, Default)]
pub enum PortView {
    /// Every port of TCP, UDP and SCTP, and ICMP.
    All,
    /// The container ports the shown pods declare (every port when none declares any).
    #[default]
    ContainerPorts,
    /// These ports: a protocol (TCP for a number when `None`; a name takes its container
    /// port's) and a number or a name resolved on each destination.
    Only(Vec<(Option<Protocol>, PortSpec)>),
}

/// Which endpoints one end of the map shows.
#[derive(Clone, Debug, Default)]
pub struct Ends {
    /// Namespaces whose pods are shown; every namespace when empty.
    pub namespaces: Vec<String>,
    /// Namespaces whose pods are not shown.
    pub except_namespaces: Vec<String>,
    /// Only the classes of these pods (with the other filters).
    pub pods: Vec<PodId>,
    /// Addresses outside the pod network (node addresses, policy CIDRs, the rest) too.
    pub external: bool,
}

impl Ends {
    fn shows(&self, engine: &Engine, class: &EndpointClass) -> bool {
        let Some(ns) = class.namespace else {
            return self.external && self.pods.is_empty();
        };
        let name = engine.cluster.namespaces[ns as usize].name.as_str();
        let named = |list: &[String]| list.iter().any(|n| n == name);
        (self.namespaces.is_empty() || named(&self.namespaces))
            && !named(&self.except_namespaces)
            && (self.pods.is_empty()
                || class
                    .members
                    .iter()
                    .any(|m| matches!(m, Endpoint::Pod(p) if self.pods.contains(p))))
    }

    /// Every pod of these namespaces (all when empty), and the addresses when `external`.
    pub fn namespaces(namespaces: &[String], external: bool) -> Self {
        Self {
            namespaces: namespaces.to_vec(),
            external,
            ..Self::default()
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct MapOptions {
    pub from: Ends,
    pub to: Ends,
    pub ports: PortView,
}

/// One group of allowed traffic: every class of `from` may reach every class of `to` on
/// `ports` (for `relation`'s pairs only, when set).
#[derive(Clone, Debug, Serialize)]
pub struct Edge {
    pub from: SetId,
    pub to: SetId,
    pub ports: PortSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<NodeRelation>,
}

/// Figures of one computation.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapStats {
    pub pods: usize,
    pub classes: usize,
    pub shown_classes: usize,
    /// Single-direction and whole-flow evaluations by the engine.
    pub evaluations: usize,
    pub edges: usize,
    /// The ports shown were every port because no shown pod declares a container port.
    pub no_container_ports: bool,
}

#[derive(Clone, Debug)]
pub struct Map {
    pub classes: Vec<EndpointClass>,
    /// Sets of classes, each sorted; edges refer to them.
    pub sets: Vec<Vec<ClassId>>,
    pub edges: Vec<Edge>,
    pub stats: MapStats,
}

/// Computes the map of an engine's state.
pub fn map(engine: &Engine, options: &MapOptions) -> Map {
    let peers = peers::Peers::new(engine);
    let classes = classes::Classes::new(engine, &peers);
    let mut sets = PortSets::new();
    let sides = sides::Sides::new(engine, &peers, &classes, &mut sets);
    let list = &classes.classes;
    let shown = |ends: &Ends| -> Vec<ClassId> {
        (0..list.len() as ClassId)
            .filter(|c| ends.shows(engine, &list[*c as usize]))
            .collect()
    };
    let (from, to) = (shown(&options.from), shown(&options.to));
    let (view, no_container_ports) = port_view(engine, list, &to, &options.ports, &mut sets);
    let shown_classes = from
        .iter()
        .chain(&to)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let pairs = pairs::Pairs::new(engine, list, &sides, &mut sets, (from, to), &*view);
    let (grouped, evaluations) = pairs.run();
    let mut edges: Vec<Edge> = grouped
        .edges
        .iter()
        .map(|(from, to, relation, ports)| Edge {
            from: *from,
            to: *to,
            ports: sets.get(*ports).clone(),
            relation: *relation,
        })
        .collect();
    edges.sort_by(|a, b| {
        let first = |s: SetId| grouped.sets[s as usize].first().copied();
        (first(a.from), first(a.to), a.relation).cmp(&(first(b.from), first(b.to), b.relation))
    });
    Map {
        stats: MapStats {
            pods: engine.cluster.pods.len(),
            classes: list.len(),
            shown_classes,
            evaluations: sides.evaluations + evaluations,
            edges: edges.len(),
            no_container_ports,
        },
        classes: classes.classes,
        sets: grouped.sets,
        edges,
    }
}

type View = Box<dyn Fn(ClassId, &mut PortSets) -> PortSetId>;

/// The port set each destination class is restricted to; and whether the container-ports view
/// fell back to every port.
fn port_view(
    engine: &Engine,
    classes: &[EndpointClass],
    shown: &[ClassId],
    view: &PortView,
    sets: &mut PortSets,
) -> (View, bool) {
    match view {
        PortView::All => (Box::new(|_, _| ALL), false),
        PortView::ContainerPorts => {
            let mut declared = PortSet::default();
            for c in shown {
                if let Some(pod) = classes[*c as usize].pod(0) {
                    for port in &engine.cluster.pod(pod).ports {
                        declared.insert(port.protocol, port.port, port.port);
                    }
                }
            }
            if declared.is_empty() {
                return (Box::new(|_, _| ALL), true);
            }
            let id = sets.intern(declared);
            (Box::new(move |_, _| id), false)
        }
        PortView::Only(probes) => {
            let mut numbers = PortSet::default();
            let mut names: Vec<(Option<Protocol>, String)> = Vec::new();
            for (protocol, port) in probes {
                match port {
                    PortSpec::Number(n) => {
                        numbers.insert(protocol.unwrap_or(Protocol::Tcp), *n, *n)
                    }
                    PortSpec::Name(name) => names.push((*protocol, name.clone())),
                }
            }
            // Names resolve on each destination's pods (a class shares its named ports).
            let per_class: Vec<PortSet> = classes
                .iter()
                .map(|class| {
                    let mut set = numbers.clone();
                    if let Some(pod) = class.pod(0) {
                        let pod = engine.cluster.pod(pod);
                        for (protocol, name) in &names {
                            if let Some(p) = pod.named_port(name, *protocol) {
                                set.insert(p.protocol, p.port, p.port);
                            }
                        }
                    }
                    set
                })
                .collect();
            let ids: Vec<PortSetId> = per_class.into_iter().map(|s| sets.intern(s)).collect();
            (Box::new(move |c, _| ids[c as usize]), false)
        }
    }
}

impl Map {
    /// Every (source, destination, ports) pair of endpoints the edges stand for; a pod's
    /// traffic to itself is not a pair.
    pub fn expand(&self) -> impl Iterator<Item = (Endpoint, Endpoint, &PortSet)> + '_ {
        self.edges.iter().flat_map(move |edge| {
            let from = &self.sets[edge.from as usize];
            let to = &self.sets[edge.to as usize];
            from.iter().flat_map(move |s| {
                to.iter().flat_map(move |d| {
                    let (src, dst) = (&self.classes[*s as usize], &self.classes[*d as usize]);
                    (0..src.members.len()).flat_map(move |i| {
                        (0..dst.members.len()).filter_map(move |j| {
                            let (a, b) = (src.members[i], dst.members[j]);
                            if a == b {
                                return None;
                            }
                            if let Some(relation) = edge.relation {
                                let same = src.nodes[i].is_some() && src.nodes[i] == dst.nodes[j];
                                if same != (relation == NodeRelation::SameNode) {
                                    return None;
                                }
                            }
                            Some((a, b, &edge.ports))
                        })
                    })
                })
            })
        })
    }
}
