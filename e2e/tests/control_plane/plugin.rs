//! `kubectl netpol` reading the real API server (no `-f`): every command, the kubeconfig rules
//! kubectl has (`-n`, `--context`, `KUBECONFIG` of two files), and the documented message for a
//! user who may not list pods. The twin of `kubectl-netpol/tests/live.rs`, which fakes the server.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use netpol_e2e::tools::{Output, Plugin};
use netpol_e2e::{probe, target_dir};
use serde_json::{Value, json};

use crate::suite::Suite;

const NODE: &str = "plugin-node";

pub fn live(suite: &Suite) -> Result<()> {
    suite.ensure_crds()?;
    let kubectl = &suite.kubectl;
    suite.fresh_namespaces()?;
    suite.create_node(NODE, "192.168.250.1")?;
    for (index, pod) in probe::pod_names().iter().enumerate() {
        suite.running_pod(pod, NODE, &format!("10.77.0.{}", index + 10))?;
    }
    let policies = [deny_y_to_x(), allow_all_in_z()];
    kubectl.apply_ok(&policies)?;
    let scratch = target_dir().join("control-plane-plugin");
    std::fs::create_dir_all(&scratch)?;
    let result = commands(suite, &scratch);
    let deleted = kubectl.delete(&policies, false);
    result?;
    deleted.map(drop)
}

fn commands(suite: &Suite, scratch: &Path) -> Result<()> {
    let plugin = plugin(suite.plane.env())?;

    let check = plugin.json(&[
        "check", "--from", "e2e-y/a", "--to", "e2e-x/b", "--port", "80",
    ])?;
    let flow = &check["flows"][0];
    ensure!(flow["verdict"] == "deny", "check e2e-y/a → e2e-x/b: {flow}");
    let named = flow["ingress"]["steps"]
        .as_array()
        .is_some_and(|steps| steps.iter().any(|s| s["policy"]["name"] == "x-not-from-y"));
    ensure!(
        named,
        "the walkthrough does not name x-not-from-y: {}",
        flow["ingress"]
    );
    let allowed = plugin.json(&[
        "check", "--from", "e2e-z/a", "--to", "e2e-x/b", "--port", "80",
    ])?;
    ensure!(
        allowed["flows"][0]["verdict"] == "allow",
        "check e2e-z/a → e2e-x/b: {allowed}"
    );

    let rows = plugin.json(&["explain", "--pod", "b", "-n", "e2e-x"])?;
    let rows = rows.as_array().context("explain -o json is a list")?;
    ensure!(
        rows.iter().any(|r| r["policy"]["name"] == "x-not-from-y"),
        "explain -n e2e-x --pod b misses x-not-from-y: {rows:?}"
    );

    let lint = plugin.json(&["lint"])?;
    ensure!(lint.is_array(), "lint -o json is not a list: {lint}");

    let change = scratch.join("isolate-z.json");
    std::fs::write(&change, isolate_z().to_string())?;
    let diff = plugin.json(&["diff", "-f", &change.to_string_lossy()])?;
    ensure!(
        diff["newly_denied_count"].as_u64().unwrap_or(0) > 0,
        "diff finds nothing newly denied: {diff}"
    );

    let matrix = plugin.json(&["matrix", "--in", "e2e-x", "--in", "e2e-y"])?;
    ensure!(
        matrix.to_string().contains("e2e-x/b"),
        "matrix -o json does not name e2e-x/b: {matrix}"
    );

    contexts_and_files(suite, scratch)?;
    forbidden_pods(suite, scratch)
}

fn plugin(env: Vec<(OsString, OsString)>) -> Result<Plugin> {
    let binary = netpol_e2e::binary("kubectl-netpol");
    ensure!(
        binary.is_file(),
        "{} is missing: `cargo test --workspace` builds it",
        binary.display()
    );
    Ok(Plugin { binary, env })
}

/// `--context` picks a context that is not the current one; `KUBECONFIG` of two files merges
/// them as kubectl does (the first file's current-context wins).
fn contexts_and_files(suite: &Suite, scratch: &Path) -> Result<()> {
    let admin: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&suite.plane.kubeconfig)?)?;
    let cluster = &admin["clusters"][0];
    let user = &admin["users"][0];
    let (cluster_name, user_name) = (
        cluster["name"].as_str().context("cluster name")?,
        user["name"].as_str().context("user name")?,
    );
    let context = |name: &str, cluster: &str| json!({"name": name, "context": {"cluster": cluster, "user": user_name}});
    // The current context points at nothing: only `--context admin` can work.
    let both = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [cluster, {"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [user],
        "contexts": [context("admin", cluster_name), context("broken", "nowhere")],
        "current-context": "broken",
    });
    let file = write(scratch, "contexts.kubeconfig", &both)?;
    let plugin = plugin(vec![("KUBECONFIG".into(), file.into_os_string())])?;
    let out = plugin.run(&["explain", "--pod", "e2e-x/b"])?;
    ensure!(
        !out.success,
        "the broken current context worked: {}",
        out.stdout
    );
    let out = plugin.run(&["explain", "--pod", "e2e-x/b", "--context", "admin"])?;
    ensure!(out.success, "--context admin: {}", out.stderr.trim());

    let contexts_only = json!({
        "apiVersion": "v1", "kind": "Config",
        "contexts": [context("split", cluster_name)], "current-context": "split",
    });
    let credentials = json!({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [user],
    });
    let first = write(scratch, "split-context.kubeconfig", &contexts_only)?;
    let second = write(scratch, "split-credentials.kubeconfig", &credentials)?;
    let joined = std::env::join_paths([first, second])?;
    let plugin = self::plugin(vec![("KUBECONFIG".into(), joined)])?;
    let out = plugin.run(&["explain", "--pod", "e2e-x/b"])?;
    ensure!(
        out.success,
        "KUBECONFIG of two files: {}",
        out.stderr.trim()
    );
    Ok(())
}

/// A ServiceAccount that may list everything the plugin reads except pods gets exit status 2
/// and a message naming the verb and the resource.
fn forbidden_pods(suite: &Suite, scratch: &Path) -> Result<()> {
    let name = "netpol-no-pods";
    suite.kubectl.apply_ok(&[
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": name, "namespace": "default"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": name},
               "rules": [
                   {"apiGroups": [""], "resources": ["namespaces", "nodes"], "verbs": ["list"]},
                   {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list"]},
                   {"apiGroups": ["policy.networking.k8s.io"], "resources": ["*"], "verbs": ["list"]},
                   {"apiGroups": ["apps", "batch"], "resources": ["*"], "verbs": ["list"]},
               ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}]}),
    ])?;
    let kubeconfig =
        suite.token_kubeconfig("default", name, &scratch.join("no-pods.kubeconfig"))?;
    let plugin = plugin(vec![("KUBECONFIG".into(), kubeconfig.into_os_string())])?;
    let out: Output = plugin.run(&["explain", "--pod", "e2e-x/b"])?;
    ensure!(
        !out.success,
        "listed pods without the right: {}",
        out.stdout
    );
    ensure!(
        out.stderr.contains("list") && out.stderr.contains("pods"),
        "the message does not name the verb and resource: {}",
        out.stderr.trim()
    );
    Ok(())
}

fn write(dir: &Path, name: &str, value: &Value) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(value)?)?;
    Ok(path)
}

fn deny_y_to_x() -> Value {
    json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": "x-not-from-y"},
        "spec": {"priority": 300, "subject": {"namespaces": {"matchLabels": {"e2e": "x"}}},
                 "ingress": [{"name": "deny-y", "action": "Deny",
                              "from": [{"namespaces": {"matchLabels": {"e2e": "y"}}}]}]},
    })
}

fn allow_all_in_z() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-all", "namespace": "e2e-z"},
        "spec": {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]},
    })
}

fn isolate_z() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-all", "namespace": "e2e-z"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    })
}
