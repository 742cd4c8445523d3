//! The verdict loop: one blocking thread per queue reads a packet, decides it with the current
//! snapshot and accepts or drops it (silently: no reset, no ICMP).

use std::io::ErrorKind;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nfq::{Queue, Verdict};

use crate::affinity;
use crate::decide::{Outcome, Snapshot};
use crate::dns::learn::Learner;
use crate::events::{self, Events, Record};
use crate::metrics::{FlowLabels, Metrics, VerdictLabels};
use crate::packet::{self, COPY_RANGE};

/// What every queue thread shares.
#[derive(Debug)]
pub struct Shared {
    snapshot: RwLock<Arc<Snapshot>>,
    pub metrics: Arc<Metrics>,
    /// Verdict for packets that cannot be read: accept when failing open.
    pub fail_open: bool,
    pub deny_log: Option<RateLimit>,
    /// How long a queue thread polls for the next packet before it sleeps (none: it sleeps
    /// at once).
    pub busy_poll: Option<Duration>,
    /// The mark an accept verdict sets for the decision cache's rule (0: the cache is off).
    decision_mark: AtomicU32,
    /// Verdict events (JSON lines, the ring readers follow).
    pub events: Option<Arc<Events>>,
    /// What the pods learned from DNS, which egress `domainNames` rules match.
    pub dns: Learner,
}

impl Shared {
    pub fn new(snapshot: Snapshot, metrics: Arc<Metrics>, fail_open: bool) -> Self {
        snapshot.attach_counters(&metrics.policy_verdicts);
        Self {
            snapshot: RwLock::new(Arc::new(snapshot)),
            metrics,
            fail_open,
            deny_log: None,
            busy_poll: None,
            decision_mark: AtomicU32::new(0),
            events: None,
            dns: Learner::default(),
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("snapshot lock").clone()
    }

    /// Puts `snapshot` in force. Returns once no verdict decided with an older one is still
    /// being sent (queue threads hold the read lock until their verdict is sent), so that the
    /// decision cache, emptied after this, only ever holds verdicts of the new state.
    pub fn replace(&self, snapshot: Arc<Snapshot>) {
        snapshot.attach_counters(&self.metrics.policy_verdicts);
        let learning = snapshot.clone();
        *self.snapshot.write().expect("snapshot lock") = snapshot;
        // Answers of pods gone, or no longer under a domainNames rule, are of no more use.
        self.dns.cache.retain_clients(|ip| learning.learns(ip));
    }

    /// Accept verdicts stop marking their packets; returns once every verdict decided before
    /// is sent (queue threads hold the read lock until then), so nothing adds to the decision
    /// cache after this.
    pub fn stop_decision_marks(&self) {
        self.set_decision_mark(0);
        drop(self.snapshot.write().expect("snapshot lock"));
    }

    /// Accept verdicts mark their packets with `mark` from now on (0: they do not).
    pub fn set_decision_mark(&self, mark: u32) {
        self.decision_mark.store(mark, Ordering::Relaxed);
    }

    pub fn decision_mark(&self) -> u32 {
        self.decision_mark.load(Ordering::Relaxed)
    }

    /// Decides one packet's bytes with the snapshot in force and records the verdict; true
    /// to accept.
    pub fn judge(&self, bytes: &[u8], started: Instant) -> bool {
        let judged = self.judge_with(&self.snapshot(), bytes, started);
        if let Some(denial) = &judged.denial {
            denial.log();
        }
        judged.accept
    }

    /// Decides one packet's bytes with `snapshot` and records the verdict. The deny log line,
    /// when one is due, is left to the caller to write once the snapshot is released.
    pub fn judge_with(&self, snapshot: &Arc<Snapshot>, bytes: &[u8], started: Instant) -> Judged {
        let mut cacheable_tuple = false;
        let mut denial = None;
        let (allowed, protocol) = match packet::parse(bytes) {
            Ok(packet) => {
                // An answer learned after the snapshot was taken counts all the same.
                let outcome = snapshot.decide_with_dns(&packet, &self.dns.cache.at(started));
                // A verdict that rests on an answer ends with the answer's TTL: the kernel's
                // cache of accepted tuples, which outlives it, must not remember the tuple.
                cacheable_tuple = packet.has_whole_tuple() && !outcome.learned;
                self.record(snapshot, &packet, &outcome);
                if let (Some(refusal), Some(limit)) = (&outcome.refusal, &self.deny_log)
                    && limit.admit()
                {
                    denial = Some(Denial {
                        src: packet.src,
                        dst: packet.dst,
                        protocol: packet.transport.label(),
                        port: packet.dst_port,
                        reason: snapshot.describe_refusal(refusal),
                    });
                }
                (outcome.allowed, packet.transport.label())
            }
            Err(error) => {
                tracing::debug!(%error, "unreadable packet");
                (self.fail_open, "unparsed")
            }
        };
        let action = if allowed { "accept" } else { "drop" };
        self.metrics
            .verdicts
            .get_or_create(&VerdictLabels { action, protocol })
            .inc();
        self.metrics
            .decision_seconds
            .observe(started.elapsed().as_secs_f64());
        Judged {
            accept: allowed,
            cacheable: allowed && cacheable_tuple,
            denial,
        }
    }
}

impl Shared {
    /// The answer a learned egress verdict rested on, in words: the egress decided again with
    /// the answers (only for an event admitted, never on the packet path of others).
    fn answer_used(&self, snapshot: &Snapshot, flow: &netpol_engine::Flow) -> Option<String> {
        let answers = self.dns.cache.at(Instant::now());
        let egress = snapshot.engine.decide_direction_with_dns(
            netpol_engine::model::Direction::Egress,
            flow,
            &answers,
        );
        snapshot.engine.answer_used(flow, &egress, &answers)
    }

    /// Counts a decided connection by tier, direction and policy, and offers it as an event.
    fn record(&self, snapshot: &Arc<Snapshot>, packet: &packet::Packet, outcome: &Outcome) {
        let Some((direction, decision)) = outcome.decided else {
            return;
        };
        self.metrics
            .flow_verdicts
            .get_or_create(&FlowLabels {
                verdict: if outcome.allowed { "allowed" } else { "denied" },
                tier: events::tier(decision.decider),
                direction: events::direction_name(direction),
            })
            .inc();
        let flow = crate::decide::flow(packet);
        snapshot.count(outcome, &flow);
        if let Some(events) = &self.events {
            events.offer(outcome, &self.metrics, || Record {
                time: SystemTime::now(),
                snapshot: snapshot.clone(),
                flow,
                outcome: *outcome,
                via_dns: outcome
                    .learned
                    .then(|| self.answer_used(snapshot, &flow))
                    .flatten(),
            });
        }
    }
}

/// A verdict on packet bytes.
#[derive(Debug)]
pub struct Judged {
    pub accept: bool,
    /// Accepted on the packet's whole tuple, as the kernel reads it: the decision cache may
    /// record it. Not when the bytes could not be read (accepted only by failing open) or a
    /// port was cut off (decided as port 0), where the kernel would record the real tuple.
    pub cacheable: bool,
    /// The deny log line due for this packet (rate-limited).
    pub denial: Option<Denial>,
}

/// A denied packet to log. Written after the verdict is sent and the snapshot released, so
/// that a stalled log writer cannot hold up `Shared::replace` and, behind it, every queue.
#[derive(Debug)]
pub struct Denial {
    src: IpAddr,
    dst: IpAddr,
    protocol: &'static str,
    port: Option<u16>,
    reason: String,
}

impl Denial {
    pub fn log(&self) {
        tracing::info!(
            src = %self.src,
            dst = %self.dst,
            protocol = self.protocol,
            port = self.port,
            reason = %self.reason,
            "denied"
        );
    }
}

/// At most `per_second` log lines per second.
#[derive(Debug)]
pub struct RateLimit {
    per_second: u64,
    /// Current second in the high 32 bits, lines logged in it in the low 32.
    window: AtomicU64,
}

impl RateLimit {
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: u64::from(per_second),
            window: AtomicU64::new(0),
        }
    }

    pub fn admit(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            & 0xffff_ffff;
        let mut current = self.window.load(Ordering::Relaxed);
        loop {
            let (second, count) = (current >> 32, current & 0xffff_ffff);
            let next = if second == now {
                if count >= self.per_second {
                    return false;
                }
                current + 1
            } else {
                (now << 32) | 1
            };
            match self
                .window
                .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }
}

/// Binds queue `number` (so that errors show at start) and spawns its reader thread, pinned to
/// `cpus` (none: free to run anywhere).
pub fn spawn(
    number: u16,
    cpus: Vec<usize>,
    shared: Arc<Shared>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let queue = open_queue(number, COPY_RANGE, shared.fail_open)?;
    std::thread::Builder::new()
        .name(format!("queue-{number}"))
        .spawn(move || {
            let span = tracing::info_span!("queue", number);
            let _entered = span.enter();
            match affinity::pin_current_thread(&cpus) {
                Ok(()) if !cpus.is_empty() => tracing::debug!(?cpus, "queue thread pinned"),
                Ok(()) => {}
                Err(error) => tracing::warn!(%error, ?cpus, "queue thread not pinned"),
            }
            read_loop(queue, &shared);
        })
}

/// Binds queue `number`, copying `copy_range` bytes of each packet.
pub(crate) fn open_queue(number: u16, copy_range: u16, fail_open: bool) -> std::io::Result<Queue> {
    let mut queue = Queue::open()?;
    queue.bind(number)?;
    queue.set_copy_range(number, copy_range)?;
    queue.set_queue_max_len(number, 4096)?;
    // A full queue accepts instead of dropping when failing open.
    queue.set_fail_open(number, fail_open)?;
    Ok(queue)
}

/// The next queued packet, polling for up to `busy_poll` before sleeping. Overflows of the
/// socket (ENOBUFS: packets lost, counted by the kernel) are passed over; other errors end the
/// reader.
pub(crate) fn next_message(
    queue: &mut Queue,
    busy_poll: Option<Duration>,
) -> std::io::Result<nfq::Message> {
    loop {
        let received = match busy_poll {
            Some(budget) => receive_polling(queue, budget),
            None => queue.recv(),
        };
        match received {
            Err(error) if error.raw_os_error() == Some(105) => continue,
            other => return other,
        }
    }
}

fn read_loop(mut queue: Queue, shared: &Shared) {
    loop {
        let mut message = match next_message(&mut queue, shared.busy_poll) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(%error, "queue read failed");
                return;
            }
        };
        let started = Instant::now();
        // Held until the verdict is sent (see `Shared::replace`).
        let snapshot = shared.snapshot.read().expect("snapshot lock");
        let judged = shared.judge_with(&snapshot, message.get_payload(), started);
        let mark = shared.decision_mark();
        if judged.cacheable && mark != 0 {
            message.set_nfmark(message.get_nfmark() | mark);
        }
        message.set_verdict(if judged.accept {
            Verdict::Accept
        } else {
            Verdict::Drop
        });
        let sent = queue.verdict(message);
        drop(snapshot);
        if let Err(error) = sent {
            tracing::warn!(%error, "verdict failed");
        }
        if let Some(denial) = &judged.denial {
            denial.log();
        }
    }
}

/// Busy polling: asks for the next packet without sleeping for up to `budget`, giving the
/// CPU to anything else runnable in between, then blocks. Under a steady stream of new
/// connections the thread is awake when a packet arrives, which saves the wake-up (a few
/// microseconds on bare metal, tens on virtual machines) on each connection's critical path,
/// at the price of CPU while it polls.
fn receive_polling(queue: &mut Queue, budget: Duration) -> std::io::Result<nfq::Message> {
    let would_block = |r: &std::io::Result<nfq::Message>| matches!(r, Err(e) if e.kind() == ErrorKind::WouldBlock);
    queue.set_nonblocking(true);
    let until = Instant::now() + budget;
    let mut received = queue.recv();
    while would_block(&received) && Instant::now() < until {
        std::thread::yield_now();
        received = queue.recv();
    }
    queue.set_nonblocking(false);
    if would_block(&received) {
        queue.recv()
    } else {
        received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_accepts_of_whole_tuples_may_be_cached() {
        let shared = Shared::new(
            crate::decide::tests::snapshot("node-a"),
            Arc::new(Metrics::default()),
            true,
        );
        // IPv4 TCP between two addresses no policy protects here: allowed.
        let tcp = |l4: &[u8]| {
            let mut bytes = vec![
                0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
            ];
            bytes.extend(l4);
            bytes
        };
        let judge = |bytes: &[u8]| shared.judge_with(&shared.snapshot(), bytes, Instant::now());
        let cases = [
            ("whole tuple", tcp(&[0x30, 0x39, 0, 80]), true, true),
            (
                "port cut off: decided as port 0",
                tcp(&[0x30, 0x39]),
                true,
                false,
            ),
            (
                "unreadable, accepted by failing open",
                vec![0x45, 0, 0],
                true,
                false,
            ),
        ];
        for (message, bytes, accept, cacheable) in cases {
            let judged = judge(&bytes);
            assert_eq!(
                (judged.accept, judged.cacheable),
                (accept, cacheable),
                "{message}"
            );
        }
    }

    #[test]
    fn rate_limit_caps_each_second() {
        let limit = RateLimit::new(3);
        let admitted = (0..10).filter(|_| limit.admit()).count();
        // The loop may straddle a second boundary.
        assert!((3..=6).contains(&admitted), "{admitted}");
    }

    #[test]
    fn accepts_through_a_learned_answer_are_not_cached() {
        use crate::dns::response::Learned;
        use netpol_engine::dns::NameChain;
        let loaded = netpol_engine::read_str("names.yaml", crate::decide::tests::NAMES, "default");
        let (snapshot, _) = Snapshot::build(&netpol_engine::State::from_loaded(&loaded), "node-a");
        let shared = Shared::new(snapshot, Arc::new(Metrics::default()), true);
        // web (10.0.1.2) to 203.0.113.5, TCP 443.
        let bytes = [
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 1, 2, 203, 0, 113, 5, 0x30, 0x39, 1,
            0xbb,
        ];
        let judge = || shared.judge_with(&shared.snapshot(), &bytes, Instant::now());
        assert!(!judge().accept, "nothing learned yet");
        shared.dns.cache.learn(
            "10.0.1.2".parse().unwrap(),
            &[Learned {
                chain: NameChain::new("api.example.com", &[]),
                address: "203.0.113.5".parse().unwrap(),
                ttl: 30,
            }],
            Instant::now(),
        );
        let judged = judge();
        assert!(judged.accept && !judged.cacheable, "{judged:?}");
    }
}
