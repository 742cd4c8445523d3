//! Deciding flows: egress at the source, ingress at the destination, tier by tier, with a
//! walkthrough of every policy and rule that was consulted.

mod cache;
mod decide;
mod domains;
mod flow;
mod flow_spec;
pub(crate) mod matching;
mod render;
mod walkthrough;

pub use cache::VerdictCache;
pub use flow::{Endpoint, EndpointSpec, Flow, ResolveError};
pub use flow_spec::{FlowSpec, PortSpec};
pub use walkthrough::{
    Decider, Decision, DirectionDecision, RuleRef, Step, StepResult, TierName, Verdict, Walkthrough,
};
