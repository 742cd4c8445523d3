//! Impact preview: the flows whose verdict changes between two states, grouped by workload and
//! port, with counts. It never enumerates every pod pair: pods are grouped into cells (pods
//! that both states treat alike) and addresses into classes, and only pairs that a changed
//! policy or a changed pod can affect are evaluated, once per port class (and per own-node
//! relation where one end is on a node).

pub(crate) mod addresses;
mod candidates;
mod cells;
mod changes;
pub(crate) mod nodes;
pub(crate) mod ports;
mod report;
#[cfg(test)]
pub(crate) mod tests;

use std::time::Instant;

pub use changes::{PolicyChange, PolicyChangeKind, policy_changes};
pub use report::{Impact, ImpactGroup};

use crate::engine::Engine;
use crate::eval::Flow;
use cells::{Cells, Pair, Unit};
use ports::PortClass;

/// Limits for interactive use (the admission webhook has a time budget).
#[derive(Clone, Debug, Default)]
pub struct ImpactOptions {
    /// Stop evaluating at this instant and report a partial result.
    pub deadline: Option<Instant>,
    /// How many groups to keep per change direction (the counts cover all of them).
    pub max_groups: Option<usize>,
}

/// Computes what changes from `before` to `after`.
pub fn impact(before: &Engine, after: &Engine, options: &ImpactOptions) -> Impact {
    let changes = changes::policy_changes(before, after);
    let cells = Cells::new(before, after);
    let mut report = report::Builder::new(&cells, after, changes.clone());
    if !evaluate(
        before,
        after,
        &cells,
        &changes,
        options.deadline,
        &mut report,
    ) {
        report.cut_short();
    }
    report.finish(options.max_groups)
}

/// Where the changed units go: the report, or a test that expands them.
trait Sink {
    fn evaluated(&mut self);
    fn changed(&mut self, pair: &Pair, unit: &Unit, class: PortClass, now: bool, example: &Flow);
}

/// Evaluates every candidate pair in both states; false when the deadline cut it short.
fn evaluate(
    before: &Engine,
    after: &Engine,
    cells: &Cells,
    changes: &[PolicyChange],
    deadline: Option<Instant>,
    sink: &mut impl Sink,
) -> bool {
    let candidates = candidates::collect(before, after, cells, changes);
    let mut port_classes = ports::PortClasses::new(before, after, cells);
    for (pair, footprint) in candidates.iter() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        let units = cells.units(pair);
        if units.is_empty() {
            continue;
        }
        for class in port_classes.classes(pair, footprint) {
            for unit in &units {
                let (flow_before, flow_after) =
                    cells.flows(pair, unit, class.protocol, class.start);
                let was = before.decide(&flow_before).allowed;
                let now = after.decide(&flow_after).allowed;
                sink.evaluated();
                if was != now {
                    sink.changed(pair, unit, class, now, &flow_after);
                }
            }
        }
    }
    true
}
