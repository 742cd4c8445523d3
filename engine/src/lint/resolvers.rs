//! A policy's `domainNames` can only match addresses its pods learned from DNS: when the
//! policies deny those pods every way to a resolver (UDP and TCP 53), the names are never
//! learned and the rule never matches. NPEP-133: "A FQDN egress policy does not grant the
//! workload permission to communicate with any in-cluster DNS services (like kube-dns). A
//! separate rule needs to be configured". Resolvers tried: the cluster DNS pods
//! (kube-system, `k8s-app=kube-dns`) when the input has them; otherwise an address outside the
//! cluster and the first address of every CIDR the policies name, standing for a resolver
//! anywhere.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::dns::{Blame, ClusterDns, DNS_LABEL, DNS_NAMESPACE, cluster_dns, sources};
use super::{Check, Findings, Severity, peer_path, rule_name};
use crate::cluster::PodId;
use crate::engine::{Engine, IdentityId};
use crate::eval::{DirectionDecision, Endpoint, Flow};
use crate::model::{AdminPeer, Direction, Protocol};

pub(super) const DOMAIN_NAMES_UNLEARNABLE: Check = Check {
    id: "domain-names-unlearnable",
    severity: Severity::Warning,
    summary: "domainNames rules whose pods the policies deny every way to a DNS resolver (UDP and TCP 53), so no name is ever learned",
};

/// Stands for a resolver outside the cluster (TEST-NET-1) when the input has no DNS pods.
const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53));

pub(super) fn check(engine: &Engine, out: &mut Findings) {
    let dns = cluster_dns(engine);
    let targets = targets(engine, dns.as_ref());
    let by_node = dns.as_ref().is_some_and(|d| d.by_node);
    let dns_identities: &[IdentityId] = dns.as_ref().map_or(&[], |d| &d.identities);
    // Each identity is tried once, whichever policies ask.
    let mut cut_off: BTreeMap<IdentityId, Option<(PodId, Blame)>> = BTreeMap::new();
    for (slot, policy) in engine.admin_policies() {
        let Some((rule, peer)) = policy.egress.iter().find_map(|rule| {
            let peer = rule
                .peers
                .iter()
                .position(|p| matches!(p, AdminPeer::DomainNames(_)))?;
            Some((rule, peer))
        }) else {
            continue;
        };
        let mut pods = 0;
        let mut example = None;
        for id in engine.selected_identities(&policy.subject) {
            if dns_identities.binary_search(&id).is_ok()
                || !engine.applied(id).admin.contains(&slot)
            {
                continue;
            }
            let identity = &engine.identities()[id as usize];
            let verdict = cut_off
                .entry(id)
                .or_insert_with(|| unreachable(engine, id, &targets, by_node));
            if let Some(found) = verdict {
                pods += identity.members.len();
                example.get_or_insert(found.clone());
            }
        }
        let Some((pod, blame)) = example else {
            continue;
        };
        let resolvers = match &dns {
            Some(_) => format!(
                "the cluster DNS pods ({DNS_NAMESPACE}, {}={})",
                DNS_LABEL.0, DNS_LABEL.1
            ),
            None => "any resolver (the input has no cluster DNS pods; tried an address outside the cluster and the policies' CIDRs)".to_owned(),
        };
        out.push(
            &DOMAIN_NAMES_UNLEARNABLE,
            &policy.id,
            Some(peer_path(Direction::Egress, rule.index, peer)),
            format!(
                "{pods} pod{} this policy selects (e.g. {}) cannot reach {resolvers} on UDP or TCP port 53 (denied by {}): its domainNames, first in {}, match only addresses the pods learn from DNS, so they never match; allow egress to the resolvers on port 53",
                if pods == 1 { "" } else { "s" },
                engine.cluster.pod(pod).key(),
                blame.describe(),
                rule_name(rule.index, rule.name.as_deref()),
            ),
        );
    }
}

/// Where resolvers may be: the cluster DNS pods, else outside the cluster.
fn targets(engine: &Engine, dns: Option<&ClusterDns>) -> Vec<Endpoint> {
    if let Some(dns) = dns {
        return dns.targets.iter().map(|p| Endpoint::Pod(*p)).collect();
    }
    let mut targets = vec![Endpoint::Address(OUTSIDE)];
    let mut nets = engine.cidrs_mentioned();
    nets.sort();
    nets.dedup();
    targets.extend(nets.iter().map(|n| Endpoint::Address(n.network())));
    targets
}

/// A member of the identity and who denied it, when some member reaches no target on either
/// protocol.
fn unreachable(
    engine: &Engine,
    id: IdentityId,
    targets: &[Endpoint],
    by_node: bool,
) -> Option<(PodId, Blame)> {
    let identity = &engine.identities()[id as usize];
    sources(engine, identity, by_node)
        .into_iter()
        .find_map(|(src, _)| {
            let mut first: Option<DirectionDecision> = None;
            let reaches = [Protocol::Udp, Protocol::Tcp].into_iter().any(|protocol| {
                targets.iter().any(|dst| {
                    let flow = Flow {
                        src: Endpoint::Pod(src),
                        dst: *dst,
                        protocol,
                        port: 53,
                    };
                    let decision = engine.decide_direction(Direction::Egress, &flow);
                    first.get_or_insert(decision);
                    decision.allowed
                })
            });
            let decision = first.filter(|_| !reaches)?;
            Some((src, Blame::of(engine, engine.applied(id), &decision)))
        })
}
