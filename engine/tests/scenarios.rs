//! Scenario tests: every `*.yaml` file in `tests/scenarios/` describes a small cluster (inline
//! Kubernetes objects) and flows with the verdicts upstream semantics give them. A new case is a
//! new file. Every failing case of every file is reported, each with its walkthrough.
//!
//! File format:
//! ```yaml
//! description: what the file is about
//! objects: [ ...Kubernetes objects: Namespace, Node, Pod, Deployment, policies... ]
//! cases:
//! - name: short name
//!   reason: why upstream semantics say so
//!   from: ns/pod          # or ns/deployment/name, or an IP address
//!   to: ns/pod
//!   protocol: TCP         # default TCP
//!   port: 80
//!   expect: allow         # or deny
//!   decided_by: admin     # optional; see harness.rs for which direction it speaks of
//!   rule: "AdminNetworkPolicy name#0"  # optional
//! ```

#[path = "scenarios/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

use netpol_engine::engine::compile_policies;
use netpol_engine::{Engine, State, VerdictCache, read_str};
use serde::Deserialize;
use serde_yaml_ng::Value;

use harness::Case;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    objects: Vec<Value>,
    cases: Vec<Case>,
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Runs one file; returns the number of cases and the failures.
fn run(path: &Path) -> (usize, Vec<String>) {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let scenario: Scenario = match serde_yaml_ng::from_str(&text) {
        Ok(s) => s,
        Err(e) => return (0, vec![format!("{name}: not a scenario: {e}")]),
    };
    assert!(!scenario.description.is_empty(), "{name}: no description");
    let list = serde_yaml_ng::to_string(&serde_yaml_ng::Mapping::from_iter([
        ("apiVersion".into(), "v1".into()),
        ("kind".into(), "List".into()),
        ("items".into(), Value::Sequence(scenario.objects)),
    ]))
    .expect("objects serialize");
    let loaded = read_str(&name, &list, "default");
    let mut setup: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    setup.extend(
        loaded
            .skipped
            .iter()
            .map(|s| format!("{}: skipped {} {} {}", name, s.api_version, s.kind, s.name)),
    );
    let state = State::from_loaded(&loaded);
    let build = Engine::build(&state);
    setup.extend(build.errors.iter().map(ToString::to_string));
    if !setup.is_empty() {
        return (0, vec![format!("{name}: setup: {}", setup.join("\n  "))]);
    }
    let engine = build.engine;
    // The same policies added one at a time, and all removed then added back (new slots):
    // the incremental paths must agree with the engine built at once.
    let (policies, _) = compile_policies(&state);
    let stepwise = policies
        .iter()
        .cloned()
        .fold(Engine::new(engine.cluster.clone(), Vec::new()), |e, p| {
            e.with_changes(vec![p], &[])
        });
    let ids: Vec<_> = policies.iter().map(|p| p.id().clone()).collect();
    let readded = engine
        .with_changes(Vec::new(), &ids)
        .with_changes(policies, &[]);
    let alternates = [
        ("built one policy at a time", &stepwise),
        ("with every policy removed and added back", &readded),
    ];
    // Small on purpose: the cache must stay right when it clears itself.
    let cache = VerdictCache::new(4);
    let mut failures = Vec::new();
    for case in &scenario.cases {
        let result = harness::resolve(&engine, &case.from)
            .and_then(|src| Ok((src, harness::resolve(&engine, &case.to)?)))
            .and_then(|(src, dst)| harness::check(&engine, &alternates, &cache, case, src, dst));
        if let Err(report) = result {
            failures.push(format!("{name}: {report}"));
        }
    }
    (scenario.cases.len(), failures)
}

#[test]
fn scenarios() {
    let files = scenario_files();
    assert!(!files.is_empty(), "no scenario files");
    let mut cases = 0;
    let mut failures = Vec::new();
    for file in &files {
        let (count, failed) = run(file);
        cases += count;
        failures.extend(failed);
    }
    println!("{} scenario files, {cases} cases", files.len());
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
