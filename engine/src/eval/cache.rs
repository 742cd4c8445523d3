//! Memoised decisions keyed by what policies can see of a flow: the identities of both ends
//! (or their addresses), protocol and port.

use std::net::IpAddr;
use std::sync::Mutex;

use rustc_hash::FxHashMap;

use super::{Decision, Endpoint, Flow};
use crate::engine::{Engine, IdentityId};
use crate::model::Protocol;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Identity(IdentityId),
    Address(IpAddr),
}

type FlowKey = (Key, Key, Protocol, u16);

/// A bounded cache for one engine; cleared when full. Shared across threads.
#[derive(Debug)]
pub struct VerdictCache {
    entries: Mutex<FxHashMap<FlowKey, Decision>>,
    capacity: usize,
}

impl VerdictCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(FxHashMap::default()),
            capacity,
        }
    }

    /// The decision for `flow`, computed once per distinct key. Flows whose answer depends on
    /// more than identities (a pod to itself, a pod's own node) bypass the cache.
    pub fn decide(&self, engine: &Engine, flow: &Flow) -> Decision {
        let flow = Flow {
            src: engine.normalize(flow.src),
            dst: engine.normalize(flow.dst),
            ..*flow
        };
        let Some(key) = self.key(engine, &flow) else {
            return engine.decide(&flow);
        };
        if let Some(hit) = self.entries.lock().expect("cache lock").get(&key) {
            return *hit;
        }
        let decision = engine.decide(&flow);
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, decision);
        decision
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

    pub fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
