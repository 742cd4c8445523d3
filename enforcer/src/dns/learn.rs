//! One queued DNS response: read, checked against the resolvers trusted, learned.
//!
//! Trusted: the cluster DNS pods (kube-system, `k8s-app=kube-dns`) and the addresses given with
//! `--dns-resolver` (the kube-dns Service address where a dataplane shows it as the source,
//! NodeLocal DNSCache's link-local address, a resolver outside the cluster that pods with
//! `dnsPolicy: Default` use). Not trusted: whatever else sends a packet from port 53, in
//! particular a resolver a pod's own `dnsConfig` names. The pods a `domainNames` rule
//! constrains are the ones that would gain from a forged answer ("api.example.com is at my
//! address"), and any pod can send a UDP packet from port 53 or set its own nameservers; a
//! resolver the cluster administrator runs or names is the only source whose answers are the
//! administrator's word, which is what NPEP-133 asks an implementation to say
//! ("Each implementation will provide guidance on which DNS name-server is considered
//! authoritative"). Source addresses are trusted as the kernel sees them: a CNI that lets pods
//! spoof their source address defeats this, as it defeats every address-based policy.

use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;

use super::cache::{DnsCache, Learning, Limits};
use super::response::{DnsError, parse_packet};
use crate::decide::Snapshot;

/// What became of one response.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    Learned(Learning),
    /// A trusted response to a learning pod that gave no address for its question (NXDOMAIN,
    /// another record type, a chain with no address at its end).
    NoAnswer,
    Untrusted,
    /// Addressed to a pod no `domainNames` rule applies to (a set not yet updated).
    NotLearning,
    Unreadable(DnsError),
}

impl Heard {
    /// A fixed label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Learned(_) => "learned",
            Self::NoAnswer => "no-answer",
            Self::Untrusted => "untrusted",
            Self::NotLearning => "not-learning",
            Self::Unreadable(error) => error.label(),
        }
    }
}

#[derive(Debug)]
pub struct Learner {
    pub cache: DnsCache,
    /// Trusted besides the cluster DNS pods.
    resolvers: Vec<IpNet>,
}

impl Default for Learner {
    fn default() -> Self {
        Self::new(Limits::default(), Vec::new())
    }
}

impl Learner {
    pub fn new(limits: Limits, resolvers: Vec<IpNet>) -> Self {
        Self {
            cache: DnsCache::new(limits),
            resolvers,
        }
    }

    pub fn trusts(&self, snapshot: &Snapshot, resolver: &IpAddr) -> bool {
        snapshot.is_cluster_resolver(resolver)
            || self.resolvers.iter().any(|n| n.contains(resolver))
    }

    /// Reads a queued packet and learns its answers when a trusted resolver sent it to a pod
    /// that learns.
    pub fn hear(&self, snapshot: &Snapshot, bytes: &[u8], now: Instant) -> Heard {
        let response = match parse_packet(bytes) {
            Ok(response) => response,
            Err(error) => return Heard::Unreadable(error),
        };
        if !snapshot.learns(&response.client) {
            return Heard::NotLearning;
        }
        if !self.trusts(snapshot, &response.resolver) {
            return Heard::Untrusted;
        }
        if response.answers.is_empty() {
            return Heard::NoAnswer;
        }
        Heard::Learned(self.cache.learn(response.client, &response.answers, now))
    }
}
