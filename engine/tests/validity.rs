//! Validity rules, table-driven from `tests/validity.yaml`: for each case, the valid object
//! compiles and the invalid one is refused under the case's rule, at its field, and for no other
//! reason. Every rule of `compile::RULES` has a case, and no rule id is also a lint check's.

use std::collections::BTreeSet;
use std::path::Path;

use netpol_engine::compile::{CompileError, RULES};
use netpol_engine::engine::compile_policy;
use netpol_engine::lint::{CHECKS, Finding, report};
use netpol_engine::{Engine, State, read_str};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: String,
    message: String,
    field: String,
    valid: serde_yaml_ng::Value,
    invalid: serde_yaml_ng::Value,
}

fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validity.yaml");
    let text = std::fs::read_to_string(path).expect("tests/validity.yaml");
    serde_yaml_ng::from_str(&text).expect("validity.yaml is a list of cases")
}

/// Reads one object as the reader reads files and compiles it.
fn compile(object: &serde_yaml_ng::Value) -> Result<(), Vec<CompileError>> {
    let text = serde_yaml_ng::to_string(object).expect("yaml");
    let loaded = read_str("validity.yaml", &text, "default");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let [located] = loaded.objects.as_slice() else {
        panic!("one object, got {}", loaded.objects.len());
    };
    compile_policy(&located.object)
        .expect("a policy kind")
        .map(|_| ())
}

#[test]
fn every_case_is_valid_then_invalid_under_its_rule() {
    let mut failures = Vec::new();
    for case in cases() {
        let what = format!("{} ({})", case.rule, case.message);
        if let Err(errors) = compile(&case.valid) {
            failures.push(format!("{what}: the valid object is refused: {errors:?}"));
        }
        match compile(&case.invalid) {
            Ok(()) => failures.push(format!("{what}: the invalid object compiles")),
            Err(errors) => {
                if !errors
                    .iter()
                    .any(|e| e.check == case.rule && e.field == case.field)
                {
                    failures.push(format!(
                        "{what}: no {} error at {}: {errors:?}",
                        case.rule, case.field
                    ));
                }
                let others: Vec<&CompileError> =
                    errors.iter().filter(|e| e.check != case.rule).collect();
                if !others.is_empty() {
                    failures.push(format!("{what}: also breaks other rules: {others:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_has_a_case_and_ids_are_distinct() {
    let cases = cases();
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.rule.as_str()).collect();
    let rules: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(rules.len(), RULES.len(), "rule ids repeat");
    for rule in &rules {
        assert!(covered.contains(rule), "no case for rule {rule}");
    }
    for rule in &covered {
        assert!(rules.contains(rule), "a case names unknown rule {rule}");
    }
    for check in CHECKS {
        assert!(
            !rules.contains(check.id),
            "{} is both a lint check and a validity rule",
            check.id
        );
    }
}

/// `lint::report` shows every compile error as an error finding under its rule's id, and lint's
/// checks of policies (those with a field) never speak of a policy that did not compile.
#[test]
fn report_shows_compile_errors_under_their_rule() {
    let documents: Vec<String> = cases()
        .iter()
        .map(|c| serde_yaml_ng::to_string(&c.invalid).expect("yaml"))
        .collect();
    let loaded = read_str("validity.yaml", &documents.join("---\n"), "default");
    let state = State::from_loaded(&loaded);
    let build = Engine::build(&state);
    let findings = report(&state, &build);
    for error in &build.errors {
        let expected = Finding::from(error);
        assert!(findings.contains(&expected), "{error} is not reported");
    }
    for finding in &findings {
        let rule = RULES.iter().any(|r| r.id == finding.check);
        let check = CHECKS.iter().any(|c| c.id == finding.check);
        assert!(rule || check, "unknown check {}", finding.check);
        if check && finding.field.is_some() {
            assert!(
                !build.errors.iter().any(|e| e.object == finding.object),
                "lint reports on {}, which did not compile: {finding:?}",
                finding.object
            );
        }
    }
}
