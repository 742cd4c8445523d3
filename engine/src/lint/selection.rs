//! Selectors that select nothing in the given input: a policy that applies to no pod, or a
//! peer that matches no namespace, pod or node. Only judged when the input has pods (a file of
//! policies alone says nothing about the cluster), and peers only of policies that apply to
//! some pod (for the others, the one subject finding says it all).

use super::index::{Index, PodSet, Scope};
use super::{Check, Findings, Severity, peer_path};
use crate::model::{AdminPeer, Direction, NetPeer, Subject};
use crate::selector::Selector;

pub(super) const SELECTS_NOTHING: Check = Check {
    id: "selects-nothing",
    severity: Severity::Warning,
    summary: "a subject, pod, namespace or node selector that selects nothing in the given input",
};

pub(super) fn check(index: &Index, out: &mut Findings) {
    if !index.has_pods {
        return;
    }
    let engine = index.engine;
    let everything = Selector::everything();
    let has_nodes = !engine.cluster.nodes.is_empty();

    for (slot, policy) in engine.network_policies() {
        if index.netpol_subjects()[slot as usize].is_empty() {
            out.push(
                &SELECTS_NOTHING,
                &policy.id,
                Some("spec.podSelector".into()),
                format!(
                    "podSelector {} selects no pod in namespace {} in the given input, so the policy has no effect there",
                    policy.pod_selector, policy.namespace
                ),
            );
            continue;
        }
        for direction in [Direction::Ingress, Direction::Egress] {
            for rule in policy.rules(direction).unwrap_or_default() {
                for (j, peer) in rule.peers.iter().flatten().enumerate() {
                    let path = peer_path(direction, rule.index, j);
                    if let NetPeer::Pods {
                        namespaces: Some(ns),
                        ..
                    } = peer
                        && !index.any_namespace(ns)
                    {
                        out.push(
                            &SELECTS_NOTHING,
                            &policy.id,
                            Some(format!("{path}.namespaceSelector")),
                            format!(
                                "namespaceSelector {ns} selects no namespace in the given input, so this peer matches nothing"
                            ),
                        );
                        continue;
                    }
                    let Some(set) = PodSet::of_net_peer(engine, policy, peer) else {
                        continue;
                    };
                    if index.is_empty(&set) {
                        let where_ = match set.scope {
                            Scope::Namespace(_) => format!("in namespace {}", policy.namespace),
                            Scope::Namespaces(ns) => format!("in the namespaces {ns} selects"),
                        };
                        // A peer without podSelector means every pod of its namespaces.
                        let (field, what) = if set.pods.matches_everything() {
                            (path, "there is no pod".to_owned())
                        } else {
                            (
                                format!("{path}.podSelector"),
                                format!("podSelector {} selects no pod", set.pods),
                            )
                        };
                        out.push(
                            &SELECTS_NOTHING,
                            &policy.id,
                            Some(field),
                            format!(
                                "{what} {where_} in the given input, so this peer matches nothing"
                            ),
                        );
                    }
                }
            }
        }
    }

    for (slot, policy) in engine.admin_policies() {
        if index.admin_subjects[slot as usize].is_empty() {
            let text = match &policy.subject {
                Subject::Namespaces(ns) if !index.any_namespace(ns) => {
                    format!("namespaces {ns} selects no namespace")
                }
                Subject::Namespaces(ns) => format!("namespaces {ns} selects no pod"),
                Subject::Pods { namespaces, pods } => {
                    format!("pods {pods} in namespaces {namespaces} selects no pod")
                }
            };
            out.push(
                &SELECTS_NOTHING,
                &policy.id,
                Some("spec.subject".into()),
                format!("subject: {text} in the given input, so the policy has no effect there"),
            );
            continue;
        }
        for direction in [Direction::Ingress, Direction::Egress] {
            for rule in policy.rules(direction) {
                for (j, peer) in rule.peers.iter().enumerate() {
                    let path = peer_path(direction, rule.index, j);
                    let (field, text) = match peer {
                        AdminPeer::Namespaces(ns) if !index.any_namespace(ns) => (
                            "namespaces",
                            format!("namespaces {ns} selects no namespace"),
                        ),
                        AdminPeer::Namespaces(ns)
                            if index.is_empty(&PodSet {
                                scope: Scope::Namespaces(ns),
                                pods: &everything,
                            }) =>
                        {
                            (
                                "namespaces",
                                format!("there is no pod in the namespaces {ns} selects"),
                            )
                        }
                        AdminPeer::Pods { namespaces, .. } if !index.any_namespace(namespaces) => (
                            "pods.namespaceSelector",
                            format!("namespaceSelector {namespaces} selects no namespace"),
                        ),
                        AdminPeer::Pods { namespaces, pods }
                            if index.is_empty(&PodSet {
                                scope: Scope::Namespaces(namespaces),
                                pods,
                            }) =>
                        {
                            (
                                "pods",
                                format!(
                                    "podSelector {pods} selects no pod in the namespaces {namespaces} selects"
                                ),
                            )
                        }
                        AdminPeer::Nodes(nodes)
                            if has_nodes
                                && !engine
                                    .cluster
                                    .nodes
                                    .iter()
                                    .any(|n| nodes.matches(&n.labels)) =>
                        {
                            ("nodes", format!("nodes {nodes} selects no node"))
                        }
                        _ => continue,
                    };
                    out.push(
                        &SELECTS_NOTHING,
                        &policy.id,
                        Some(format!("{path}.{field}")),
                        format!("{text} in the given input, so this peer matches nothing"),
                    );
                }
            }
        }
    }
}
