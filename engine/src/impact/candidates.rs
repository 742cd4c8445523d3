//! Which pairs of endpoints a change can affect, and on which ports.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::cells::{CellId, Cells, Pair, Remote};
use super::changes::PolicyChange;
use crate::engine::{Engine, Policy};
use crate::eval::Endpoint;
use crate::model::{AdminPeer, Direction, NetPeer, PortMatch};

/// The ports on which a pair's verdict may change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Footprint {
    pub all_ports: bool,
    pub ports: Vec<PortMatch>,
}

impl Footprint {
    fn merge(&mut self, ports: Option<&[PortMatch]>) {
        match ports {
            None => self.all_ports = true,
            Some(_) if self.all_ports => {}
            Some(ports) => {
                for p in ports {
                    if !self.ports.contains(p) {
                        self.ports.push(p.clone());
                    }
                }
            }
        }
    }
}

pub(super) struct Candidates {
    pairs: BTreeMap<Pair, Footprint>,
}

impl Candidates {
    pub fn iter(&self) -> impl Iterator<Item = (&Pair, &Footprint)> {
        self.pairs.iter()
    }

    fn add(&mut self, pair: Pair, ports: Option<&[PortMatch]>) {
        self.pairs.entry(pair).or_default().merge(ports);
    }
}

pub(super) fn collect(
    before: &Engine,
    after: &Engine,
    cells: &Cells,
    changes: &[PolicyChange],
) -> Candidates {
    let mut candidates = Candidates {
        pairs: BTreeMap::new(),
    };
    let all_cells: Vec<Remote> = (0..cells.len() as CellId).map(Remote::Cell).collect();
    for change in changes {
        for (engine, in_after) in [(before, false), (after, true)] {
            if let Some(policy) = engine.policy(&change.policy) {
                policy_pairs(
                    engine,
                    in_after,
                    cells,
                    &policy,
                    &all_cells,
                    &mut candidates,
                );
            }
        }
    }
    for (id, cell) in cells.cells.iter().enumerate() {
        if cell.dirty {
            let me = Remote::Cell(id as CellId);
            for other in &all_cells {
                candidates.add(
                    Pair {
                        src: me,
                        dst: *other,
                    },
                    None,
                );
                candidates.add(
                    Pair {
                        src: *other,
                        dst: me,
                    },
                    None,
                );
            }
        }
    }
    candidates
}

fn policy_pairs(
    engine: &Engine,
    in_after: bool,
    cells: &Cells,
    policy: &Policy,
    all_cells: &[Remote],
    candidates: &mut Candidates,
) {
    let subjects: Vec<Remote> = subject_identities(engine, policy)
        .into_iter()
        .flat_map(|identity| cells.of_identity(in_after, identity).iter().copied())
        .map(Remote::Cell)
        .collect();
    if subjects.is_empty() {
        return;
    }
    for direction in [Direction::Egress, Direction::Ingress] {
        let mut add = |remote: Remote, ports: Option<&[PortMatch]>| {
            for subject in &subjects {
                let pair = match direction {
                    Direction::Egress => Pair {
                        src: *subject,
                        dst: remote,
                    },
                    Direction::Ingress => Pair {
                        src: remote,
                        dst: *subject,
                    },
                };
                candidates.add(pair, ports);
            }
        };
        match policy {
            Policy::Admin(p) => {
                for rule in p.rules(direction) {
                    let remotes = admin_remotes(engine, in_after, cells, &rule.peers, all_cells);
                    for remote in remotes {
                        add(remote, rule.ports.as_deref());
                    }
                }
            }
            // Isolation changes every flow of the subjects in that direction.
            Policy::Network(p) => {
                let Some(rules) = p.rules(direction) else {
                    continue;
                };
                for remote in all_cells {
                    add(*remote, None);
                }
                for rule in rules {
                    for peer in rule.peers.iter().flatten() {
                        if let NetPeer::IpBlock(block) = peer {
                            for ip in representative_addresses(engine, &block.cidr) {
                                add(Remote::Address(ip), None);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn subject_identities(engine: &Engine, policy: &Policy) -> Vec<u32> {
    match policy {
        Policy::Admin(p) => engine.selected_identities(&p.subject),
        Policy::Network(p) => (0..engine.identities().len() as u32)
            .filter(|id| {
                let identity = &engine.identities()[*id as usize];
                let pod = engine.cluster.pod(identity.representative);
                !identity.host_network
                    && pod.namespace == p.namespace
                    && p.pod_selector.matches(&pod.labels)
            })
            .collect(),
    }
}

/// Cells and addresses that some peer of a rule can match.
fn admin_remotes(
    engine: &Engine,
    in_after: bool,
    cells: &Cells,
    peers: &[AdminPeer],
    all_cells: &[Remote],
) -> Vec<Remote> {
    let mut remotes = Vec::new();
    for peer in peers {
        match peer {
            AdminPeer::Namespaces(_) | AdminPeer::Pods { .. } | AdminPeer::Networks(_) => {
                for remote in all_cells {
                    let Remote::Cell(cell) = remote else { continue };
                    let cell = &cells.cells[*cell as usize];
                    let pod = if in_after {
                        cell.members[0].1
                    } else {
                        cell.members[0].0
                    };
                    let view = engine.remote(Endpoint::Pod(pod));
                    if engine.admin_peer_matches(peer, &view)
                        == crate::eval::matching::PeerMatch::Yes
                    {
                        remotes.push(*remote);
                    }
                }
                if let AdminPeer::Networks(blocks) = peer {
                    for block in blocks {
                        remotes.extend(
                            representative_addresses(engine, &block.cidr)
                                .into_iter()
                                .map(Remote::Address),
                        );
                    }
                }
            }
            AdminPeer::Nodes(selector) => {
                for node in &engine.cluster.nodes {
                    if selector.matches(&node.labels) {
                        remotes.extend(node.addresses.first().copied().map(Remote::Address));
                    }
                }
            }
            AdminPeer::DomainNames(_) => {}
        }
    }
    remotes.sort();
    remotes.dedup();
    remotes
}

/// An address inside a CIDR that is no pod's, standing for the rest of the range.
fn representative_addresses(engine: &Engine, cidr: &ipnet::IpNet) -> Vec<IpAddr> {
    cidr.hosts()
        .take(64)
        .find(|ip| engine.cluster.pod_by_ip(ip).is_none())
        .into_iter()
        .collect()
}
