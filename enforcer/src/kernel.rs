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
use std::sync::Mutex;

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
    /// Pods whose DNS responses are queued on their way in, to learn the answers their
    /// egress `domainNames` rules match.
    pub dns: BTreeSet<IpAddr>,
}

impl Queued {
    /// Every address whose connections are queued, once, in order.
    pub fn addresses(&self) -> BTreeSet<IpAddr> {
        self.egress.union(&self.ingress).copied().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.egress.is_empty() && self.ingress.is_empty() && self.dns.is_empty()
    }

    /// What going from `self` to `new` adds and removes, by direction.
    pub fn changes_to(&self, new: &Queued) -> QueuedChanges {
        let diff = |a: &BTreeSet<IpAddr>, b: &BTreeSet<IpAddr>| a.difference(b).copied().collect();
        QueuedChanges {
            added: Queued {
                egress: diff(&new.egress, &self.egress),
                ingress: diff(&new.ingress, &self.ingress),
                dns: diff(&new.dns, &self.dns),
            },
            removed: Queued {
                egress: diff(&self.egress, &new.egress),
                ingress: diff(&self.ingress, &new.ingress),
                dns: diff(&self.dns, &new.dns),
            },
        }
    }
}

/// The addresses a change of queued pods adds and removes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueuedChanges {
    pub added: Queued,
    pub removed: Queued,
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
    /// The queue DNS responses to `queued.dns` go to (UDP and TCP from port 53), read by a
    /// thread that learns their answers; `None`: no DNS learning.
    pub dns_queue: Option<u16>,
}

impl RuleSet {
    /// Whether `other` differs from this in the queued pods at most: then the rules stay and
    /// only the backend's address sets change.
    pub fn same_shape(&self, other: &RuleSet) -> bool {
        (
            self.queues,
            self.fail_open,
            self.decision_cache,
            self.dns_queue,
        ) == (
            other.queues,
            other.fail_open,
            other.decision_cache,
            other.dns_queue,
        )
    }
}

/// What a backend last installed, so that a change of the queued pods alone is applied as
/// that change (the addresses added and removed) and not as a new rule set.
#[derive(Debug, Default)]
struct Installed(Mutex<Option<RuleSet>>);

impl Installed {
    /// Installs `rules`: with `update` when only the queued pods changed since the last
    /// successful install (nothing to do when nothing changed), else with `full`. After a
    /// failure, or `forget`, the next install is full.
    fn install(
        &self,
        rules: &RuleSet,
        full: impl FnOnce() -> Result<(), KernelError>,
        update: impl FnOnce(&QueuedChanges) -> Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        let mut last = self.0.lock().expect("installed lock");
        let result = match last.take() {
            Some(previous) if previous.same_shape(rules) => {
                let changes = previous.queued.changes_to(&rules.queued);
                if changes == QueuedChanges::default() {
                    Ok(())
                } else {
                    update(&changes)
                }
            }
            _ => full(),
        };
        if result.is_ok() {
            *last = Some(rules.clone());
        }
        result
    }

    fn forget(&self) {
        *self.0.lock().expect("installed lock") = None;
    }
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
    /// Replaces the enforcer's rules with `rules`, atomically per address family; when only
    /// the queued pods changed, by adding and removing just those addresses.
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
            Box::new(nftables::Nftables::default()),
            "the kernel supports the nftables queue statement".into(),
        ),
        Err(why) => (
            Box::new(iptables::Iptables::default()),
            format!("nftables queue unavailable ({why}); using iptables NFQUEUE"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn rules(egress: &[&str]) -> RuleSet {
        RuleSet {
            queues: Queues { first: 0, count: 1 },
            fail_open: true,
            queued: Queued {
                egress: egress.iter().map(|a| a.parse().unwrap()).collect(),
                ..Default::default()
            },
            decision_cache: None,
            dns_queue: None,
        }
    }

    /// What `Installed::install` did: `full`, `update` with the addresses added and removed,
    /// or nothing.
    fn install(installed: &Installed, rules: &RuleSet, fail: bool) -> String {
        let done = RefCell::new(String::from("nothing"));
        let outcome = |what: String| {
            *done.borrow_mut() = what;
            if fail {
                Err(KernelError::Failed {
                    program: "test".into(),
                    status: "1".into(),
                    stderr: String::new(),
                })
            } else {
                Ok(())
            }
        };
        let _ = installed.install(
            rules,
            || outcome("full".into()),
            |changes| {
                let list = |q: &Queued| {
                    q.addresses()
                        .iter()
                        .map(IpAddr::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                };
                outcome(format!(
                    "update +{} -{}",
                    list(&changes.added),
                    list(&changes.removed)
                ))
            },
        );
        done.into_inner()
    }

    #[test]
    fn only_a_change_of_queued_pods_is_applied_as_a_change() {
        let installed = Installed::default();
        let cached = |egress: &[&str]| RuleSet {
            decision_cache: Some(DecisionCache {
                mark: 0x2000,
                timeout_secs: 60,
            }),
            ..rules(egress)
        };
        #[rustfmt::skip]
        let steps = [
            ("first install", rules(&["10.0.0.2"]), false, "full"),
            ("a pod more and one less", rules(&["10.0.0.3"]), false, "update +10.0.0.3 -10.0.0.2"),
            ("the same again", rules(&["10.0.0.3"]), false, "nothing"),
            ("another shape: the cache", cached(&["10.0.0.3"]), false, "full"),
            ("a failed update", cached(&["10.0.0.4"]), true, "update +10.0.0.4 -10.0.0.3"),
            ("after a failure", cached(&["10.0.0.4"]), false, "full"),
            ("then changes again", cached(&[]), false, "update + -10.0.0.4"),
        ];
        for (step, rules, fail, expected) in steps {
            assert_eq!(install(&installed, &rules, fail), expected, "{step}");
        }
        installed.forget();
        assert_eq!(
            install(&installed, &rules(&[]), false),
            "full",
            "after forget"
        );
    }
}
