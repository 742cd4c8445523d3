use std::sync::atomic::Ordering;

use super::*;
use crate::decide::tests::snapshot;
use crate::kernel::fake::FakeKernel;
use crate::kernel::{Connection, DecisionCache, Queues};
use crate::packet::Transport;

const CACHE: DecisionCache = DecisionCache {
    mark: 0x2000,
    timeout_secs: 60,
};

fn shared() -> Shared {
    Shared::new(snapshot("node-a"), Arc::new(Metrics::default()), true)
}

/// What start-up installed: no pod queued yet.
fn started(decision_cache: Option<DecisionCache>) -> RuleSet {
    RuleSet {
        queues: Queues { first: 0, count: 1 },
        fail_open: true,
        queued: Default::default(),
        decision_cache,
        dns_queue: None,
    }
}

fn syncs(metrics: &Metrics, result: &'static str) -> u64 {
    metrics
        .rule_syncs
        .get_or_create(&ResultLabels { result })
        .get()
}

#[test]
fn a_failed_rule_sync_is_tried_again_after_a_delay_that_doubles() {
    let (kernel, shared) = (FakeKernel::default(), shared());
    let mut enforcement = Enforcement::new(&kernel, &shared, started(None), false);
    let wanted = snapshot("node-a").queued().clone();
    assert!(!wanted.is_empty(), "the fixture queues pods");
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);

    kernel.refuse_installs.store(true, Ordering::Relaxed);
    enforcement.put_in_force(snapshot("node-a"), t0);
    assert!(!enforcement.settled());
    assert_eq!(syncs(&shared.metrics, "error"), 1);
    assert_eq!(shared.metrics.catching_up.get(), 1);
    // Tries at 1 s, then 3 s (1 + 2), then 7 s (3 + 4); nothing in between.
    for (ms, attempts) in [(999, 1), (1000, 2), (2999, 2), (3000, 3), (6999, 3)] {
        enforcement.retry_if_due(at(ms));
        assert_eq!(syncs(&shared.metrics, "error"), attempts, "at {ms} ms");
    }
    kernel.refuse_installs.store(false, Ordering::Relaxed);
    enforcement.retry_if_due(at(7000));
    assert!(enforcement.settled());
    assert_eq!(shared.metrics.catching_up.get(), 0);
    assert_eq!(kernel.current().expect("installed").queued, wanted);
    enforcement.retry_if_due(at(60_000));
    assert_eq!(syncs(&shared.metrics, "ok"), 1, "nothing left to retry");
}

#[test]
fn a_new_state_installs_at_once_whatever_the_delay() {
    let (kernel, shared) = (FakeKernel::default(), shared());
    let mut enforcement = Enforcement::new(&kernel, &shared, started(None), false);
    let t0 = Instant::now();
    kernel.refuse_installs.store(true, Ordering::Relaxed);
    enforcement.put_in_force(snapshot("node-a"), t0);
    kernel.refuse_installs.store(false, Ordering::Relaxed);
    enforcement.put_in_force(snapshot("node-a"), t0 + Duration::from_millis(10));
    assert!(enforcement.settled());
    assert_eq!(
        kernel.current().expect("installed").queued,
        *snapshot("node-a").queued()
    );
}

#[test]
fn a_failed_cut_is_tried_again() {
    let (kernel, shared) = (FakeKernel::default(), shared());
    let denied = Connection {
        transport: Transport::Tcp,
        src: "10.0.1.2".parse().unwrap(),
        dst: "10.0.1.3".parse().unwrap(),
        src_port: Some(40000),
        dst_port: Some(5432),
    };
    *kernel.connections.lock().unwrap() = vec![denied];
    let mut enforcement = Enforcement::new(&kernel, &shared, started(None), true);
    let t0 = Instant::now();
    kernel.refuse_connections.store(true, Ordering::Relaxed);
    enforcement.put_in_force(snapshot("node-a"), t0);
    assert!(!enforcement.settled(), "the cut is pending");
    assert!(kernel.forgotten.lock().unwrap().is_empty());
    kernel.refuse_connections.store(false, Ordering::Relaxed);
    enforcement.retry_if_due(t0 + Duration::from_secs(1));
    assert!(enforcement.settled());
    assert_eq!(*kernel.forgotten.lock().unwrap(), [denied]);
    assert_eq!(shared.metrics.connections_cut.get(), 1);
}

#[test]
fn cuts_wait_for_no_one_when_turned_off() {
    let (kernel, shared) = (FakeKernel::default(), shared());
    kernel.refuse_connections.store(true, Ordering::Relaxed);
    let mut enforcement = Enforcement::new(&kernel, &shared, started(None), false);
    enforcement.put_in_force(snapshot("node-a"), Instant::now());
    assert!(enforcement.settled(), "--no-cut: nothing to cut");
}

#[test]
fn a_decision_cache_that_cannot_be_emptied_is_turned_off() {
    let kernel = FakeKernel {
        refuse_forget_decisions: true,
        ..FakeKernel::default()
    };
    let shared = shared();
    shared.set_decision_mark(CACHE.mark);
    let mut enforcement = Enforcement::new(&kernel, &shared, started(Some(CACHE)), false);
    enforcement.put_in_force(snapshot("node-a"), Instant::now());
    assert_eq!(enforcement.rules().decision_cache, None);
    assert_eq!(shared.decision_mark(), 0, "verdicts stop marking");
    let installed = kernel.current().expect("rules reinstalled");
    assert_eq!(installed.decision_cache, None, "the lookup is gone");
    assert_eq!(
        installed.queued,
        *snapshot("node-a").queued(),
        "queueing goes on"
    );
    assert!(enforcement.settled());
}

/// The lookup of a cache that could not be emptied must go even when the first reinstall
/// fails: it is tried again like any sync.
#[test]
fn a_stale_cache_lookup_is_removed_by_a_later_retry() {
    let kernel = FakeKernel {
        refuse_forget_decisions: true,
        ..FakeKernel::default()
    };
    let shared = shared();
    let mut enforcement = Enforcement::new(&kernel, &shared, started(Some(CACHE)), false);
    let t0 = Instant::now();
    kernel.refuse_installs.store(true, Ordering::Relaxed);
    enforcement.put_in_force(snapshot("node-a"), t0);
    assert!(!enforcement.settled());
    assert!(kernel.current().is_none());
    kernel.refuse_installs.store(false, Ordering::Relaxed);
    enforcement.retry_if_due(t0 + Duration::from_secs(1));
    assert!(enforcement.settled());
    assert_eq!(kernel.current().expect("installed").decision_cache, None);
}
