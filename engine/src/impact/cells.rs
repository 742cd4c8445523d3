//! Cells: pods present in both states, grouped by their identity in each state, so that one
//! representative stands for all members in both evaluations; and the address classes.
//!
//! The own-node rule makes the node matter where one end of a pair is on a node (a host-network
//! pod, a node address): host-network pods are grouped by their node's labels too, and a pair of
//! such an end and a cell of pod-network pods is evaluated once per own-node relation (whether
//! the two ends are on the same node, in each state), each relation counting its own pairs.

use std::cell::OnceCell;

use rustc_hash::FxHashMap;

use super::addresses::{self, AddressClass};
use super::nodes::{self, Place, Places, Relation};
use crate::cluster::PodId;
use crate::engine::{Engine, IdentityId};
use crate::eval::{Endpoint, Flow};
use crate::model::Protocol;
use crate::selector::Labels;

pub(super) type CellId = u32;
pub(super) type ClassId = u32;

#[derive(Debug)]
pub(super) struct Cell {
    pub before: IdentityId,
    pub after: IdentityId,
    /// (before pod, after pod) of every member.
    pub members: Vec<(PodId, PodId)>,
    /// The node of every member, in each state.
    pub places: Vec<Place>,
    /// Some member's attributes changed between the states: pair it with everything.
    pub dirty: bool,
    /// Host-network pods (in either state): on a node, as the own-node rule sees them.
    pub on_node: bool,
}

/// One end of a candidate pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Remote {
    Cell(CellId),
    Addresses(ClassId),
}

/// An ordered (source, destination) pair of endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Pair {
    pub src: Remote,
    pub dst: Remote,
}

/// One evaluation of a pair: the relation it stands for and the members (by index) that
/// stand for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Unit {
    pub relation: Relation,
    src: usize,
    dst: usize,
}

pub(super) struct Cells {
    pub cells: Vec<Cell>,
    pub addresses: Vec<AddressClass>,
    by_before_identity: FxHashMap<IdentityId, Vec<CellId>>,
    by_after_identity: FxHashMap<IdentityId, Vec<CellId>>,
    /// Pods only in one state: not compared, only counted.
    pub added_pods: usize,
    pub removed_pods: usize,
    /// Where the members of each cell, then each address class, run: built when a pair needs it.
    places: Vec<OnceCell<Places>>,
}

/// How `nodes` peers see a pod: for a host-network pod, its node's labels (if the node is known).
fn node_view(engine: &Engine, pod: PodId) -> Option<Option<&Labels>> {
    engine.cluster.pod(pod).host_network.then(|| {
        engine
            .node_of(Endpoint::Pod(pod))
            .map(|n| &engine.cluster.nodes[n as usize].labels)
    })
}

impl Cells {
    pub fn new(before: &Engine, after: &Engine) -> Self {
        let same_topology = std::sync::Arc::ptr_eq(&before.cluster, &after.cluster);
        type Key<'a> = (
            IdentityId,
            IdentityId,
            Option<Option<&'a Labels>>,
            Option<Option<&'a Labels>>,
        );
        let mut by_key: FxHashMap<Key, CellId> = FxHashMap::default();
        let mut cells: Vec<Cell> = Vec::new();
        let mut matched_before = 0;
        for (after_pod, pod) in after.cluster.pods.iter().enumerate() {
            let after_pod = after_pod as PodId;
            let before_pod = if same_topology {
                Some(after_pod)
            } else {
                before.cluster.pod_by_name(&pod.namespace, &pod.name)
            };
            let Some(before_pod) = before_pod else {
                continue;
            };
            matched_before += 1;
            let dirty = !same_topology
                && (before.cluster.pod(before_pod) != pod
                    || before.cluster.namespace_labels(before_pod)
                        != after.cluster.namespace_labels(after_pod));
            let (view_before, view_after) =
                (node_view(before, before_pod), node_view(after, after_pod));
            let key = (
                before.identity_of(before_pod),
                after.identity_of(after_pod),
                view_before,
                view_after,
            );
            let id = *by_key.entry(key).or_insert_with(|| {
                cells.push(Cell {
                    before: key.0,
                    after: key.1,
                    members: Vec::new(),
                    places: Vec::new(),
                    dirty: false,
                    on_node: view_before.is_some() || view_after.is_some(),
                });
                (cells.len() - 1) as CellId
            });
            let cell = &mut cells[id as usize];
            cell.members.push((before_pod, after_pod));
            cell.places.push((
                before.cluster.pod_node[before_pod as usize],
                after.cluster.pod_node[after_pod as usize],
            ));
            cell.dirty |= dirty;
        }
        let mut by_before_identity: FxHashMap<IdentityId, Vec<CellId>> = FxHashMap::default();
        let mut by_after_identity: FxHashMap<IdentityId, Vec<CellId>> = FxHashMap::default();
        for (id, cell) in cells.iter().enumerate() {
            by_before_identity
                .entry(cell.before)
                .or_default()
                .push(id as CellId);
            by_after_identity
                .entry(cell.after)
                .or_default()
                .push(id as CellId);
        }
        let addresses = addresses::classes(before, after);
        Self {
            added_pods: after.cluster.pods.len() - matched_before,
            removed_pods: before.cluster.pods.len() - matched_before,
            places: (0..cells.len() + addresses.len())
                .map(|_| OnceCell::new())
                .collect(),
            cells,
            addresses,
            by_before_identity,
            by_after_identity,
        }
    }

    /// Cells whose members have this identity in the given state.
    pub fn of_identity(&self, in_after: bool, identity: IdentityId) -> &[CellId] {
        let map = if in_after {
            &self.by_after_identity
        } else {
            &self.by_before_identity
        };
        map.get(&identity).map_or(&[], Vec::as_slice)
    }

    /// Every cell and address class.
    pub fn remotes(&self) -> Vec<Remote> {
        let cells = (0..self.cells.len() as CellId).map(Remote::Cell);
        let addresses = (0..self.addresses.len() as ClassId).map(Remote::Addresses);
        cells.chain(addresses).collect()
    }

    /// How many members a remote has.
    pub fn len_of(&self, remote: Remote) -> usize {
        match remote {
            Remote::Cell(c) => self.cells[c as usize].members.len(),
            Remote::Addresses(a) => self.addresses[a as usize].members.len(),
        }
    }

    /// Member `i` of a remote in the before and after states.
    pub fn endpoints(&self, remote: Remote, i: usize) -> (Endpoint, Endpoint) {
        match remote {
            Remote::Cell(c) => {
                let (b, a) = self.cells[c as usize].members[i];
                (Endpoint::Pod(b), Endpoint::Pod(a))
            }
            Remote::Addresses(a) => {
                let ip = self.addresses[a as usize].members[i].0;
                (Endpoint::Address(ip), Endpoint::Address(ip))
            }
        }
    }

    /// Where the members of a remote run, indexed.
    pub fn places(&self, remote: Remote) -> &Places {
        let slot = match remote {
            Remote::Cell(c) => c as usize,
            Remote::Addresses(a) => self.cells.len() + a as usize,
        };
        self.places[slot]
            .get_or_init(|| Places::new((0..self.len_of(remote)).map(|i| self.place(remote, i))))
    }

    pub fn place(&self, remote: Remote, i: usize) -> Place {
        match remote {
            Remote::Cell(c) => self.cells[c as usize].places[i],
            Remote::Addresses(a) => self.addresses[a as usize].members[i].1,
        }
    }

    fn on_node(&self, remote: Remote) -> bool {
        match remote {
            Remote::Cell(c) => self.cells[c as usize].on_node,
            Remote::Addresses(a) => self.addresses[a as usize].on_node,
        }
    }

    /// Whether the own-node rule can tell members of a pair apart: one end on a node, the
    /// other pods on the pod network (which the rule compares with that node).
    pub fn split(&self, pair: &Pair) -> bool {
        let pods = |r: Remote| matches!(r, Remote::Cell(_)) && !self.on_node(r);
        (self.on_node(pair.src) && pods(pair.dst)) || (pods(pair.src) && self.on_node(pair.dst))
    }

    /// The evaluations a pair needs. A cell paired with itself uses two distinct members (a
    /// pod's traffic to itself is another matter), so a one-pod cell has none; a pair the
    /// own-node rule splits has one per relation its members have.
    pub fn units(&self, pair: &Pair) -> Vec<Unit> {
        if pair.src == pair.dst && matches!(pair.src, Remote::Cell(_)) {
            return if self.len_of(pair.src) >= 2 {
                vec![Unit {
                    relation: None,
                    src: 0,
                    dst: 1,
                }]
            } else {
                Vec::new()
            };
        }
        if !self.split(pair) {
            return vec![Unit {
                relation: None,
                src: 0,
                dst: 0,
            }];
        }
        nodes::relations(self.places(pair.src), self.places(pair.dst))
            .into_iter()
            .map(|(relation, src, dst)| Unit {
                relation: Some(relation),
                src,
                dst,
            })
            .collect()
    }

    /// The flows of one unit, in the before and after states.
    pub fn flows(&self, pair: &Pair, unit: &Unit, protocol: Protocol, port: u16) -> (Flow, Flow) {
        let (src_b, src_a) = self.endpoints(pair.src, unit.src);
        let (dst_b, dst_a) = self.endpoints(pair.dst, unit.dst);
        let flow = |src, dst| Flow {
            src,
            dst,
            protocol,
            port,
        };
        (flow(src_b, dst_b), flow(src_a, dst_a))
    }

    /// Every member pair (by index) a unit stands for.
    #[cfg(test)]
    pub fn expand(&self, pair: &Pair, relation: Relation) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for i in 0..self.len_of(pair.src) {
            for j in 0..self.len_of(pair.dst) {
                if pair.src == pair.dst && matches!(pair.src, Remote::Cell(_)) && i == j {
                    continue;
                }
                let (p, q) = (self.place(pair.src, i), self.place(pair.dst, j));
                if relation.is_none_or(|r| nodes::relation_of(p, q) == r) {
                    out.push((i, j));
                }
            }
        }
        out
    }
}
