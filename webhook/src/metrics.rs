//! Prometheus metrics under the `netpol_webhook` prefix. Label values come from fixed sets
//! (kinds, operations, outcomes), never from request data.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::Sizes;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub kind: &'static str,
    pub operation: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Histogram,
    pub previews_cut_short: Counter,
    pub cache_size: Family<CacheLabels, Gauge>,
    pub audit_conflicts: Gauge,
    pub audit_runs: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("netpol_webhook");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission requests by kind, operation and result",
            requests.clone(),
        );
        // 0.5 ms to ~4 s.
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "admission_duration_seconds",
            "Time to answer an admission request",
            latency.clone(),
        );
        let previews_cut_short = Counter::default();
        registry.register(
            "previews_cut_short",
            "Impact previews that ran out of their time budget",
            previews_cut_short.clone(),
        );
        let cache_size = Family::<CacheLabels, Gauge>::default();
        registry.register(
            "cache_objects",
            "Objects and compiled entities held in the caches",
            cache_size.clone(),
        );
        let audit_conflicts = Gauge::default();
        registry.register(
            "audit_priority_conflicts",
            "Pairs of admin policies in the cluster with one priority and different actions, at the last audit",
            audit_conflicts.clone(),
        );
        let audit_runs = Counter::default();
        registry.register(
            "audit_runs",
            "Audits of the cluster's policies",
            audit_runs.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            previews_cut_short,
            cache_size,
            audit_conflicts,
            audit_runs,
        }
    }
}

impl Metrics {
    /// Counts one answered admission request and observes its latency since `started`.
    pub fn record_request(&self, labels: RequestLabels, started: std::time::Instant) {
        self.requests.get_or_create(&labels).inc();
        self.latency.observe(started.elapsed().as_secs_f64());
    }

    pub fn set_sizes(&self, sizes: Sizes) {
        let set = |cache: &'static str, value: usize| {
            self.cache_size
                .get_or_create(&CacheLabels { cache })
                .set(value as i64);
        };
        set("objects", sizes.objects);
        set("pods", sizes.pods);
        set("namespaces", sizes.namespaces);
        set("nodes", sizes.nodes);
        set("admin_policies", sizes.admin_policies);
        set("network_policies", sizes.network_policies);
        set("identities", sizes.identities);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
