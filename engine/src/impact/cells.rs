//! Cells: pods present in both states, grouped by their identity in each state, so that one
//! representative stands for all members in both evaluations.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::cluster::PodId;
use crate::engine::{Engine, IdentityId};
use crate::eval::{Endpoint, Flow};
use crate::model::Protocol;

pub(super) type CellId = u32;

#[derive(Debug)]
pub(super) struct Cell {
    pub before: IdentityId,
    pub after: IdentityId,
    /// (before pod, after pod) of every member.
    pub members: Vec<(PodId, PodId)>,
    /// Some member's attributes changed between the states: pair it with everything.
    pub dirty: bool,
}

/// The remote end of a candidate pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Remote {
    Cell(CellId),
    Address(IpAddr),
}

/// An ordered (source, destination) pair of endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Pair {
    pub src: Remote,
    pub dst: Remote,
}

pub(super) struct Cells {
    pub cells: Vec<Cell>,
    by_before_identity: FxHashMap<IdentityId, Vec<CellId>>,
    by_after_identity: FxHashMap<IdentityId, Vec<CellId>>,
    /// Pods only in one state: not compared, only counted.
    pub added_pods: usize,
    pub removed_pods: usize,
}

impl Cells {
    pub fn new(before: &Engine, after: &Engine) -> Self {
        let same_topology = std::sync::Arc::ptr_eq(&before.cluster, &after.cluster);
        let mut by_key: FxHashMap<(IdentityId, IdentityId), CellId> = FxHashMap::default();
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
            let key = (before.identity_of(before_pod), after.identity_of(after_pod));
            let id = *by_key.entry(key).or_insert_with(|| {
                cells.push(Cell {
                    before: key.0,
                    after: key.1,
                    members: Vec::new(),
                    dirty: false,
                });
                (cells.len() - 1) as CellId
            });
            let cell = &mut cells[id as usize];
            cell.members.push((before_pod, after_pod));
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
        Self {
            added_pods: after.cluster.pods.len() - matched_before,
            removed_pods: before.cluster.pods.len() - matched_before,
            cells,
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

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// The flows to evaluate for a pair, in the before and after states. A cell paired with
    /// itself uses two distinct members (a pod's traffic to itself is another matter); a
    /// one-pod cell paired with itself has no such flow.
    pub fn flows(&self, pair: &Pair, protocol: Protocol, port: u16) -> Option<(Flow, Flow)> {
        let (src_b, src_a, dst_b, dst_a) = match (pair.src, pair.dst) {
            (Remote::Cell(s), Remote::Cell(d)) if s == d => {
                let members = &self.cells[s as usize].members;
                let (first, second) = (members.first()?, members.get(1)?);
                (
                    Endpoint::Pod(first.0),
                    Endpoint::Pod(first.1),
                    Endpoint::Pod(second.0),
                    Endpoint::Pod(second.1),
                )
            }
            (src, dst) => {
                let (sb, sa) = self.endpoints(src);
                let (db, da) = self.endpoints(dst);
                (sb, sa, db, da)
            }
        };
        let flow = |src, dst| Flow {
            src,
            dst,
            protocol,
            port,
        };
        Some((flow(src_b, dst_b), flow(src_a, dst_a)))
    }

    fn endpoints(&self, remote: Remote) -> (Endpoint, Endpoint) {
        match remote {
            Remote::Cell(c) => {
                let (b, a) = self.cells[c as usize].members[0];
                (Endpoint::Pod(b), Endpoint::Pod(a))
            }
            Remote::Address(ip) => (Endpoint::Address(ip), Endpoint::Address(ip)),
        }
    }
}
