//! The chart installed for real by the Helm engine, for every value set the chart tests render:
//! installed, upgraded with changed values, uninstalled, with the API server checking every
//! object (schemas, RBAC escalation rules, admission). Nothing runs the pods: there are no nodes.

use anyhow::{Context, Result, bail, ensure};
use netpol_e2e::helm::{Helm, Wait};
use netpol_e2e::repo_root;
use netpol_e2e::values::value_sets;
use serde_json::{Value, json};

use crate::suite::Suite;

/// What cert-manager would have installed, for the value set that uses it: its two kinds, with
/// schemas that take anything (cert-manager itself does not run here).
const CERT_MANAGER_KINDS: [(&str, &str); 2] =
    [("Issuer", "issuers"), ("Certificate", "certificates")];

pub fn lifecycle(suite: &Suite) -> Result<()> {
    let helm = Helm::locate()?.with_kubeconfig(&suite.plane.kubeconfig);
    let chart = repo_root().join("charts/netpol");
    install_cert_manager_kinds(suite)?;
    for (index, (set, values)) in value_sets().into_iter().enumerate() {
        // A release and namespace per set: cluster-scoped names derive from the release.
        let release = format!("np{index}");
        let namespace = format!("netpol-chart-{index}");
        let what = |step: &str| format!("value set {set:?}: {step}");
        let result = (|| -> Result<()> {
            helm.deploy(
                "install",
                &chart,
                &release,
                &namespace,
                &values,
                Wait::Written,
            )
            .with_context(|| what("install"))?;
            let installed = objects_of(suite, &release, &namespace)?;
            ensure!(
                !installed.is_empty(),
                "{}",
                what("the release made no objects")
            );
            if values["crds"]["install"] == true {
                for name in crd_names() {
                    suite.wait_established(&name, std::time::Duration::from_secs(30))?;
                }
            }

            let mut changed = values.clone();
            netpol_e2e::cli::merge(
                &mut changed,
                json!({"webhook": {"replicas": 3, "logLevel": "debug"}, "enforcer": {"logLevel": "debug"}}),
            );
            helm.deploy(
                "upgrade",
                &chart,
                &release,
                &namespace,
                &changed,
                Wait::Written,
            )
            .with_context(|| what("upgrade"))?;
            let revisions = revisions(suite, &release, &namespace)?;
            ensure!(
                revisions
                    == [
                        ("1".into(), "superseded".into()),
                        ("2".into(), "deployed".into())
                    ],
                "{}",
                what(&format!("Helm's record after the upgrade: {revisions:?}"))
            );
            if values["webhook"]["enabled"] != false {
                let deployment = suite.kubectl.run(
                    &[
                        "get",
                        "deployment",
                        "-n",
                        &namespace,
                        "-o",
                        "jsonpath={.items[0].spec.replicas}",
                    ],
                    None,
                )?;
                ensure!(
                    deployment.stdout.trim() == "3",
                    "{}",
                    what(&format!(
                        "after the upgrade the webhook has {:?} replicas",
                        deployment.stdout
                    ))
                );
            }

            Ok(())
        })();
        // Whatever happened, the release goes: a webhook configuration left behind would
        // stand between the next trials and the API.
        let uninstalled = helm
            .uninstall_with(&release, &namespace, Wait::Ready(120))
            .with_context(|| what("uninstall"));
        result?;
        uninstalled?;
        let left = objects_of(suite, &release, &namespace)?;
        let crds_kept = values["crds"]["install"] == true;
        let unexpected: Vec<&String> = left
            .iter()
            .filter(|o| !(crds_kept && o.starts_with("customresourcedefinition")))
            .collect();
        ensure!(
            unexpected.is_empty(),
            "{}",
            what(&format!("left behind {unexpected:?}"))
        );
        if crds_kept {
            for name in crd_names() {
                let out = suite.kubectl.run(&["get", "crd", &name], None)?;
                ensure!(out.success, "{}", what(&format!("CRD {name} was not kept")));
            }
        }
        let out = suite
            .kubectl
            .run(&["delete", "namespace", &namespace, "--wait=false"], None)?;
        ensure!(out.success, "deleting {namespace}: {}", out.stderr.trim());
    }
    Ok(())
}

/// `kind/name` of every object labelled as the release's (cluster-scoped and in its namespace).
fn objects_of(suite: &Suite, release: &str, namespace: &str) -> Result<Vec<String>> {
    let selector = format!("app.kubernetes.io/instance={release}");
    let kinds = "deployments,daemonsets,services,serviceaccounts,configmaps,secrets,\
                 poddisruptionbudgets,roles,rolebindings,clusterroles,clusterrolebindings,\
                 validatingwebhookconfigurations,customresourcedefinitions";
    let mut found = Vec::new();
    for scope in [vec!["-n", namespace], vec![]] {
        let mut args = vec!["get", kinds, "-l", &selector, "-o", "name"];
        args.extend(scope);
        let out = suite.kubectl.run(&args, None)?;
        if !out.success {
            bail!("listing the release's objects: {}", out.stderr.trim());
        }
        found.extend(out.stdout.lines().map(str::to_owned));
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// Helm's own record of a release (its storage Secrets): (revision, status), oldest first.
fn revisions(suite: &Suite, release: &str, namespace: &str) -> Result<Vec<(String, String)>> {
    let out = suite.kubectl.run(
        &[
            "get", "secrets", "-n", namespace, "-l", &format!("owner=helm,name={release}"),
            "-o", r#"jsonpath={range .items[*]}{.metadata.labels.version} {.metadata.labels.status}{"\n"}{end}"#,
        ],
        None,
    )?;
    ensure!(out.success, "reading Helm's record: {}", out.stderr.trim());
    let mut revisions: Vec<(String, String)> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(v, s)| (v.to_owned(), s.to_owned()))
        .collect();
    revisions.sort();
    Ok(revisions)
}

fn crd_names() -> Vec<String> {
    [
        "adminnetworkpolicies",
        "baselineadminnetworkpolicies",
        "clusternetworkpolicies",
    ]
    .iter()
    .map(|plural| format!("{plural}.policy.networking.k8s.io"))
    .collect()
}

fn install_cert_manager_kinds(suite: &Suite) -> Result<()> {
    let crds: Vec<Value> = CERT_MANAGER_KINDS
        .iter()
        .map(|(kind, plural)| {
            json!({
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("{plural}.cert-manager.io")},
                "spec": {
                    "group": "cert-manager.io",
                    "scope": "Namespaced",
                    "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                              "listKind": format!("{kind}List")},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                      "x-kubernetes-preserve-unknown-fields": true}}}],
                },
            })
        })
        .collect();
    suite.kubectl.apply_ok(&crds)?;
    for (_, plural) in CERT_MANAGER_KINDS {
        suite.wait_established(
            &format!("{plural}.cert-manager.io"),
            std::time::Duration::from_secs(30),
        )?;
    }
    Ok(())
}
