//! What settled a flow on each side of a change: the direction whose verdict the change
//! turns, and in it the tier, policy and rule that decided, taken from the walkthrough.

use std::fmt;

use netpol_engine::eval::{Decider, RuleRef, Step, StepResult, Verdict, Walkthrough};
use netpol_engine::model::{Direction, PolicyRef};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Deciding {
    pub allowed: bool,
    pub direction: Direction,
    pub decided_by: Decider,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
}

/// Both sides of a flow whose verdict changed, in the direction that changed (egress when
/// both did: it is evaluated at the source, first).
pub fn sides(before: &Verdict, after: &Verdict) -> (Deciding, Deciding) {
    let egress = before.egress.allowed != after.egress.allowed;
    let side = |v: &Verdict| Deciding::of(if egress { &v.egress } else { &v.ingress });
    (side(before), side(after))
}

impl Deciding {
    fn of(walk: &Walkthrough) -> Self {
        let step = deciding_step(walk);
        Self {
            allowed: walk.allowed,
            direction: walk.direction,
            decided_by: walk.decided_by,
            policy: step.and_then(|s| s.policy.clone()),
            rule: step.and_then(|s| s.rule.clone()),
        }
    }
}

/// The step that settled the direction: the admin rule that accepted or denied, the
/// NetworkPolicy rule that allowed, or the first NetworkPolicy that isolates the pod (the
/// others isolate it too; the walkthrough of `check` lists them).
fn deciding_step(walk: &Walkthrough) -> Option<&Step> {
    let steps = &walk.steps;
    match walk.decided_by {
        Decider::Admin | Decider::Baseline => steps
            .iter()
            .rev()
            .find(|s| matches!(s.result, StepResult::Accept | StepResult::Deny)),
        Decider::NetworkPolicy if walk.allowed => {
            steps.iter().rev().find(|s| s.result == StepResult::Allow)
        }
        Decider::NetworkPolicy => steps.iter().find(|s| s.result == StepResult::Isolates),
        Decider::NotSelectable | Decider::ResidentNode | Decider::Default => None,
    }
}

impl fmt::Display for Deciding {
    /// `denied by ClusterNetworkPolicy deny-bank rule 2 "rest" (ingress)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allowed { "allowed" } else { "denied" };
        let direction = self.direction.as_str();
        let Some(policy) = &self.policy else {
            let why = match self.decided_by {
                Decider::NotSelectable => ": no policy applies",
                Decider::ResidentNode => ": own node",
                Decider::Default => " by default",
                _ => "",
            };
            return write!(f, "{verdict}{why} ({direction})");
        };
        if self.decided_by == Decider::NetworkPolicy && !self.allowed {
            return write!(f, "{verdict}: {policy} isolates ({direction})");
        }
        write!(f, "{verdict} by {policy}")?;
        match &self.rule {
            Some(RuleRef {
                index,
                name: Some(name),
            }) => write!(f, " rule {index} {name:?}")?,
            Some(RuleRef { index, name: None }) => write!(f, " rule {index}")?,
            None => {}
        }
        write!(f, " ({direction})")
    }
}
