//! The impact report: changed policies, and flows newly denied or allowed grouped by workload
//! and port class, with pod-pair counts.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cells::{Cells, Pair, Remote};
use super::changes::PolicyChange;
use super::ports::PortClass;
use crate::engine::Engine;
use crate::eval::Flow;
use crate::model::Protocol;

/// Flows between two workloads (or a workload and an address range) on a port class whose
/// verdict changed the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImpactGroup {
    /// `namespace/kind/name` of a workload, `namespace/pod` of a bare pod, or an address.
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub port_start: u16,
    pub port_end: u16,
    /// Pod pairs (or pod-address pairs) affected.
    pub count: u64,
    /// One concrete flow of the group: source and destination pod names.
    pub example_from: String,
    pub example_to: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Impact {
    pub changed_policies: Vec<PolicyChange>,
    /// Total affected pod pairs per port class.
    pub newly_denied_count: u64,
    pub newly_allowed_count: u64,
    pub newly_denied: Vec<ImpactGroup>,
    pub newly_allowed: Vec<ImpactGroup>,
    /// Groups left out of the lists above by `max_groups` (their counts are in the totals).
    pub groups_omitted: usize,
    /// False when the time budget ran out: the result is a lower bound.
    pub complete: bool,
    /// Evaluations performed (pairs of cells × port classes), for the curious.
    pub evaluations: u64,
    pub pods_added: usize,
    pub pods_removed: usize,
}

/// Members of one end of a pair, counted per workload label.
type Side = std::rc::Rc<Vec<(std::rc::Rc<str>, u64)>>;

type GroupKey = (std::rc::Rc<str>, std::rc::Rc<str>, Protocol, u16, u16);

pub(super) struct Builder<'a> {
    cells: &'a Cells,
    /// Members of each cell (or an address) grouped by workload, computed once.
    sides: rustc_hash::FxHashMap<Remote, Side>,
    impact: Impact,
    denied: BTreeMap<GroupKey, ImpactGroup>,
    allowed: BTreeMap<GroupKey, ImpactGroup>,
}

impl<'a> Builder<'a> {
    pub fn new(cells: &'a Cells, changes: Vec<PolicyChange>) -> Self {
        let impact = Impact {
            changed_policies: changes,
            complete: true,
            pods_added: cells.added_pods,
            pods_removed: cells.removed_pods,
            ..Impact::default()
        };
        Self {
            cells,
            sides: Default::default(),
            impact,
            denied: BTreeMap::new(),
            allowed: BTreeMap::new(),
        }
    }

    pub fn cut_short(&mut self) {
        self.impact.complete = false;
    }

    pub fn evaluated(&mut self) {
        self.impact.evaluations += 1;
    }

    /// Adds every member pair of a changed cell pair, grouped by workload.
    pub fn record(
        &mut self,
        pair: &Pair,
        class: PortClass,
        now_allowed: bool,
        example: &Flow,
        after: &Engine,
    ) {
        let (sources, destinations) = (self.side(pair.src, after), self.side(pair.dst, after));
        let same_cell = pair.src == pair.dst;
        let (example_from, example_to) = (after.describe(example.src), after.describe(example.dst));
        for (from, from_count) in sources.iter() {
            for (to, to_count) in destinations.iter() {
                // Within one cell, a pod's pairs with itself are not part of this flow set.
                let count = from_count * to_count
                    - if same_cell && from == to {
                        *from_count
                    } else {
                        0
                    };
                if count == 0 {
                    continue;
                }
                let key = (
                    from.clone(),
                    to.clone(),
                    class.protocol,
                    class.start,
                    class.end,
                );
                let groups = if now_allowed {
                    &mut self.allowed
                } else {
                    &mut self.denied
                };
                let group = groups.entry(key).or_insert_with(|| ImpactGroup {
                    from: from.to_string(),
                    to: to.to_string(),
                    protocol: class.protocol,
                    port_start: class.start,
                    port_end: class.end,
                    count: 0,
                    example_from: example_from.clone(),
                    example_to: example_to.clone(),
                });
                group.count += count;
                if now_allowed {
                    self.impact.newly_allowed_count += count;
                } else {
                    self.impact.newly_denied_count += count;
                }
            }
        }
    }

    fn side(
        &mut self,
        remote: Remote,
        after: &Engine,
    ) -> std::rc::Rc<Vec<(std::rc::Rc<str>, u64)>> {
        let cells = self.cells;
        self.sides
            .entry(remote)
            .or_insert_with(|| {
                let groups = match remote {
                    Remote::Cell(c) => {
                        let mut groups: BTreeMap<String, u64> = BTreeMap::new();
                        for (_, pod) in &cells.cells[c as usize].members {
                            *groups.entry(after.cluster.workload_name(*pod)).or_default() += 1;
                        }
                        groups
                            .into_iter()
                            .map(|(k, v)| (std::rc::Rc::from(k), v))
                            .collect()
                    }
                    Remote::Address(ip) => vec![(std::rc::Rc::from(ip.to_string()), 1)],
                };
                std::rc::Rc::new(groups)
            })
            .clone()
    }

    pub fn finish(mut self, max_groups: Option<usize>) -> Impact {
        let order = |groups: BTreeMap<GroupKey, ImpactGroup>| {
            let mut list = merge_adjacent(groups.into_values());
            list.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to)))
            });
            list
        };
        let (mut denied, mut allowed) = (order(self.denied), order(self.allowed));
        self.impact.newly_denied_count = denied.iter().map(|g| g.count).sum();
        self.impact.newly_allowed_count = allowed.iter().map(|g| g.count).sum();
        if let Some(max) = max_groups {
            for list in [&mut denied, &mut allowed] {
                if list.len() > max {
                    self.impact.groups_omitted += list.len() - max;
                    list.truncate(max);
                }
            }
        }
        self.impact.newly_denied = denied;
        self.impact.newly_allowed = allowed;
        self.impact
    }
}

/// Joins groups of the same endpoints and protocol whose port ranges touch and whose counts
/// agree: port classes split where some policy draws a line, but the reader wants one range
/// where the change is the same. Input comes sorted by endpoints, protocol and start port.
fn merge_adjacent(groups: impl Iterator<Item = ImpactGroup>) -> Vec<ImpactGroup> {
    let mut merged: Vec<ImpactGroup> = Vec::new();
    for group in groups {
        if let Some(last) = merged.last_mut()
            && (&last.from, &last.to, last.protocol, last.count)
                == (&group.from, &group.to, group.protocol, group.count)
            && u32::from(last.port_end) + 1 == u32::from(group.port_start)
        {
            last.port_end = group.port_end;
            continue;
        }
        merged.push(group);
    }
    merged
}
