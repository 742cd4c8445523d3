//! Rules that can never match: an earlier rule of the same policy, or a rule of a policy that
//! is evaluated earlier in the same tier and selects all the same pods, matches everything they
//! match. Only containment provable from the text counts (see `cover`), so every finding holds
//! whatever pods come and go; rules that are dead only in the given input are not reported.

use super::{Check, Findings, Severity, cover, rule_name, rule_path};
use crate::engine::{Engine, order_key};
use crate::model::{Action, AdminPolicy, AdminRule, Direction};

pub(super) const SHADOWED: Check = Check {
    id: "rule-shadowed",
    severity: Severity::Warning,
    summary: "a rule an earlier rule of the same policy makes dead: admin rules never match (first match wins), NetworkPolicy rules add nothing",
};

pub(super) const SHADOWED_BY_PRIORITY: Check = Check {
    id: "rule-shadowed-by-priority",
    severity: Severity::Warning,
    summary: "an admin rule never reached: a policy evaluated earlier in the same tier selects all of its pods and has a rule matching everything it matches",
};

const DIRECTIONS: [Direction; 2] = [Direction::Ingress, Direction::Egress];

pub(super) fn check(engine: &Engine, out: &mut Findings) {
    for (_, policy) in engine.network_policies() {
        for direction in DIRECTIONS {
            let rules = policy.rules(direction).unwrap_or_default();
            for (j, rule) in rules.iter().enumerate() {
                if let Some(earlier) = rules[..j].iter().find(|e| cover::net_rule(e, rule)) {
                    out.push(
                        &SHADOWED,
                        &policy.id,
                        Some(rule_path(direction, rule.index)),
                        format!(
                            "{} rule {} is redundant: rule {} already allows every flow it allows (NetworkPolicy rules add up, so it changes nothing)",
                            direction.as_str(),
                            rule.index,
                            earlier.index
                        ),
                    );
                }
            }
        }
    }

    let mut admin: Vec<&AdminPolicy> = engine.admin_policies().map(|(_, p)| p.as_ref()).collect();
    admin.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    // Per policy and direction: the earlier rule that shadows each rule, if any.
    let shadowed: Vec<[Vec<Option<&AdminRule>>; 2]> = admin
        .iter()
        .map(|p| DIRECTIONS.map(|d| shadowed_within(p.rules(d))))
        .collect();
    for (policy, shadows) in admin.iter().zip(&shadowed) {
        for (direction, shadows) in DIRECTIONS.iter().zip(shadows) {
            for (rule, earlier) in policy.rules(*direction).iter().zip(shadows) {
                let Some(earlier) = earlier else { continue };
                out.push(
                    &SHADOWED,
                    &policy.id,
                    Some(rule_path(*direction, rule.index)),
                    format!(
                        "{} {} can never match: {} comes first and matches every flow it matches (first match wins){}",
                        direction.as_str(),
                        rule_name(rule.index, rule.name.as_deref()),
                        rule_name(earlier.index, earlier.name.as_deref()),
                        consequence(earlier.action, rule.action)
                    ),
                );
            }
        }
    }

    let rank = |p: &AdminPolicy| p.priority.unwrap_or(u32::MAX);
    for (i, later) in admin.iter().enumerate() {
        // Equal priorities have no defined order: that is priority-conflict's business.
        let before: Vec<&AdminPolicy> = admin[..i]
            .iter()
            .copied()
            .filter(|p| {
                p.tier == later.tier
                    && rank(p) < rank(later)
                    && cover::subject(&p.subject, &later.subject)
            })
            .collect();
        if before.is_empty() {
            continue;
        }
        for (d, direction) in DIRECTIONS.iter().enumerate() {
            for (j, rule) in later.rules(*direction).iter().enumerate() {
                if shadowed[i][d][j].is_some() {
                    continue;
                }
                let covering = before.iter().find_map(|p| {
                    p.rules(*direction)
                        .iter()
                        .find(|r| cover::admin_rule(r, rule))
                        .map(|r| (p, r))
                });
                let Some((policy, earlier)) = covering else {
                    continue;
                };
                out.push(
                    &SHADOWED_BY_PRIORITY,
                    &later.id,
                    Some(rule_path(*direction, rule.index)),
                    format!(
                        "{} {} is never reached: {} (priority {}) is evaluated first, selects every pod this policy selects, and its {} matches every flow this rule matches, \
                         so that policy decides (or passes) before this one is consulted",
                        direction.as_str(),
                        rule_name(rule.index, rule.name.as_deref()),
                        policy.id,
                        policy.priority.unwrap_or_default(),
                        rule_name(earlier.index, earlier.name.as_deref()),
                    ),
                );
            }
        }
    }
}

fn shadowed_within(rules: &[AdminRule]) -> Vec<Option<&AdminRule>> {
    rules
        .iter()
        .enumerate()
        .map(|(j, rule)| rules[..j].iter().find(|e| cover::admin_rule(e, rule)))
        .collect()
}

fn consequence(earlier: Action, rule: Action) -> String {
    if earlier == rule {
        "; with the same action it is redundant".into()
    } else {
        format!("; its {rule:?} never applies, the earlier rule's {earlier:?} does")
    }
}
