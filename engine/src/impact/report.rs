//! The impact report: changed policies, and flows newly denied or allowed grouped by workload
//! and port class, with pod-pair counts.

use std::collections::BTreeMap;
use std::rc::Rc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::cells::{Cells, Pair, Remote, Unit};
use super::changes::PolicyChange;
use super::nodes::{self, Relation, Tally};
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

type Label = Rc<str>;

/// Pairs per (source label, destination label).
type Counts = Rc<Vec<(Label, Label, u64)>>;

type GroupKey = (Label, Label, Protocol, u16, u16);

pub(super) struct Builder<'a> {
    cells: &'a Cells,
    after: &'a Engine,
    /// Members of each cell (or address class) counted by workload (and node), computed once.
    tallies: FxHashMap<(Remote, bool), Rc<Tally<Label>>>,
    /// Pairs per label pair of each evaluated unit, computed once.
    counts: FxHashMap<(Pair, Relation), Counts>,
    impact: Impact,
    denied: BTreeMap<GroupKey, ImpactGroup>,
    allowed: BTreeMap<GroupKey, ImpactGroup>,
}

impl<'a> Builder<'a> {
    pub fn new(cells: &'a Cells, after: &'a Engine, changes: Vec<PolicyChange>) -> Self {
        let impact = Impact {
            changed_policies: changes,
            complete: true,
            pods_added: cells.added_pods,
            pods_removed: cells.removed_pods,
            ..Impact::default()
        };
        Self {
            cells,
            after,
            tallies: FxHashMap::default(),
            counts: FxHashMap::default(),
            impact,
            denied: BTreeMap::new(),
            allowed: BTreeMap::new(),
        }
    }

    /// The workload label (or address class label) of every member of a remote.
    fn labels(&self, remote: Remote) -> Vec<Label> {
        match remote {
            Remote::Cell(c) => {
                let mut interned: FxHashMap<String, Label> = FxHashMap::default();
                self.cells.cells[c as usize]
                    .members
                    .iter()
                    .map(|(_, pod)| {
                        let name = self.after.cluster.workload_name(*pod);
                        interned
                            .entry(name)
                            .or_insert_with_key(|k| Rc::from(k.as_str()))
                            .clone()
                    })
                    .collect()
            }
            Remote::Addresses(a) => {
                let class = &self.cells.addresses[a as usize];
                vec![class.label.clone(); class.members.len()]
            }
        }
    }

    /// A remote's members counted by label, and by label and node when `by_node`.
    fn tally(&mut self, remote: Remote, by_node: bool) -> Rc<Tally<Label>> {
        if let Some(tally) = self.tallies.get(&(remote, by_node)) {
            return tally.clone();
        }
        let labels = self.labels(remote);
        let members = labels
            .into_iter()
            .enumerate()
            .map(|(i, label)| (label, self.cells.place(remote, i)));
        let tally = Rc::new(Tally::new(members, by_node));
        self.tallies.insert((remote, by_node), tally.clone());
        tally
    }

    /// Pairs per label pair that a unit of `pair` stands for.
    fn counts(&mut self, pair: &Pair, relation: Relation) -> Counts {
        if let Some(counts) = self.counts.get(&(*pair, relation)) {
            return counts.clone();
        }
        let by_node = relation.is_some();
        let (sources, destinations) =
            (self.tally(pair.src, by_node), self.tally(pair.dst, by_node));
        let counts = match relation {
            None => {
                let same_cell = pair.src == pair.dst;
                let mut out = Vec::new();
                for (from, from_count) in &sources.total {
                    for (to, to_count) in &destinations.total {
                        // Within one cell, a pod's pairs with itself are not part of this set.
                        let own = if same_cell && from == to {
                            *from_count
                        } else {
                            0
                        };
                        out.push((from.clone(), to.clone(), from_count * to_count - own));
                    }
                }
                out
            }
            Some(relation) => nodes::split_counts(&sources, &destinations, relation),
        };
        let counts: Counts = Rc::new(counts.into_iter().filter(|c| c.2 > 0).collect());
        self.counts.insert((*pair, relation), counts.clone());
        counts
    }

    pub fn cut_short(&mut self) {
        self.impact.complete = false;
    }

    /// Adds the member pairs of a changed unit, grouped by workload.
    pub fn record(
        &mut self,
        pair: &Pair,
        relation: Relation,
        class: PortClass,
        now_allowed: bool,
        example: &Flow,
    ) {
        let counts = self.counts(pair, relation);
        let (example_from, example_to) = (
            self.after.describe(example.src),
            self.after.describe(example.dst),
        );
        for (from, to, count) in counts.iter() {
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
        }
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

impl super::Sink for Builder<'_> {
    fn evaluated(&mut self) {
        self.impact.evaluations += 1;
    }

    fn changed(&mut self, pair: &Pair, unit: &Unit, class: PortClass, now: bool, example: &Flow) {
        self.record(pair, unit.relation, class, now, example);
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
