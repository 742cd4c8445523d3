//! What each local pod learned from DNS: name chain → address, until the answer's TTL (clamped
//! by `--dns-min-ttl` and `--dns-max-ttl`) runs out. Bounded per pod and per node: a pod that
//! resolves name after name (or a resolver that answers with hundreds of addresses) cannot
//! grow the enforcer without end. At a bound, expired entries go first, then the entry closest
//! to expiry of the pod itself (per pod), or of the pod holding the most (per node): the pod
//! that asks most pays. Decisions read it as a `DnsView`; the DNS queue thread writes it.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use netpol_engine::dns::{Answer, DnsView, NameChain};
use rustc_hash::FxHashMap;

use super::response::Learned;

/// How long answers count and how many are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub min_ttl: u32,
    pub max_ttl: u32,
    pub per_pod: usize,
    pub per_node: usize,
}

impl Default for Limits {
    /// NPEP-133 asks for at least 100 addresses per name; a pod usually needs a handful of
    /// names, a node a few hundred pods.
    fn default() -> Self {
        Self {
            min_ttl: 5,
            max_ttl: 3600,
            per_pod: 1000,
            per_node: 100_000,
        }
    }
}

/// Why an entry was dropped before it expired: fixed labels for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Eviction {
    PodLimit,
    NodeLimit,
}

impl Eviction {
    pub fn label(self) -> &'static str {
        match self {
            Self::PodLimit => "pod-limit",
            Self::NodeLimit => "node-limit",
        }
    }
}

/// What one `learn` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Learning {
    /// New entries and refreshed ones.
    pub recorded: usize,
    pub evicted: Vec<Eviction>,
}

#[derive(Debug)]
struct Entry {
    chain: Arc<NameChain>,
    /// Milliseconds since the cache's start.
    expires: u64,
}

/// One pod's answers by address.
#[derive(Debug, Default)]
struct Pod {
    by_address: FxHashMap<IpAddr, Vec<Entry>>,
    entries: usize,
}

impl Pod {
    /// Drops expired entries; how many.
    fn purge(&mut self, now: u64) -> usize {
        let before = self.entries;
        self.by_address.retain(|_, entries| {
            entries.retain(|e| e.expires > now);
            !entries.is_empty()
        });
        self.entries = self.by_address.values().map(Vec::len).sum();
        before - self.entries
    }

    /// Drops the entry closest to expiry.
    fn evict_one(&mut self) {
        let soonest = self
            .by_address
            .iter()
            .flat_map(|(address, entries)| {
                entries
                    .iter()
                    .enumerate()
                    .map(move |(i, e)| (e.expires, *address, i))
            })
            .min();
        if let Some((_, address, i)) = soonest
            && let Some(entries) = self.by_address.get_mut(&address)
        {
            entries.swap_remove(i);
            if entries.is_empty() {
                self.by_address.remove(&address);
            }
            self.entries -= 1;
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    pods: FxHashMap<IpAddr, Pod>,
    entries: usize,
    last_sweep: u64,
}

impl Inner {
    fn sweep(&mut self, now: u64) {
        let mut removed = 0;
        self.pods.retain(|_, pod| {
            removed += pod.purge(now);
            pod.entries > 0
        });
        self.entries -= removed;
        self.last_sweep = now;
    }
}

/// Expired entries are swept this often at most, besides whenever a bound is reached.
const SWEEP_EVERY_MS: u64 = 10_000;

#[derive(Debug)]
pub struct DnsCache {
    inner: RwLock<Inner>,
    limits: Limits,
    start: Instant,
}

impl DnsCache {
    pub fn new(limits: Limits) -> Self {
        Self {
            inner: RwLock::default(),
            limits,
            start: Instant::now(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_millis() as u64
    }

    /// Records what `client` (a local pod's address) learned at `now`.
    pub fn learn(&self, client: IpAddr, answers: &[Learned], now: Instant) -> Learning {
        let now = self.millis(now);
        let mut learning = Learning::default();
        if answers.is_empty() {
            return learning;
        }
        let mut inner = self.inner.write().expect("dns cache lock");
        if now.saturating_sub(inner.last_sweep) >= SWEEP_EVERY_MS {
            inner.sweep(now);
        }
        // One chain shared by the addresses of one answer.
        let mut chains: Vec<Arc<NameChain>> = Vec::new();
        for answer in answers {
            let ttl = answer.ttl.clamp(self.limits.min_ttl, self.limits.max_ttl);
            let expires = now + u64::from(ttl) * 1000;
            let chain = match chains.iter().find(|c| ***c == answer.chain) {
                Some(chain) => chain.clone(),
                None => {
                    chains.push(Arc::new(answer.chain.clone()));
                    chains[chains.len() - 1].clone()
                }
            };
            learning.recorded += 1;
            let Inner { pods, entries, .. } = &mut *inner;
            let pod = pods.entry(client).or_default();
            // The same name again for this address: the new answer replaces the old one.
            if let Some(entry) = pod.by_address.get_mut(&answer.address).and_then(|list| {
                list.iter_mut()
                    .find(|e| e.chain.queried() == chain.queried())
            }) {
                entry.expires = expires;
                entry.chain = chain;
                continue;
            }
            if pod.entries >= self.limits.per_pod {
                let purged = pod.purge(now);
                *entries -= purged;
                if purged == 0 {
                    pod.evict_one();
                    *entries -= 1;
                    learning.evicted.push(Eviction::PodLimit);
                }
            }
            if *entries >= self.limits.per_node {
                self.make_room(&mut inner, client, now, &mut learning);
            }
            let pod = inner.pods.entry(client).or_default();
            pod.by_address
                .entry(answer.address)
                .or_default()
                .push(Entry { chain, expires });
            pod.entries += 1;
            inner.entries += 1;
        }
        learning
    }

    /// Makes room for one more entry on the node: expired entries go, else the entry closest
    /// to expiry of the pod holding the most.
    fn make_room(&self, inner: &mut Inner, client: IpAddr, now: u64, learning: &mut Learning) {
        inner.sweep(now);
        if inner.entries < self.limits.per_node {
            return;
        }
        let heaviest = inner
            .pods
            .iter()
            .max_by_key(|(address, pod)| (pod.entries, **address == client))
            .map(|(address, _)| *address);
        if let Some(address) = heaviest
            && let Some(pod) = inner.pods.get_mut(&address)
        {
            pod.evict_one();
            inner.entries -= 1;
            learning.evicted.push(Eviction::NodeLimit);
            if pod.entries == 0 {
                inner.pods.remove(&address);
            }
        }
    }

    /// Forgets the pods `keep` refuses (gone, or no longer learning).
    pub fn retain_clients(&self, keep: impl Fn(&IpAddr) -> bool) {
        let mut inner = self.inner.write().expect("dns cache lock");
        inner.pods.retain(|address, _| keep(address));
        inner.entries = inner.pods.values().map(|p| p.entries).sum();
    }

    /// Entries held (expired ones until they are swept).
    pub fn len(&self) -> usize {
        self.inner.read().expect("dns cache lock").entries
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A view of the cache as decisions at `now` see it.
    pub fn at(&self, now: Instant) -> CacheView<'_> {
        CacheView {
            cache: self,
            now: self.millis(now),
        }
    }
}

/// The cache at one instant, as decisions read it.
pub struct CacheView<'a> {
    cache: &'a DnsCache,
    now: u64,
}

impl DnsView for CacheView<'_> {
    fn find(
        &self,
        client: &[IpAddr],
        address: IpAddr,
        visit: &mut dyn FnMut(Answer<'_>) -> bool,
    ) -> bool {
        let inner = self.cache.inner.read().expect("dns cache lock");
        client.iter().any(|c| {
            let Some(entries) = inner.pods.get(c).and_then(|p| p.by_address.get(&address)) else {
                return false;
            };
            entries.iter().filter(|e| e.expires > self.now).any(|e| {
                let left = Duration::from_millis(e.expires - self.now);
                visit(Answer {
                    chain: &e.chain,
                    address,
                    ttl_left: Some(left.as_secs_f64().ceil() as u32),
                })
            })
        })
    }
}

#[cfg(test)]
mod tests;
