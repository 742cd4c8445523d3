//! Lint checks, table-driven from `tests/lint/*.yaml`. Each file is one case (of valid objects:
//! what is invalid is `tests/validity.yaml`'s): a description,
//! objects (added to `tests/lint/_cluster.yaml` unless `cluster: false`), the findings that must
//! appear (by check and object, optionally field and message text) and the checks that must
//! not fire (optionally only on one object). A new case is a new file. `LINT_SHOW=1` prints
//! every case's findings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use netpol_engine::lint::{CHECKS, Finding, Severity, lint};
use netpol_engine::{Engine, State, read_str};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    #[serde(default = "yes")]
    cluster: bool,
    objects: Vec<serde_yaml_ng::Value>,
    #[serde(default)]
    expect: Vec<Expected>,
    #[serde(default)]
    absent: Vec<Absent>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    check: String,
    object: String,
    #[serde(default)]
    field: Option<String>,
    /// Texts the message must contain.
    #[serde(default)]
    contains: Vec<String>,
    /// Texts the message must not contain.
    #[serde(default)]
    lacks: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Absent {
    check: String,
    #[serde(default)]
    object: Option<String>,
}

#[derive(Deserialize)]
struct Cluster {
    objects: Vec<serde_yaml_ng::Value>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint")
}

fn cases() -> Vec<(String, Case)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/lint")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('_'))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).expect("read case");
            let case: Case =
                serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, case)
        })
        .collect()
}

fn to_documents(objects: &[serde_yaml_ng::Value]) -> String {
    objects
        .iter()
        .map(|o| serde_yaml_ng::to_string(o).expect("yaml"))
        .collect::<Vec<_>>()
        .join("---\n")
}

fn run(name: &str, case: &Case) -> Vec<Finding> {
    let mut objects = Vec::new();
    if case.cluster {
        let text = std::fs::read_to_string(dir().join("_cluster.yaml")).expect("cluster");
        let cluster: Cluster = serde_yaml_ng::from_str(&text).expect("cluster yaml");
        objects.extend(cluster.objects);
    }
    objects.extend(case.objects.iter().cloned());
    let loaded = read_str(name, &to_documents(&objects), "default");
    assert!(loaded.errors.is_empty(), "{name}: {:?}", loaded.errors);
    let state = State::from_loaded(&loaded);
    let build = Engine::build(&state);
    // Lint is about valid policies; invalid ones are tests/validity.yaml's.
    assert!(build.errors.is_empty(), "{name}: {:?}", build.errors);
    lint(&state, &build.engine)
}

fn show(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "  {} {} [{}] {}: {}",
                f.severity,
                f.check,
                f.object,
                f.field.as_deref().unwrap_or("-"),
                f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn lint_cases() {
    let mut failures = Vec::new();
    for (name, case) in cases() {
        let findings = run(&name, &case);
        if std::env::var_os("LINT_SHOW").is_some() {
            println!("{name}:\n{}", show(&findings));
        }
        let mut problems = Vec::new();
        for want in &case.expect {
            let hit = findings.iter().any(|f| {
                f.check == want.check
                    && f.object == want.object
                    && want
                        .field
                        .as_ref()
                        .is_none_or(|w| f.field.as_ref() == Some(w))
                    && want.contains.iter().all(|t| f.message.contains(t.as_str()))
                    && !want.lacks.iter().any(|t| f.message.contains(t.as_str()))
            });
            if !hit {
                problems.push(format!(
                    "missing {} on {} (field {:?}, containing {:?}, lacking {:?})",
                    want.check, want.object, want.field, want.contains, want.lacks
                ));
            }
        }
        for absent in &case.absent {
            for f in &findings {
                if f.check == absent.check && absent.object.as_ref().is_none_or(|o| *o == f.object)
                {
                    problems.push(format!(
                        "unexpected {} on {}: {}",
                        f.check, f.object, f.message
                    ));
                }
            }
        }
        for f in &findings {
            match CHECKS.iter().find(|c| c.id == f.check) {
                Some(check) if check.severity == f.severity => {}
                Some(_) => problems.push(format!("{} with severity {}", f.check, f.severity)),
                None => problems.push(format!("{} is not in CHECKS", f.check)),
            }
        }
        let key = |f: &Finding| {
            (
                f.severity,
                f.object.clone(),
                f.check,
                f.field.clone(),
                f.message.clone(),
            )
        };
        if !findings.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
            problems.push("findings are not sorted".into());
        }
        if run(&name, &case) != findings {
            problems.push("findings differ between two runs".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{name} ({}):\n  - {}\n findings:\n{}",
                case.description,
                problems.join("\n  - "),
                show(&findings)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every check has a case where it fires and a case where it must not.
#[test]
fn every_check_has_a_positive_and_a_negative_case() {
    let cases = cases();
    let fired: BTreeSet<&str> = cases
        .iter()
        .flat_map(|(_, c)| c.expect.iter().map(|e| e.check.as_str()))
        .collect();
    let silent: BTreeSet<&str> = cases
        .iter()
        .flat_map(|(_, c)| c.absent.iter().map(|a| a.check.as_str()))
        .collect();
    let known: BTreeSet<&str> = CHECKS.iter().map(|c| c.id).collect();
    for check in CHECKS {
        assert!(fired.contains(check.id), "no case expects {}", check.id);
        assert!(silent.contains(check.id), "no case forbids {}", check.id);
    }
    for id in fired.iter().chain(&silent) {
        assert!(known.contains(id), "cases name unknown check {id}");
    }
}

#[test]
fn findings_serialize_with_lowercase_severity() {
    let finding = Finding {
        severity: Severity::Warning,
        check: "selects-nothing",
        object: "NetworkPolicy shop/x".into(),
        field: None,
        message: "m".into(),
    };
    let json = serde_json::to_value(&finding).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"severity": "warning", "check": "selects-nothing", "object": "NetworkPolicy shop/x", "message": "m"})
    );
}
