//! The tier walk: Admin (ANP, CNP Admin) by priority, NetworkPolicy, Baseline (CNP Baseline,
//! BANP), then default allow; egress at the source, ingress at the destination.

use std::net::IpAddr;

use super::domains;
use super::matching::{PeerMatch, Remote, net_ports_match, ports_match};
use super::walkthrough::{
    Decider, Decision, DirectionDecision, RuleRef, Step, StepResult, TierName, Verdict, Walkthrough,
};
use super::{Endpoint, Flow};
use crate::cluster::PodId;
use crate::dns::{DnsView, NoAnswers};
use crate::engine::{AdminSlot, Applied, Engine, order_key};
use crate::model::{Action, AdminPolicy, AdminRule, AdminTier, Direction, Pod, PolicyRef};

/// Where steps go: nowhere on the fast path, into a list for walkthroughs.
pub(crate) trait Trace {
    fn step(&mut self, make: impl FnOnce() -> Step);
}

impl Trace for () {
    #[inline]
    fn step(&mut self, _: impl FnOnce() -> Step) {}
}

impl Trace for Vec<Step> {
    fn step(&mut self, make: impl FnOnce() -> Step) {
        self.push(make());
    }
}

fn note(tier: TierName, text: String) -> Step {
    Step {
        tier,
        policy: None,
        priority: None,
        rule: None,
        result: StepResult::Note,
        note: Some(text),
    }
}

fn allowed(decider: Decider) -> DirectionDecision {
    DirectionDecision {
        allowed: true,
        decider,
        admin_rule: None,
        netpol_rule: None,
    }
}

impl Engine {
    /// Decides a flow without a walkthrough, with nothing learned from DNS.
    pub fn decide(&self, flow: &Flow) -> Decision {
        self.decide_normalized(&Flow {
            src: self.normalize(flow.src),
            dst: self.normalize(flow.dst),
            ..*flow
        })
    }

    /// `decide` with what the pods learned from DNS, which egress `domainNames` peers match.
    pub fn decide_with_dns(&self, flow: &Flow, dns: &dyn DnsView) -> Decision {
        let flow = Flow {
            src: self.normalize(flow.src),
            dst: self.normalize(flow.dst),
            ..*flow
        };
        let egress = self.walk(Direction::Egress, &flow, None, dns, &mut ());
        let ingress = self.walk(Direction::Ingress, &flow, None, dns, &mut ());
        Decision {
            allowed: egress.allowed && ingress.allowed,
            egress,
            ingress,
        }
    }

    /// `decide` of a flow whose ends are already normalized.
    pub(crate) fn decide_normalized(&self, flow: &Flow) -> Decision {
        let egress = self.direction(Direction::Egress, flow, &mut ());
        let ingress = self.direction(Direction::Ingress, flow, &mut ());
        Decision {
            allowed: egress.allowed && ingress.allowed,
            egress,
            ingress,
        }
    }

    /// Decides one direction of a flow: egress at its source or ingress at its destination,
    /// the same answer as that half of `decide`. A node that enforces one end of a flow needs
    /// only its own direction, at about half the cost.
    pub fn decide_direction(&self, direction: Direction, flow: &Flow) -> DirectionDecision {
        self.decide_direction_with_dns(direction, flow, &NoAnswers)
    }

    /// `decide_direction` with what the pods learned from DNS.
    pub fn decide_direction_with_dns(
        &self,
        direction: Direction,
        flow: &Flow,
        dns: &dyn DnsView,
    ) -> DirectionDecision {
        let flow = Flow {
            src: self.normalize(flow.src),
            dst: self.normalize(flow.dst),
            ..*flow
        };
        self.walk(direction, &flow, None, dns, &mut ())
    }

    /// Decides a flow and explains both directions, with nothing learned from DNS.
    pub fn verdict(&self, flow: &Flow) -> Verdict {
        self.verdict_with_dns(flow, &NoAnswers)
    }

    /// `verdict` with what the pods learned from DNS: a `domainNames` rule that matched names
    /// the answer it matched through.
    pub fn verdict_with_dns(&self, flow: &Flow, dns: &dyn DnsView) -> Verdict {
        let flow = Flow {
            src: self.normalize(flow.src),
            dst: self.normalize(flow.dst),
            ..*flow
        };
        let walk = |direction: Direction| {
            let mut steps = Vec::new();
            let decision = self.walk(direction, &flow, None, dns, &mut steps);
            let subject = match direction {
                Direction::Egress => flow.src,
                Direction::Ingress => flow.dst,
            };
            Walkthrough {
                direction,
                subject: self.describe(subject),
                allowed: decision.allowed,
                decided_by: decision.decider,
                steps,
            }
        };
        let (egress, ingress) = (walk(Direction::Egress), walk(Direction::Ingress));
        Verdict {
            from: self.describe(flow.src),
            to: self.describe(flow.dst),
            protocol: flow.protocol,
            port: flow.port,
            allowed: egress.allowed && ingress.allowed,
            egress,
            ingress,
        }
    }

    /// The NetworkPolicies that isolate a flow's subject in one direction (egress: the source;
    /// ingress: the destination): those a NetworkPolicy-tier denial comes from, jointly.
    pub fn isolating(&self, direction: Direction, flow: &Flow) -> Vec<PolicyRef> {
        let subject = match direction {
            Direction::Egress => flow.src,
            Direction::Ingress => flow.dst,
        };
        let Some(pod) = self.selectable_pod(self.normalize(subject)) else {
            return Vec::new();
        };
        self.applied(self.identity_of(pod))
            .netpols
            .iter()
            .map(|s| self.network_policy(*s))
            .filter(|p| p.rules(direction).is_some())
            .map(|p| p.id.clone())
            .collect()
    }

    pub(crate) fn remote(&self, endpoint: Endpoint) -> Remote<'_> {
        match endpoint {
            Endpoint::Pod(id) => {
                let pod = self.cluster.pod(id);
                if pod.host_network {
                    Remote {
                        pod: None,
                        ip: pod.ips.first().copied(),
                        node: self.cluster.pod_node[id as usize],
                    }
                } else {
                    Remote {
                        pod: Some((id, pod)),
                        ip: pod.ips.first().copied(),
                        node: None,
                    }
                }
            }
            // A pod's secondary address (dual stack): the pod, seen at that address.
            Endpoint::Address(ip) => match self.cluster.pod_by_ip(&ip) {
                Some(id) => Remote {
                    pod: Some((id, self.cluster.pod(id))),
                    ip: Some(ip),
                    node: None,
                },
                None => Remote {
                    pod: None,
                    ip: Some(ip),
                    node: self.cluster.node_by_ip(&ip),
                },
            },
        }
    }

    /// The pod on the pod network behind an endpoint, by name or by any of its addresses.
    pub(crate) fn selectable_pod(&self, endpoint: Endpoint) -> Option<PodId> {
        let id = match endpoint {
            Endpoint::Pod(id) => id,
            Endpoint::Address(ip) => self.cluster.pod_by_ip(&ip)?,
        };
        (!self.cluster.pod(id).host_network).then_some(id)
    }

    pub(crate) fn direction<T: Trace>(
        &self,
        direction: Direction,
        flow: &Flow,
        trace: &mut T,
    ) -> DirectionDecision {
        self.walk(direction, flow, None, &NoAnswers, trace)
    }

    /// `direction` of a normalized flow with two admin policies of one tier and priority met
    /// in the order given (`first` before `second`) instead of by name, everything else
    /// unchanged: the walk that tells whether a tie's order changes a verdict. Both must select
    /// the subject; either may be absent from the engine (a policy about to be created) or be
    /// a new version of one in it, which it replaces.
    pub(crate) fn direction_ordered<T: Trace>(
        &self,
        direction: Direction,
        flow: &Flow,
        order: Option<(&AdminPolicy, &AdminPolicy)>,
        trace: &mut T,
    ) -> DirectionDecision {
        self.walk(direction, flow, order, &NoAnswers, trace)
    }

    /// One direction of a normalized flow: `direction_ordered` with what the pods learned
    /// from DNS.
    fn walk<T: Trace>(
        &self,
        direction: Direction,
        flow: &Flow,
        order: Option<(&AdminPolicy, &AdminPolicy)>,
        dns: &dyn DnsView,
        trace: &mut T,
    ) -> DirectionDecision {
        let (subject, other) = match direction {
            Direction::Egress => (flow.src, flow.dst),
            Direction::Ingress => (flow.dst, flow.src),
        };
        let subject_pod = match self.selectable_pod(subject) {
            Some(id) => id,
            None => {
                trace.step(|| {
                    let why = match subject {
                        Endpoint::Pod(_) => "a host-network pod, which policies never select",
                        _ => "not a pod, so no policy applies to it",
                    };
                    note(
                        TierName::Default,
                        format!("{} is {why}", self.describe(subject)),
                    )
                });
                return allowed(Decider::NotSelectable);
            }
        };
        let remote = self.remote(other);
        let destination: Option<&Pod> = match direction {
            Direction::Ingress => Some(self.cluster.pod(subject_pod)),
            Direction::Egress => remote.pod.map(|(_, p)| p),
        };
        // A pod reaching its own address is exempt from every tier: "a pod cannot block access
        // to itself" (kubernetes.io NetworkPolicy docs) and "a Pod connecting to its own Pod IP
        // is not subject to ClusterNetworkPolicy" (network-policy-api API overview). A workload
        // template stands for any of its pods, so template to itself is replica to replica.
        if self.selectable_pod(other) == Some(subject_pod)
            && !self.cluster.pod(subject_pod).template
        {
            trace.step(|| {
                note(
                    TierName::Default,
                    "a pod's traffic to itself is not subject to any policy: allowed".into(),
                )
            });
            return allowed(Decider::Default);
        }
        let applied = self.applied(self.identity_of(subject_pod));
        let ctx = Context {
            direction,
            flow,
            remote: &remote,
            destination,
            dns,
            client: &self.cluster.pod(subject_pod).ips,
        };
        match order {
            None => {
                let admin = || applied.admin.iter().map(|s| (*s, self.admin_policy(*s)));
                self.tiers(subject_pod, applied, admin, &ctx, trace)
            }
            Some((first, second)) => {
                let list = self.tie_order(applied, first, second);
                self.tiers(subject_pod, applied, || list.iter().copied(), &ctx, trace)
            }
        }
    }

    /// The tiers in order for one subject, `admin` giving its admin policies in evaluation
    /// order.
    fn tiers<'p, I, T>(
        &'p self,
        subject_pod: PodId,
        applied: &Applied,
        admin: impl Fn() -> I,
        ctx: &Context,
        trace: &mut T,
    ) -> DirectionDecision
    where
        I: Iterator<Item = (AdminSlot, &'p AdminPolicy)>,
        T: Trace,
    {
        if let Some(decision) = self.admin_tier(AdminTier::Admin, admin(), ctx, trace) {
            return decision;
        }
        if let Some(decision) = self.netpol_tier(subject_pod, applied, ctx, trace) {
            return decision;
        }
        if let Some(decision) = self.admin_tier(AdminTier::Baseline, admin(), ctx, trace) {
            return decision;
        }
        trace.step(|| Step {
            tier: TierName::Default,
            policy: None,
            priority: None,
            rule: None,
            result: StepResult::DefaultAllow,
            note: Some("no policy decided: allowed by default".into()),
        });
        allowed(Decider::Default)
    }

    /// The admin policies of `applied` in evaluation order with `first` and `second` where
    /// their tier and priority put them, `first` before `second`: any version of either in
    /// `applied` is replaced. A policy not in the engine has the slot `AdminSlot::MAX`.
    fn tie_order<'p>(
        &'p self,
        applied: &Applied,
        first: &'p AdminPolicy,
        second: &'p AdminPolicy,
    ) -> Vec<(AdminSlot, &'p AdminPolicy)> {
        let mut list: Vec<(AdminSlot, &AdminPolicy)> = applied
            .admin
            .iter()
            .map(|s| (*s, self.admin_policy(*s)))
            .filter(|(_, p)| p.id != first.id && p.id != second.id)
            .collect();
        for policy in [first, second] {
            let slot = self.admin_slot(&policy.id).unwrap_or(AdminSlot::MAX);
            let at = list.partition_point(|(_, p)| order_key(p) < order_key(policy));
            list.insert(at, (slot, policy));
        }
        let at = |id: &PolicyRef| list.iter().position(|(_, p)| p.id == *id);
        if let (Some(i), Some(j)) = (at(&first.id), at(&second.id))
            && j < i
        {
            list.swap(i, j);
        }
        list
    }

    /// Walks one admin tier. `Some` when a rule decided; `None` to go on (no match, or Pass).
    fn admin_tier<'p, T: Trace>(
        &'p self,
        tier: AdminTier,
        admin: impl Iterator<Item = (AdminSlot, &'p AdminPolicy)>,
        ctx: &Context,
        trace: &mut T,
    ) -> Option<DirectionDecision> {
        let tier_name = match tier {
            AdminTier::Admin => TierName::Admin,
            AdminTier::Baseline => TierName::Baseline,
        };
        let mut previous: Option<&AdminPolicy> = None;
        for (slot, policy) in admin {
            if policy.tier != tier {
                continue;
            }
            if let Some(prev) = previous
                && prev.priority.is_some()
                && prev.priority == policy.priority
            {
                trace.step(|| {
                    let text = format!(
                        "{} shares priority {} with {}: upstream leaves the order undefined; netpol orders by name",
                        policy.id,
                        policy.priority.unwrap_or_default(),
                        prev.id
                    );
                    note(tier_name, text)
                });
            }
            previous = Some(policy);
            let rules = policy.rules(ctx.direction);
            let mut unknown_domains = false;
            let matched = rules
                .iter()
                .find(|rule| match self.admin_rule_matches(rule, ctx) {
                    PeerMatch::Yes => true,
                    PeerMatch::DomainNames => {
                        unknown_domains = true;
                        false
                    }
                    PeerMatch::No => false,
                });
            if unknown_domains {
                trace.step(|| Step {
                    note: Some(domains::unmatched_note(ctx.remote)),
                    ..policy_step(tier_name, policy, None, StepResult::Note)
                });
            }
            let Some(rule) = matched else {
                // A policy without rules in this direction takes no part in it.
                if !rules.is_empty() {
                    trace.step(|| {
                        let text = format!(
                            "selects the pod; none of its {} {} rules matches",
                            rules.len(),
                            ctx.direction.as_str()
                        );
                        Step {
                            note: Some(text),
                            ..policy_step(tier_name, policy, None, StepResult::NoMatch)
                        }
                    });
                }
                continue;
            };
            trace.step(|| Step {
                note: self.via_answer(rule, ctx.remote, ctx.client, ctx.dns),
                ..policy_step(tier_name, policy, Some(rule), rule.action.into())
            });
            let decider = match tier {
                AdminTier::Admin => Decider::Admin,
                AdminTier::Baseline => Decider::Baseline,
            };
            let decision = |allowed| DirectionDecision {
                allowed,
                decider,
                admin_rule: Some((slot, rule.index as u32)),
                netpol_rule: None,
            };
            return match rule.action {
                Action::Accept => Some(decision(true)),
                Action::Deny => Some(decision(false)),
                Action::Pass => {
                    trace.step(|| {
                        let next = match tier {
                            AdminTier::Admin => "the NetworkPolicy tier",
                            AdminTier::Baseline => "the default (allow)",
                        };
                        note(tier_name, format!("Pass: the rest of the tier is skipped; evaluation continues at {next}"))
                    });
                    None
                }
            };
        }
        None
    }

    fn admin_rule_matches(&self, rule: &AdminRule, ctx: &Context) -> PeerMatch {
        if !ports_match(
            rule.ports.as_deref(),
            ctx.destination,
            ctx.flow.protocol,
            ctx.flow.port,
        ) {
            return PeerMatch::No;
        }
        let mut result = PeerMatch::No;
        for peer in &rule.peers {
            match self.admin_peer_matches(peer, ctx.remote) {
                PeerMatch::Yes => return PeerMatch::Yes,
                PeerMatch::DomainNames
                    if domains::learned(peer, ctx.remote, ctx.client, ctx.dns, &mut |_, _| {}) =>
                {
                    return PeerMatch::Yes;
                }
                PeerMatch::DomainNames => result = PeerMatch::DomainNames,
                PeerMatch::No => {}
            }
        }
        result
    }

    /// NetworkPolicy: a pod selected for this direction is isolated; the union of the rules of
    /// the isolating policies allows.
    fn netpol_tier<T: Trace>(
        &self,
        subject: PodId,
        applied: &Applied,
        ctx: &Context,
        trace: &mut T,
    ) -> Option<DirectionDecision> {
        let mut isolating = applied
            .netpols
            .iter()
            .map(|s| (*s, self.network_policy(*s)))
            .filter(|(_, p)| p.rules(ctx.direction).is_some())
            .peekable();
        isolating.peek()?;
        let isolating: Vec<_> = isolating.collect();
        // "Traffic to and from the node where a Pod is running is always allowed" (kubernetes.io
        // NetworkPolicy docs): isolation never cuts a pod off its own node, in either direction.
        // It is NetworkPolicy's rule, so the admin tiers decide before it and, when no
        // NetworkPolicy isolates the pod, the baseline tier after it.
        if let Some(node) = self.own_node(subject, ctx.remote) {
            trace.step(|| {
                let names: Vec<String> = isolating.iter().map(|(_, p)| p.id.to_string()).collect();
                let (other, way) = match ctx.direction {
                    Direction::Egress => (ctx.flow.dst, "to"),
                    Direction::Ingress => (ctx.flow.src, "from"),
                };
                let text = format!(
                    "{} is on {}'s own node {}: NetworkPolicy always allows traffic {way} the node where a pod runs, whatever isolates the pod for {} ({})",
                    self.describe(other),
                    self.cluster.pod(subject).key(),
                    self.cluster.nodes[node as usize].name,
                    ctx.direction.as_str(),
                    names.join(", ")
                );
                note(TierName::NetworkPolicy, text)
            });
            return Some(allowed(Decider::ResidentNode));
        }
        for (slot, policy) in &isolating {
            let rules = policy.rules(ctx.direction).unwrap_or_default();
            let allowing = rules.iter().find(|rule| {
                net_ports_match(
                    &rule.ports,
                    ctx.destination,
                    ctx.flow.protocol,
                    ctx.flow.port,
                ) && rule.peers.as_ref().is_none_or(|peers| {
                    peers
                        .iter()
                        .any(|p| self.net_peer_matches(policy, p, ctx.remote))
                })
            });
            if let Some(rule) = allowing {
                trace.step(|| Step {
                    tier: TierName::NetworkPolicy,
                    policy: Some(policy.id.clone()),
                    priority: None,
                    rule: Some(RuleRef {
                        index: rule.index,
                        name: None,
                    }),
                    result: StepResult::Allow,
                    note: None,
                });
                return Some(DirectionDecision {
                    allowed: true,
                    decider: Decider::NetworkPolicy,
                    admin_rule: None,
                    netpol_rule: Some((*slot, rule.index as u32)),
                });
            }
        }
        for (_, policy) in &isolating {
            trace.step(|| {
                let rules = policy.rules(ctx.direction).map_or(0, <[_]>::len);
                let defaulted = if policy.policy_types_defaulted {
                    " (policyTypes defaulted)"
                } else {
                    ""
                };
                let text = format!(
                    "isolates {} for {}{defaulted}; none of its {rules} rules allows this flow",
                    self.cluster.pod(subject).key(),
                    ctx.direction.as_str()
                );
                Step {
                    tier: TierName::NetworkPolicy,
                    policy: Some(policy.id.clone()),
                    priority: None,
                    rule: None,
                    result: StepResult::Isolates,
                    note: Some(text),
                }
            });
        }
        Some(DirectionDecision {
            allowed: false,
            decider: Decider::NetworkPolicy,
            admin_rule: None,
            netpol_rule: None,
        })
    }
}

struct Context<'a> {
    direction: Direction,
    flow: &'a Flow,
    remote: &'a Remote<'a>,
    /// The destination pod, on which named ports resolve.
    destination: Option<&'a Pod>,
    /// What the pods learned from DNS, and the subject's addresses, by which answers are
    /// found: egress `domainNames` peers match through them.
    dns: &'a dyn DnsView,
    client: &'a [IpAddr],
}

fn policy_step(
    tier: TierName,
    policy: &AdminPolicy,
    rule: Option<&AdminRule>,
    result: StepResult,
) -> Step {
    Step {
        tier,
        policy: Some(policy.id.clone()),
        priority: policy.priority,
        rule: rule.map(|r| RuleRef {
            index: r.index,
            name: r.name.clone(),
        }),
        result,
        note: None,
    }
}
