//! Audit mode left behind: an audited policy (`netpol.io/enforcement: audit`) is a trial, meant
//! to end in enforcement or removal. Lint flags one audited for long, one whose enforcement
//! would change no verdict, and a value of the annotation netpol does not read.

use std::time::{Duration, SystemTime};

use super::{Check, Findings, Severity};
use crate::engine::{Engine, Policy};
use crate::impact::{ImpactOptions, impact};
use crate::load::ObjectKind;
use crate::model::{ENFORCEMENT_ANNOTATION, Enforcement};
use crate::state::State;

pub(super) const AUDITED_LONG: Check = Check {
    id: "audited-long",
    severity: Severity::Warning,
    summary: "a policy has been in audit mode (netpol.io/enforcement: audit) for longer than the threshold: enforce it or remove it",
};

pub(super) const AUDIT_CHANGES_NOTHING: Check = Check {
    id: "audit-changes-nothing",
    severity: Severity::Info,
    summary: "enforcing an audited policy would change no verdict: it is redundant, or selects nothing",
};

pub(super) const UNKNOWN_ENFORCEMENT: Check = Check {
    id: "unknown-enforcement",
    severity: Severity::Warning,
    summary: "the netpol.io/enforcement annotation is neither audit nor enforce: the policy is enforced",
};

/// How long a policy may stay audited before lint says so.
pub const AUDIT_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);

const POLICY_KINDS: [ObjectKind; 4] = [
    ObjectKind::NetworkPolicy,
    ObjectKind::AdminNetworkPolicy,
    ObjectKind::BaselineAdminNetworkPolicy,
    ObjectKind::ClusterNetworkPolicy,
];

pub(super) fn check(state: &State, engine: &Engine, now: SystemTime, out: &mut Findings) {
    let field = || Some(format!("metadata.annotations[{ENFORCEMENT_ANNOTATION}]"));
    for kind in POLICY_KINDS {
        for located in state.of_kind(kind) {
            let meta = located.object.metadata();
            let Some(value) = meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(ENFORCEMENT_ANNOTATION))
            else {
                continue;
            };
            let name = located.object.display_name();
            if !Enforcement::is_known(value) {
                out.push(
                    &UNKNOWN_ENFORCEMENT,
                    &name,
                    field(),
                    format!(
                        "{value:?} is neither \"audit\" nor \"enforce\": the policy is enforced"
                    ),
                );
                continue;
            }
            if Enforcement::of(meta.annotations.as_ref()) != Enforcement::Audit {
                continue;
            }
            let created = meta.creation_timestamp.as_ref().map(|t| {
                SystemTime::UNIX_EPOCH + Duration::from_secs(t.0.as_second().max(0) as u64)
            });
            if let Some(age) = created.and_then(|c| now.duration_since(c).ok())
                && age > AUDIT_MAX_AGE
            {
                out.push(
                    &AUDITED_LONG,
                    &name,
                    field(),
                    format!(
                        "audited for {} days (created {}); audit mode is a trial: enforce the policy (remove the annotation) or delete it",
                        age.as_secs() / 86_400,
                        meta.creation_timestamp.as_ref().map(|t| t.0.to_string()).unwrap_or_default()
                    ),
                );
            }
        }
    }
    for policy in audited(engine) {
        let id = policy.id().clone();
        let enforced = engine.with_changes(vec![policy], &[]);
        let changes = impact(engine, &enforced, &ImpactOptions::default());
        if changes.complete && changes.newly_denied_count == 0 && changes.newly_allowed_count == 0 {
            out.push(
                &AUDIT_CHANGES_NOTHING,
                id.to_string(),
                field(),
                "enforcing it would change no verdict between the pods and addresses of the input: \
                 other policies already decide the same, or it selects nothing"
                    .to_owned(),
            );
        }
    }
}

/// Each audited policy of the engine, as it would be enforced.
fn audited(engine: &Engine) -> Vec<Policy> {
    let admin = engine
        .admin_policies()
        .map(|(_, p)| Policy::Admin(p.clone()));
    let netpols = engine
        .network_policies()
        .map(|(_, p)| Policy::Network(p.clone()));
    admin
        .chain(netpols)
        .filter(|p| p.enforcement() == Enforcement::Audit)
        .map(|p| p.enforced())
        .collect()
}
