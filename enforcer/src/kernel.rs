//! The kernel seam: everything the enforcer asks of the kernel (queue rules, conntrack) goes
//! through `Kernel`, so that the rest is tested with `fake::FakeKernel`. The real backends shell
//! out to the standard tools (`iptables-restore`, `nft`, `conntrack`): no unsafe code and the
//! same behaviour an administrator gets by hand.

mod command;
pub mod conntrack;
pub mod fake;
pub mod iptables;
pub mod nftables;

use std::collections::BTreeSet;
use std::net::IpAddr;

pub use conntrack::Connection;

/// The queues packets are spread over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queues {
    pub first: u16,
    pub count: u16,
}

impl Queues {
    pub fn numbers(self) -> impl Iterator<Item = u16> {
        self.first..self.first.saturating_add(self.count)
    }

    pub fn last(self) -> u16 {
        self.first.saturating_add(self.count.max(1) - 1)
    }
}

/// The local pods whose new connections are queued, by direction: a connection is queued
/// when it leaves a pod whose egress some policy affects, or reaches a pod whose ingress some
/// policy affects. A direction no policy affects is allowed whatever the packet, so queueing
/// it would only cost a round trip (ingress-only policies, the common case, halve them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Queued {
    /// Sources: pods whose egress is decided here.
    pub egress: BTreeSet<IpAddr>,
    /// Destinations: pods whose ingress is decided here.
    pub ingress: BTreeSet<IpAddr>,
}

impl Queued {
    /// Every queued address once, in order.
    pub fn addresses(&self) -> BTreeSet<IpAddr> {
        self.egress.union(&self.ingress).copied().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.egress.is_empty() && self.ingress.is_empty()
    }
}

/// The kernel-side cache of accepted tuples (source, destination, protocol, destination port).
/// An accept verdict sets `mark` on the packet; a rule after the queue adds the packet's tuple
/// to a set (entries expire after `timeout_secs`) and clears the mark again; a new connection
/// whose tuple is in the set skips the queue. Exact, because a node's verdict on a packet
/// depends on nothing but that tuple and the cluster state, and the set is emptied whenever
/// the state changes (`Kernel::forget_decisions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecisionCache {
    pub mark: u32,
    pub timeout_secs: u32,
}

/// Tuples one cache set holds at most: adds beyond it fail and those connections are queued.
pub const DECISION_CACHE_SIZE: u32 = 65_536;

/// What the rules must do: queue the first packet of each new connection from or to the
/// queued local pods (unless its tuple was accepted before, with the decision cache).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSet {
    pub queues: Queues,
    /// With no reader or a full queue the kernel accepts (fail-open) or drops (fail-closed).
    pub fail_open: bool,
    pub queued: Queued,
    pub decision_cache: Option<DecisionCache>,
}

/// Which rule backend is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
    Fake,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Nftables => "nftables",
            Self::Iptables => "iptables",
            Self::Fake => "fake",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
}

/// Everything asked of the kernel.
pub trait Kernel: Send + Sync {
    fn backend(&self) -> Backend;
    /// Replaces the enforcer's rules with `rules`, atomically per address family.
    fn install(&self, rules: &RuleSet) -> Result<(), KernelError>;
    /// Removes every rule and chain the enforcer created.
    fn remove(&self) -> Result<(), KernelError>;
    /// The connections the kernel tracks (original direction).
    fn connections(&self) -> Result<Vec<Connection>, KernelError>;
    /// Forgets connections, so that the next packet of each is new again and gets queued.
    fn forget(&self, connections: &[Connection]) -> Result<(), KernelError>;
    /// Empties the decision cache, so that every tuple is decided again by the queue.
    fn forget_decisions(&self) -> Result<(), KernelError>;
}

/// Picks the backend the kernel supports: nftables when it has the `queue` statement, else
/// iptables with the `NFQUEUE` target. The reason is returned to be logged.
pub fn detect() -> (Box<dyn Kernel>, String) {
    match nftables::probe() {
        Ok(()) => (
            Box::new(nftables::Nftables),
            "the kernel supports the nftables queue statement".into(),
        ),
        Err(why) => (
            Box::new(iptables::Iptables),
            format!("nftables queue unavailable ({why}); using iptables NFQUEUE"),
        ),
    }
}
