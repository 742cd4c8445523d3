//! The admission decision as a pure function of a request, the cached engine and the settings:
//! no I/O, so that the router, the tests and the benchmark all call the same thing.
//!
//! Order of the checks: the object must decode (once, straight into its typed API) and compile
//! (what the webhook admits is exactly what the engine can evaluate; every validity rule is a
//! compile rule, so the denials are exactly the compile errors), then the priority rule; guard
//! rails and the impact preview compare the cluster before and after.

mod checks;
mod decode;
mod preview;
mod priority;
mod warnings;

use std::time::Instant;

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use netpol_engine::Engine;
use netpol_engine::engine::Policy;
use netpol_engine::model::{ENFORCEMENT_ANNOTATION, Enforcement, PolicyKind, PolicyRef};

pub use decode::served_kind;
pub use warnings::{MAX_WARNING_CHARS, cap};

use crate::guard;
use crate::settings::Settings;

/// How a request ended, as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Allowed,
    Denied,
    /// The request itself was unusable (wrong kind, undecodable object).
    Invalid,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Invalid => "invalid",
        }
    }
}

/// The answer to one request.
#[derive(Clone, Debug)]
pub struct Reviewed {
    pub response: AdmissionResponse,
    pub outcome: Outcome,
    /// False when the impact preview ran out of time.
    pub preview_complete: bool,
}

/// Decides one admission request against `engine` (the cluster as cached).
pub fn review(
    engine: &Engine,
    request: &AdmissionRequest<DynamicObject>,
    settings: &Settings,
) -> Reviewed {
    let started = Instant::now();
    let base_response = AdmissionResponse::from(request);
    let Some(kind) = served_kind(&request.kind) else {
        let gvk = &request.kind;
        let message = format!(
            "netpol-webhook does not validate {}/{} {}: it serves NetworkPolicy (networking.k8s.io/v1), \
             AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) and \
             ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2); check the webhook configuration's rules",
            gvk.group, gvk.version, gvk.kind
        );
        return finish(
            base_response.deny(message),
            Outcome::Invalid,
            Vec::new(),
            true,
        );
    };
    let mut notes = Vec::new();
    let (upserts, removals, id): (Vec<Policy>, Vec<PolicyRef>, PolicyRef) = match request.operation
    {
        Operation::Create | Operation::Update => {
            let object = match decode::object(request, kind) {
                Ok(object) => object,
                Err(message) => {
                    return finish(base_response.deny(message), Outcome::Invalid, notes, true);
                }
            };
            let policy = match checks::validate(&object, &mut notes) {
                Ok(policy) => policy,
                Err(message) => {
                    return finish(base_response.deny(message), Outcome::Denied, notes, true);
                }
            };
            let id = policy.id().clone();
            (vec![policy], Vec::new(), id)
        }
        Operation::Delete => {
            let id = decode::deleted(request, kind);
            (Vec::new(), vec![id.clone()], id)
        }
        Operation::Connect => return finish(base_response, Outcome::Allowed, notes, true),
    };
    // An audited policy changes no verdict: the preview and guard rails are of enforcing it.
    let audited = upserts
        .iter()
        .any(|p| p.enforcement() == Enforcement::Audit);
    if audited {
        notes.push(format!(
            "{id}: audit only, not enforced ({ENFORCEMENT_ANNOTATION}); the preview is of enforcing it"
        ));
    }
    let enforced: Vec<Policy> = upserts.iter().map(Policy::enforced).collect();
    // The cluster with the change applied, built only when something needs it: it costs a
    // few milliseconds on a large cluster.
    let needs_after = !settings.preview_budget.is_zero() || !settings.guard_rails.is_empty();
    let after = needs_after.then(|| engine.with_changes(enforced, &removals));
    if let (
        [Policy::Admin(policy)],
        PolicyKind::AdminNetworkPolicy | PolicyKind::ClusterNetworkPolicy,
    ) = (upserts.as_slice(), kind)
    {
        // The tie is walked with this version in place of any cached one (`conflicts_with`).
        if let Err(message) = priority::check(engine, policy, settings.priority_mode, &mut notes) {
            return finish(base_response.deny(message), Outcome::Denied, notes, true);
        }
    }
    let Some(after) = after else {
        return finish(base_response, Outcome::Allowed, notes, true);
    };
    // Guard rails are about what is enforced: an audited version enforces nothing new.
    let enforced_after = if audited && !settings.guard_rails.is_empty() {
        Some(engine.with_changes(upserts.clone(), &removals))
    } else {
        None
    };
    let broken = guard::broken(
        &settings.guard_rails,
        engine,
        enforced_after.as_ref().unwrap_or(&after),
    );
    if !broken.is_empty() {
        let flows: Vec<String> = broken
            .iter()
            .map(|b| format!("{} (guard rail {})", b.flow, b.rail))
            .collect();
        let message = format!(
            "{id} would deny {} that must stay allowed: {}",
            if flows.len() == 1 { "a flow" } else { "flows" },
            flows.join("; ")
        );
        return finish(base_response.deny(message), Outcome::Denied, notes, true);
    }
    let mut complete = true;
    if !settings.preview_budget.is_zero() {
        // The budget counts from the start of the request, so that the preview's setup fits.
        let deadline = started + settings.preview_budget;
        complete = preview::warn(engine, &after, deadline, settings, &mut notes);
    }
    finish(base_response, Outcome::Allowed, notes, complete)
}

fn finish(
    mut response: AdmissionResponse,
    outcome: Outcome,
    notes: Vec<String>,
    preview_complete: bool,
) -> Reviewed {
    if !notes.is_empty() {
        response.warnings = Some(notes);
    }
    Reviewed {
        response,
        outcome,
        preview_complete,
    }
}

/// Caps the warnings of a response for the API server and kubectl.
pub fn capped(mut reviewed: Reviewed, settings: &Settings) -> Reviewed {
    if let Some(list) = reviewed.response.warnings.take() {
        reviewed.response.warnings = Some(cap(list, settings.max_warnings));
    }
    reviewed
}
