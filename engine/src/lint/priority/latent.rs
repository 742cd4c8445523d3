//! Why a tie whose actions differ changes no verdict today, and what would make it change one:
//! read off the walk of the order in which the tie does not decide (the `Pass` first, or
//! either order when the tie is never reached).

use super::search::Example;
use crate::engine::Engine;
use crate::eval::{Decider, Endpoint, Flow, Step, StepResult, TierName};
use crate::model::{Action, AdminPolicy, AdminTier, Direction};

/// `because`: what decides the flow whatever the order; `would_conflict_if`: the change below
/// the tie that would make the order matter.
pub(in crate::lint) struct Latent {
    pub because: String,
    pub would_conflict_if: String,
}

pub(in crate::lint) fn explain(
    engine: &Engine,
    ex: &Example,
    (a, b): (&AdminPolicy, &AdminPolicy),
) -> Latent {
    let tier = a.tier;
    let order = if ex.rule_b.action == Action::Pass {
        (b, a)
    } else {
        (a, b)
    };
    let flow = Flow {
        src: ex.src,
        dst: ex.dst,
        protocol: ex.protocol,
        port: ex.port,
    };
    let mut steps: Vec<Step> = Vec::new();
    let decision = engine.direction_ordered(ex.direction, &flow, Some(order), &mut steps);
    let (subject, other) = match ex.direction {
        Direction::Egress => (ex.src, ex.dst),
        Direction::Ingress => (ex.dst, ex.src),
    };
    let subject_name = engine.describe(subject);
    let dir = ex.direction.as_str();
    let isolating = match subject {
        Endpoint::Pod(id) => engine
            .applied(engine.identity_of(id))
            .netpols
            .iter()
            .map(|s| engine.network_policy(*s))
            .filter(|p| p.rules(ex.direction).is_some())
            .map(|p| p.id.to_string())
            .collect(),
        Endpoint::Address(_) => Vec::new(),
    };
    let [isolate, stop, allow, decide, come] = if isolating.len() == 1 {
        ["isolates", "stops", "allows", "decides", "comes"]
    } else {
        ["isolate", "stop", "allow", "decide", "come"]
    };
    let isolating = isolating.join(", ");
    let deciding = steps.iter().rev().find(|s| {
        matches!(
            s.result,
            StepResult::Allow | StepResult::Accept | StepResult::Deny
        )
    });
    let (because, would_conflict_if) = match decision.decider {
        Decider::NetworkPolicy if tier == AdminTier::Baseline => (
            format!(
                "{isolating} {isolate} {subject_name} for {dir} and {decide} first, so the Baseline tier is never reached"
            ),
            format!("if {isolating} {stop} isolating {subject_name} for {dir}"),
        ),
        Decider::NetworkPolicy if decision.allowed => {
            let policy = deciding
                .and_then(|s| s.policy.as_ref())
                .map_or_else(|| isolating.clone(), |p| p.to_string());
            (
                format!("{policy} allows it once the Admin tier passes it on"),
                format!("if {policy} stops allowing it"),
            )
        }
        Decider::NetworkPolicy => (
            format!("{isolating} {isolate} {subject_name} for {dir} and {allow} none of it"),
            format!(
                "if {isolating} {stop} isolating {subject_name} for {dir} or {come} to allow it"
            ),
        ),
        Decider::ResidentNode => (
            format!(
                "{} is on {subject_name}'s own node, which {isolating} cannot cut it off from",
                engine.describe(other)
            ),
            format!(
                "if {isolating} {stop} isolating {subject_name} for {dir} and a baseline policy denies it"
            ),
        ),
        Decider::Baseline => {
            let (policy, rule, verb) = match deciding {
                Some(Step {
                    tier: TierName::Baseline,
                    policy: Some(policy),
                    rule: Some(rule),
                    result,
                    ..
                }) => (
                    policy.to_string(),
                    super::super::rule_name(rule.index, rule.name.as_deref()),
                    if *result == StepResult::Deny {
                        "denying"
                    } else {
                        "accepting"
                    },
                ),
                _ => ("a baseline policy".to_owned(), String::new(), "deciding"),
            };
            (
                format!("{policy} {rule} decides it in the Baseline tier"),
                format!("if {policy} stops {verb} it"),
            )
        }
        _ if tier == AdminTier::Baseline => (
            "below a Baseline tie there is only the default, which allows".to_owned(),
            "only if one of the two rules changed its action: nothing below a Baseline tie can"
                .to_owned(),
        ),
        _ => (
            format!(
                "no NetworkPolicy isolates {subject_name} for {dir} and no baseline policy decides it, so the default allows it"
            ),
            format!(
                "if a NetworkPolicy came to isolate {subject_name} for {dir} without allowing it, or a baseline policy to deny it"
            ),
        ),
    };
    Latent {
        because,
        would_conflict_if,
    }
}
