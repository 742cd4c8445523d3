//! DNS answers as an input of decisions. An egress `domainNames` peer (ClusterNetworkPolicy
//! v1alpha2, AdminNetworkPolicy v1alpha1; Accept/Allow rules only) matches a flow when its
//! destination address was learned from a DNS answer that the source pod received, for a name
//! the peer names ([`name::matches`]). Offline nothing is learned unless the caller says so
//! ([`DnsAnswers`], `kubectl netpol check --resolve`); the enforcer learns answers on their way
//! to the pods and implements [`DnsView`] over its cache.

mod answers;
pub mod name;

use std::fmt;
use std::net::IpAddr;

pub use answers::{DnsAnswers, DnsInputError, Resolution};

use crate::cluster::{Cluster, PodId};

/// Where the cluster DNS pods are: kube-system, labelled `k8s-app=kube-dns` (CoreDNS and
/// kube-dns alike keep the label, and the `kube-dns` Service selects by it).
pub const CLUSTER_DNS_NAMESPACE: &str = "kube-system";
pub const CLUSTER_DNS_LABEL: (&str, &str) = ("k8s-app", "kube-dns");

/// The cluster DNS pods of the input.
pub fn cluster_dns_pods(cluster: &Cluster) -> Vec<PodId> {
    let Some(ns) = cluster.namespace(CLUSTER_DNS_NAMESPACE) else {
        return Vec::new();
    };
    let (key, value) = CLUSTER_DNS_LABEL;
    cluster.namespace_pods[ns as usize]
        .iter()
        .copied()
        .filter(|p| cluster.pod(*p).labels.get(key).map(String::as_str) == Some(value))
        .collect()
}

/// The names of one answer: the name the pod queried, then the CNAME targets the resolver
/// followed to the address records, in order. Names are lowercase without the root's dot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NameChain {
    queried: Box<str>,
    cnames: Box<[Box<str>]>,
}

impl NameChain {
    /// A chain from names as they come (any case, with or without the trailing dot).
    pub fn new(queried: &str, cnames: &[&str]) -> Self {
        Self {
            queried: name::canonical(queried).into(),
            cnames: cnames.iter().map(|c| name::canonical(c).into()).collect(),
        }
    }

    /// The name the pod asked for: the one a `domainNames` entry must match.
    pub fn queried(&self) -> &str {
        &self.queried
    }

    /// The CNAME targets between the queried name and the address records.
    pub fn cnames(&self) -> impl Iterator<Item = &str> {
        self.cnames.iter().map(|c| &**c)
    }

    /// Heap bytes this chain holds (names and the CNAME list).
    pub fn heap_bytes(&self) -> usize {
        self.queried.len()
            + self.cnames.len() * std::mem::size_of::<Box<str>>()
            + self.cnames.iter().map(|c| c.len()).sum::<usize>()
    }
}

impl fmt::Display for NameChain {
    /// `www.example.com → cdn.example.net`: the queried name, then each CNAME target.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.queried)?;
        for cname in self.cnames() {
            write!(f, " → {cname}")?;
        }
        Ok(())
    }
}

/// One learned answer: names, the address they resolved to, and how long it still counts.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    pub chain: &'a NameChain,
    pub address: IpAddr,
    /// Seconds left of the answer's TTL; `None` for an answer given without one (offline).
    pub ttl_left: Option<u32>,
}

impl fmt::Display for Answer<'_> {
    /// `api.example.com → 203.0.113.5, 212 s left`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.chain, self.address)?;
        match self.ttl_left {
            Some(seconds) => write!(f, ", {seconds} s left"),
            None => f.write_str(" (given by hand, no TTL)"),
        }
    }
}

/// What the pods learned from DNS, as decisions see it.
pub trait DnsView {
    /// Calls `visit` with each live answer resolving to `address` that reached one of
    /// `client` (the source pod's addresses), until `visit` returns true; returns whether
    /// it did.
    fn find(
        &self,
        client: &[IpAddr],
        address: IpAddr,
        visit: &mut dyn FnMut(Answer<'_>) -> bool,
    ) -> bool;
}

/// Nothing learned: what `Engine::decide` and `Engine::verdict` decide with.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAnswers;

impl DnsView for NoAnswers {
    fn find(&self, _: &[IpAddr], _: IpAddr, _: &mut dyn FnMut(Answer<'_>) -> bool) -> bool {
        false
    }
}
