//! Certificates for the netpol webhook, managed without cert-manager: a private certificate
//! authority and a serving certificate for the Service's DNS names, kept in one Secret, the
//! ValidatingWebhookConfiguration's `caBundle` kept in sync, both renewed before they expire.
//!
//! The decisions are pure ([`plan`]: what to write given what the Secret holds and the time);
//! [`manager`] does the API calls with optimistic concurrency, so several webhook replicas can
//! run it at once and agree on one Secret.

pub mod authority;
pub mod bundle;
pub mod inspect;
pub mod manager;
pub mod plan;

pub use authority::{IssueError, Pair};
pub use bundle::Bundle;
pub use manager::{CertsError, Manager, Target};
pub use plan::{Decision, Policy, Reason};

/// The names a Service answers to inside the cluster: what the serving certificate must cover.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}
