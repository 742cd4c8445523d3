//! The webhook's denials are the engine's compile errors, no more and no fewer: for every object
//! of the engine's validity table (`engine/tests/validity.yaml`) and every policy of its lint
//! cases (`engine/tests/lint/*.yaml`, valid but suspicious), the webhook admits exactly what
//! compiles and, when it denies, names each compile error's field and rule. Priorities, guard
//! rails and the preview are off here, so nothing else can deny.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{message, review, router, validate};
use netpol_engine::compile::CompileError;
use netpol_engine::engine::compile_policy;
use netpol_webhook::{PriorityMode, Settings};
use serde_json::Value;

fn engine_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests")
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Policy objects anywhere inside `value`.
fn policies(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(fields) => {
            let kind = fields.get("kind").and_then(Value::as_str).unwrap_or("");
            if kind.ends_with("NetworkPolicy") && fields.contains_key("apiVersion") {
                out.push(value.clone());
            } else {
                fields.values().for_each(|v| policies(v, out));
            }
        }
        Value::Array(items) => items.iter().for_each(|v| policies(v, out)),
        _ => {}
    }
}

fn corpus() -> Vec<Value> {
    let mut out = Vec::new();
    policies(&read_yaml(&engine_tests().join("validity.yaml")), &mut out);
    let mut lint: Vec<PathBuf> = std::fs::read_dir(engine_tests().join("lint"))
        .expect("engine/tests/lint")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    lint.sort();
    for path in lint {
        policies(&read_yaml(&path), &mut out);
    }
    out
}

/// The engine's answer, reading the object as files are read.
fn compiled(object: &Value) -> Result<(), Vec<CompileError>> {
    let loaded = netpol_engine::read_str("object", &object.to_string(), "default");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    compile_policy(&loaded.objects[0].object)
        .expect("a policy")
        .map(|_| ())
}

#[tokio::test]
async fn denials_are_exactly_the_compile_errors() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = Settings {
        priority_mode: PriorityMode::Off,
        preview_budget: Duration::ZERO,
        ..Settings::default()
    };
    let router = router(settings);
    let corpus = corpus();
    assert!(corpus.len() > 100, "only {} policies", corpus.len());
    let (mut admitted, mut denied) = (0, 0);
    let mut failures = Vec::new();
    for object in &corpus {
        let id = format!("{} {}", object["kind"], object["metadata"]["name"]);
        let response = validate(&router, &review("CREATE", Some(object), None, false)).await;
        let allowed = response["allowed"].as_bool().expect("allowed");
        let text = message(&response);
        match compiled(object) {
            Ok(()) if allowed => admitted += 1,
            Ok(()) => failures.push(format!("{id}: compiles, but the webhook denies: {text}")),
            Err(errors) if !allowed => {
                denied += 1;
                for error in &errors {
                    let named = format!("field {}: ", error.field);
                    let rule = format!("({})", error.check);
                    if !text.contains(&named) || !text.contains(&rule) {
                        failures.push(format!("{id}: the denial lacks {error}: {text}"));
                    }
                }
                let listed = text.matches("; field ").count() + 1;
                if listed != errors.len() {
                    failures.push(format!(
                        "{id}: the denial lists {listed} problems, compilation {}: {text}",
                        errors.len()
                    ));
                }
            }
            Err(errors) => failures.push(format!(
                "{id}: the webhook admits what does not compile: {errors:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        admitted > 0 && denied > 0,
        "{admitted} admitted, {denied} denied"
    );
}
