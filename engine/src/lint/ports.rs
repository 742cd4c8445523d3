//! Ports: named ports no pod on the resolving side exposes.

use rustc_hash::FxHashMap;

use super::index::{Index, PodSet, Resolved};
use super::{Check, Findings, Severity, port_path};
use crate::engine::IdentityId;
use crate::model::{AdminPeer, Direction, NetPeer, PortMatch, Protocol};
use crate::selector::Selector;

pub(super) const NAMED_PORT_UNRESOLVED: Check = Check {
    id: "named-port-unresolved",
    severity: Severity::Warning,
    summary: "a named port that no pod on the resolving side exposes (ingress: the policy's pods; egress: the rule's peer pods)",
};

/// Where the rule's destinations are, for resolving its named ports.
enum Destinations<'p> {
    /// The policy's own pods (ingress).
    Subjects(&'p [IdentityId]),
    /// Pods matched by these peers (egress).
    Peers(Vec<Resolved<'p>>),
    /// Any pod: the rule allows every peer, or matches addresses that may be pods' (ipBlock,
    /// networks), which this check does not try to resolve.
    Anywhere,
}

pub(super) fn check_named(index: &Index, out: &mut Findings) {
    if !index.has_pods {
        return;
    }
    let engine = index.engine;
    let everything = Selector::everything();
    let mut exposed: FxHashMap<&str, Vec<IdentityId>> = FxHashMap::default();
    for (id, identity) in engine.identities().iter().enumerate() {
        if identity.host_network {
            continue;
        }
        for port in &engine.cluster.pod(identity.representative).ports {
            let list = exposed.entry(port.name.as_str()).or_default();
            if list.last() != Some(&(id as IdentityId)) {
                list.push(id as IdentityId);
            }
        }
    }
    let resolves = |name: &str, protocol: Option<Protocol>, destinations: &Destinations| {
        let exposes = |id: &IdentityId| {
            let pod = engine
                .cluster
                .pod(engine.identities()[*id as usize].representative);
            pod.named_port(name, protocol).is_some()
        };
        match destinations {
            Destinations::Subjects(ids) => ids.iter().any(exposes),
            Destinations::Peers(sets) => exposed.get(name).is_some_and(|ids| {
                ids.iter()
                    .any(|id| exposes(id) && sets.iter().any(|s| index.contains(s, *id)))
            }),
            Destinations::Anywhere => exposed.get(name).is_some_and(|ids| ids.iter().any(exposes)),
        }
    };
    let mut report = |object: String, field: String, port: &PortMatch, side: &str| {
        out.push(
            &NAMED_PORT_UNRESOLVED,
            object,
            Some(field),
            format!(
                "named port {port} is not exposed by any of {side} in the given input, so this port matches nothing there"
            ),
        );
    };

    for (slot, policy) in engine.network_policies() {
        let subjects = &index.netpol_subjects()[slot as usize];
        if subjects.is_empty() {
            continue;
        }
        for direction in [Direction::Ingress, Direction::Egress] {
            for rule in policy.rules(direction).unwrap_or_default() {
                if !rule
                    .ports
                    .iter()
                    .any(|p| matches!(p, PortMatch::Named { .. }))
                {
                    continue;
                }
                let destinations = match (direction, &rule.peers) {
                    (Direction::Ingress, _) => Destinations::Subjects(subjects),
                    (Direction::Egress, None) => Destinations::Anywhere,
                    (Direction::Egress, Some(peers)) => {
                        if peers.iter().any(|p| matches!(p, NetPeer::IpBlock(_))) {
                            Destinations::Anywhere
                        } else {
                            let sets: Vec<PodSet> = peers
                                .iter()
                                .filter_map(|p| PodSet::of_net_peer(engine, policy, p))
                                .collect();
                            // Peers that select nothing are selects-nothing's to report.
                            if sets.iter().all(|s| index.is_empty(s)) {
                                continue;
                            }
                            Destinations::Peers(sets.iter().map(|s| index.resolve(s)).collect())
                        }
                    }
                };
                for (k, port) in rule.ports.iter().enumerate() {
                    if let PortMatch::Named { name, protocol } = port
                        && !resolves(name, *protocol, &destinations)
                    {
                        report(
                            policy.id.to_string(),
                            port_path(policy.id.kind, direction, rule.index, k),
                            port,
                            side(direction),
                        );
                    }
                }
            }
        }
    }

    for (slot, policy) in engine.admin_policies() {
        let subjects = &index.admin_subjects[slot as usize];
        if subjects.is_empty() {
            continue;
        }
        for direction in [Direction::Ingress, Direction::Egress] {
            for rule in policy.rules(direction) {
                let ports = rule.ports.as_deref().unwrap_or_default();
                if !ports.iter().any(|p| matches!(p, PortMatch::Named { .. })) {
                    continue;
                }
                let destinations = match direction {
                    Direction::Ingress => Destinations::Subjects(subjects),
                    Direction::Egress => {
                        let address_peer = rule.peers.iter().any(|p| {
                            matches!(
                                p,
                                AdminPeer::Networks(_)
                                    | AdminPeer::Nodes(_)
                                    | AdminPeer::DomainNames(_)
                            )
                        });
                        let sets: Vec<PodSet> = rule
                            .peers
                            .iter()
                            .filter_map(|p| PodSet::of_admin_peer(p, &everything))
                            .collect();
                        if address_peer {
                            Destinations::Anywhere
                        } else if sets.iter().all(|s| index.is_empty(s)) {
                            continue;
                        } else {
                            Destinations::Peers(sets.iter().map(|s| index.resolve(s)).collect())
                        }
                    }
                };
                for (k, port) in ports.iter().enumerate() {
                    if let PortMatch::Named { name, protocol } = port
                        && !resolves(name, *protocol, &destinations)
                    {
                        report(
                            policy.id.to_string(),
                            port_path(policy.id.kind, direction, rule.index, k),
                            port,
                            side(direction),
                        );
                    }
                }
            }
        }
    }
}

fn side(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => {
            "the pods the policy selects (ingress ports resolve on the destination, the policy's own pods)"
        }
        Direction::Egress => "the rule's peer pods (egress ports resolve on the destination pod)",
    }
}
