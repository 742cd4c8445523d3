//! One node's view of the cluster: the engine, a verdict cache, and which pods are local.
//! Egress is decided here for local sources and ingress for local destinations, so that each
//! direction is decided exactly once, at the node of the pod it protects.

use std::net::IpAddr;
use std::sync::Arc;

use std::sync::OnceLock;

use netpol_engine::compile::CompileError;
use netpol_engine::dns::{DnsView, NoAnswers, cluster_dns_pods};
use netpol_engine::engine::{AdminSlot, Applied};
use netpol_engine::eval::{Decider, DirectionDecision};
use netpol_engine::model::{AdminPeer, Direction, PolicyRef};
use netpol_engine::{Endpoint, Engine, Flow, Protocol, State, VerdictCache};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use rustc_hash::FxHashSet;

use crate::kernel::Queued;
use crate::metrics::PolicyLabels;
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
    /// The direction whose decision settled the verdict: the refusing one, else the last one
    /// decided here. None when neither end is local.
    pub decided: Option<(Direction, DirectionDecision)>,
    /// With the audited policies enforced, when the verdict differs: that verdict and what
    /// decided it.
    pub audit: Option<AuditOutcome>,
    /// Allowed only through a DNS answer the source learned, which expires: the kernel's
    /// decision cache must not remember the tuple.
    pub learned: bool,
}

/// What the state with its audited policies enforced would do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditOutcome {
    pub allowed: bool,
    pub direction: Direction,
    pub decision: DirectionDecision,
}

impl Outcome {
    const ALLOW: Self = Self {
        allowed: true,
        refusal: None,
        decided: None,
        audit: None,
        learned: false,
    };
}

/// The engine with the audited policies enforced, and its own verdict cache.
#[derive(Debug)]
struct Audit {
    engine: Arc<Engine>,
    cache: VerdictCache,
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
    /// Present when some policy is audited (`netpol.io/enforcement: audit`).
    audit: Option<Audit>,
    /// Each policy's verdict counters, made once per snapshot off the packet path.
    counters: OnceLock<PolicyCounters>,
}

/// Counters of each policy's verdicts by slot: allowed, denied, would-allow, would-deny. Label
/// strings are allocated once here, not per packet.
#[derive(Debug, Default)]
pub struct PolicyCounters {
    admin: Vec<[Counter; 4]>,
    netpol: Vec<[Counter; 4]>,
}

const VERDICTS: [&str; 4] = ["allowed", "denied", "would-allow", "would-deny"];

impl PolicyCounters {
    fn new(engine: &Engine, family: &Family<PolicyLabels, Counter>) -> Self {
        let counters = |id: &PolicyRef| -> [Counter; 4] {
            VERDICTS.map(|verdict| {
                family
                    .get_or_create(&PolicyLabels {
                        kind: id.kind.name(),
                        namespace: id.namespace.clone().unwrap_or_default(),
                        name: id.name.clone(),
                        verdict,
                    })
                    .clone()
            })
        };
        let mut out = Self::default();
        for (slot, policy) in engine.admin_policies() {
            let slot = slot as usize;
            out.admin
                .resize_with(out.admin.len().max(slot + 1), Default::default);
            out.admin[slot] = counters(&policy.id);
        }
        for (slot, policy) in engine.network_policies() {
            let slot = slot as usize;
            out.netpol
                .resize_with(out.netpol.len().max(slot + 1), Default::default);
            out.netpol[slot] = counters(&policy.id);
        }
        out
    }

    fn count(&self, decision: &DirectionDecision, verdict: usize) {
        if let Some((slot, _)) = decision.admin_rule
            && let Some(c) = self.admin.get(slot as usize)
        {
            c[verdict].inc();
        }
        if let Some((slot, _)) = decision.netpol_rule
            && let Some(c) = self.netpol.get(slot as usize)
        {
            c[verdict].inc();
        }
    }
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
        let audit = engine.with_audited_enforced().map(|enforced| Audit {
            engine: Arc::new(enforced),
            cache: VerdictCache::new(CACHE_CAPACITY),
        });
        // Pods that only audited policies select are queued too: their flows are reported.
        let selecting = audit.as_ref().map_or(&*engine, |a| &*a.engine);
        // Audited domainNames rules learn too, so that what they would do is decided with
        // the same answers.
        let by_name: FxHashSet<AdminSlot> = selecting
            .admin_policies()
            .filter(|(_, p)| p.egress.iter().any(|r| r.peers.iter().any(is_domain_names)))
            .map(|(slot, _)| slot)
            .collect();
        for (id, pod) in engine.cluster.pods.iter().enumerate() {
            if pod.host_network || pod.template || pod.node.as_deref() != Some(node) {
                continue;
            }
            let applied = selecting.applied(selecting.identity_of(id as u32));
            let egress = affects(selecting, applied, Direction::Egress);
            let ingress = affects(selecting, applied, Direction::Ingress);
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
            audit,
            counters: OnceLock::new(),
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
    /// Only those directions are evaluated: the other end's node decides the rest. With audited
    /// policies, the packet is decided a second time with them enforced.
    pub fn decide(&self, packet: &Packet) -> Outcome {
        self.decide_with_dns(packet, &NoAnswers)
    }

    /// `decide`, egress `domainNames` rules matching through what the source learned from
    /// DNS (see [`walk`]).
    pub fn decide_with_dns(&self, packet: &Packet, dns: &dyn DnsView) -> Outcome {
        let here = [
            (Direction::Egress, self.is_local(&packet.src)),
            (Direction::Ingress, self.is_local(&packet.dst)),
        ];
        if !here.iter().any(|(_, local)| *local) {
            return Outcome::ALLOW;
        }
        let flow = flow(packet);
        let answers = self.learns(&packet.src).then_some(dns);
        let walked = walk(&self.engine, &self.cache, &here, &flow, answers);
        let allowed = walked.allowed;
        let decided = walked.decided;
        let audit = self.audit.as_ref().and_then(|audit| {
            let would = walk(&audit.engine, &audit.cache, &here, &flow, answers);
            let (direction, decision) = would.decided;
            (would.allowed != allowed).then_some(AuditOutcome {
                allowed: would.allowed,
                direction,
                decision,
            })
        });
        Outcome {
            allowed,
            refusal: (!allowed).then_some(Refusal {
                direction: decided.0,
                decision: decided.1,
            }),
            decided: Some(decided),
            audit,
            learned: allowed && walked.learned,
        }
    }

    /// Makes the per-policy counters (once): called when the snapshot is put in force.
    pub fn attach_counters(&self, family: &Family<PolicyLabels, Counter>) {
        self.counters
            .get_or_init(|| PolicyCounters::new(&self.engine, family));
    }

    /// Counts a decided packet for the policies that decided it: the deciding rule's policy,
    /// or every policy isolating the pod when NetworkPolicy denied; and, for an audit
    /// difference, the policy that would decide.
    pub fn count(&self, outcome: &Outcome, flow: &Flow) {
        let Some(counters) = self.counters.get() else {
            return;
        };
        if let Some((direction, decision)) = &outcome.decided {
            counters.count(decision, usize::from(!decision.allowed));
            if decision.decider == Decider::NetworkPolicy && !decision.allowed {
                let subject = match direction {
                    Direction::Egress => flow.src,
                    Direction::Ingress => flow.dst,
                };
                if let Endpoint::Pod(pod) = self.engine.normalize(subject) {
                    let applied = self.engine.applied(self.engine.identity_of(pod));
                    for slot in &applied.netpols {
                        if self
                            .engine
                            .network_policy(*slot)
                            .rules(*direction)
                            .is_some()
                            && let Some(c) = counters.netpol.get(*slot as usize)
                        {
                            c[1].inc();
                        }
                    }
                }
            }
        }
        if let Some(audit) = &outcome.audit {
            counters.count(&audit.decision, if audit.allowed { 2 } else { 3 });
        }
    }

    /// The engine with the audited policies enforced, when some policy is audited.
    pub fn audit_engine(&self) -> Option<&Engine> {
        self.audit.as_ref().map(|a| &*a.engine)
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

/// What [`walk`] found.
struct Walked {
    allowed: bool,
    /// The direction that settled the verdict (the last one decided when allowed).
    decided: (Direction, DirectionDecision),
    /// Egress was allowed only through a learned answer.
    learned: bool,
}

/// Decides the local directions of a flow in order; the first refusal settles it.
///
/// `answers` is what the source learned from DNS, when it learns at all. A direction allowed
/// without answers is allowed with any (domainNames peers appear only in Accept rules, so an
/// answer can only make an Accept match earlier), so the verdict cache, which knows nothing of
/// DNS, is asked first, and only a denied egress is decided again with the answers.
fn walk(
    engine: &Engine,
    cache: &VerdictCache,
    here: &[(Direction, bool); 2],
    flow: &Flow,
    answers: Option<&dyn DnsView>,
) -> Walked {
    let mut last = None;
    let mut learned = false;
    for (direction, _) in here.iter().filter(|(_, local)| *local) {
        let mut decision = cache.decide_direction(engine, *direction, flow);
        if !decision.allowed
            && *direction == Direction::Egress
            && let Some(dns) = answers
        {
            decision = engine.decide_direction_with_dns(*direction, flow, dns);
            learned = decision.allowed;
        }
        last = Some((*direction, decision));
        if !decision.allowed {
            return Walked {
                allowed: false,
                decided: (*direction, decision),
                learned: false,
            };
        }
    }
    Walked {
        allowed: true,
        decided: last.expect("a local end"),
        learned,
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

fn is_domain_names(peer: &AdminPeer) -> bool {
    matches!(peer, AdminPeer::DomainNames(_))
}

#[cfg(test)]
pub(crate) mod tests;
