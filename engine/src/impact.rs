//! Impact preview: the flows whose verdict changes between two states, grouped by workload and
//! port, with counts. It never enumerates every pod pair: pods are grouped into cells (pods
//! that both states treat alike), and only pairs of cells that a changed policy or a changed
//! pod can affect are evaluated, once per port class.

mod candidates;
mod cells;
mod changes;
mod ports;
mod report;

use std::time::Instant;

pub use changes::{PolicyChange, PolicyChangeKind};
pub use report::{Impact, ImpactGroup};

use crate::engine::Engine;

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
    let cells = cells::Cells::new(before, after);
    let candidates = candidates::collect(before, after, &cells, &changes);
    let mut report = report::Builder::new(&cells, changes);
    let mut port_classes = ports::PortClasses::new(before, after, &cells);
    for (pair, footprint) in candidates.iter() {
        if options.deadline.is_some_and(|d| Instant::now() >= d) {
            report.cut_short();
            break;
        }
        for class in port_classes.classes(pair, footprint) {
            let Some((flow_before, flow_after)) = cells.flows(pair, class.protocol, class.start)
            else {
                continue;
            };
            let was = before.decide(&flow_before).allowed;
            let now = after.decide(&flow_after).allowed;
            report.evaluated();
            if was != now {
                report.record(pair, class, now, &flow_after, after);
            }
        }
    }
    report.finish(options.max_groups)
}
