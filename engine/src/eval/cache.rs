//! Memoised decisions keyed by what policies can see of a flow: the identities of both ends
//! (or their addresses), protocol and port.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

use rustc_hash::FxHashMap;

use super::{Decision, DirectionDecision, Endpoint, Flow};
use crate::engine::{Engine, IdentityId};
use crate::model::{Direction, Protocol};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Identity(IdentityId),
    Address(IpAddr),
}

type FlowKey = (Key, Key, Protocol, u16);

/// A bounded cache for one engine; cleared when full. Shared across threads.
#[derive(Debug)]
pub struct VerdictCache {
    /// Both directions, for `decide`.
    flows: Bounded<FlowKey, Decision>,
    /// One direction, for `decide_direction`.
    directions: Bounded<(Direction, FlowKey), DirectionDecision>,
}

impl VerdictCache {
    /// A cache of at most `capacity` flows for `decide` and as many for `decide_direction`.
    pub fn new(capacity: usize) -> Self {
        Self {
            flows: Bounded::new(capacity),
            directions: Bounded::new(capacity),
        }
    }

    /// The decision for `flow`, computed once per distinct key. Flows whose answer depends on
    /// more than identities (a pod to itself, a pod's own node) bypass the cache.
    pub fn decide(&self, engine: &Engine, flow: &Flow) -> Decision {
        let flow = normalized(engine, flow);
        match self.key(engine, &flow) {
            Some(key) => self
                .flows
                .get_or_insert(key, || engine.decide_normalized(&flow)),
            None => engine.decide_normalized(&flow),
        }
    }

    /// `Engine::decide_direction`, memoised like `decide`.
    pub fn decide_direction(
        &self,
        engine: &Engine,
        direction: Direction,
        flow: &Flow,
    ) -> DirectionDecision {
        let flow = normalized(engine, flow);
        let decide = || engine.direction(direction, &flow, &mut ());
        match self.key(engine, &flow) {
            Some(key) => self.directions.get_or_insert((direction, key), decide),
            None => decide(),
        }
    }

    fn key(&self, engine: &Engine, flow: &Flow) -> Option<FlowKey> {
        if flow.src == flow.dst {
            return None;
        }
        let key = |endpoint: Endpoint| match endpoint {
            Endpoint::Pod(id) => Key::Identity(engine.identity_of(id)),
            Endpoint::Address(ip) => Key::Address(ip),
        };
        // Node addresses and host-network pods depend on where the other end runs.
        let touches_node = |endpoint: Endpoint| match endpoint {
            Endpoint::Pod(id) => engine.identities()[engine.identity_of(id) as usize].host_network,
            Endpoint::Address(ip) => engine.cluster.node_by_ip(&ip).is_some(),
        };
        if touches_node(flow.src) || touches_node(flow.dst) {
            return None;
        }
        // ICMP has no port: whatever the flow says, one entry.
        let port = if flow.protocol.has_ports() {
            flow.port
        } else {
            0
        };
        Some((key(flow.src), key(flow.dst), flow.protocol, port))
    }

    /// Entries held, both kinds together.
    pub fn len(&self) -> usize {
        self.flows.len() + self.directions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn normalized(engine: &Engine, flow: &Flow) -> Flow {
    Flow {
        src: engine.normalize(flow.src),
        dst: engine.normalize(flow.dst),
        ..*flow
    }
}

/// A map of at most `capacity` entries that starts over when full: cheaper than an eviction
/// order, and a full cache means the working set did not fit anyway.
#[derive(Debug)]
struct Bounded<K, V> {
    entries: Mutex<FxHashMap<K, V>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Copy> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(FxHashMap::default()),
            capacity,
        }
    }

    /// The value for `key`, computed by `compute` (outside the lock) when absent.
    fn get_or_insert(&self, key: K, compute: impl FnOnce() -> V) -> V {
        if let Some(hit) = self.entries.lock().expect("cache lock").get(&key) {
            return *hit;
        }
        let value = compute();
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, value);
        value
    }

    fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }
}
