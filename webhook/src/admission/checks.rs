//! The object on its own: it must compile, which is where every validity rule lives (the
//! engine's `compile::RULES`); lint findings about the compiled policy become warnings.

use std::sync::Arc;

use netpol_engine::compile::CompileError;
use netpol_engine::engine::{Policy, compile_policy};
use netpol_engine::load::Object;
use netpol_engine::{Cluster, Engine, State, lint};

/// Compiles the object once and lints the result alone; returns the policy, or the denial
/// message naming every compile error with its field and rule.
pub fn validate(object: &Object, notes: &mut Vec<String>) -> Result<Policy, String> {
    let name = object.display_name();
    let policy = match compile_policy(object) {
        Some(Ok(policy)) => policy,
        Some(Err(errors)) => return Err(denial(&name, &errors)),
        None => return Err(format!("{name} is not a policy")),
    };
    // Lint sees the compiled policy in an otherwise empty cluster: what is about the policy
    // itself (shadowed rules, DNS cut off); the cluster's view is the impact preview's.
    let engine = Engine::new(Arc::new(Cluster::default()), vec![policy.clone()]);
    for finding in lint::lint(&State::new(), &engine) {
        let field = finding.field.as_deref().unwrap_or("metadata");
        notes.push(format!("{}: {field}: {}", finding.check, finding.message));
    }
    Ok(policy)
}

/// `Kind name is invalid: field F: message (rule); ...`, every error of the object.
fn denial(name: &str, errors: &[CompileError]) -> String {
    let problems: Vec<String> = errors
        .iter()
        .map(|e| format!("field {}: {} ({})", e.field, e.message, e.check))
        .collect();
    format!("{name} is invalid: {}", problems.join("; "))
}
