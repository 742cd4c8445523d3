//! The object on its own: it must compile, and pass the checks the CRD schema cannot express;
//! lint findings about it become warnings.

use netpol_engine::engine::{Policy, compile_policy};
use netpol_engine::lint::{self, Severity};
use netpol_engine::load::{Located, Object, Origin};
use netpol_engine::{Engine, State};

/// Lint errors that make the API server (or upstream's validation) reject the object, or make
/// it mean something other than it says: each is a denial.
pub const DENYING_CHECKS: &[&str] = &[
    "banp-name",
    "domain-names-not-accept",
    "port-range-inverted",
    "except-outside-cidr",
];

/// Compiles the object and lints it alone; returns the policy, or the denial message naming
/// every problem and its field.
pub fn validate(object: &Object, notes: &mut Vec<String>) -> Result<Policy, String> {
    let name = object.display_name();
    let policy = match compile_policy(object) {
        Some(Ok(policy)) => Some(policy),
        Some(Err(errors)) => {
            let problems: Vec<String> = errors
                .iter()
                .map(|e| format!("field {}: {}", e.field, e.message))
                .collect();
            return Err(format!("{name} is invalid: {}", problems.join("; ")));
        }
        None => None,
    };
    let mut state = State::new();
    state.apply(Located {
        origin: Origin::new("request", 1, None),
        object: object.clone(),
    });
    let engine = Engine::build(&state).engine;
    let mut denials = Vec::new();
    for finding in lint::lint(&state, &engine) {
        let field = finding.field.as_deref().unwrap_or("metadata");
        if finding.severity == Severity::Error && DENYING_CHECKS.contains(&finding.check) {
            denials.push(format!(
                "field {field}: {} ({})",
                finding.message, finding.check
            ));
        } else {
            notes.push(format!("{}: {field}: {}", finding.check, finding.message));
        }
    }
    if !denials.is_empty() {
        return Err(format!("{name} is invalid: {}", denials.join("; ")));
    }
    policy.ok_or_else(|| format!("{name} is not a policy"))
}
