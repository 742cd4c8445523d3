//! What a decision says: the fast `Decision` and the full `Verdict` with its walkthroughs.
//! The JSON shape of these types is documented in docs/json.md and kept stable.

use serde::Serialize;

use crate::engine::{AdminSlot, NetpolSlot};
use crate::model::{Action, Direction, PolicyRef, Protocol};

/// The tiers in evaluation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum TierName {
    Admin,
    NetworkPolicy,
    Baseline,
    Default,
}

/// What settled one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decider {
    /// The endpoint is not a pod that policies select (outside the cluster, a node, a
    /// host-network pod): nothing is enforced in this direction.
    NotSelectable,
    /// The other end is the pod's own node (an address of it, or a host-network pod on it):
    /// NetworkPolicy isolation never applies to that traffic, in either direction.
    ResidentNode,
    Admin,
    NetworkPolicy,
    Baseline,
    /// No policy decided, or none applies (a pod reaching its own address): allowed.
    Default,
}

/// The outcome of one direction without a walkthrough.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DirectionDecision {
    pub allowed: bool,
    pub decider: Decider,
    /// The admin policy and rule index that decided, when one did.
    pub admin_rule: Option<(AdminSlot, u32)>,
    /// The NetworkPolicy and rule index that allowed, when one did.
    pub netpol_rule: Option<(NetpolSlot, u32)>,
}

/// The outcome of a flow without walkthroughs: what the enforcer and caches need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    pub allowed: bool,
    pub egress: DirectionDecision,
    pub ingress: DirectionDecision,
}

/// A rule by position and optional name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RuleRef {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What one consulted policy (or the tier default) did with the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepResult {
    /// An admin rule matched with Accept.
    Accept,
    /// An admin rule matched with Deny.
    Deny,
    /// An admin rule matched with Pass: the rest of the tier is skipped.
    Pass,
    /// The policy selects the pod but none of its rules matched: evaluation goes on.
    NoMatch,
    /// A NetworkPolicy rule allows the flow.
    Allow,
    /// A NetworkPolicy isolates the pod in this direction and none of its rules allows it.
    Isolates,
    /// Information only (ties, domain names, exemptions).
    Note,
    /// Nothing decided: default allow.
    DefaultAllow,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub tier: TierName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    pub result: StepResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<Action> for StepResult {
    fn from(action: Action) -> Self {
        match action {
            Action::Accept => Self::Accept,
            Action::Deny => Self::Deny,
            Action::Pass => Self::Pass,
        }
    }
}

/// One direction of a flow, explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Walkthrough {
    pub direction: Direction,
    /// The pod whose policies were consulted (source for egress, destination for ingress).
    pub subject: String,
    pub allowed: bool,
    pub decided_by: Decider,
    pub steps: Vec<Step>,
}

/// A flow, decided and explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub port: u16,
    pub allowed: bool,
    pub egress: Walkthrough,
    pub ingress: Walkthrough,
}
