//! Endpoint classes: pods that every policy treats alike as a subject and as a peer, and
//! addresses outside the pod network that every policy treats alike.
//!
//! Identities (same namespace, labels, named ports, host networking and CIDR signature) are
//! the starting point; the map merges identities that no rule tells apart: the same policies
//! select them (so they decide alike as subjects) and the same peers match them (so they are
//! alike as the other end). Host-network pods are seen as their node, so they start split by
//! node. Pods on the pod network and endpoints on a node still differ by the own-node rule,
//! which the pair evaluation handles per relation.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::peers::{PeerId, Peers};
use crate::cluster::{NamespaceId, NodeId, PodId};
use crate::engine::{Applied, Engine, IdentityId};
use crate::eval::Endpoint;
use crate::impact::addresses;
use crate::model::ContainerPort;

pub type ClassId = u32;

/// What a class holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ClassKind {
    /// Pods on the pod network: the only endpoints policies select.
    Pods,
    /// Host-network pods: seen by policies as their node.
    HostNetwork,
    /// Addresses of nodes.
    NodeAddresses,
    /// Addresses that are no pod's or node's, one per region between the CIDRs policies name.
    Addresses,
}

impl ClassKind {
    pub fn is_pods(self) -> bool {
        matches!(self, Self::Pods | Self::HostNetwork)
    }
}

/// Endpoints no policy can tell apart (but for the own-node rule).
#[derive(Clone, Debug)]
pub struct EndpointClass {
    pub kind: ClassKind,
    pub namespace: Option<NamespaceId>,
    pub members: Vec<Endpoint>,
    /// The node of each member, when on one.
    pub nodes: Vec<Option<NodeId>>,
    /// How addresses are named: a CIDR, "rest of" one, or a node's address.
    pub label: Option<String>,
    /// The identity whose policy lists the members share (pods on the pod network).
    pub(super) identity: Option<IdentityId>,
}

impl EndpointClass {
    /// Whether the own-node rule can set members apart: host-network pods and node addresses.
    pub fn on_node(&self) -> bool {
        matches!(self.kind, ClassKind::HostNetwork | ClassKind::NodeAddresses)
    }

    /// Whether policies select the members (pods on the pod network).
    pub fn selectable(&self) -> bool {
        self.kind == ClassKind::Pods
    }

    pub fn pod(&self, i: usize) -> Option<PodId> {
        match self.members[i] {
            Endpoint::Pod(p) => Some(p),
            Endpoint::Address(_) => None,
        }
    }
}

/// A starting group: one identity (split by node for host-network pods), or an address class.
struct Atom {
    kind: ClassKind,
    namespace: Option<NamespaceId>,
    identity: Option<IdentityId>,
    members: Vec<Endpoint>,
    nodes: Vec<Option<NodeId>>,
    label: Option<String>,
}

pub(super) struct Classes {
    pub classes: Vec<EndpointClass>,
    /// The classes each peer matches, sorted.
    pub peer_members: Vec<Vec<ClassId>>,
}

fn atoms(engine: &Engine) -> Vec<Atom> {
    let cluster = &engine.cluster;
    let mut atoms = Vec::new();
    for (id, identity) in engine.identities().iter().enumerate() {
        let mut by_node: Vec<(Option<NodeId>, Vec<PodId>)> = Vec::new();
        for pod in &identity.members {
            let node = cluster.pod_node[*pod as usize];
            let key = if identity.host_network { node } else { None };
            match by_node.iter_mut().find(|(n, _)| *n == key) {
                Some((_, list)) => list.push(*pod),
                None => by_node.push((key, vec![*pod])),
            }
        }
        for (_, pods) in by_node {
            atoms.push(Atom {
                kind: if identity.host_network {
                    ClassKind::HostNetwork
                } else {
                    ClassKind::Pods
                },
                namespace: Some(identity.namespace),
                identity: (!identity.host_network).then_some(id as IdentityId),
                nodes: pods.iter().map(|p| cluster.pod_node[*p as usize]).collect(),
                members: pods.into_iter().map(Endpoint::Pod).collect(),
                label: None,
            });
        }
    }
    for class in addresses::classes(engine, engine) {
        let members: Vec<(IpAddr, Option<NodeId>)> = class
            .members
            .iter()
            .map(|(ip, place)| (*ip, place.0))
            .collect();
        atoms.push(Atom {
            kind: if class.on_node {
                ClassKind::NodeAddresses
            } else {
                ClassKind::Addresses
            },
            namespace: None,
            identity: None,
            nodes: members.iter().map(|(_, n)| *n).collect(),
            members: members
                .iter()
                .map(|(ip, _)| Endpoint::Address(*ip))
                .collect(),
            label: Some(class.label.to_string()),
        });
    }
    atoms
}

impl Classes {
    pub fn new(engine: &Engine, peers: &Peers) -> Self {
        let atoms = atoms(engine);
        let mut pods_in: Vec<Vec<u32>> = vec![Vec::new(); engine.cluster.namespaces.len()];
        let mut addressed = Vec::new();
        let mut on_node = Vec::new();
        for (i, atom) in atoms.iter().enumerate() {
            let i = i as u32;
            match atom.kind {
                ClassKind::Pods => pods_in[atom.namespace.expect("pods") as usize].push(i),
                ClassKind::HostNetwork | ClassKind::NodeAddresses => on_node.push(i),
                ClassKind::Addresses => {}
            }
            addressed.push(i);
        }
        let matched = peers.match_all(&pods_in, &addressed, &on_node, |a| {
            atoms[a as usize].members[0]
        });
        let mut signatures: Vec<Vec<PeerId>> = vec![Vec::new(); atoms.len()];
        for (peer, list) in matched.iter().enumerate() {
            for atom in list {
                signatures[*atom as usize].push(peer as PeerId);
            }
        }
        // Merge atoms no rule tells apart.
        type Key<'a> = (
            ClassKind,
            Option<NamespaceId>,
            &'a [PeerId],
            Option<&'a Applied>,
            &'a [ContainerPort],
            Option<&'a str>,
        );
        let no_ports: &[ContainerPort] = &[];
        let mut by_key: FxHashMap<Key, ClassId> = FxHashMap::default();
        let mut class_of_atom = Vec::with_capacity(atoms.len());
        let mut classes: Vec<EndpointClass> = Vec::new();
        for (i, atom) in atoms.iter().enumerate() {
            let ports = match atom.members[0] {
                Endpoint::Pod(p) => engine.cluster.pod(p).ports.as_slice(),
                Endpoint::Address(_) => no_ports,
            };
            // Regions of addresses stay apart: each is named by its CIDR.
            let label = match atom.kind {
                ClassKind::Addresses => atom.label.as_deref(),
                _ => None,
            };
            let key = (
                atom.kind,
                atom.namespace,
                signatures[i].as_slice(),
                atom.identity.map(|id| engine.applied(id)),
                ports,
                label,
            );
            let class = *by_key.entry(key).or_insert_with(|| {
                classes.push(EndpointClass {
                    kind: atom.kind,
                    namespace: atom.namespace,
                    members: Vec::new(),
                    nodes: Vec::new(),
                    label: atom.label.clone(),
                    identity: atom.identity,
                });
                (classes.len() - 1) as ClassId
            });
            let target = &mut classes[class as usize];
            target.members.extend(&atom.members);
            target.nodes.extend(&atom.nodes);
            if target.label != atom.label {
                target.label = None;
            }
            class_of_atom.push(class);
        }
        let peer_members = matched
            .iter()
            .map(|list| {
                let mut classes: Vec<ClassId> =
                    list.iter().map(|a| class_of_atom[*a as usize]).collect();
                classes.sort_unstable();
                classes.dedup();
                classes
            })
            .collect();
        Self {
            classes,
            peer_members,
        }
    }
}
