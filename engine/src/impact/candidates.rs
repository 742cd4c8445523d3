//! Which pairs of endpoints a change can affect, and on which ports.

use std::collections::BTreeMap;

use super::cells::{Cells, Pair, Remote};
use super::changes::PolicyChange;
use crate::engine::{Engine, Policy};
use crate::eval::matching::PeerMatch;
use crate::model::{AdminPeer, Direction, PortMatch};

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
    let remotes = cells.remotes();
    for change in changes {
        for (engine, in_after) in [(before, false), (after, true)] {
            if let Some(policy) = engine.policy(&change.policy) {
                policy_pairs(engine, in_after, cells, &policy, &remotes, &mut candidates);
            }
        }
    }
    for (id, cell) in cells.cells.iter().enumerate() {
        if cell.dirty {
            let me = Remote::Cell(id as u32);
            for other in &remotes {
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
    remotes: &[Remote],
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
                    for remote in admin_remotes(engine, in_after, cells, &rule.peers, remotes) {
                        add(remote, rule.ports.as_deref());
                    }
                }
            }
            // Isolation changes every flow of the subjects in that direction, addresses
            // included.
            Policy::Network(p) => {
                if p.rules(direction).is_some() {
                    for remote in remotes {
                        add(*remote, None);
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

/// Cells and address classes that some peer of a rule can match: what a peer sees of one
/// member it sees of all (cells group host-network pods by their node's labels, address classes
/// group node addresses by their node's labels and CIDRs).
fn admin_remotes(
    engine: &Engine,
    in_after: bool,
    cells: &Cells,
    peers: &[AdminPeer],
    remotes: &[Remote],
) -> Vec<Remote> {
    remotes
        .iter()
        .copied()
        .filter(|remote| {
            let (before, after) = cells.endpoints(*remote, 0);
            let view = engine.remote(if in_after { after } else { before });
            peers
                .iter()
                .any(|peer| engine.admin_peer_matches(peer, &view) == PeerMatch::Yes)
        })
        .collect()
}
