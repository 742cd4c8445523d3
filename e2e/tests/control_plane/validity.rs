//! The API server as a second oracle of validity: every policy object in the repository's tests,
//! examples and upstream test data is sent to the server (a server-side dry-run create with the
//! strict field validation kubectl uses) and read by the engine. Where one accepts and the other refuses,
//! the difference must be one of [`KNOWN`], which docs/semantics.md explains.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use netpol_e2e::repo_root;
use netpol_engine::engine::compile_policy;
use serde_json::Value;

use crate::suite::Suite;

/// Folders of the repository whose YAML files hold policies, anywhere inside a document
/// (scenario files keep them in lists).
const CORPUS: &[&str] = &[
    "examples",
    "e2e/scenarios",
    "engine/tests",
    "kubectl-netpol/tests",
    "webhook/tests",
    "testdata/network-policy-api",
];

/// The four policy kinds: kind, API group and version, plural, namespaced.
const KINDS: &[(&str, &str, &str, &str, bool)] = &[
    (
        "NetworkPolicy",
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        true,
    ),
    (
        "AdminNetworkPolicy",
        "policy.networking.k8s.io",
        "v1alpha1",
        "adminnetworkpolicies",
        false,
    ),
    (
        "BaselineAdminNetworkPolicy",
        "policy.networking.k8s.io",
        "v1alpha1",
        "baselineadminnetworkpolicies",
        false,
    ),
    (
        "ClusterNetworkPolicy",
        "policy.networking.k8s.io",
        "v1alpha2",
        "clusternetworkpolicies",
        false,
    ),
];

/// Differences we know of, by `file: Kind name`, each with its reason (also in
/// docs/semantics.md, "Validation"): the engine is stricter than the server where upstream
/// documents a rule without enforcing it, or where the object could not be evaluated.
const KNOWN: &[(&str, &str)] = &[
    (
        "engine/tests/validity.yaml: AdminNetworkPolicy invalid-selector-anp-bad",
        "the CRD takes any selector strings; `In` without values cannot be evaluated",
    ),
    (
        "engine/tests/validity.yaml: AdminNetworkPolicy port-range-inverted-anp-bad",
        "the v0.1.8 CRD documents start below end but has no CEL rule; an inverted range matches no port",
    ),
    (
        "engine/tests/validity.yaml: AdminNetworkPolicy invalid-protocol-anp-bad",
        "the v0.1.8 CRD documents TCP, UDP and SCTP but has no enum",
    ),
    (
        "engine/tests/validity.yaml: AdminNetworkPolicy domain-names-not-accept-anp-bad",
        "upstream documents domainNames for Allow rules only, without a CEL rule",
    ),
    (
        "engine/tests/validity.yaml: ClusterNetworkPolicy domain-names-not-accept-cnp-bad",
        "upstream documents domainNames for Accept rules only, without a CEL rule",
    ),
];

/// One policy object found in the corpus.
struct Sample {
    file: PathBuf,
    kind: &'static (&'static str, &'static str, &'static str, &'static str, bool),
    object: Value,
}

impl Sample {
    fn id(&self) -> String {
        let name = self.object["metadata"]["name"].as_str().unwrap_or("?");
        let file = self.file.strip_prefix(repo_root()).unwrap_or(&self.file);
        format!("{}: {} {name}", file.display(), self.kind.0)
    }

    fn namespace(&self) -> &str {
        self.object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
    }
}

pub fn server_agrees(suite: &Suite) -> Result<()> {
    suite.ensure_crds()?;
    let samples = corpus()?;
    if samples.len() < 100 {
        bail!("only {} policy objects found in the corpus", samples.len());
    }
    let namespaces: BTreeSet<&str> = samples
        .iter()
        .filter(|s| s.kind.4)
        .map(Sample::namespace)
        .collect();
    for namespace in &namespaces {
        let out = suite
            .kubectl
            .run(&["create", "namespace", namespace], None)?;
        if !out.success && !out.stderr.contains("AlreadyExists") {
            bail!("creating namespace {namespace}: {}", out.stderr.trim());
        }
    }

    let mut differences = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for sample in &samples {
        let engine = engine_verdict(sample);
        let server = server_verdict(suite, sample)?;
        match &server {
            Ok(()) => accepted += 1,
            Err(_) => refused += 1,
        }
        let id = sample.id();
        let known = KNOWN.iter().any(|(k, _)| *k == id);
        match (&engine, &server) {
            (Ok(()), Ok(())) | (Err(_), Err(_)) if !known => {}
            (Ok(()), Err(why)) if !known => differences.push(format!(
                "{id}: the engine compiles it, the API server refuses it: {why}"
            )),
            (Err(why), Ok(())) if !known => differences.push(format!(
                "{id}: the API server accepts it, the engine refuses it: {why}"
            )),
            _ if known && engine.is_ok() == server.is_ok() => {
                differences.push(format!("{id}: listed as a difference but both now agree"))
            }
            _ => {}
        }
    }
    println!(
        "    {} policy objects: the server accepted {accepted}, refused {refused}",
        samples.len()
    );
    if !differences.is_empty() {
        bail!(
            "{} differences between the engine and the API server:\n  {}",
            differences.len(),
            differences.join("\n  ")
        );
    }
    Ok(())
}

/// The engine's answer: read and compiled without an error.
fn engine_verdict(sample: &Sample) -> Result<(), String> {
    let text = sample.object.to_string();
    let loaded = netpol_engine::read_str(&sample.id(), &text, "default");
    if let Some(error) = loaded.errors.first() {
        return Err(format!(
            "{}: {}",
            error.field.as_deref().unwrap_or(""),
            error.message
        ));
    }
    let [located] = loaded.objects.as_slice() else {
        return Err(format!("read as {} objects", loaded.objects.len()));
    };
    match compile_policy(&located.object) {
        Some(Ok(_)) => Ok(()),
        Some(Err(errors)) => Err(errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")),
        None => Err("not compiled as a policy".into()),
    }
}

/// The server's answer to a dry-run create with strict field validation (what `kubectl create`
/// and `kubectl apply` send): accepted, or refused as invalid (with its message). Any other
/// failure is the test's own problem.
fn server_verdict(suite: &Suite, sample: &Sample) -> Result<Result<(), String>> {
    let (_, group, version, plural, namespaced) = *sample.kind;
    let collection = if namespaced {
        format!(
            "/apis/{group}/{version}/namespaces/{}/{plural}",
            sample.namespace()
        )
    } else {
        format!("/apis/{group}/{version}/{plural}")
    };
    let request = http::Request::post(format!("{collection}?dryRun=All&fieldValidation=Strict"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&sample.object)?)?;
    match suite
        .cluster
        .block(suite.cluster.client.request::<Value>(request))
    {
        Ok(_) => Ok(Ok(())),
        Err(kube::Error::Api(status)) if matches!(status.code, 400 | 422) => {
            Ok(Err(status.message))
        }
        Err(err) => Err(err).with_context(|| format!("dry-run create of {}", sample.id())),
    }
}

fn corpus() -> Result<Vec<Sample>> {
    let mut files = Vec::new();
    for dir in CORPUS {
        yaml_files(&repo_root().join(dir), &mut files)?;
    }
    files.sort();
    let mut samples = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let text = fill_placeholders(&text);
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            // A file that is not YAML (a deliberately broken input) has no more samples; the
            // iterator would repeat its error forever.
            let Ok(value) = serde::Deserialize::deserialize(document) else {
                break;
            };
            let value: Value = value;
            collect(&file, &value, &mut samples);
        }
    }
    Ok(samples)
}

fn collect(file: &Path, value: &Value, samples: &mut Vec<Sample>) {
    match value {
        Value::Object(fields) => {
            let kind = KINDS.iter().find(|(kind, group, version, ..)| {
                fields.get("kind").and_then(Value::as_str) == Some(kind)
                    && fields.get("apiVersion").and_then(Value::as_str)
                        == Some(&format!("{group}/{version}"))
            });
            match kind {
                Some(kind) if value["metadata"]["name"].is_string() => samples.push(Sample {
                    file: file.to_owned(),
                    kind,
                    object: value.clone(),
                }),
                _ => fields.values().for_each(|v| collect(file, v, samples)),
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(file, v, samples)),
        _ => {}
    }
}

/// The upstream conformance fixtures' Go placeholders `{{ index .HostNetworkPorts N }}`.
fn fill_placeholders(text: &str) -> String {
    let mut out = text.to_owned();
    for n in 0..8 {
        out = out.replace(
            &format!("{{{{ index .HostNetworkPorts {n} }}}}"),
            &(34341 + n).to_string(),
        );
    }
    out
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}
