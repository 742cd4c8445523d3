//! The replay report: totals, the flows whose verdict changes grouped by workload, port and
//! deciding rules, the flows that could not be decided, and what was skipped or unreadable.
//! Its JSON shape is documented in docs/json.md.

use std::collections::HashMap;

use netpol_engine::impact::PolicyChange;
use netpol_engine::model::Direction;
use netpol_engine::{Endpoint, Engine, Protocol};
use serde::Serialize;

use super::decide::{Outcome, Replayed};
use super::deciding::{Deciding, sides};
use crate::recorded::Recording;

#[derive(Debug, Serialize)]
pub struct Report {
    pub files: Vec<String>,
    pub summary: Summary,
    /// The earliest and latest time of the flows read, when the records have times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_between: Option<[String; 2]>,
    pub changed_policies: Vec<PolicyChange>,
    pub newly_denied: Vec<Change>,
    pub newly_allowed: Vec<Change>,
    pub unresolvable: Vec<Unresolvable>,
    /// Decided flows recorded with a verdict the base does not give.
    pub recorded_differs: Vec<RecordedDiffers>,
    pub skipped: Vec<Skipped>,
    /// The first lines that could not be read.
    pub unread: Vec<UnreadLine>,
    /// Groups of the four lists above left out by `--limit`.
    pub groups_omitted: usize,
}

/// Counts of records (lines), except `distinct`.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Records of new connections: decided + unresolvable.
    pub read: usize,
    /// decided = unchanged + newly_denied + newly_allowed.
    pub decided: usize,
    /// Distinct flows (ends, protocol, port) among the decided records.
    pub distinct: usize,
    pub unchanged: usize,
    pub newly_denied: usize,
    pub newly_allowed: usize,
    pub unresolvable: usize,
    /// Decided records whose recorded verdict is not the base's.
    pub recorded_differs: usize,
    /// Records of a known format that are not new connections.
    pub skipped: usize,
    pub unread_lines: usize,
}

/// Recorded flows whose verdict changes, alike on both sides.
#[derive(Debug, Serialize)]
pub struct Change {
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub port: u16,
    /// Records.
    pub count: usize,
    /// Distinct flows among them.
    pub distinct: usize,
    pub before: Deciding,
    pub after: Deciding,
    pub example: Example,
}

/// The first record of a group, as recorded.
#[derive(Debug, Serialize)]
pub struct Example {
    pub from: String,
    pub to: String,
    pub at: String,
}

#[derive(Debug, Serialize)]
pub struct Unresolvable {
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub port: u16,
    pub count: usize,
    pub reason: String,
    pub at: String,
}

/// Records of one flow whose verdict, as recorded, is not the base's.
#[derive(Debug, Serialize)]
pub struct RecordedDiffers {
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub port: u16,
    pub count: usize,
    /// `allowed` or `denied`, as the recorder saw it.
    pub recorded: &'static str,
    /// The direction the recorder decided, when it saw one node only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    pub at: String,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub kind: &'static str,
    pub count: usize,
    pub description: &'static str,
}

#[derive(Debug, Serialize)]
pub struct UnreadLine {
    pub at: String,
    pub reason: String,
}

type GroupKey = (String, String, Protocol, u16, Deciding, Deciding);

pub fn build(
    recording: &Recording,
    replayed: &[Replayed],
    (before, after): (&Engine, &Engine),
    changed_policies: Vec<PolicyChange>,
    limit: usize,
) -> Report {
    let mut summary = Summary {
        skipped: recording.skipped.values().sum(),
        unread_lines: recording.unread_count,
        ..Summary::default()
    };
    let mut groups: HashMap<GroupKey, Change> = HashMap::new();
    let mut unresolvable = Vec::new();
    let mut recorded_differs = Vec::new();
    for flow in replayed {
        summary.read += flow.records;
        let (old, new) = match &flow.outcome {
            Outcome::Unresolvable(reason) => {
                summary.unresolvable += flow.records;
                unresolvable.push(Unresolvable {
                    from: flow.key.from.to_string(),
                    to: flow.key.to.to_string(),
                    protocol: flow.key.protocol,
                    port: flow.key.port,
                    count: flow.records,
                    reason: reason.clone(),
                    at: recording.at(flow.first),
                });
                continue;
            }
            Outcome::Decided { before, after } => (before, after),
        };
        summary.decided += flow.records;
        summary.distinct += 1;
        for (verdict, count, first) in flow.recorded_differs() {
            summary.recorded_differs += count;
            recorded_differs.push(RecordedDiffers {
                from: flow.key.from.to_string(),
                to: flow.key.to.to_string(),
                protocol: flow.key.protocol,
                port: flow.key.port,
                count,
                recorded: if verdict.allowed { "allowed" } else { "denied" },
                direction: verdict.direction,
                at: recording.at(first),
            });
        }
        match (old.decision.allowed, new.decision.allowed) {
            (true, false) => summary.newly_denied += flow.records,
            (false, true) => summary.newly_allowed += flow.records,
            _ => {
                summary.unchanged += flow.records;
                continue;
            }
        }
        let (was, now) = sides(&before.verdict(&old.flow), &after.verdict(&new.flow));
        let key = (
            name(after, new.flow.src),
            name(after, new.flow.dst),
            new.flow.protocol,
            new.flow.port,
            was,
            now,
        );
        let group = groups.entry(key).or_insert_with_key(|key| Change {
            from: key.0.clone(),
            to: key.1.clone(),
            protocol: key.2,
            port: key.3,
            count: 0,
            distinct: 0,
            before: key.4.clone(),
            after: key.5.clone(),
            example: Example {
                from: flow.key.from.to_string(),
                to: flow.key.to.to_string(),
                at: recording.at(flow.first),
            },
        });
        group.count += flow.records;
        group.distinct += 1;
    }
    let (mut newly_denied, mut newly_allowed): (Vec<Change>, Vec<Change>) =
        groups.into_values().partition(|g| g.before.allowed);
    for list in [&mut newly_denied, &mut newly_allowed] {
        list.sort_by(|a, b| {
            (b.count, &a.from, &a.to, a.protocol, a.port, &a.example.at).cmp(&(
                a.count,
                &b.from,
                &b.to,
                b.protocol,
                b.port,
                &b.example.at,
            ))
        });
    }
    unresolvable.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.at.cmp(&b.at)));
    recorded_differs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.at.cmp(&b.at)));
    let groups_omitted = [
        truncate(&mut newly_denied, limit),
        truncate(&mut newly_allowed, limit),
        truncate(&mut unresolvable, limit),
        truncate(&mut recorded_differs, limit),
    ]
    .iter()
    .sum();
    Report {
        files: recording.files.clone(),
        summary,
        recorded_between: recorded_between(recording),
        changed_policies,
        newly_denied,
        newly_allowed,
        unresolvable,
        recorded_differs,
        skipped: recording
            .skipped
            .iter()
            .map(|(skip, count)| Skipped {
                kind: skip.id(),
                count: *count,
                description: skip.describe(),
            })
            .collect(),
        unread: recording
            .unread
            .iter()
            .map(|u| UnreadLine {
                at: recording.at(u.place),
                reason: u.reason.clone(),
            })
            .collect(),
        groups_omitted,
    }
}

/// A pod by its workload (`namespace/kind/name`, else `namespace/pod`), an address as the
/// walkthroughs show it (a node's names the node).
fn name(engine: &Engine, endpoint: Endpoint) -> String {
    match engine.normalize(endpoint) {
        Endpoint::Pod(id) => engine.cluster.workload_name(id),
        address => engine.describe(address),
    }
}

fn truncate<T>(list: &mut Vec<T>, limit: usize) -> usize {
    let omitted = list.len().saturating_sub(limit);
    list.truncate(limit);
    omitted
}

fn recorded_between(recording: &Recording) -> Option<[String; 2]> {
    let mut times = recording.flows.iter().filter_map(|(flow, _)| flow.time);
    let first = times.next()?;
    let (earliest, latest) = times.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t)));
    Some([earliest.to_string(), latest.to_string()])
}
