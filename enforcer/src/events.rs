//! Verdict events: which policy and rule decided a connection, as one JSON line per event.
//!
//! The queue threads only choose and hand over: a denied connection, or one an audited policy
//! would decide otherwise, always (up to a rate, the rest counted); an allowed one every Nth.
//! A writer thread turns each into its line (names, policy, rule), writes it to standard output
//! when asked, and keeps the last lines in a ring for readers. The hand-over never blocks: when
//! the writer falls behind, events are dropped and counted, never silently lost.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::SystemTime;

use netpol_engine::eval::{Decider, DirectionDecision};
use netpol_engine::events::{AuditEvent, DecidedBy, FlowEvent, RuleRef};
use netpol_engine::model::Direction;
use netpol_engine::{Endpoint, Flow};

use crate::decide::{Outcome, Snapshot};
use crate::metrics::{EventDropLabels, Metrics};
use crate::verdict::RateLimit;

/// How verdict events are chosen and kept.
#[derive(Clone, Debug)]
pub struct EventSettings {
    pub node: String,
    /// Denied (and audit) events per second; the rest are counted as dropped. 0: none.
    pub denied_per_second: u32,
    /// One allowed connection in this many yields an event; 0: none.
    pub sample_allowed: u64,
    /// Events kept for readers.
    pub ring: usize,
    /// Write each event as a JSON line on standard output.
    pub log: bool,
}

/// A decided connection handed to the writer.
pub struct Record {
    pub time: SystemTime,
    pub snapshot: Arc<Snapshot>,
    pub flow: Flow,
    pub outcome: Outcome,
    /// The answer an egress allowed through DNS rested on (`Engine::answer_used`), found when
    /// the event was admitted, while the answer still lived.
    pub via_dns: Option<String>,
}

/// The last events, numbered, for readers that follow.
#[derive(Debug, Default)]
pub struct Ring {
    lines: Mutex<(u64, VecDeque<Arc<str>>)>,
    added: Condvar,
}

impl Ring {
    fn push(&self, line: Arc<str>, capacity: usize) {
        let mut guard = self.lines.lock().expect("ring lock");
        guard.0 += 1;
        guard.1.push_back(line);
        while guard.1.len() > capacity {
            guard.1.pop_front();
        }
        drop(guard);
        self.added.notify_all();
    }

    /// The lines after number `after` (0: all kept), and the number of the last one; waits up
    /// to `wait` for one when there is none.
    pub fn since(&self, after: u64, wait: std::time::Duration) -> (Vec<Arc<str>>, u64) {
        let guard = self.lines.lock().expect("ring lock");
        let (guard, _) = self
            .added
            .wait_timeout_while(guard, wait, |(last, _)| *last <= after)
            .expect("ring lock");
        let (last, lines) = &*guard;
        let first = last - lines.len() as u64;
        let skip = after.saturating_sub(first) as usize;
        (lines.iter().skip(skip).cloned().collect(), *last)
    }
}

/// The queue threads' side: chooses events and hands them to the writer.
#[derive(Debug)]
pub struct Events {
    settings: EventSettings,
    limit: RateLimit,
    allowed_seen: AtomicU64,
    sender: SyncSender<Record>,
    pub ring: Arc<Ring>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record").finish_non_exhaustive()
    }
}

/// How many events may wait for the writer.
const BACKLOG: usize = 4096;

impl Events {
    /// Starts the writer thread.
    pub fn start(settings: EventSettings, metrics: Arc<Metrics>) -> std::io::Result<Arc<Self>> {
        let (sender, receiver) = sync_channel(BACKLOG);
        let ring = Arc::new(Ring::default());
        let events = Arc::new(Self {
            limit: RateLimit::new(settings.denied_per_second),
            allowed_seen: AtomicU64::new(0),
            sender,
            ring: ring.clone(),
            settings: settings.clone(),
        });
        std::thread::Builder::new()
            .name("flow-events".into())
            .spawn(move || write_loop(receiver, &settings, &ring, &metrics))?;
        Ok(events)
    }

    /// Hands a decided connection over when it is due an event; `make` builds the record only
    /// then.
    pub fn offer(&self, outcome: &Outcome, metrics: &Metrics, make: impl FnOnce() -> Record) {
        let due = if !outcome.allowed || outcome.audit.is_some() {
            let admitted = self.settings.denied_per_second > 0 && self.limit.admit();
            if !admitted {
                count_drop(metrics, "rate-limit");
            }
            admitted
        } else {
            let every = self.settings.sample_allowed;
            every > 0
                && self
                    .allowed_seen
                    .fetch_add(1, Ordering::Relaxed)
                    .is_multiple_of(every)
        };
        if !due {
            return;
        }
        match self.sender.try_send(make()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => count_drop(metrics, "backlog"),
            Err(TrySendError::Disconnected(_)) => count_drop(metrics, "writer-gone"),
        }
    }
}

fn count_drop(metrics: &Metrics, reason: &'static str) {
    metrics
        .events_dropped
        .get_or_create(&EventDropLabels { reason })
        .inc();
}

fn write_loop(
    receiver: Receiver<Record>,
    settings: &EventSettings,
    ring: &Ring,
    metrics: &Metrics,
) {
    let stdout = std::io::stdout();
    for record in receiver {
        let Some(event) = event(&record, &settings.node) else {
            continue;
        };
        let Ok(line) = serde_json::to_string(&event) else {
            continue;
        };
        if settings.log {
            let mut out = stdout.lock();
            if writeln!(out, "{line}").is_err() {
                count_drop(metrics, "stdout");
            }
        }
        metrics.events.inc();
        ring.push(Arc::from(line), settings.ring);
    }
}

pub fn tier(decider: Decider) -> &'static str {
    match decider {
        Decider::Admin => "admin",
        Decider::NetworkPolicy => "networkPolicy",
        Decider::Baseline => "baseline",
        Decider::Default => "default",
        Decider::ResidentNode => "residentNode",
        Decider::NotSelectable => "notSelectable",
    }
}

pub fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Egress => "egress",
        Direction::Ingress => "ingress",
    }
}

/// The policy and rule behind one direction's decision, named with `engine`'s policies.
pub fn decided_by(
    engine: &netpol_engine::Engine,
    direction: Direction,
    decision: &DirectionDecision,
    flow: &Flow,
) -> DecidedBy {
    let mut by = DecidedBy {
        tier: tier(decision.decider).to_owned(),
        policy: None,
        rule: None,
        isolated_by: Vec::new(),
    };
    if let Some((slot, index)) = decision.admin_rule {
        let policy = engine.admin_policy(slot);
        by.policy = Some(policy.id.clone());
        by.rule = Some(RuleRef {
            index,
            name: policy
                .rules(direction)
                .get(index as usize)
                .and_then(|r| r.name.clone()),
        });
    } else if let Some((slot, index)) = decision.netpol_rule {
        by.policy = Some(engine.network_policy(slot).id.clone());
        by.rule = Some(RuleRef { index, name: None });
    } else if decision.decider == Decider::NetworkPolicy && !decision.allowed {
        by.isolated_by = engine.isolating(direction, flow);
    }
    by
}

fn event(record: &Record, node: &str) -> Option<FlowEvent> {
    let engine = &record.snapshot.engine;
    let flow = record.flow;
    let name = |end: Endpoint| engine.describe(engine.normalize(end));
    let address = |end: Endpoint| match end {
        Endpoint::Address(ip) => Some(ip),
        Endpoint::Pod(pod) => engine.cluster.pod(pod).ips.first().copied(),
    };
    // Only flows with a local end are decided here, and only those yield events.
    let (direction, decision) = record.outcome.decided?;
    let audit = record.outcome.audit.map(|audit| {
        let audit_engine = record.snapshot.audit_engine().unwrap_or(engine);
        AuditEvent {
            verdict: if audit.allowed {
                "would-allow"
            } else {
                "would-deny"
            }
            .to_owned(),
            direction: direction_name(audit.direction).to_owned(),
            decided_by: decided_by(audit_engine, audit.direction, &audit.decision, &flow),
        }
    });
    Some(FlowEvent {
        time: jiff::Timestamp::try_from(record.time)
            .map(|t| t.to_string())
            .unwrap_or_default(),
        node: node.to_owned(),
        direction: direction_name(direction).to_owned(),
        from: name(flow.src),
        from_ip: address(flow.src)?,
        to: name(flow.dst),
        to_ip: address(flow.dst)?,
        protocol: flow.protocol,
        port: flow.port,
        verdict: if record.outcome.allowed {
            "allowed"
        } else {
            "denied"
        }
        .to_owned(),
        decided_by: decided_by(engine, direction, &decision, &flow),
        via_dns: record.via_dns.clone(),
        audit,
    })
}

#[cfg(test)]
mod tests;
