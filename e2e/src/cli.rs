//! The `netpol-e2e` program: flags, then the run against the cluster of `KUBECONFIG`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::helm::Helm;
use crate::local_webhook::{self, LocalWebhook};
use crate::matrix::{self, Matrix};
use crate::preflight::{self, Preflight};
use crate::probe;
use crate::report::Report;
use crate::scenario::Scenario;
use crate::tools::{Kubectl, Plugin};
use crate::{checks, repo_root, target_dir};

#[derive(Debug, Parser)]
#[command(
    name = "netpol-e2e",
    version,
    about = "netpol end to end on the cluster of KUBECONFIG: chart, traffic, webhook, plugin"
)]
pub struct Args {
    /// Only what needs no nodes: the webhook runs on this machine (registered with
    /// clientConfig.url https://127.0.0.1:PORT) and the plugin reads the API server.
    #[arg(long)]
    pub no_nodes: bool,
    /// Use the netpol release already installed instead of installing the chart.
    #[arg(long)]
    pub skip_install: bool,
    /// Leave the release, namespaces and policies in place at the end.
    #[arg(long)]
    pub keep: bool,
    /// Namespace of the release.
    #[arg(long, default_value = "netpol-system")]
    pub namespace: String,
    /// Release name.
    #[arg(long, default_value = "netpol")]
    pub release: String,
    /// Registry and path of the images: PREFIX/netpol-webhook and PREFIX/netpol-enforcer.
    #[arg(long, default_value = "ghcr.io/netpol")]
    pub image_prefix: String,
    /// Tag of both images (default: the chart's appVersion).
    #[arg(long)]
    pub image_tag: Option<String>,
    /// More chart values (YAML), merged over the suite's.
    #[arg(long)]
    pub values: Option<PathBuf>,
    /// Image of the probe pods (agnhost).
    #[arg(long, default_value = probe::DEFAULT_IMAGE)]
    pub probe_image: String,
    /// kubectl binary.
    #[arg(long, default_value = "kubectl")]
    pub kubectl: PathBuf,
    /// kubectl-netpol binary (default: beside this program, else on PATH).
    #[arg(long)]
    pub plugin: Option<PathBuf>,
    /// netpol-webhook binary for --no-nodes (default: beside this program, else on PATH).
    #[arg(long)]
    pub webhook: Option<PathBuf>,
    /// Scenario directory (default: e2e/scenarios of the repository).
    #[arg(long)]
    pub scenarios: Option<PathBuf>,
    /// Seconds to wait for the API server before saying the suite did not run.
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// Seconds to wait for an installation, pods, or the webhook to catch up.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Probes running at once.
    #[arg(long, default_value_t = 8)]
    pub probe_workers: usize,
    /// Rounds of probing a flow whose verdict differs before it counts as a failure
    /// (enforcers apply a change within about a second).
    #[arg(long, default_value_t = 3)]
    pub probe_attempts: usize,
}

pub fn main(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("netpol-e2e: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let preflight = runtime.block_on(preflight::check(Duration::from_secs(args.connect_timeout)));
    let (client, url, version) = match preflight {
        Preflight::NotRun(why) => {
            println!("netpol-e2e did not run: {why}");
            return ExitCode::SUCCESS;
        }
        Preflight::Broken(why) => {
            eprintln!("netpol-e2e: {why}");
            return ExitCode::FAILURE;
        }
        Preflight::Ready {
            client,
            url,
            version,
        } => (client, url, version),
    };
    let mode = if args.no_nodes {
        "no nodes: local webhook and plugin"
    } else {
        "full: chart, traffic, webhook, plugin"
    };
    println!("netpol-e2e: cluster {url} ({version}); {mode}");
    let cluster = Cluster::new(client, runtime);
    let mut report = Report::default();
    if let Err(err) = run(&args, &cluster, &mut report) {
        report.record("set-up", Err(err));
    }
    println!("{}", report.summary());
    if report.failed().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A program beside this one (cargo builds them into one directory), else `name` on PATH.
fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn run(args: &Args, cluster: &Cluster, report: &mut Report) -> Result<()> {
    let kubectl = Kubectl::new(args.kubectl.clone())?;
    let plugin = Plugin {
        binary: args
            .plugin
            .clone()
            .unwrap_or_else(|| sibling("kubectl-netpol")),
        env: Vec::new(),
    };
    let scratch = target_dir().join("e2e-run");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let timeout = Duration::from_secs(args.timeout);
    let scenarios = Scenario::load_dir(
        &args
            .scenarios
            .clone()
            .unwrap_or_else(|| repo_root().join("e2e/scenarios")),
    )?;

    let crds_missing = !cluster.serves_policy_apis();
    let mut cleanup = Cleanup::default();
    let outcome = (|| -> Result<()> {
        if args.no_nodes {
            if crds_missing {
                kubectl.apply_files(&repo_root().join("crds"))?;
                cleanup.crds = true;
                cluster.wait_for_policy_apis(Duration::from_secs(60))?;
            }
        } else if !args.skip_install {
            let helm = Helm::locate()?;
            let values = chart_values(args, crds_missing)?;
            cleanup.release = Some(helm.clone());
            let installed = helm.install(
                &repo_root().join("charts/netpol"),
                &args.release,
                &args.namespace,
                &values,
                args.timeout,
            );
            report.record("chart installs and its workloads become ready", installed);
            cluster.wait_for_policy_apis(Duration::from_secs(60))?;
        }

        cleanup.namespaces = true;
        kubectl.apply_ok(&probe::namespaces())?;
        if args.no_nodes {
            for namespace in probe::NAMESPACES {
                cluster.ensure_default_service_account(namespace)?;
            }
        }
        kubectl.apply_ok(&probe::pods(&args.probe_image))?;

        // Pods stay Pending without nodes; they exist for the engine all the same.
        let addresses = if args.no_nodes {
            None
        } else {
            Some(cluster.wait_for_pods(probe::pod_names().len(), timeout)?)
        };

        let _webhook = if args.no_nodes {
            let binary = args
                .webhook
                .clone()
                .unwrap_or_else(|| sibling("netpol-webhook"));
            let pki = local_webhook::pki()?;
            let mut webhook = LocalWebhook::start(&binary, &pki, &scratch)?;
            webhook.wait_ready(&pki.ca, Duration::from_secs(60))?;
            cleanup.webhook_config = true;
            cluster.create_webhook_config(&webhook.config(&pki.ca))?;
            Some(webhook)
        } else {
            None
        };

        cleanup.check_objects = true;
        let wait = Duration::from_secs(60);
        report.record(
            "webhook rejects an ANP/CNP priority conflict",
            checks::conflict_is_rejected(&kubectl, wait),
        );
        report.record(
            "webhook admits the same CNP at a free priority",
            checks::free_priority_is_admitted(&kubectl),
        );
        report.record(
            "plugin check on the live cluster",
            checks::check_live(&plugin),
        );
        report.record(
            "plugin explain on the live cluster",
            checks::explain_live(&plugin),
        );
        kubectl.delete(&checks::objects(), true)?;
        report.record(
            "webhook warns with the impact preview on --dry-run=server",
            checks::dry_run_warns(&kubectl, wait),
        );
        report.record(
            "plugin diff on the live cluster",
            checks::diff_live(&plugin, &scratch),
        );

        if let Some(addresses) = &addresses {
            for scenario in &scenarios {
                let result = run_scenario(args, &kubectl, &plugin, &scratch, scenario, addresses);
                report.record(&format!("traffic: {}", scenario.name), result);
            }
        }
        Ok(())
    })();
    if args.keep {
        println!("--keep: leaving the release, namespaces and policies in place");
    } else {
        cleanup.run(args, cluster, &kubectl, &scenarios);
    }
    outcome
}

/// The suite's chart values: the images, the CRDs when the cluster lacks them, then --values.
pub fn chart_values(args: &Args, install_crds: bool) -> Result<Value> {
    let tag = args.image_tag.clone().unwrap_or_default();
    let image = |name: &str| {
        json!({"repository": format!("{}/{name}", args.image_prefix), "tag": tag,
               "pullPolicy": "IfNotPresent"})
    };
    let mut values = json!({
        "crds": {"install": install_crds, "keep": false},
        "webhook": {"image": image("netpol-webhook")},
        "enforcer": {"image": image("netpol-enforcer")},
    });
    if let Some(path) = &args.values {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let extra: Value = serde_yaml_ng::from_str(&text)
            .with_context(|| format!("parsing {}", path.display()))?;
        merge(&mut values, extra);
    }
    Ok(values)
}

/// Deep merge of objects, `over` winning (as Helm merges values files).
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, over) => *base = over,
    }
}

/// Applies a scenario's policies, asks the plugin for every flow's verdict, probes the flows
/// (again, for the ones that differ, up to --probe-attempts rounds) and compares.
fn run_scenario(
    args: &Args,
    kubectl: &Kubectl,
    plugin: &Plugin,
    scratch: &Path,
    scenario: &Scenario,
    addresses: &std::collections::BTreeMap<String, std::net::IpAddr>,
) -> Result<()> {
    println!("      {}: {}", scenario.name, scenario.description.trim());
    if !scenario.policies.is_empty() {
        kubectl.apply_ok(&scenario.policies)?;
    }
    let result = (|| -> Result<()> {
        let flows = scenario.flows(&probe::pod_names());
        let expected = plugin.verdicts(&flows, scratch)?;
        scenario.agrees_with(&expected)?;
        let ip_of = |pod: &str| addresses.get(pod).copied();
        let mut observed: Matrix = Matrix::new();
        let mut pending = flows.clone();
        for round in 0..args.probe_attempts.max(1) {
            if round > 0 {
                std::thread::sleep(Duration::from_secs(2));
            }
            observed.extend(probe::probe_all(
                kubectl,
                &pending,
                &ip_of,
                args.probe_workers,
            ));
            pending = matrix::compare(&expected, &observed)
                .into_iter()
                .map(|m| m.flow)
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
        }
        bail!(
            "{} of {} flows differ from the plugin's verdicts:\n{}",
            pending.len(),
            flows.len(),
            matrix::render(&expected, &observed)
        )
    })();
    if !scenario.policies.is_empty() {
        kubectl.delete(&scenario.policies, true)?;
    }
    result
}

/// What the run created, removed at the end (unless --keep) whatever happened.
#[derive(Default)]
struct Cleanup {
    release: Option<Helm>,
    crds: bool,
    namespaces: bool,
    webhook_config: bool,
    check_objects: bool,
}

impl Cleanup {
    fn run(&self, args: &Args, cluster: &Cluster, kubectl: &Kubectl, scenarios: &[Scenario]) {
        let mut problems = Vec::new();
        let mut note = |what: &str, result: Result<()>| {
            if let Err(err) = result {
                problems.push(format!("{what}: {err:#}"));
            }
        };
        if self.check_objects {
            note(
                "policies",
                kubectl.delete(&checks::objects(), false).map(drop),
            );
            for scenario in scenarios.iter().filter(|s| !s.policies.is_empty()) {
                note(
                    "policies",
                    kubectl.delete(&scenario.policies, false).map(drop),
                );
            }
        }
        if self.webhook_config {
            note(
                "webhook registration",
                cluster.delete_webhook_config(local_webhook::CONFIG_NAME),
            );
        }
        if self.namespaces {
            note(
                "namespaces",
                kubectl.delete(&probe::namespaces(), false).map(drop),
            );
        }
        if let Some(helm) = &self.release {
            note(
                "release",
                helm.uninstall(&args.release, &args.namespace, args.timeout),
            );
        }
        if self.crds {
            note(
                "CRDs",
                kubectl_delete_dir(kubectl, &repo_root().join("crds")),
            );
        }
        for problem in problems {
            eprintln!("netpol-e2e: clean-up: {problem}");
        }
    }
}

fn kubectl_delete_dir(kubectl: &Kubectl, dir: &Path) -> Result<()> {
    let mut objects = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        objects.extend(crate::validate::documents(&text)?);
    }
    kubectl.delete(&objects, false).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_cases() {
        let cases = [
            (
                "nested keys merge",
                json!({"a": {"b": 1, "c": 2}}),
                json!({"a": {"c": 3}}),
                json!({"a": {"b": 1, "c": 3}}),
            ),
            (
                "a scalar replaces an object",
                json!({"a": {"b": 1}}),
                json!({"a": 5}),
                json!({"a": 5}),
            ),
            (
                "lists are replaced, not appended",
                json!({"a": [1, 2]}),
                json!({"a": [3]}),
                json!({"a": [3]}),
            ),
            (
                "new keys are added",
                json!({}),
                json!({"x": {"y": true}}),
                json!({"x": {"y": true}}),
            ),
        ];
        for (what, mut base, over, want) in cases {
            merge(&mut base, over);
            assert_eq!(base, want, "{what}");
        }
    }

    #[test]
    fn suite_values_name_both_images() {
        let args = Args::parse_from([
            "netpol-e2e",
            "--image-prefix",
            "kind.local/netpol",
            "--image-tag",
            "dev",
        ]);
        let values = chart_values(&args, true).unwrap();
        assert_eq!(
            values["webhook"]["image"]["repository"],
            "kind.local/netpol/netpol-webhook"
        );
        assert_eq!(values["enforcer"]["image"]["tag"], "dev");
        assert_eq!(values["crds"]["install"], true);
    }
}
