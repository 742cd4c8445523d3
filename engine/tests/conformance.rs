//! The upstream conformance fixtures of network-policy-api v0.1.8 (AdminNetworkPolicy and
//! BaselineAdminNetworkPolicy) and v0.2.0 (ClusterNetworkPolicy), kept in
//! `testdata/network-policy-api/`: every file must load and compile without a problem, and the
//! verdicts the upstream conformance tests expect must hold.
//!
//! Those verdicts are data, in our own words: `tests/conformance/<version>/<dir>/<file>.yaml`
//! speaks of the upstream fixture at the same path. Upstream tests are sequences of steps that
//! patch the policies between probes, and patches stay in effect for the later steps; a file is
//! the same: `stages`, each with `mutations` applied on top of the previous ones, then `cases`
//! (as in the scenarios, see `scenarios/harness.rs`).
//!
//! ```yaml
//! description: what the upstream test checks
//! upstream: conformance/tests/<file>.go (<test name>)
//! skipped: [what upstream probes that cannot be expressed here, and why]
//! stages:
//! - name: the upstream step
//!   mutations:
//!   - {policy: ClusterNetworkPolicy egress-tcp, swap: [egress, 0, 1]}   # swap two rules
//!   - {policy: ClusterNetworkPolicy pass-example, set: {ingress.0.action: Pass}}  # under spec
//!   - {policy: NetworkPolicy ns/name, delete: true}
//!   cases: [...]
//! ```
//!
//! The fixtures deploy StatefulSets of two replicas and probe pods like `harry-potter-0`; there are
//! no pods in the input, so `<statefulset>-<n>` names the StatefulSet's template endpoint
//! (`<ns>/statefulset/<statefulset>`), which stands for every replica (template to itself is
//! replica to replica). Templates have no address, so probes that depend on pod IPs, and a pod
//! probing its own IP, cannot be expressed; the files list them under `skipped`.

#[path = "scenarios/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use netpol_engine::engine::compile_policy;
use netpol_engine::load::{Object, WorkloadKind};
use netpol_engine::model::PolicyRef;
use netpol_engine::{Endpoint, Engine, Loaded, Policy, State, VerdictCache, read_str};
use serde::Deserialize;
use serde_yaml_ng::Value;

use harness::Case;

/// Upstream's fixtures, `<version>/manifests.yaml` and `<version>/<dir>/<file>.yaml`, in the
/// repository's test data.
const UPSTREAM: &str = "testdata/network-policy-api/conformance-base";
const VERSIONS: [&str; 2] = ["v0.1.8", "v0.2.0"];

/// What the conformance suite fills `{{ index .HostNetworkPorts N }}` with: free ports on the
/// nodes, chosen at random upstream. Any distinct unprivileged numbers will do.
const HOST_NETWORK_PORTS: [u16; 8] = [34341, 34342, 34343, 34344, 34345, 34346, 34347, 34348];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("engine/ is inside the workspace")
        .to_owned()
}

fn upstream_dir() -> PathBuf {
    workspace().join(UPSTREAM)
}

/// Replaces the Go template placeholders of the fixtures with numbers.
fn substitute(text: &str) -> String {
    const OPEN: &str = "{{ index .HostNetworkPorts ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        let end = after.find(" }}").expect("placeholder closes");
        let index: usize = after[..end].parse().expect("placeholder index");
        out.push_str(&HOST_NETWORK_PORTS[index].to_string());
        rest = &after[end + " }}".len()..];
    }
    out.push_str(rest);
    assert!(!out.contains("{{"), "a placeholder is left:\n{out}");
    out
}

fn read_fixture(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    substitute(&text)
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Load errors, skipped kinds and compile errors, as messages.
fn problems(loaded: &Loaded) -> Vec<String> {
    let mut problems: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    problems.extend(
        loaded
            .skipped
            .iter()
            .map(|s| format!("{}: skipped {} {}", s.origin, s.kind, s.name)),
    );
    let build = Engine::build(&State::from_loaded(loaded));
    problems.extend(build.errors.iter().map(ToString::to_string));
    problems
}

#[test]
fn every_fixture_loads_and_compiles() {
    let mut failures = Vec::new();
    let mut count = 0;
    for version in VERSIONS {
        let dir = upstream_dir().join(version);
        let manifests = read_fixture(&dir.join("manifests.yaml"));
        for path in yaml_files(&dir) {
            let name = path.strip_prefix(upstream_dir()).unwrap_or(&path);
            let name = name.display().to_string();
            let mut loaded = read_str(&format!("{version}/manifests.yaml"), &manifests, "default");
            if !name.ends_with("manifests.yaml") {
                loaded.extend(read_str(&name, &read_fixture(&path), "default"));
            }
            count += 1;
            let found = problems(&loaded);
            if !found.is_empty() {
                failures.push(format!("{name}:\n  {}", found.join("\n  ")));
            }
            if loaded.objects.is_empty() {
                failures.push(format!("{name}: nothing was read"));
            }
        }
    }
    assert!(count > 30, "only {count} fixture files found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Conformance {
    description: String,
    upstream: String,
    #[serde(default)]
    skipped: Vec<String>,
    stages: Vec<Stage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stage {
    name: String,
    #[serde(default)]
    mutations: Vec<Mutation>,
    cases: Vec<Case>,
}

/// A change to one policy of the fixture, as the upstream test patches it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mutation {
    /// `Kind name` or `Kind namespace/name`.
    policy: String,
    /// Swaps two entries of a list under `spec` (e.g. `[egress, 0, 1]`).
    #[serde(default)]
    swap: Option<(String, usize, usize)>,
    /// Sets values at dotted paths under `spec` (`ingress.0.action`).
    #[serde(default)]
    set: BTreeMap<String, Value>,
    #[serde(default)]
    delete: bool,
}

/// The fixture's policy documents, as values that mutations can change.
struct Fixture {
    manifests: Loaded,
    docs: Vec<Value>,
}

fn doc_key(doc: &Value) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let meta = doc.get("metadata");
    let name = text(meta.and_then(|m| m.get("name")));
    match meta.and_then(|m| m.get("namespace")) {
        Some(ns) => format!("{} {}/{name}", text(doc.get("kind")), text(Some(ns))),
        None => format!("{} {name}", text(doc.get("kind"))),
    }
}

fn at_path<'a>(mut value: &'a mut Value, path: &str) -> Result<&'a mut Value, String> {
    for part in path.split('.') {
        value = match (part.parse::<usize>(), value) {
            (Ok(i), Value::Sequence(items)) => items.get_mut(i),
            (_, Value::Mapping(map)) => map.get_mut(part),
            _ => None,
        }
        .ok_or_else(|| format!("no {part:?} in {path:?}"))?;
    }
    Ok(value)
}

impl Mutation {
    fn apply(&self, docs: &mut Vec<Value>) -> Result<(), String> {
        let at = docs
            .iter()
            .position(|d| doc_key(d) == self.policy)
            .ok_or_else(|| format!("no policy {:?} in the fixture", self.policy))?;
        if self.delete {
            docs.remove(at);
            return Ok(());
        }
        let spec = docs[at].get_mut("spec").ok_or("no spec")?;
        if let Some((list, a, b)) = &self.swap {
            match at_path(spec, list)? {
                Value::Sequence(items) if *a < items.len() && *b < items.len() => {
                    items.swap(*a, *b)
                }
                _ => return Err(format!("cannot swap {list}[{a}] and {list}[{b}]")),
            }
        }
        for (path, value) in &self.set {
            *at_path(spec, path)? = value.clone();
        }
        Ok(())
    }
}

impl Fixture {
    fn read(version: &str, policies: &Path) -> Self {
        let manifests = read_str(
            "manifests.yaml",
            &read_fixture(&upstream_dir().join(version).join("manifests.yaml")),
            "default",
        );
        let text = read_fixture(policies);
        let docs = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| Value::deserialize(d).expect("fixture is YAML"))
            .filter(|v| !v.is_null())
            .collect();
        Self { manifests, docs }
    }

    fn load(&self, docs: &[Value]) -> Loaded {
        let mut loaded = self.manifests.clone();
        for doc in docs {
            let text = serde_yaml_ng::to_string(doc).expect("YAML");
            loaded.extend(read_str(&doc_key(doc), &text, "default"));
        }
        loaded
    }
}

/// The policy a document compiles to.
fn compiled(doc: &Value) -> Policy {
    let text = serde_yaml_ng::to_string(doc).expect("YAML");
    let loaded = read_str(&doc_key(doc), &text, "default");
    let object = &loaded.objects.first().expect("one object").object;
    compile_policy(object)
        .expect("a policy kind")
        .unwrap_or_else(|e| panic!("{}: {e:?}", doc_key(doc)))
}

/// What changed between two versions of the documents, for `Engine::with_changes`.
fn changes(before: &[Value], after: &[Value]) -> (Vec<Policy>, Vec<PolicyRef>) {
    let upserts = after
        .iter()
        .filter(|doc| !before.contains(doc))
        .map(compiled)
        .collect();
    let removals = before
        .iter()
        .filter(|doc| !after.iter().any(|a| doc_key(a) == doc_key(doc)))
        .map(|doc| compiled(doc).id().clone())
        .collect();
    (upserts, removals)
}

/// StatefulSet name to namespace, from the manifests.
fn statefulsets(loaded: &Loaded) -> BTreeMap<String, String> {
    loaded
        .objects
        .iter()
        .filter_map(|l| match &l.object {
            Object::Workload(w) if w.kind == WorkloadKind::StatefulSet => Some((
                w.metadata.name.clone().unwrap_or_default(),
                w.metadata.namespace.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

/// `harry-potter-0` is a replica of StatefulSet `harry-potter`: its template endpoint.
fn replica(sets: &BTreeMap<String, String>, pod: &str) -> Option<String> {
    let (set, ordinal) = pod.rsplit_once('-')?;
    ordinal.parse::<u32>().ok()?;
    let namespace = sets.get(set)?;
    Some(format!("{namespace}/statefulset/{set}"))
}

fn endpoints(
    engine: &Engine,
    sets: &BTreeMap<String, String>,
    case: &Case,
) -> Result<(Endpoint, Endpoint), String> {
    let (from, to) = (replica(sets, &case.from), replica(sets, &case.to));
    if from.is_some() && case.from == case.to {
        return Err(format!(
            "{} to itself: a template endpoint to itself stands for replica to replica; list it under skipped",
            case.from
        ));
    }
    let resolve = |text: &str, spec: Option<String>| {
        harness::resolve(engine, spec.as_deref().unwrap_or(text))
    };
    Ok((resolve(&case.from, from)?, resolve(&case.to, to)?))
}

/// Runs one file; returns the number of cases and the failures.
fn run(path: &Path) -> (usize, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let relative = path.strip_prefix(&root).expect("under tests/conformance");
    let name = relative.display().to_string();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let file: Conformance = match serde_yaml_ng::from_str(&text) {
        Ok(f) => f,
        Err(e) => return (0, vec![format!("{name}: not a conformance file: {e}")]),
    };
    assert!(
        !file.description.is_empty() && file.upstream.starts_with("conformance/tests/"),
        "{name}: description and upstream test are required"
    );
    let version = relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    let fixture_path = upstream_dir().join(relative);
    if !fixture_path.exists() {
        return (0, vec![format!("{name}: no upstream fixture at this path")]);
    }
    let fixture = Fixture::read(&version, &fixture_path);
    for skipped in &file.skipped {
        println!("{name}: skipped: {skipped}");
    }

    let mut docs = fixture.docs.clone();
    let mut incremental: Option<Engine> = None;
    let mut failures = Vec::new();
    let mut count = 0;
    for stage in &file.stages {
        let before = docs.clone();
        for mutation in &stage.mutations {
            if let Err(e) = mutation.apply(&mut docs) {
                failures.push(format!("{name}: stage {:?}: {e}", stage.name));
                return (count, failures);
            }
        }
        let loaded = fixture.load(&docs);
        let found = problems(&loaded);
        if !found.is_empty() {
            failures.push(format!(
                "{name}: stage {:?}: {}",
                stage.name,
                found.join("; ")
            ));
            return (count, failures);
        }
        let engine = Engine::build(&State::from_loaded(&loaded)).engine;
        // The engine of the previous stage, changed by what the mutations changed.
        let stepped = match incremental.take() {
            Some(previous) => {
                let (upserts, removals) = changes(&before, &docs);
                previous.with_changes(upserts, &removals)
            }
            None => engine.clone(),
        };
        let sets = statefulsets(&loaded);
        let cache = VerdictCache::new(4);
        let alternates = [("changed stage by stage", &stepped)];
        for case in &stage.cases {
            count += 1;
            let result = endpoints(&engine, &sets, case).and_then(|(src, dst)| {
                harness::check(&engine, &alternates, &cache, case, src, dst)
            });
            if let Err(report) = result {
                failures.push(format!("{name}: stage {:?}: {report}", stage.name));
            }
        }
        incremental = Some(stepped);
    }
    (count, failures)
}

#[test]
fn upstream_verdicts() {
    let files = yaml_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance"));
    assert!(!files.is_empty(), "no conformance files");
    let mut cases = 0;
    let mut failures = Vec::new();
    for file in &files {
        let (count, failed) = run(file);
        cases += count;
        failures.extend(failed);
    }
    println!("{} conformance files, {cases} cases", files.len());
    assert!(
        failures.is_empty(),
        "{} failures in {cases} cases:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
