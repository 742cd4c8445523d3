//! The DNS queue's thread: every response queued to a learning pod is read and learned, then
//! accepted. Never dropped: netpol enforces connections, not name resolution (NPEP-133: "FQDN
//! policies should not result in any form of DNS filtering"). The verdict is sent only once
//! the answer is in the cache, so the pod cannot connect to the address before the enforcer
//! knows it.

use std::sync::Arc;
use std::time::Instant;

use nfq::{Queue, Verdict};

use super::learn::Heard;
use crate::metrics::{DnsLabels, EvictionLabels};
use crate::verdict::{Shared, next_message, open_queue};

/// Whole packets: a response is read in full (up to 64 KiB, what one message can be).
const COPY_RANGE: u16 = u16::MAX;

/// Binds queue `number` and spawns its reader thread.
pub fn spawn(number: u16, shared: Arc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> {
    let queue = open_queue(number, COPY_RANGE, shared.fail_open)?;
    std::thread::Builder::new()
        .name("dns-queue".into())
        .spawn(move || {
            let span = tracing::info_span!("dns_queue", number);
            let _entered = span.enter();
            read_loop(queue, &shared);
        })
}

fn read_loop(mut queue: Queue, shared: &Shared) {
    loop {
        let mut message = match next_message(&mut queue, None) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(%error, "DNS queue read failed");
                return;
            }
        };
        let started = Instant::now();
        let heard = shared
            .dns
            .hear(&shared.snapshot(), message.get_payload(), started);
        message.set_verdict(Verdict::Accept);
        let sent = queue.verdict(message);
        let metrics = &shared.metrics;
        metrics
            .dns_answer_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics
            .dns_responses
            .get_or_create(&DnsLabels {
                result: heard.label(),
            })
            .inc();
        if let Heard::Learned(learning) = &heard {
            for eviction in &learning.evicted {
                metrics
                    .dns_evictions
                    .get_or_create(&EvictionLabels {
                        reason: eviction.label(),
                    })
                    .inc();
            }
        }
        metrics.dns_entries.set(shared.dns.cache.len() as i64);
        match &heard {
            Heard::Untrusted => tracing::debug!("DNS response from a resolver not trusted"),
            Heard::Unreadable(error) => tracing::debug!(%error, "unreadable DNS response"),
            _ => {}
        }
        if let Err(error) = sent {
            tracing::warn!(%error, "DNS verdict failed");
        }
    }
}
