//! One node's view of the cluster: the engine, a verdict cache, and which pods are local.
//! Egress is decided here for local sources and ingress for local destinations, so that each
//! direction is decided exactly once, at the node of the pod it protects.

use std::net::IpAddr;
use std::sync::Arc;

use netpol_engine::compile::CompileError;
use netpol_engine::dns::{DnsView, NoAnswers, cluster_dns_pods};
use netpol_engine::engine::{AdminSlot, Applied};
use netpol_engine::eval::DirectionDecision;
use netpol_engine::model::{AdminPeer, Direction};
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
    /// Allowed only through a DNS answer the source learned, which expires: the kernel's
    /// decision cache must not remember the tuple.
    pub learned: bool,
}

impl Outcome {
    const ALLOW: Self = Self {
        allowed: true,
        refusal: None,
        learned: false,
    };
}

#[derive(Debug)]
pub struct Snapshot {
    pub engine: Arc<Engine>,
    cache: VerdictCache,
    /// Addresses of this node's pods (not host-network).
    local: FxHashSet<IpAddr>,
    /// Local pods whose new connections are queued, by the direction a policy affects, and
    /// those whose DNS responses are (`queued.dns`: an egress `domainNames` rule applies).
    queued: Queued,
    /// Addresses of the cluster DNS pods: the resolvers whose answers are learned (besides
    /// those given by flag).
    resolvers: FxHashSet<IpAddr>,
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
        let by_name: FxHashSet<AdminSlot> = engine
            .admin_policies()
            .filter(|(_, p)| p.egress.iter().any(|r| r.peers.iter().any(is_domain_names)))
            .map(|(slot, _)| slot)
            .collect();
        for (id, pod) in engine.cluster.pods.iter().enumerate() {
            if pod.host_network || pod.template || pod.node.as_deref() != Some(node) {
                continue;
            }
            let applied = engine.applied(engine.identity_of(id as u32));
            let egress = affects(&engine, applied, Direction::Egress);
            let ingress = affects(&engine, applied, Direction::Ingress);
            let learns = applied.admin.iter().any(|slot| by_name.contains(slot));
            for ip in &pod.ips {
                local.insert(*ip);
                if egress {
                    queued.egress.insert(*ip);
                }
                if ingress {
                    queued.ingress.insert(*ip);
                }
                if learns {
                    queued.dns.insert(*ip);
                }
            }
        }
        let resolvers = cluster_dns_pods(&engine.cluster)
            .into_iter()
            .flat_map(|p| engine.cluster.pod(p).ips.clone())
            .collect();
        Self {
            engine,
            cache: VerdictCache::new(CACHE_CAPACITY),
            local,
            queued,
            resolvers,
        }
    }

    /// Whether the local pod at `ip` learns names from its DNS responses.
    pub fn learns(&self, ip: &IpAddr) -> bool {
        self.queued.dns.contains(ip)
    }

    /// Whether `ip` is a cluster DNS pod's.
    pub fn is_cluster_resolver(&self, ip: &IpAddr) -> bool {
        self.resolvers.contains(ip)
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
        self.decide_with_dns(packet, &NoAnswers)
    }

    /// `decide`, egress `domainNames` rules matching through what the source learned from
    /// DNS. A direction allowed without answers is allowed with any (an answer can only make
    /// an Accept rule match earlier), so the verdict cache, which knows nothing of DNS, is
    /// asked first, and only a denied egress of a pod that learns is decided again with the
    /// answers.
    pub fn decide_with_dns(&self, packet: &Packet, dns: &dyn DnsView) -> Outcome {
        let here = [
            (Direction::Egress, self.is_local(&packet.src)),
            (Direction::Ingress, self.is_local(&packet.dst)),
        ];
        if !here.iter().any(|(_, local)| *local) {
            return Outcome::ALLOW;
        }
        let flow = flow(packet);
        let mut outcome = Outcome::ALLOW;
        for (direction, _) in here.into_iter().filter(|(_, local)| *local) {
            let mut decision = self.cache.decide_direction(&self.engine, direction, &flow);
            if !decision.allowed && direction == Direction::Egress && self.learns(&packet.src) {
                decision = self.engine.decide_direction_with_dns(direction, &flow, dns);
                outcome.learned = decision.allowed;
            }
            if !decision.allowed {
                return Outcome {
                    allowed: false,
                    refusal: Some(Refusal {
                        direction,
                        decision,
                    }),
                    learned: false,
                };
            }
        }
        outcome
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

fn is_domain_names(peer: &AdminPeer) -> bool {
    matches!(peer, AdminPeer::DomainNames(_))
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
