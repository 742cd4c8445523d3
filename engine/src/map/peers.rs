//! The distinct peers of every rule of every policy, and which pods and addresses each matches.
//! Equal peers (the same selector in many NetworkPolicies of a namespace, the same `networks`
//! in many admin policies) are one peer, matched once. Matching itself is the engine's
//! (`admin_peer_matches`, `net_peer_matches`): the map only chooses which candidates to ask.

use rustc_hash::FxHashMap;

use crate::cluster::NamespaceId;
use crate::engine::{AdminSlot, Engine, NetpolSlot};
use crate::eval::Endpoint;
use crate::eval::matching::{PeerMatch, Remote};
use crate::model::{AdminPeer, Direction, NetPeer, NetworkPolicy};
use crate::selector::Selector;

pub(super) type PeerId = u32;

/// A peer by value. A NetworkPolicy's pod peer without a namespace selector means the policy's
/// own namespace, so that namespace is part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key<'a> {
    Admin(&'a AdminPeer),
    Net(Option<&'a str>, &'a NetPeer),
}

/// Which candidates a peer can match at all, before asking the engine.
enum Reach<'a> {
    /// Pods on the pod network in these namespaces.
    Namespaces(Vec<NamespaceId>),
    /// Pods on the pod network in namespaces this selector matches.
    NamespacesMatching(&'a Selector),
    /// Anything with an address (pods, host-network pods, addresses).
    Addresses,
    /// Endpoints on a node: host-network pods and node addresses.
    Nodes,
    Nothing,
}

pub(super) struct Peers<'a> {
    engine: &'a Engine,
    ids: FxHashMap<Key<'a>, PeerId>,
    /// Each peer with the first policy it came from (pod peers read its namespace).
    peers: Vec<(Key<'a>, Option<&'a NetworkPolicy>)>,
    /// Peer ids of each policy's rules, by slot, for [ingress, egress].
    admin: Vec<[Vec<PeerId>; 2]>,
    netpol: Vec<[Vec<PeerId>; 2]>,
}

fn direction_index(direction: Direction) -> usize {
    match direction {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

impl<'a> Peers<'a> {
    pub fn new(engine: &'a Engine) -> Self {
        let mut peers = Self {
            engine,
            ids: FxHashMap::default(),
            peers: Vec::new(),
            admin: Vec::new(),
            netpol: Vec::new(),
        };
        for (slot, policy) in engine.admin_policies() {
            let mut lists: [Vec<PeerId>; 2] = Default::default();
            for direction in [Direction::Ingress, Direction::Egress] {
                for rule in policy.rules(direction) {
                    for peer in &rule.peers {
                        let id = peers.intern(Key::Admin(peer), None);
                        lists[direction_index(direction)].push(id);
                    }
                }
            }
            set(&mut peers.admin, slot as usize, lists);
        }
        for (slot, policy) in engine.network_policies() {
            let mut lists: [Vec<PeerId>; 2] = Default::default();
            for direction in [Direction::Ingress, Direction::Egress] {
                let rules = policy.rules(direction).unwrap_or_default();
                for peer in rules.iter().flat_map(|r| r.peers.iter().flatten()) {
                    let namespace = match peer {
                        NetPeer::Pods {
                            namespaces: None, ..
                        } => Some(policy.namespace.as_str()),
                        _ => None,
                    };
                    let id = peers.intern(Key::Net(namespace, peer), Some(policy));
                    lists[direction_index(direction)].push(id);
                }
            }
            set(&mut peers.netpol, slot as usize, lists);
        }
        peers
    }

    fn intern(&mut self, key: Key<'a>, policy: Option<&'a NetworkPolicy>) -> PeerId {
        *self.ids.entry(key).or_insert_with(|| {
            self.peers.push((key, policy));
            (self.peers.len() - 1) as PeerId
        })
    }

    /// The peers of an admin policy's rules in one direction.
    pub fn of_admin(&self, slot: AdminSlot, direction: Direction) -> &[PeerId] {
        &self.admin[slot as usize][direction_index(direction)]
    }

    /// The peers of a NetworkPolicy's rules in one direction.
    pub fn of_netpol(&self, slot: NetpolSlot, direction: Direction) -> &[PeerId] {
        &self.netpol[slot as usize][direction_index(direction)]
    }

    fn reach(&self, peer: PeerId) -> Reach<'a> {
        match self.peers[peer as usize].0 {
            Key::Admin(AdminPeer::Namespaces(ns))
            | Key::Admin(AdminPeer::Pods { namespaces: ns, .. }) => Reach::NamespacesMatching(ns),
            Key::Admin(AdminPeer::Nodes(_)) => Reach::Nodes,
            Key::Admin(AdminPeer::Networks(_)) | Key::Net(_, NetPeer::IpBlock(_)) => {
                Reach::Addresses
            }
            Key::Admin(AdminPeer::DomainNames(_)) => Reach::Nothing,
            Key::Net(Some(namespace), _) => Reach::Namespaces(
                self.engine
                    .cluster
                    .namespace(namespace)
                    .into_iter()
                    .collect(),
            ),
            Key::Net(None, NetPeer::Pods { namespaces, .. }) => match namespaces {
                Some(ns) => Reach::NamespacesMatching(ns),
                None => Reach::Nothing,
            },
        }
    }

    /// Whether the peer matches an endpoint, as the engine decides it.
    fn matches(&self, peer: PeerId, remote: &Remote) -> bool {
        match self.peers[peer as usize] {
            (Key::Admin(p), _) => self.engine.admin_peer_matches(p, remote) == PeerMatch::Yes,
            (Key::Net(_, p), Some(policy)) => self.engine.net_peer_matches(policy, p, remote),
            (Key::Net(..), None) => false,
        }
    }

    /// For every peer, the candidates (by index) it matches. `pods_in` lists the pod-network
    /// candidates of each namespace; `addressed` the candidates with an address; `on_node`
    /// those on a node; `endpoint` names a candidate's representative.
    pub fn match_all(
        &self,
        pods_in: &[Vec<u32>],
        addressed: &[u32],
        on_node: &[u32],
        endpoint: impl Fn(u32) -> Endpoint,
    ) -> Vec<Vec<u32>> {
        let cluster = &self.engine.cluster;
        let mut namespaces_of: FxHashMap<&Selector, Vec<NamespaceId>> = FxHashMap::default();
        let mut out = Vec::with_capacity(self.peers.len());
        for peer in 0..self.peers.len() as PeerId {
            let candidates: Vec<u32> = match self.reach(peer) {
                Reach::Namespaces(list) => list
                    .iter()
                    .flat_map(|n| pods_in[*n as usize].iter().copied())
                    .collect(),
                Reach::NamespacesMatching(selector) => {
                    let list = namespaces_of.entry(selector).or_insert_with(|| {
                        (0..cluster.namespaces.len() as NamespaceId)
                            .filter(|n| selector.matches(&cluster.namespaces[*n as usize].labels))
                            .collect()
                    });
                    list.iter()
                        .flat_map(|n| pods_in[*n as usize].iter().copied())
                        .collect()
                }
                Reach::Addresses => addressed.to_vec(),
                Reach::Nodes => on_node.to_vec(),
                Reach::Nothing => Vec::new(),
            };
            let matched = candidates
                .into_iter()
                .filter(|c| self.matches(peer, &self.engine.remote(endpoint(*c))))
                .collect();
            out.push(matched);
        }
        out
    }
}

fn set<T: Default>(list: &mut Vec<T>, at: usize, value: T) {
    if list.len() <= at {
        list.resize_with(at + 1, T::default);
    }
    list[at] = value;
}
