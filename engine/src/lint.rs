//! Lint: policies that are valid but probably do not do what their author meant (equal
//! priorities with conflicting actions, rules that can never match, selectors that select
//! nothing, DNS cut off). Whether a policy is valid is compilation's to say, under the ids of
//! [`crate::compile::RULES`]; [`report`] puts both in one list. Checks work on identities (pods
//! no policy can tell apart) and on indexes built once, never on per-pod loops inside
//! per-policy loops, so a large cluster lints in seconds.

mod audit;
mod blocks;
mod cidrs;
mod cover;
mod dns;
mod domains;
mod index;
mod objects;
mod ports;
mod priority;
mod probe;
mod resolvers;
mod selection;
mod shadow;

use serde::Serialize;

pub use priority::{ClashFlow, PriorityClash, SHARED_SAMPLE, conflicts_for, conflicts_with};

use crate::compile::CompileError;
use crate::engine::{Build, Engine};
use crate::model::{Direction, PolicyKind};
use crate::state::State;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in the input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// A stable kebab-case id, one of [`CHECKS`] or, for an invalid field, of
    /// [`crate::compile::RULES`].
    pub check: &'static str,
    /// `Kind namespace/name` or `Kind name`.
    pub object: String,
    /// JSON-path-like location inside the object, e.g. `spec.egress[0].to[1]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// A check: its id, the severity of its findings and what it looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

/// Every check lint runs.
pub const CHECKS: &[Check] = &[
    priority::CONFLICT,
    priority::LATENT,
    priority::SHARED,
    shadow::SHADOWED,
    shadow::SHADOWED_BY_PRIORITY,
    selection::SELECTS_NOTHING,
    ports::NAMED_PORT_UNRESOLVED,
    cidrs::DUPLICATE_CIDR,
    cidrs::NETWORKS_CAPTURE_PODS,
    dns::EGRESS_BLOCKS_DNS,
    domains::DOMAIN_NAME_NEVER_MATCHES,
    domains::DUPLICATE_DOMAIN_NAME,
    domains::DOMAIN_NAME_TRAILING_DOT,
    resolvers::DOMAIN_NAMES_UNLEARNABLE,
    blocks::BLOCKS_ALL,
    objects::DUPLICATE_OBJECT,
    objects::MIXED_ADMIN_APIS,
    audit::AUDITED_LONG,
    audit::AUDIT_CHANGES_NOTHING,
    audit::UNKNOWN_ENFORCEMENT,
];

pub use audit::AUDIT_MAX_AGE;

/// Lints the objects of `state` and the compiled policies of `engine` (built from the same
/// state): only valid policies, so nothing here repeats a compile error. Findings are sorted by
/// severity (errors first), object, check, field and message.
pub fn lint(state: &State, engine: &Engine) -> Vec<Finding> {
    lint_at(state, engine, std::time::SystemTime::now())
}

/// [`lint`] as of `now` (how long policies have been audited depends on it).
pub fn lint_at(state: &State, engine: &Engine, now: std::time::SystemTime) -> Vec<Finding> {
    let index = index::Index::new(engine);
    let mut out = Findings::default();
    objects::check(state, &mut out);
    cidrs::check_duplicates(engine, &mut out);
    cidrs::check_networks(engine, &mut out);
    selection::check(&index, &mut out);
    ports::check_named(&index, &mut out);
    shadow::check(engine, &mut out);
    priority::check(&index, &mut out);
    blocks::check(engine, &mut out);
    dns::check(engine, &mut out);
    audit::check(state, engine, now, &mut out);
    domains::check(engine, &mut out);
    resolvers::check(engine, &mut out);
    sorted(out.0)
}

/// Everything wrong with an input: the compile errors of `build` (each invalid field, under its
/// rule's id, with severity error) and the lint findings about the policies that compiled.
pub fn report(state: &State, build: &Build) -> Vec<Finding> {
    let mut findings: Vec<Finding> = build.errors.iter().map(Finding::from).collect();
    findings.extend(lint(state, &build.engine));
    sorted(findings)
}

fn sorted(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by(|a, b| {
        (a.severity, &a.object, a.check, &a.field, &a.message)
            .cmp(&(b.severity, &b.object, b.check, &b.field, &b.message))
    });
    findings.dedup();
    findings
}

impl From<&CompileError> for Finding {
    fn from(error: &CompileError) -> Self {
        Self {
            severity: Severity::Error,
            check: error.check,
            object: error.object.clone(),
            field: Some(error.field.clone()),
            message: error.message.clone(),
        }
    }
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(
        &mut self,
        check: &Check,
        object: impl ToString,
        field: Option<String>,
        message: String,
    ) {
        self.0.push(Finding {
            severity: check.severity,
            check: check.id,
            object: object.to_string(),
            field,
            message,
        });
    }
}

fn rule_path(direction: Direction, rule: usize) -> String {
    format!("spec.{}[{rule}]", direction.as_str())
}

fn peer_path(direction: Direction, rule: usize, peer: usize) -> String {
    let peers = match direction {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    format!("{}.{peers}[{peer}]", rule_path(direction, rule))
}

/// ClusterNetworkPolicy calls its port list `protocols`.
fn port_path(kind: PolicyKind, direction: Direction, rule: usize, port: usize) -> String {
    let ports = match kind {
        PolicyKind::ClusterNetworkPolicy => "protocols",
        _ => "ports",
    };
    format!("{}.{ports}[{port}]", rule_path(direction, rule))
}

/// `rule 2 "deny-db"` or `rule 2`.
fn rule_name(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("rule {index} {name:?}"),
        None => format!("rule {index}"),
    }
}
