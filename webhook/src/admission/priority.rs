//! Equal priorities in one admin tier: upstream leaves the order of such policies undefined, so
//! when the verdict of some flow (after everything below the tie) differs between the two
//! orders, the outcome depends on the implementation. Different actions that end in the same
//! verdict either way are latent: admitted with a warning naming what would make them real.
//! The analysis is the engine's (`lint::conflicts_with`).

use netpol_engine::Engine;
use netpol_engine::lint::{ClashFlow, PriorityClash, conflicts_with};
use netpol_engine::model::{AdminPolicy, PolicyRef};

use crate::settings::PriorityMode;

/// The priorities the admin policy APIs accept.
const PRIORITY_RANGE: std::ops::RangeInclusive<u32> = 0..=1000;

/// Checks `policy` against the others in `engine` (see `conflicts_with` for which engine
/// serves): the denial message, or warnings pushed to `notes`.
pub fn check(
    engine: &Engine,
    policy: &AdminPolicy,
    mode: PriorityMode,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    if mode == PriorityMode::Off {
        return Ok(());
    }
    let clashes = conflicts_with(engine, policy);
    let Some(first) = clashes.first() else {
        return Ok(());
    };
    let id = &policy.id;
    let free = nearest_free(engine, id, first);
    let rejected: Vec<&PriorityClash> = clashes
        .iter()
        .filter(|c| match mode {
            PriorityMode::Unique => true,
            PriorityMode::Reject => c.conflict.is_some(),
            PriorityMode::Warn | PriorityMode::Off => false,
        })
        .collect();
    if !rejected.is_empty() {
        let reasons: Vec<String> = rejected.iter().map(|c| describe(c)).collect();
        return Err(format!(
            "field spec.priority: {id} has priority {} in the {:?} tier, {}. Nearest free priorities: {free}",
            first.priority,
            first.tier,
            reasons.join("; also ")
        ));
    }
    for clash in &clashes {
        let what = if clash.conflict.is_some() {
            "conflicts"
        } else if clash.latent.is_some() {
            "shared, latent conflict"
        } else {
            "shared, no conflict"
        };
        notes.push(format!(
            "priority {} {what} with {}; free: {free}",
            clash.priority, clash.other
        ));
        if let Some(flow) = &clash.conflict {
            notes.push(format!(
                "{}: {} with this first, {} with that first",
                actions(flow),
                verdict(flow.allowed_first),
                verdict(flow.allowed_other_first),
            ));
        }
        if let Some(flow) = &clash.latent {
            notes.push(format!(
                "{}, {} either way",
                actions(flow),
                verdict(flow.allowed_first)
            ));
            if let Some(change) = &flow.would_conflict_if {
                notes.push(format!("it would conflict {change}"));
            }
        }
    }
    Ok(())
}

fn describe(clash: &PriorityClash) -> String {
    let mut text = format!("as does {}", clash.other);
    if clash.shared_pod_count > 0 {
        let count = clash.shared_pod_count;
        text.push_str(&format!(
            "; both select {count} pod{} (e.g. {})",
            if count == 1 { "" } else { "s" },
            clash.shared_pods.join(", ")
        ));
    } else {
        text.push_str("; they select no common pod");
    }
    if let Some(flow) = &clash.conflict {
        text.push_str(&format!(
            ", and {} -> {} {}/{} ({}) gets {} from this policy's {} but {} from {}'s {}, \
             so it is {} with this policy first but {} with {} first; \
             upstream leaves the order of equal priorities undefined",
            flow.from,
            flow.to,
            flow.protocol,
            flow.port,
            flow.direction.as_str(),
            flow.action,
            flow.rule,
            flow.other_action,
            clash.other.name,
            flow.other_rule,
            verdict(flow.allowed_first),
            verdict(flow.allowed_other_first),
            clash.other.name,
        ));
    }
    text
}

/// A flow of a tie and the two policies' actions for it, as the warnings say it.
fn actions(flow: &ClashFlow) -> String {
    format!(
        "{} -> {} {}/{} gets {} here, {} there",
        flow.from, flow.to, flow.protocol, flow.port, flow.action, flow.other_action
    )
}

fn verdict(allowed: bool) -> &'static str {
    if allowed { "allowed" } else { "denied" }
}

/// The closest priorities below and above that no other policy of the tier uses.
fn nearest_free(engine: &Engine, id: &PolicyRef, clash: &PriorityClash) -> String {
    let used: std::collections::BTreeSet<u32> = engine
        .admin_policies()
        .filter(|(_, p)| p.id != *id && p.tier == clash.tier)
        .filter_map(|(_, p)| p.priority)
        .collect();
    let below = (*PRIORITY_RANGE.start()..clash.priority)
        .rev()
        .find(|p| !used.contains(p));
    let above = (clash.priority + 1..=*PRIORITY_RANGE.end()).find(|p| !used.contains(p));
    match (below, above) {
        (Some(b), Some(a)) => format!("{b} or {a}"),
        (Some(p), None) | (None, Some(p)) => p.to_string(),
        (None, None) => "none".into(),
    }
}
