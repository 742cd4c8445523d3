//! Pods whose egress policies cut them off from cluster DNS: for each identity that some policy
//! selects, the engine decides egress to the kube-dns pods on UDP 53 and TCP 53. Egress only:
//! the DNS pods' own ingress is their policies' business. Skipped when the input has no
//! kube-dns pods.

use std::collections::BTreeMap;

use super::{Check, Findings, Severity, rule_name};
use rustc_hash::FxHashSet;

use crate::cluster::{NodeId, PodId};
use crate::engine::{Applied, Engine, Identity, IdentityId};
use crate::eval::{Decider, DirectionDecision, Endpoint, Flow};
use crate::model::{Direction, PolicyRef, Protocol};

pub(super) const EGRESS_BLOCKS_DNS: Check = Check {
    id: "egress-blocks-dns",
    severity: Severity::Warning,
    summary: "pods whose egress policies deny UDP or TCP 53 to the kube-dns pods in kube-system",
};

pub(super) use crate::dns::{
    CLUSTER_DNS_LABEL as DNS_LABEL, CLUSTER_DNS_NAMESPACE as DNS_NAMESPACE,
};

/// Who denied: the admin policy and rule, or the isolating NetworkPolicies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Blame {
    Admin(PolicyRef, usize, Option<String>),
    Isolated(Vec<PolicyRef>),
}

impl Blame {
    /// Who denied an egress `decision` of a pod the policies of `applied` select.
    pub(super) fn of(engine: &Engine, applied: &Applied, decision: &DirectionDecision) -> Self {
        match (decision.decider, decision.admin_rule) {
            (Decider::Admin | Decider::Baseline, Some((slot, rule))) => {
                let policy = engine.admin_policy(slot);
                let rule = &policy.egress[rule as usize];
                Blame::Admin(policy.id.clone(), rule.index, rule.name.clone())
            }
            _ => {
                let mut refs: Vec<PolicyRef> = applied
                    .netpols
                    .iter()
                    .map(|s| engine.network_policy(*s))
                    .filter(|np| np.egress.is_some())
                    .map(|np| np.id.clone())
                    .collect();
                refs.sort();
                Blame::Isolated(refs)
            }
        }
    }

    /// `ClusterNetworkPolicy x rule 1 "deny"` or `NetworkPolicy ns/a, NetworkPolicy ns/b
    /// (isolating)`.
    pub(super) fn describe(&self) -> String {
        match self {
            Blame::Admin(policy, index, name) => {
                format!("{policy} {}", rule_name(*index, name.as_deref()))
            }
            Blame::Isolated(refs) => {
                let names: Vec<String> = refs.iter().map(ToString::to_string).collect();
                format!("{}, which isolate without allowing it", names.join(", "))
            }
        }
    }
}

/// The cluster DNS pods of the input (kube-system, `k8s-app=kube-dns`): targets to try, one
/// per identity, and per node for those on the host network, whose reachability depends on
/// whether they run on the source pod's own node.
pub(super) struct ClusterDns {
    /// Sorted.
    pub identities: Vec<IdentityId>,
    pub targets: Vec<PodId>,
    pub by_node: bool,
}

pub(super) fn cluster_dns(engine: &Engine) -> Option<ClusterDns> {
    let dns_pods = crate::dns::cluster_dns_pods(&engine.cluster);
    let mut identities: Vec<IdentityId> = dns_pods.iter().map(|p| engine.identity_of(*p)).collect();
    identities.sort_unstable();
    identities.dedup();
    if identities.is_empty() {
        return None;
    }
    let mut seen = FxHashSet::default();
    let targets: Vec<PodId> = dns_pods
        .iter()
        .copied()
        .filter(|p| seen.insert((engine.identity_of(*p), engine.node_of(Endpoint::Pod(*p)))))
        .collect();
    let by_node = targets
        .iter()
        .any(|t| engine.node_of(Endpoint::Pod(*t)).is_some());
    Some(ClusterDns {
        identities,
        targets,
        by_node,
    })
}

#[derive(Default)]
struct Group {
    /// Pods denied per protocol (UDP, TCP).
    pods: [usize; 2],
    example: Option<(PodId, PodId)>,
}

pub(super) fn check(engine: &Engine, out: &mut Findings) {
    let cluster = &engine.cluster;
    let Some(ClusterDns {
        identities: dns_identities,
        targets,
        by_node,
    }) = cluster_dns(engine)
    else {
        return;
    };

    let mut groups: BTreeMap<Blame, Group> = BTreeMap::new();
    for (id, identity) in engine.identities().iter().enumerate() {
        let id = id as IdentityId;
        let applied = engine.applied(id);
        let egress_netpols = applied
            .netpols
            .iter()
            .any(|s| engine.network_policy(*s).egress.is_some());
        if identity.host_network
            || dns_identities.binary_search(&id).is_ok()
            || (applied.admin.is_empty() && !egress_netpols)
        {
            continue;
        }
        for (src, members) in sources(engine, identity, by_node) {
            for (p, protocol) in [Protocol::Udp, Protocol::Tcp].into_iter().enumerate() {
                let mut denial = None;
                let reachable = targets.iter().any(|dst| {
                    let flow = Flow {
                        src: Endpoint::Pod(src),
                        dst: Endpoint::Pod(*dst),
                        protocol,
                        port: 53,
                    };
                    let decision = engine.direction(Direction::Egress, &flow, &mut ());
                    if !decision.allowed && denial.is_none() {
                        denial = Some((decision, *dst));
                    }
                    decision.allowed
                });
                let Some((decision, dst)) = denial.filter(|_| !reachable) else {
                    continue;
                };
                let blame = Blame::of(engine, applied, &decision);
                let group = groups.entry(blame).or_default();
                group.pods[p] += members;
                group.example.get_or_insert((src, dst));
            }
        }
    }

    for (blame, group) in groups {
        let Some((src, dst)) = group.example else {
            continue;
        };
        let (object, by) = match &blame {
            Blame::Admin(policy, index, name) => (
                policy.clone(),
                format!(
                    "its egress {} denies it",
                    rule_name(*index, name.as_deref())
                ),
            ),
            Blame::Isolated(refs) => {
                let Some(first) = refs.first() else { continue };
                let others: Vec<String> = refs[1..].iter().map(ToString::to_string).collect();
                let with = if others.is_empty() {
                    String::new()
                } else {
                    format!(" (together with {})", others.join(", "))
                };
                (
                    first.clone(),
                    format!("it isolates their egress{with} and no rule allows it"),
                )
            }
        };
        let denied: Vec<String> = ["UDP/53", "TCP/53"]
            .iter()
            .zip(group.pods)
            .filter(|(_, n)| *n > 0)
            .map(|(port, n)| format!("{port} for {n} pod{}", if n == 1 { "" } else { "s" }))
            .collect();
        out.push(
            &EGRESS_BLOCKS_DNS,
            &object,
            None,
            format!(
                "blocks DNS: egress from {} to {} ({DNS_NAMESPACE} pods labelled {}={}) is denied on {}: {by}, so these pods cannot resolve names; \
                 allow egress to the kube-dns pods on UDP and TCP port 53",
                cluster.pod(src).key(),
                cluster.pod(dst).key(),
                DNS_LABEL.0,
                DNS_LABEL.1,
                denied.join(" and "),
            ),
        );
    }
}

/// The pods of an identity to try, each with the number of members it stands for: the
/// representative for all, or one member per node when some DNS pod is on the host network.
pub(super) fn sources(engine: &Engine, identity: &Identity, by_node: bool) -> Vec<(PodId, usize)> {
    if !by_node {
        return vec![(identity.representative, identity.members.len())];
    }
    let mut per_node: BTreeMap<Option<NodeId>, (PodId, usize)> = BTreeMap::new();
    for member in &identity.members {
        per_node
            .entry(engine.cluster.pod_node[*member as usize])
            .or_insert((*member, 0))
            .1 += 1;
    }
    per_node.into_values().collect()
}
