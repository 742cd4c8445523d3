//! Arbitrary bytes as a packet from NFQUEUE, through the queue thread's own verdict path:
//! IPv4/IPv6 headers, extension headers and fragments, the transport's ports, then the
//! decision against a small dual-stack cluster seen from node-a, and the deny log's reason.
//! Nothing may panic.
#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use netpol_enforcer::decide::Snapshot;
use netpol_enforcer::metrics::Metrics;
use netpol_enforcer::verdict::{RateLimit, Shared};
use netpol_engine::{State, read_str};

struct Queue {
    shared: Shared,
    snapshot: Arc<Snapshot>,
}

static QUEUE: LazyLock<Queue> = LazyLock::new(|| {
    let loaded = read_str(
        "cluster.yaml",
        include_str!("../fixtures/node-a.yaml"),
        "default",
    );
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let (snapshot, errors) = Snapshot::build(&State::from_loaded(&loaded), "node-a");
    assert!(errors.is_empty(), "{errors:?}");
    let mut shared = Shared::new(snapshot, Arc::new(Metrics::default()), false);
    // Every denial names its policy and rule, as the deny log would.
    shared.deny_log = Some(RateLimit::new(u32::MAX));
    let snapshot = shared.snapshot();
    Queue { shared, snapshot }
});

fuzz_target!(|payload: &[u8]| {
    let queue = &*QUEUE;
    let judged = queue
        .shared
        .judge_with(&queue.snapshot, payload, Instant::now());
    assert!(
        !judged.cacheable || judged.accept,
        "only accepted tuples are cached"
    );
});
