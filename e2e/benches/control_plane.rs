//! Figures against the real control plane (as root, with `../shared/k8s` beside the repo):
//!
//! - policy change → enforced: from `kubectl apply` (or `delete`) returning to the first
//!   connection decided by the new policy, between two pods in network namespaces, with the
//!   enforcers in API mode on a cluster of `PODS` pods (the rest are objects only);
//! - the webhook through the API server: server-side dry-run creates from `CLIENTS` concurrent
//!   clients for `LOAD` seconds: latency p50/p99 and the sustained rate.
//!
//! `cargo build --release --bins && NETPOL_BIN_DIR=target/release cargo bench -p netpol-e2e --bench
//! control_plane` (the programs measured are those of NETPOL_BIN_DIR, else the debug build).
//! Arguments: `[changes N] [pods N] [load-seconds N]`.

#[allow(dead_code)]
#[path = "../../enforcer/tests/netns/agent.rs"]
mod agent;
#[allow(dead_code)]
#[path = "../tests/control_plane/cluster_box.rs"]
mod cluster_box;
#[allow(dead_code)]
#[path = "../tests/control_plane/kubelet.rs"]
mod kubelet;
#[allow(dead_code)]
#[path = "../tests/control_plane/observe.rs"]
mod observe;
#[allow(dead_code)]
#[path = "../tests/control_plane/suite.rs"]
mod suite;
#[allow(dead_code)]
#[path = "../../enforcer/tests/netns/tools.rs"]
mod tools;
#[allow(dead_code)]
#[path = "../../enforcer/tests/netns/topology.rs"]
mod topology;
#[allow(dead_code)]
#[path = "../tests/control_plane/webhook.rs"]
mod webhook;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use netpol_e2e::control_plane::{self, Availability, ControlPlane};
use netpol_e2e::helm::Wait;
use netpol_e2e::target_dir;
use serde_json::json;

use agent::Agent;
use suite::Suite;

fn probe_binary() -> std::path::PathBuf {
    netpol_e2e::binary("netpol-netns-probe")
}

struct Settings {
    changes: usize,
    pods: usize,
    load: Duration,
}

const CLIENTS: usize = 8;

fn main() -> Result<()> {
    let mut settings = Settings {
        changes: 60,
        pods: 1000,
        load: Duration::from_secs(15),
    };
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    for pair in args.chunks(2) {
        let value = |i: usize| pair.get(i).and_then(|v| v.parse::<u64>().ok());
        match (pair[0].as_str(), value(1)) {
            ("changes", Some(n)) => settings.changes = n as usize,
            ("pods", Some(n)) => settings.pods = n as usize,
            ("load-seconds", Some(n)) => settings.load = Duration::from_secs(n),
            _ => bail!("arguments: [changes N] [pods N] [load-seconds N]"),
        }
    }
    let script = match control_plane::availability() {
        Availability::Present(script) => script,
        Availability::Absent(why) => {
            println!("control-plane bench not run: {why}");
            return Ok(());
        }
    };
    if !tools::ready("control-plane bench") {
        return Ok(());
    }
    let plane = ControlPlane::start(&script)?;
    let suite = Suite::new(plane)?;
    suite.ensure_crds()?;
    let helm = suite.install_chart()?;
    let scratch = target_dir().join("control-plane-bench");
    std::fs::create_dir_all(&scratch)?;
    let result = run(&suite, &settings, &scratch);
    helm.uninstall_with(suite::RELEASE, suite::NAMESPACE, Wait::Ready(120))?;
    result
}

fn run(suite: &Suite, settings: &Settings, scratch: &std::path::Path) -> Result<()> {
    let kubectl = &suite.kubectl;
    kubectl.apply_ok(&netpol_e2e::probe::namespaces())?;
    let pods = [
        ("e2e-x/a".to_owned(), 0, Ipv4Addr::new(10, 251, 1, 10)),
        ("e2e-y/a".to_owned(), 1, Ipv4Addr::new(10, 251, 2, 10)),
    ];
    let topology = topology::build(&topology::prefix("bench"), 2, &pods)?;
    for (index, node) in cluster_box::NODES.iter().enumerate() {
        suite.create_node(node, &topology.node_ips[index].to_string())?;
    }
    for (key, node, ip) in &pods {
        suite.running_pod(key, cluster_box::NODES[*node], &ip.to_string())?;
    }
    let begun = Instant::now();
    filler_pods(suite, settings.pods.saturating_sub(pods.len()))?;
    println!(
        "cluster: {} pods ({} objects made in {:.1} s), 2 nodes",
        settings.pods,
        settings.pods - pods.len(),
        begun.elapsed().as_secs_f64()
    );

    let launch = webhook::Launch::of_chart(suite, scratch)?;
    let _webhook = launch.start()?;
    let _enforcers = cluster_box::start_enforcers(suite, &topology, scratch)?;
    let mut client = Agent::serving(&topology.pods[1].netns.name, &[80])?;
    let _server = Agent::serving(&topology.pods[0].netns.name, &[80])?;

    let deny = cluster_box::deny_y_to_x();
    let mut latencies = Vec::new();
    for change in 0..settings.changes {
        let denying = change % 2 == 0;
        let out = if denying {
            kubectl.apply(std::slice::from_ref(&deny), false)?
        } else {
            kubectl.delete(std::slice::from_ref(&deny), false)?
        };
        anyhow::ensure!(out.success, "change {change}: {}", out.stderr.trim());
        let returned = Instant::now();
        loop {
            let started = Instant::now();
            let answer = client.ask("probe", "tcp 10.251.1.10 80 50", Duration::from_secs(2))?;
            if (answer == "ok") != denying {
                latencies.push(started.saturating_duration_since(returned));
                break;
            }
            if returned.elapsed() > Duration::from_secs(10) {
                bail!("change {change} not enforced after 10 s");
            }
        }
    }
    report("policy change → enforced", &mut latencies);

    webhook_load(suite, settings.load)
}

/// Pods that exist as objects only, spread over the namespaces and nodes, Running with an IP.
fn filler_pods(suite: &Suite, count: usize) -> Result<()> {
    let cluster = &suite.cluster;
    let namespaces = netpol_e2e::probe::NAMESPACES;
    for namespace in namespaces {
        suite.wait_service_account(namespace, "default")?;
    }
    for i in 0..count {
        let namespace = namespaces[i % namespaces.len()];
        let name = format!("filler-{i}");
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"pod": format!("f{}", i % 20)}},
            "spec": {"nodeName": cluster_box::NODES[i % 2], "automountServiceAccountToken": false,
                     "containers": [{"name": "c", "image": netpol_e2e::probe::DEFAULT_IMAGE}]},
        }))?;
        cluster.block(api.create(&PostParams::default(), &pod))?;
        let ip = format!("10.252.{}.{}", i / 250, i % 250 + 1);
        let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}});
        cluster.block(api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)))?;
    }
    Ok(())
}

/// Server-side dry-run creates of a ClusterNetworkPolicy (each goes through the webhook) from
/// `CLIENTS` threads for `seconds`.
fn webhook_load(suite: &Suite, length: Duration) -> Result<()> {
    let begun = Instant::now();
    let mut all: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|worker| {
                scope.spawn(move || -> Result<Vec<Duration>> {
                    let cluster = suite.plane.cluster()?;
                    let mut latencies = Vec::new();
                    let mut n = 0;
                    while begun.elapsed() < length {
                        let body = json!({
                            "apiVersion": "policy.networking.k8s.io/v1alpha2",
                            "kind": "ClusterNetworkPolicy",
                            "metadata": {"name": format!("load-{worker}-{n}")},
                            "spec": {"tier": "Admin", "priority": 500 + (n % 400) as u32,
                                     "subject": {"namespaces": {"matchLabels": {"e2e": "x"}}},
                                     "ingress": [{"name": "deny-y", "action": "Deny",
                                                  "from": [{"namespaces": {"matchLabels": {"e2e": "y"}}}]}]},
                        });
                        let request = http::Request::post(
                            "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies?dryRun=All",
                        )
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(serde_json::to_vec(&body)?)?;
                        let started = Instant::now();
                        cluster
                            .block(cluster.client.request::<serde_json::Value>(request))
                            .context("a dry-run create through the webhook")?;
                        latencies.push(started.elapsed());
                        n += 1;
                    }
                    Ok(latencies)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| anyhow::anyhow!("a client panicked"))?)
            .collect::<Result<Vec<_>>>()
            .map(|v| v.into_iter().flatten().collect())
    })?;
    let elapsed = begun.elapsed();
    println!(
        "webhook through the API server: {} admissions from {CLIENTS} clients in {:.1} s = {:.0}/s",
        all.len(),
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64()
    );
    report("admission (API server + webhook)", &mut all);
    Ok(())
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    if samples.is_empty() {
        println!("{what}: no samples");
        return;
    }
    println!(
        "{what}: n={} p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
}
