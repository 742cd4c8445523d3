//! Prometheus metrics (`netpol_enforcer_` prefix) and the small HTTP endpoint serving them with
//! `/healthz`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    /// `accept` or `drop`.
    pub action: &'static str,
    /// `tcp`, `udp`, `sctp`, `icmp`, `icmpv6`, `other` or `unparsed`.
    pub protocol: &'static str,
}

/// Connections by verdict and what decided them: a bounded label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    /// `allowed` or `denied`.
    pub verdict: &'static str,
    /// `admin`, `networkPolicy`, `baseline`, `default`, `residentNode`, `notSelectable`.
    pub tier: &'static str,
    /// `egress` or `ingress`: the direction that settled it.
    pub direction: &'static str,
}

/// Connections per deciding policy: bounded by the number of policies.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// `allowed`, `denied`, or for an audited policy `would-allow`, `would-deny`.
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventDropLabels {
    /// `rate-limit`, `backlog` (the writer fell behind), `stdout`, `writer-gone`.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub queue: String,
    /// `kernel` (queue full) or `user` (netlink delivery failed).
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error`.
    pub result: &'static str,
}

impl ResultLabels {
    pub fn of<T, E>(result: &Result<T, E>) -> Self {
        Self {
            result: if result.is_ok() { "ok" } else { "error" },
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DnsLabels {
    /// `learned`, `no-answer`, `untrusted`, `not-learning`, `not-dns`, `tcp-partial`,
    /// `malformed` or `not-answer`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EvictionLabels {
    /// `pod-limit` or `node-limit`.
    pub reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub verdicts: Family<VerdictLabels, Counter>,
    pub decision_seconds: Histogram,
    pub queue_drops: Family<QueueLabels, Gauge>,
    pub rule_syncs: Family<ResultLabels, Counter>,
    pub cache_flushes: Family<ResultLabels, Counter>,
    pub connections_cut: Counter,
    /// 1 while a failed rule sync or cut waits to be tried again.
    pub catching_up: Gauge,
    pub dns_responses: Family<DnsLabels, Counter>,
    pub dns_answer_seconds: Histogram,
    pub dns_entries: Gauge,
    pub dns_evictions: Family<EvictionLabels, Counter>,
    pub ready: AtomicBool,
    pub flow_verdicts: Family<FlowLabels, Counter>,
    pub policy_verdicts: Family<PolicyLabels, Counter>,
    pub events: Counter,
    pub events_dropped: Family<EventDropLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("netpol_enforcer");
        let verdicts = Family::<VerdictLabels, Counter>::default();
        // 0.5 µs to about 4 ms.
        let decision_seconds = Histogram::new(exponential_buckets(0.5e-6, 2.0, 14));
        let queue_drops = Family::<QueueLabels, Gauge>::default();
        let rule_syncs = Family::<ResultLabels, Counter>::default();
        let cache_flushes = Family::<ResultLabels, Counter>::default();
        let connections_cut = Counter::default();
        let catching_up = Gauge::default();
        let dns_responses = Family::<DnsLabels, Counter>::default();
        let dns_answer_seconds = Histogram::new(exponential_buckets(0.5e-6, 2.0, 14));
        let dns_entries = Gauge::default();
        let dns_evictions = Family::<EvictionLabels, Counter>::default();
        registry.register(
            "dns_responses",
            "DNS responses queued on their way to pods that learn names, by what became of them",
            dns_responses.clone(),
        );
        registry.register(
            "dns_answer_seconds",
            "Time a DNS response is held: from read to verdict, its answers learned",
            dns_answer_seconds.clone(),
        );
        registry.register(
            "dns_entries",
            "Learned (pod, name, address) entries held, expired ones until swept",
            dns_entries.clone(),
        );
        registry.register(
            "dns_evictions",
            "Learned entries dropped before expiry to stay within --dns-max-entries-per-pod or --dns-max-entries",
            dns_evictions.clone(),
        );
        registry.register("verdicts", "Packets decided", verdicts.clone());
        registry.register(
            "decision_seconds",
            "Time from packet read to verdict",
            decision_seconds.clone(),
        );
        registry.register(
            "queue_dropped",
            "Packets the kernel dropped from a queue (/proc/net/netfilter/nfnetlink_queue)",
            queue_drops.clone(),
        );
        registry.register("rule_syncs", "Rule installs", rule_syncs.clone());
        registry.register(
            "decision_cache_flushes",
            "Times the kernel's cache of accepted tuples was emptied for a new cluster state",
            cache_flushes.clone(),
        );
        registry.register(
            "connections_cut",
            "Conntrack entries removed because a policy change denies them",
            connections_cut.clone(),
        );
        registry.register(
            "catching_up",
            "1 while a failed rule sync or connection cut waits to be tried again",
            catching_up.clone(),
        );
        let flow_verdicts = Family::<FlowLabels, Counter>::default();
        let policy_verdicts = Family::<PolicyLabels, Counter>::default();
        let events = Counter::default();
        let events_dropped = Family::<EventDropLabels, Counter>::default();
        registry.register(
            "flow_verdicts",
            "New connections decided, by verdict, deciding tier and direction",
            flow_verdicts.clone(),
        );
        registry.register(
            "policy_verdicts",
            "New connections decided by each policy (a NetworkPolicy denial counts for every policy isolating the pod); would-allow and would-deny for audited policies",
            policy_verdicts.clone(),
        );
        registry.register(
            "flow_events",
            "Verdict events written (JSON lines and the ring)",
            events.clone(),
        );
        registry.register(
            "flow_events_dropped",
            "Verdict events not written, by reason",
            events_dropped.clone(),
        );
        Self {
            registry,
            flow_verdicts,
            policy_verdicts,
            events,
            events_dropped,
            verdicts,
            decision_seconds,
            queue_drops,
            rule_syncs,
            cache_flushes,
            connections_cut,
            catching_up,
            dns_responses,
            dns_answer_seconds,
            dns_entries,
            dns_evictions,
            ready: AtomicBool::new(false),
        }
    }
}

/// Parses /proc/net/netfilter/nfnetlink_queue: queue number, peer port id, queue length, copy
/// mode, copy range, queue-full drops, user drops, last id, 1.
pub fn parse_queue_stats(text: &str) -> Vec<(u16, i64, i64)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(5)?.parse().ok()?,
                f.get(6)?.parse().ok()?,
            ))
        })
        .collect()
}

impl Metrics {
    fn refresh_queue_stats(&self) {
        let text =
            std::fs::read_to_string("/proc/net/netfilter/nfnetlink_queue").unwrap_or_default();
        for (queue, kernel, user) in parse_queue_stats(&text) {
            for (reason, value) in [("kernel", kernel), ("user", user)] {
                let labels = QueueLabels {
                    queue: queue.to_string(),
                    reason,
                };
                self.queue_drops.get_or_create(&labels).set(value);
            }
        }
    }

    pub fn encode(&self) -> String {
        self.refresh_queue_stats();
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Serves `/metrics` and `/healthz` (200 once rules are installed and queues read) on a thread.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = respond(stream, &metrics);
            }
        })?;
    Ok(bound)
}

fn respond(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Read the headers too: closing with unread input would reset the connection.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, kind, body) = match path {
        "/metrics" => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        "/healthz" if metrics.ready.load(Ordering::Relaxed) => {
            ("200 OK", "text/plain", "ok\n".into())
        }
        "/healthz" => ("503 Service Unavailable", "text/plain", "starting\n".into()),
        _ => ("404 Not Found", "text/plain", "not found\n".into()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_queue_drops() {
        let text = "    0  12345     0 2 65531     3     4       17  1\n    1  -4000     0 2   256     0     0        0  1\n";
        assert_eq!(parse_queue_stats(text), [(0, 3, 4), (1, 0, 0)]);
    }

    #[test]
    fn encodes_with_prefix() {
        let metrics = Metrics::default();
        metrics
            .verdicts
            .get_or_create(&VerdictLabels {
                action: "drop",
                protocol: "tcp",
            })
            .inc();
        metrics.decision_seconds.observe(3e-6);
        let text = metrics.encode();
        assert!(
            text.contains(r#"netpol_enforcer_verdicts_total{action="drop",protocol="tcp"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("netpol_enforcer_decision_seconds_bucket"),
            "{text}"
        );
    }
}
