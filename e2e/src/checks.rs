//! Checks of the webhook and the plugin on the live cluster, with or without nodes: an ANP
//! and a CNP at one priority with opposite actions for the same pods (the second is refused),
//! the impact-preview warnings of a server-side dry run, and `check`, `explain` and `diff`
//! reading the cluster.
//!
//! The webhook answers from caches that follow the cluster a moment behind, so the checks that
//! need it to have seen an object retry until `timeout`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::probe::SUITE_LABEL;
use crate::tools::{Kubectl, Plugin};

/// The priority the conflict check uses (above what clusters usually take).
pub const PRIORITY: u32 = 777;
pub const GUARD: &str = "e2e-guard";

fn labels() -> Value {
    json!({SUITE_LABEL: "true"})
}

/// ANP: pods of e2e-x accept ingress from e2e-y.
pub fn anp_guard() -> Value {
    json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": GUARD, "labels": labels()},
        "spec": {
            "priority": PRIORITY,
            "subject": {"namespaces": {"matchLabels": {"e2e": "x"}}},
            "ingress": [{"name": "from-y", "action": "Allow",
                         "from": [{"namespaces": {"matchLabels": {"e2e": "y"}}}]}],
        },
    })
}

/// CNP in the Admin tier at `priority`: pods of e2e-x deny ingress from e2e-y.
pub fn cnp_deny(name: &str, priority: u32) -> Value {
    json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name, "labels": labels()},
        "spec": {
            "tier": "Admin",
            "priority": priority,
            "subject": {"namespaces": {"matchLabels": {"e2e": "x"}}},
            "ingress": [{"name": "not-from-y", "action": "Deny",
                         "from": [{"namespaces": {"matchLabels": {"e2e": "y"}}}]}],
        },
    })
}

/// NetworkPolicy isolating e2e-x/a for ingress: newly denies every flow to it.
pub fn np_lockdown() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "e2e-lockdown", "namespace": "e2e-x", "labels": labels()},
        "spec": {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"]},
    })
}

/// Every object the checks may leave behind.
pub fn objects() -> Vec<Value> {
    vec![
        anp_guard(),
        cnp_deny("e2e-clash", PRIORITY),
        cnp_deny("e2e-free", PRIORITY + 1),
        np_lockdown(),
    ]
}

fn retry<T>(timeout: Duration, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(err) if start.elapsed() >= timeout => {
                return Err(err.context(format!("still failing after {timeout:?}")));
            }
            Err(_) => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

/// Creates the guard ANP, then expects the webhook to refuse the clashing CNP (server-side
/// dry run, so nothing is created if it is wrongly admitted) naming the ANP.
pub fn conflict_is_rejected(kubectl: &Kubectl, timeout: Duration) -> Result<()> {
    // Retried too: right after an install the webhook (failurePolicy Fail) may still be
    // publishing its caBundle.
    retry(timeout, || kubectl.apply_ok(&[anp_guard()]))?;
    retry(timeout, || {
        let out = kubectl.apply(&[cnp_deny("e2e-clash", PRIORITY)], true)?;
        ensure!(
            !out.success,
            "ClusterNetworkPolicy e2e-clash was admitted at the ANP's priority {PRIORITY}: {}",
            out.stdout.trim()
        );
        ensure!(
            out.stderr.contains("denied the request")
                && out.stderr.contains(&format!("AdminNetworkPolicy {GUARD}")),
            "refused, but not by the webhook naming AdminNetworkPolicy {GUARD}: {}",
            out.stderr.trim()
        );
        Ok(())
    })
}

/// The same CNP one priority up is admitted: the refusal was about the tie.
pub fn free_priority_is_admitted(kubectl: &Kubectl) -> Result<()> {
    let out = kubectl.apply(&[cnp_deny("e2e-free", PRIORITY + 1)], true)?;
    ensure!(out.success, "refused: {}", out.stderr.trim());
    Ok(())
}

/// `kubectl apply --dry-run=server` of a NetworkPolicy isolating a pod prints the impact
/// preview as warnings.
pub fn dry_run_warns(kubectl: &Kubectl, timeout: Duration) -> Result<()> {
    retry(timeout, || {
        let out = kubectl.apply(&[np_lockdown()], true)?;
        ensure!(out.success, "refused: {}", out.stderr.trim());
        let warnings = out.warnings();
        ensure!(
            warnings.iter().any(|w| w.contains("newly denies")),
            "no impact preview among the warnings {warnings:?}"
        );
        Ok(())
    })
}

/// `check` on the live cluster: e2e-y/b → e2e-x/a is allowed by the guard ANP.
pub fn check_live(plugin: &Plugin) -> Result<()> {
    let answer = plugin.json(&[
        "check", "--from", "e2e-y/b", "--to", "e2e-x/a", "--port", "80",
    ])?;
    let flow = &answer["flows"][0];
    ensure!(flow["verdict"] == "allow", "verdict {}", flow["verdict"]);
    let steps = flow["ingress"]["steps"]
        .as_array()
        .context("no ingress walkthrough")?;
    ensure!(
        steps
            .iter()
            .any(|s| s["policy"]["name"] == GUARD && s["result"] == "accept"),
        "the ingress walkthrough does not name {GUARD} accepting: {}",
        flow["ingress"]
    );
    Ok(())
}

/// `explain --pod` on the live cluster lists the guard ANP for e2e-x/a.
pub fn explain_live(plugin: &Plugin) -> Result<()> {
    let rows = plugin.json(&["explain", "--pod", "e2e-x/a"])?;
    let rows = rows.as_array().context("explain -o json: not a list")?;
    ensure!(
        rows.iter().any(|r| r["policy"]["name"] == GUARD),
        "{GUARD} is not among the {} rows",
        rows.len()
    );
    Ok(())
}

/// `diff -f` on the live cluster: isolating e2e-x/a newly denies flows to it.
pub fn diff_live(plugin: &Plugin, scratch: &Path) -> Result<()> {
    let file = scratch.join("lockdown.json");
    std::fs::write(&file, np_lockdown().to_string())?;
    let impact = plugin.json(&["diff", "-f", &file.to_string_lossy()])?;
    let denied = impact["newly_denied_count"].as_u64().unwrap_or(0);
    if denied == 0 {
        bail!("diff found no newly denied flow: {impact}");
    }
    Ok(())
}
