//! The impact preview as warnings: how many flows the change newly denies and allows, with the
//! top examples, computed within a time budget.

use std::time::Instant;

use netpol_engine::Engine;
use netpol_engine::impact::{ImpactGroup, ImpactOptions, impact};

use crate::settings::Settings;

/// Pushes the preview's warnings; returns false when the budget ran out.
pub fn warn(
    before: &Engine,
    after: &Engine,
    deadline: Instant,
    settings: &Settings,
    notes: &mut Vec<String>,
) -> bool {
    let options = ImpactOptions {
        deadline: Some(deadline),
        max_groups: Some(settings.preview_examples),
    };
    let report = impact(before, after, &options);
    let mut summary = format!(
        "this change newly denies {} flows, newly allows {}",
        report.newly_denied_count, report.newly_allowed_count
    );
    if !report.complete {
        summary.push_str(&format!(
            " (preview cut short at its {} ms budget: at least)",
            settings.preview_budget.as_millis()
        ));
    }
    notes.push(summary);
    let examples = |label: &str, groups: &[ImpactGroup], notes: &mut Vec<String>| {
        for group in groups.iter().take(settings.preview_examples) {
            notes.push(format!("{label}: {}", describe(group)));
        }
    };
    examples("newly denied", &report.newly_denied, notes);
    examples("newly allowed", &report.newly_allowed, notes);
    report.complete
}

fn describe(group: &ImpactGroup) -> String {
    let ports = if group.port_start == group.port_end {
        group.port_start.to_string()
    } else {
        format!("{}-{}", group.port_start, group.port_end)
    };
    let pairs = if group.count == 1 { "pair" } else { "pairs" };
    format!(
        "{} -> {} {}/{ports} ({} pod {pairs})",
        group.from, group.to, group.protocol, group.count
    )
}
