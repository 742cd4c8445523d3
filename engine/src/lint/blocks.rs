//! Policies that deny all traffic of a direction: a NetworkPolicy that isolates with no rules,
//! or an admin rule denying every pod (or every address) on every port with nothing but Deny
//! rules before it. Usually deliberate (a default deny), hence information, but worth seeing.

use super::{Check, Findings, Severity, rule_name, rule_path};
use crate::engine::Engine;
use crate::model::{Action, AdminPeer, AdminRule, AdminTier, Direction};

pub(super) const BLOCKS_ALL: Check = Check {
    id: "blocks-all",
    severity: Severity::Info,
    summary: "a policy that denies all ingress or all egress of the pods it selects (a default deny)",
};

pub(super) fn check(engine: &Engine, out: &mut Findings) {
    for (_, policy) in engine.network_policies() {
        for direction in [Direction::Ingress, Direction::Egress] {
            if policy.rules(direction).is_some_and(<[_]>::is_empty) {
                let defaulted = if direction == Direction::Ingress && policy.policy_types_defaulted
                {
                    " (policyTypes is omitted, and then always includes Ingress)"
                } else {
                    ""
                };
                let d = direction.as_str();
                out.push(
                    &BLOCKS_ALL,
                    &policy.id,
                    Some(format!("spec.{d}")),
                    format!(
                        "isolates the pods podSelector {} selects for {d} and has no {d} rules{defaulted}: all their {d} is denied (traffic with their own node excepted) unless another NetworkPolicy or an admin rule allows it",
                        policy.pod_selector
                    ),
                );
            }
        }
    }
    for (_, policy) in engine.admin_policies() {
        for direction in [Direction::Ingress, Direction::Egress] {
            let rules = policy.rules(direction);
            let Some((at, what)) = rules
                .iter()
                .enumerate()
                .take_while(|(_, r)| r.action == Action::Deny)
                .find_map(|(i, r)| denies_everything(r, direction).map(|w| (i, w)))
            else {
                continue;
            };
            let rule = &rules[at];
            let tier = match policy.tier {
                AdminTier::Admin => "in the Admin tier, NetworkPolicies cannot allow it back",
                AdminTier::Baseline => {
                    "in the Baseline tier, NetworkPolicies can still allow traffic"
                }
            };
            out.push(
                &BLOCKS_ALL,
                &policy.id,
                Some(rule_path(direction, rule.index)),
                format!(
                    "{} denies {} {what} on every port, with only Deny rules before it: the policy blocks all such {} of the pods it selects ({tier})",
                    rule_name(rule.index, rule.name.as_deref()),
                    direction.as_str(),
                    direction.as_str(),
                ),
            );
        }
    }
}

/// What an admin rule matching every peer of a direction matches, if it does.
fn denies_everything(rule: &AdminRule, direction: Direction) -> Option<&'static str> {
    if rule.ports.is_some() {
        return None;
    }
    let all_pods = rule.peers.iter().any(|p| match p {
        AdminPeer::Namespaces(ns) => ns.matches_everything(),
        AdminPeer::Pods { namespaces, pods } => {
            namespaces.matches_everything() && pods.matches_everything()
        }
        _ => false,
    });
    let whole = |v6: bool| {
        rule.peers.iter().any(|p| match p {
            AdminPeer::Networks(blocks) => blocks
                .iter()
                .any(|b| b.cidr.prefix_len() == 0 && b.cidr.network().is_ipv6() == v6),
            _ => false,
        })
    };
    match direction {
        Direction::Egress if whole(false) && whole(true) => {
            Some("to every address (pods included)")
        }
        Direction::Egress if all_pods => Some("to every pod"),
        Direction::Ingress if all_pods => Some("from every pod"),
        _ => None,
    }
}
