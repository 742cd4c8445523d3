//! Memoised decisions keyed by what policies can see of a flow: the identities of both ends
//! (or their addresses), their nodes when the own-node rule can apply, protocol and port.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

use rustc_hash::FxHashMap;

use super::{Decision, DirectionDecision, Endpoint, Flow};
use crate::cluster::NodeId;
use crate::engine::{Engine, IdentityId};
use crate::model::{Direction, Protocol};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// A pod by identity, and by node when the other end of the flow is on a node.
    Pod(IdentityId, Option<NodeId>),
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

    /// The decision for `flow`, computed once per distinct key. A pod's traffic to itself
    /// bypasses the cache; flows with an end on a node are keyed by the node of their pods.
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
        // A pod reaching one of its own addresses (dual stack) is exempt from every tier: a
        // matter of the pod, not of its identity.
        let addressed =
            matches!(flow.src, Endpoint::Address(_)) || matches!(flow.dst, Endpoint::Address(_));
        if addressed
            && engine
                .selectable_pod(flow.src)
                .is_some_and(|pod| engine.selectable_pod(flow.dst) == Some(pod))
        {
            return None;
        }
        // The own-node rule: when one end is on a node (a node address, a host-network pod),
        // the answer depends on where the pod at the other end runs, so pods count by node too.
        let on_node = engine.on_node(flow.src) || engine.on_node(flow.dst);
        let key = |endpoint: Endpoint| match endpoint {
            Endpoint::Pod(id) => Key::Pod(
                engine.identity_of(id),
                on_node
                    .then(|| engine.cluster.pod_node[id as usize])
                    .flatten(),
            ),
            Endpoint::Address(ip) => Key::Address(ip),
        };
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
