//! One node's view of the cluster: the engine, a verdict cache, and which pods are local.
//! Egress is decided here for local sources and ingress for local destinations, so that each
//! direction is decided exactly once, at the node of the pod it protects.

use std::net::IpAddr;
use std::sync::Arc;

use netpol_engine::compile::CompileError;
use netpol_engine::engine::Applied;
use netpol_engine::eval::DirectionDecision;
use netpol_engine::model::Direction;
use netpol_engine::{Endpoint, Engine, Flow, Protocol, State, VerdictCache};
use rustc_hash::FxHashSet;

use crate::kernel::Queued;
use crate::packet::{Packet, Transport};

/// Distinct flows remembered per engine before the cache starts over.
const CACHE_CAPACITY: usize = 1 << 16;

/// The flow that decides a packet. ICMP and ICMPv6 (echo requests are new connections to
/// conntrack), and any other protocol without ports, are portless flows: upstream, only rules
/// without ports match them.
pub fn flow(packet: &Packet) -> Flow {
    let (protocol, port) = match packet.transport {
        Transport::Tcp => (Protocol::Tcp, packet.dst_port),
        Transport::Udp => (Protocol::Udp, packet.dst_port),
        Transport::Sctp => (Protocol::Sctp, packet.dst_port),
        Transport::Icmp | Transport::Icmpv6 | Transport::Other(_) => (Protocol::Icmp, None),
    };
    Flow {
        src: Endpoint::Address(packet.src),
        dst: Endpoint::Address(packet.dst),
        protocol,
        // A port header cut short reads as port 0, which no port rule names.
        port: port.unwrap_or(0),
    }
}

/// The direction that refused a packet, and what decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub direction: Direction,
    pub decision: DirectionDecision,
}

/// The verdict on one packet, with what decided it when it was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    pub refusal: Option<Refusal>,
}

impl Outcome {
    const ALLOW: Self = Self {
        allowed: true,
        refusal: None,
    };
}

#[derive(Debug)]
pub struct Snapshot {
    pub engine: Arc<Engine>,
    cache: VerdictCache,
    /// Addresses of this node's pods (not host-network).
    local: FxHashSet<IpAddr>,
    /// Local pods whose new connections are queued, by the direction a policy affects.
    queued: Queued,
}

impl Snapshot {
    /// Builds the engine for `state` as seen from node `node`.
    pub fn build(state: &State, node: &str) -> (Self, Vec<CompileError>) {
        let build = Engine::build(state);
        (Self::new(Arc::new(build.engine), node), build.errors)
    }

    /// This node's view of `engine` (shared with the source that published it).
    pub fn new(engine: Arc<Engine>, node: &str) -> Self {
        let mut local = FxHashSet::default();
        let mut queued = Queued::default();
        for (id, pod) in engine.cluster.pods.iter().enumerate() {
            if pod.host_network || pod.template || pod.node.as_deref() != Some(node) {
                continue;
            }
            let applied = engine.applied(engine.identity_of(id as u32));
            let egress = affects(&engine, applied, Direction::Egress);
            let ingress = affects(&engine, applied, Direction::Ingress);
            for ip in &pod.ips {
                local.insert(*ip);
                if egress {
                    queued.egress.insert(*ip);
                }
                if ingress {
                    queued.ingress.insert(*ip);
                }
            }
        }
        Self {
            engine,
            cache: VerdictCache::new(CACHE_CAPACITY),
            local,
            queued,
        }
    }

    /// Local pods whose new connections must be queued.
    pub fn queued(&self) -> &Queued {
        &self.queued
    }

    pub fn is_local(&self, ip: &IpAddr) -> bool {
        self.local.contains(ip)
    }

    /// Decides a packet: egress when the source is local, ingress when the destination is.
    /// Only those directions are evaluated: the other end's node decides the rest.
    pub fn decide(&self, packet: &Packet) -> Outcome {
        let here = [
            (Direction::Egress, self.is_local(&packet.src)),
            (Direction::Ingress, self.is_local(&packet.dst)),
        ];
        if !here.iter().any(|(_, local)| *local) {
            return Outcome::ALLOW;
        }
        let flow = flow(packet);
        for (direction, _) in here.into_iter().filter(|(_, local)| *local) {
            let decision = self.cache.decide_direction(&self.engine, direction, &flow);
            if !decision.allowed {
                return Outcome {
                    allowed: false,
                    refusal: Some(Refusal {
                        direction,
                        decision,
                    }),
                };
            }
        }
        Outcome::ALLOW
    }

    /// Names the policy and rule that denied, for the deny log.
    pub fn describe_refusal(&self, refusal: &Refusal) -> String {
        let direction = match refusal.direction {
            Direction::Egress => "egress",
            Direction::Ingress => "ingress",
        };
        match refusal.decision.admin_rule {
            Some((slot, rule)) => {
                let policy = self.engine.admin_policy(slot);
                let name = policy
                    .rules(refusal.direction)
                    .get(rule as usize)
                    .and_then(|r| r.name.as_deref())
                    .map(|name| format!(" ({name})"))
                    .unwrap_or_default();
                format!("{direction} denied by {} rule {rule}{name}", policy.id)
            }
            None => format!(
                "{direction} denied ({:?}: no rule allows it)",
                refusal.decision.decider
            ),
        }
    }
}

/// True when a policy applied to a pod can decide its traffic in `direction`: an admin
/// policy with rules in that direction, or a NetworkPolicy whose policyTypes include it
/// (which isolates the pod even without rules). Otherwise that direction is allowed.
fn affects(engine: &Engine, applied: &Applied, direction: Direction) -> bool {
    applied
        .admin
        .iter()
        .any(|slot| !engine.admin_policy(*slot).rules(direction).is_empty())
        || applied
            .netpols
            .iter()
            .any(|slot| engine.network_policy(*slot).rules(direction).is_some())
}

#[cfg(test)]
pub(crate) mod tests;
