//! Keeps the node in line with the latest cluster state: the queues decide with it, the
//! decision cache forgets older verdicts, the rules queue the pods it selects and tracked
//! connections it denies are cut. What fails is tried again after a delay, not only when the
//! next state arrives (which may be hours away).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cut;
use crate::decide::Snapshot;
use crate::kernel::{Kernel, KernelError, RuleSet};
use crate::metrics::{Metrics, ResultLabels};
use crate::verdict::Shared;

/// First delay before a failed step is tried again; it doubles up to `MAX_RETRY_DELAY`.
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

pub struct Enforcement<'a> {
    kernel: &'a dyn Kernel,
    shared: &'a Shared,
    /// The rules the state in force wants.
    rules: RuleSet,
    /// Whether the kernel has `rules` (false after a failed install).
    synced: bool,
    /// Whether to cut denied connections at all (`--no-cut` turns it off).
    cut: bool,
    /// Connections the state in force denies may still be tracked (the last cut failed).
    cut_pending: bool,
    retry: Backoff,
}

impl<'a> Enforcement<'a> {
    /// Takes over from start-up, which installed `rules` and set `shared`'s snapshot.
    pub fn new(kernel: &'a dyn Kernel, shared: &'a Shared, rules: RuleSet, cut: bool) -> Self {
        Self {
            kernel,
            shared,
            rules,
            synced: true,
            cut,
            cut_pending: false,
            retry: Backoff::default(),
        }
    }

    /// The rules the state in force wants (installed unless a sync is pending).
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Whether everything the state in force asks for is done.
    pub fn settled(&self) -> bool {
        self.synced && !self.cut_pending
    }

    /// Puts a new snapshot in force: the queues decide with it at once (returning once no
    /// verdict of the old one is in flight), the decision cache is emptied, the rules follow
    /// the pods it queues and tracked connections it denies are cut.
    pub fn put_in_force(&mut self, snapshot: Snapshot, now: Instant) {
        let snapshot = Arc::new(snapshot);
        self.shared.replace(snapshot.clone());
        if self.rules.decision_cache.is_some() {
            self.forget_decisions();
        }
        if snapshot.queued() != &self.rules.queued {
            self.rules.queued = snapshot.queued().clone();
            self.synced = false;
        }
        self.cut_pending = self.cut;
        self.catch_up(&snapshot);
        self.schedule(now);
    }

    /// Tries again what failed, once its delay has passed; call it between states.
    pub fn retry_if_due(&mut self, now: Instant) {
        if self.settled() || !self.retry.due(now) {
            return;
        }
        tracing::info!("trying failed steps again");
        self.catch_up(&self.shared.snapshot());
        self.schedule(now);
    }

    /// Empties the decision cache. When that fails, tuples accepted under the old state must
    /// not let connections through: marks stop, verdicts in flight land, and the rules lose
    /// the cache's lookup (with the next sync).
    fn forget_decisions(&mut self) {
        let result = self.kernel.forget_decisions();
        let label = ResultLabels::of(&result);
        self.shared
            .metrics
            .cache_flushes
            .get_or_create(&label)
            .inc();
        if let Err(error) = result {
            tracing::error!(%error, "emptying the decision cache failed; turning it off");
            self.shared.stop_decision_marks();
            self.rules.decision_cache = None;
            self.synced = false;
        }
    }

    /// Does what is pending: the rule sync, then the cut.
    fn catch_up(&mut self, snapshot: &Snapshot) {
        if !self.synced {
            match sync(self.kernel, &self.rules, &self.shared.metrics) {
                Ok(()) => self.synced = true,
                Err(error) => tracing::error!(%error, "rule sync failed; will try again"),
            }
        }
        if self.cut_pending {
            match cut::cut_denied(self.kernel, snapshot) {
                Ok(cut) => {
                    self.cut_pending = false;
                    if cut > 0 {
                        self.shared.metrics.connections_cut.inc_by(cut as u64);
                        tracing::info!(cut, "cut connections that are now denied");
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "cutting denied connections failed; will try again")
                }
            }
        }
    }

    fn schedule(&mut self, now: Instant) {
        let settled = self.settled();
        if settled {
            self.retry = Backoff::default();
        } else {
            self.retry.failed(now);
        }
        self.shared.metrics.catching_up.set(i64::from(!settled));
    }
}

/// Installs `rules`, counting the outcome.
pub fn sync(kernel: &dyn Kernel, rules: &RuleSet, metrics: &Metrics) -> Result<(), KernelError> {
    let result = kernel.install(rules);
    metrics
        .rule_syncs
        .get_or_create(&ResultLabels::of(&result))
        .inc();
    result
}

/// When to try again: after 1 s, then twice as long after each failure, up to 30 s.
#[derive(Debug, Default)]
struct Backoff {
    next: Option<Instant>,
    delay: Duration,
}

impl Backoff {
    fn failed(&mut self, now: Instant) {
        self.delay = if self.delay.is_zero() {
            FIRST_RETRY_DELAY
        } else {
            (self.delay * 2).min(MAX_RETRY_DELAY)
        };
        self.next = Some(now + self.delay);
    }

    fn due(&self, now: Instant) -> bool {
        self.next.is_some_and(|next| now >= next)
    }
}

#[cfg(test)]
mod tests;
