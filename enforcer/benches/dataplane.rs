//! Dataplane figures (printed, nothing asserted):
//! 1. userspace decision time, packet bytes to verdict (`Shared::judge`, what each queue thread
//!    runs between recv and verdict), with the 150,000-pod synthetic cluster loaded;
//! 2. resident memory of that state: of the `netpol-enforcer` process itself (`--dry-run`)
//!    reading it from a state directory, and of the in-process engine;
//! 3. as root, in the end-to-end test's topology: new TCP connections per second between two
//!    pods on different nodes, without and then with one enforcer per node.
//!
//! `cargo bench -p netpol-enforcer --bench dataplane` (targets: p50 < 5 µs, p99 < 20 µs,
//! < 256 MiB, connection rate ratio ≥ 0.7).

#[path = "../tests/netns/agent.rs"]
mod agent;
#[path = "../tests/netns/enforcer.rs"]
mod enforcer;
#[path = "../tests/common/fake_api.rs"]
mod fake_api;
#[path = "../tests/netns/tools.rs"]
mod tools;
#[path = "../tests/netns/topology.rs"]
mod topology;

/// The probe agent's binary (see `netns/agent.rs`).
fn probe_binary() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_netpol-netns-probe").into()
}

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpol_enforcer::decide::Snapshot;
use netpol_enforcer::events::{EventSettings, Events};
use netpol_enforcer::metrics::Metrics;
use netpol_enforcer::verdict::Shared;
use netpol_engine::State;
use netpol_engine::load::{Located, Object};
use netpol_engine::model::ENFORCEMENT_ANNOTATION;
use netpol_engine::synthetic::{Rng, Shape, generate};

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// An IPv4 TCP SYN-sized header pair: enough for the parser.
fn tcp_packet(src: IpAddr, dst: IpAddr, port: u16) -> Vec<u8> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (src, dst) else {
        return Vec::new();
    };
    let mut p = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
    p.extend(src.octets());
    p.extend(dst.octets());
    p.extend([0x9c, 0x40]);
    p.extend(port.to_be_bytes());
    p.extend([0; 16]);
    p
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// "p50 …, p99 …, max …" of sorted times.
fn spread(sorted: &[Duration]) -> String {
    format!(
        "p50 {:?}, p99 {:?}, max {:?}",
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        sorted[sorted.len() - 1]
    )
}

fn decision_time() {
    let before = rss_kib("VmRSS:");
    let started = Instant::now();
    let objects = generate(&Shape::large());
    if let Err(error) = enforcer_memory(&objects) {
        println!("enforcer memory: failed: {error:#}");
    }
    let node = "node-00042";
    // The same cluster with one policy in ten audited, for the audit passes below.
    let audited_state = audited(&objects, 10);
    let mut state = State::new();
    for located in objects {
        state.insert_new(located);
    }
    let with_objects = rss_kib("VmRSS:");
    let (snapshot, errors) = Snapshot::build(&state, node);
    let with_both = rss_kib("VmRSS:");
    drop(state);
    let after = rss_kib("VmRSS:");
    println!(
        "state: {} pods, {} identities, {} local pods queued on {node}, built in {:?} ({} compile errors)",
        snapshot.engine.cluster.pods.len(),
        snapshot.engine.identities().len(),
        snapshot.queued().addresses().len(),
        started.elapsed(),
        errors.len()
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "memory: resident {:.0} MiB once built and the raw objects dropped (the allocator keeps their pages); \
         raw objects alone {:.0} MiB; building the engine on top of them added {:.0} MiB, an upper bound \
         for the engine (process before: {:.0} MiB; target < 256 MiB)",
        mib(after),
        mib(with_objects.saturating_sub(before)),
        mib(with_both.saturating_sub(with_objects)),
        mib(before),
    );

    let pods = &snapshot.engine.cluster.pods;
    let ip = |i: usize| pods[i].ips.first().copied();
    let local: Vec<usize> = (0..pods.len())
        .filter(|i| pods[*i].node.as_deref() == Some(node) && ip(*i).is_some())
        .collect();
    let all: Vec<usize> = (0..pods.len()).filter(|i| ip(*i).is_some()).collect();
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let ports = [80, 443, 5432, 8080, 9090, 53];
    let packets: Vec<Vec<u8>> = (0..200_000)
        .map(|i| {
            let (a, b) = (local[rng.below(local.len())], all[rng.below(all.len())]);
            let (src, dst) = if i % 2 == 0 { (a, b) } else { (b, a) };
            tcp_packet(
                ip(src).unwrap(),
                ip(dst).unwrap(),
                ports[rng.below(ports.len())],
            )
        })
        .collect();
    let timed = |shared: &Shared| -> (Vec<Duration>, usize) {
        let mut times = Vec::with_capacity(packets.len());
        let mut dropped = 0;
        for bytes in &packets {
            let start = Instant::now();
            let accept = shared.judge(bytes, start);
            times.push(start.elapsed());
            dropped += usize::from(!accept);
        }
        times.sort();
        (times, dropped)
    };
    {
        // Audit mode: every packet is decided twice, with and without the audited policies.
        let (audit_snapshot, _) = Snapshot::build(&audited_state, node);
        drop(audited_state);
        let audit_shared = Shared::new(audit_snapshot, Arc::new(Metrics::default()), true);
        for pass in ["cold", "warm"] {
            let (times, dropped) = timed(&audit_shared);
            println!(
                "decision time, one policy in ten audited ({pass} caches) over {} packets ({dropped} dropped): {} (target: within 2x of the passes without)",
                times.len(),
                spread(&times)
            );
        }
    }
    let metrics = Arc::new(Metrics::default());
    let mut shared = Shared::new(snapshot, metrics.clone(), true);
    let mut third_pass = Duration::ZERO;
    for pass in [
        "first (verdict cache cold)",
        "second (verdict cache warm)",
        "third (verdict events on: every denial, one allowed in 100)",
    ] {
        if pass.starts_with("third") {
            let settings = EventSettings {
                node: node.to_owned(),
                denied_per_second: 1_000_000,
                sample_allowed: 100,
                ring: 10_000,
                log: false,
            };
            shared.events = Some(Events::start(settings, metrics.clone()).expect("events"));
        }
        let begun = Instant::now();
        let (times, dropped) = timed(&shared);
        third_pass = begun.elapsed();
        println!(
            "decision time, {pass} pass over {} packets between local and random pods ({dropped} dropped): {} (targets p50 < 5 µs, p99 < 20 µs)",
            times.len(),
            spread(&times)
        );
    }
    // Give the writer a moment, then account for every event offered.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let text = metrics.encode();
    let value = |prefix: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let written = value("netpol_enforcer_flow_events_total");
    println!(
        "verdict events in the third pass: {written} written in {:.2} s ({:.0} events/s offered by one queue thread), {} dropped for the writer's backlog, {} over the rate",
        third_pass.as_secs_f64(),
        written as f64 / third_pass.as_secs_f64(),
        value("netpol_enforcer_flow_events_dropped_total{reason=\"backlog\"}"),
        value("netpol_enforcer_flow_events_dropped_total{reason=\"rate-limit\"}"),
    );
}

/// A state of `objects` in which every `every`-th policy (of any kind) carries
/// `netpol.io/enforcement: audit`.
fn audited(objects: &[Located], every: usize) -> State {
    let mut state = State::new();
    let mut policies = 0;
    for located in objects {
        let mut located = located.clone();
        let metadata = match &mut located.object {
            Object::NetworkPolicy(o) => Some(&mut o.metadata),
            Object::AdminNetworkPolicy(o) => Some(&mut o.metadata),
            Object::BaselineAdminNetworkPolicy(o) => Some(&mut o.metadata),
            Object::ClusterNetworkPolicy(o) => Some(&mut o.metadata),
            _ => None,
        };
        if let Some(metadata) = metadata {
            if policies % every == 0 {
                metadata
                    .annotations
                    .get_or_insert_default()
                    .insert(ENFORCEMENT_ANNOTATION.into(), "audit".into());
            }
            policies += 1;
        }
        state.insert_new(located);
    }
    state
}

/// Writes the state as JSON lists of 5,000 objects and has the enforcer binary load it with
/// `--dry-run`; prints the figures it logs (its resident memory once loaded, and its peak).
fn enforcer_memory(objects: &[Located]) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("netpol-bench-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| -> anyhow::Result<()> {
        for (i, chunk) in objects.chunks(5000).enumerate() {
            let items: Vec<serde_json::Value> = chunk
                .iter()
                .map(|l| l.object.to_json())
                .collect::<Result<_, _>>()?;
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            std::fs::write(dir.join(format!("{i:04}.json")), serde_json::to_vec(&list)?)?;
        }
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_netpol-enforcer"));
        command
            .args(["--dry-run", "--node-name", "node-00042", "--state-dir"])
            .arg(&dir);
        let source = format!(
            "state read from {} JSON files",
            objects.len().div_ceil(5000)
        );
        report_dry_run(&mut command, &source, 1)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Serves the state from a fake API server on loopback (lists paged by 500, as the reflectors
/// ask) and has the enforcer binary read it through its reflectors with `--dry-run`; prints
/// the figures it logs once the caches synced and the engine is built.
fn enforcer_api_memory(objects: &[Located]) -> anyhow::Result<()> {
    use netpol_engine::load::ObjectKind;
    let mut by_path: std::collections::BTreeMap<String, (&str, &str, Vec<serde_json::Value>)> =
        std::collections::BTreeMap::new();
    for located in objects {
        let (path, api_version, kind) = match located.object.kind() {
            ObjectKind::Namespace => ("/api/v1/namespaces", "v1", "Namespace"),
            ObjectKind::Node => ("/api/v1/nodes", "v1", "Node"),
            ObjectKind::Pod => ("/api/v1/pods", "v1", "Pod"),
            ObjectKind::NetworkPolicy => (
                "/apis/networking.k8s.io/v1/networkpolicies",
                "networking.k8s.io/v1",
                "NetworkPolicy",
            ),
            ObjectKind::AdminNetworkPolicy => (
                "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies",
                "policy.networking.k8s.io/v1alpha1",
                "AdminNetworkPolicy",
            ),
            ObjectKind::BaselineAdminNetworkPolicy => (
                "/apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies",
                "policy.networking.k8s.io/v1alpha1",
                "BaselineAdminNetworkPolicy",
            ),
            ObjectKind::ClusterNetworkPolicy => (
                "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies",
                "policy.networking.k8s.io/v1alpha2",
                "ClusterNetworkPolicy",
            ),
            ObjectKind::Workload(_) => continue,
        };
        let entry = by_path
            .entry(path.into())
            .or_insert((api_version, kind, Vec::new()));
        entry.2.push(located.object.to_json()?);
    }
    let mut lists = fake_api::Lists::new();
    for (path, (api_version, kind, items)) in by_path {
        lists.insert(path, fake_api::list(api_version, kind, items));
    }
    let resources = |group_version: &str, kinds: &[(&str, &str)]| {
        let resources: Vec<serde_json::Value> = kinds
            .iter()
            .map(|(name, kind)| serde_json::json!({"name": name, "singularName": "", "namespaced": false, "kind": kind, "verbs": ["list", "watch"]}))
            .collect();
        serde_json::json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
    };
    lists.insert(
        "/apis/policy.networking.k8s.io/v1alpha1".into(),
        resources(
            "policy.networking.k8s.io/v1alpha1",
            &[
                ("adminnetworkpolicies", "AdminNetworkPolicy"),
                ("baselineadminnetworkpolicies", "BaselineAdminNetworkPolicy"),
            ],
        ),
    );
    lists.insert(
        "/apis/policy.networking.k8s.io/v1alpha2".into(),
        resources(
            "policy.networking.k8s.io/v1alpha2",
            &[("clusternetworkpolicies", "ClusterNetworkPolicy")],
        ),
    );
    // One pod relabelled on the watch: the caches fold it in at the next rebuild, which shows
    // what a rebuild costs on top of the loaded state.
    let mut changed = objects
        .iter()
        .find(|l| l.object.kind() == ObjectKind::Pod)
        .ok_or_else(|| anyhow::anyhow!("no pod"))?
        .object
        .to_json()?;
    changed["metadata"]["labels"]["bench"] = serde_json::json!("relabelled");
    changed["metadata"]["resourceVersion"] = serde_json::json!("2");
    let mut watches = fake_api::Watches::new();
    watches.insert(
        "/api/v1/pods".into(),
        vec![serde_json::json!({"type": "MODIFIED", "object": changed})],
    );
    let server = fake_api::FakeApiServer::start(lists, watches);
    let kubeconfig =
        std::env::temp_dir().join(format!("netpol-bench-kubeconfig-{}", std::process::id()));
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: \"{}\"}}}}]\n\
             users: [{{name: fake, user: {{}}}}]\ncontexts: [{{name: fake, context: {{cluster: fake, user: fake}}}}]\n\
             current-context: fake\n",
            server.url
        ),
    )?;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_netpol-enforcer"));
    command
        .args(["--dry-run", "--follow", "--node-name", "node-00042"])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST");
    let result = report_dry_run(
        &mut command,
        "state from the Kubernetes API: a fake server on loopback, lists paged by 500",
        2,
    );
    let _ = std::fs::remove_file(&kubeconfig);
    result
}

/// Runs `netpol-enforcer --dry-run` until it has logged `states` states of the cluster (then
/// stops it) and prints the memory figures each "state loaded" line gives: the first once
/// loaded, later ones after rebuilds.
fn report_dry_run(
    command: &mut std::process::Command,
    source: &str,
    states: usize,
) -> anyhow::Result<()> {
    use std::io::BufRead;
    let started = Instant::now();
    let mut child = command.stderr(std::process::Stdio::piped()).spawn()?;
    let pid = child.id();
    // A state that never comes must not hang the bench.
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(120));
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    });
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut seen = 0;
    let mut log = String::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line?;
        if line.contains("state loaded") {
            let fields: serde_json::Value = serde_json::from_str(&line)?;
            let f = &fields["fields"];
            let what = if seen == 0 {
                "once loaded"
            } else {
                "after a rebuild"
            };
            println!(
                "enforcer process (--dry-run, {source}): {what}: resident {} MiB, peak {} MiB (target < 256 MiB); {} pods, {} queued; {:.1?} since start",
                f["resident_mib"],
                f["peak_resident_mib"],
                f["pods"],
                f["queued_pods"],
                started.elapsed()
            );
            seen += 1;
            if seen == states {
                if seen > 1 {
                    // What stays once the old engine is gone and the allocator had time.
                    std::thread::sleep(Duration::from_secs(3));
                    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
                    let rss = status
                        .lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                        .unwrap_or(0);
                    println!(
                        "enforcer process (--dry-run, {source}): 3 s after that rebuild: resident {} MiB",
                        rss / 1024
                    );
                }
                break;
            }
        } else {
            log.push_str(&line);
            log.push('\n');
        }
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    child.wait()?;
    drop(watchdog);
    anyhow::ensure!(seen == states, "{seen} of {states} states logged: {log}");
    Ok(())
}

/// What one wake-up costs on this machine: two threads handing a token back and forth (each
/// hand-off wakes the other). A queued packet costs at least two (the reader's, then the
/// connection's own thread's), which is the floor of the enforcer's added latency.
fn wake_up_round_trip() -> Duration {
    let (to_peer, from_main) = std::sync::mpsc::channel::<u32>();
    let (to_main, from_peer) = std::sync::mpsc::channel::<u32>();
    let peer = std::thread::spawn(move || {
        while let Ok(token) = from_main.recv() {
            if to_main.send(token).is_err() {
                break;
            }
        }
    });
    const ROUNDS: u32 = 20_000;
    let started = Instant::now();
    for token in 0..ROUNDS {
        let _ = to_peer.send(token);
        let _ = from_peer.recv();
    }
    let elapsed = started.elapsed() / ROUNDS;
    drop(to_peer);
    let _ = peer.join();
    elapsed
}

fn connection_rate() -> anyhow::Result<()> {
    const CLUSTER: &str = include_str!("../tests/netns/cluster.yaml");
    const POLICIES: &str = include_str!("../tests/netns/bench-policies.yaml");
    const INGRESS_ONLY: &str = include_str!("../tests/netns/bench-policies-ingress.yaml");
    let (web, db) = (
        std::net::Ipv4Addr::new(10, 251, 1, 2),
        std::net::Ipv4Addr::new(10, 251, 2, 2),
    );
    let topology = topology::build(
        &topology::prefix("b"),
        2,
        &[("shop/web".into(), 0, web), ("shop/db".into(), 1, db)],
    )?;
    let dir = std::env::temp_dir().join(topology::prefix("bench-state-"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("cluster.yaml"), CLUSTER)?;
    std::fs::write(dir.join("policies.yaml"), POLICIES)?;
    let ingress_dir = dir.join("ingress-only");
    std::fs::create_dir_all(&ingress_dir)?;
    std::fs::write(ingress_dir.join("cluster.yaml"), CLUSTER)?;
    std::fs::write(ingress_dir.join("policies.yaml"), INGRESS_ONLY)?;
    let result = (|| -> anyhow::Result<()> {
        let mut client = agent::Agent::start(&topology.pods[0].netns.name)?;
        let server = agent::Agent::start(&topology.pods[1].netns.name)?;
        println!(
            "SCTP sockets in this kernel: {}",
            client.sctp && server.sctp
        );
        let window = Duration::from_millis(1500);
        let rate = |client: &mut agent::Agent, parallel: usize| -> anyhow::Result<f64> {
            let rest = format!("{db} 7070 {} {parallel}", window.as_millis());
            let answer = client.ask("rate", &rest, window + Duration::from_secs(10))?;
            Ok(answer.parse::<f64>()? / window.as_secs_f64())
        };
        rate(&mut client, 1)?; // warm up ARP and caches
        // Conntrack alone (as on any node running kube-proxy): the fair baseline.
        let conntrack_only = |on: bool| -> anyhow::Result<()> {
            for node in &topology.nodes {
                let verb = if on { "-A" } else { "-D" };
                // The enforcer's own jump, to ACCEPT: conntrack's cost and nothing more.
                let rule = netpol_enforcer::kernel::iptables::new_connections_to("ACCEPT");
                let mut args = vec!["netns", "exec", node.name.as_str(), "iptables", verb];
                args.extend(rule);
                topology::sh("ip", &args)?;
            }
            Ok(())
        };
        let start_enforcers =
            |state: &std::path::Path, extra: &[&str]| -> anyhow::Result<Vec<enforcer::Enforcer>> {
                let mut enforcers = Vec::new();
                for (i, node) in ["n1", "n2"].iter().enumerate() {
                    let log = dir.join(format!("{node}.log"));
                    let netns = &topology.nodes[i].name;
                    enforcers.push(enforcer::Enforcer::start(netns, node, state, log, extra)?);
                }
                Ok(enforcers)
            };
        let stop_enforcers = |enforcers: Vec<enforcer::Enforcer>| -> anyhow::Result<()> {
            for mut enforcer in enforcers {
                enforcer.stop()?;
                let denials = enforcer.log_text().matches("\"denied\"").count();
                if denials > 0 {
                    println!(
                        "unexpected denials in {}: {denials}",
                        enforcer.log.display()
                    );
                }
            }
            Ok(())
        };
        println!(
            "wake-up round trip between two threads on this machine: {:.1?} (two wake-ups)",
            wake_up_round_trip()
        );
        const ROUNDS: usize = 5;
        // The enforcer setups measured in each round, after no netfilter and conntrack only.
        const NO_CACHE: &[&str] = &["--decision-cache-seconds", "0"];
        let setups: [(&str, &std::path::Path, &[&str]); 4] = [
            ("queued at both nodes, decision cache (default)", &dir, &[]),
            ("queued at both nodes, no decision cache", &dir, NO_CACHE),
            (
                "ingress-only policy (queued at n2), decision cache",
                &ingress_dir,
                &[],
            ),
            (
                "ingress-only policy, no decision cache",
                &ingress_dir,
                NO_CACHE,
            ),
        ];
        for parallel in [1, 4] {
            // Alternate the setups within each round, so that load from other work on the
            // machine hits each alike; ratios are taken within a round, then the median.
            let mut rates: Vec<Vec<f64>> = vec![Vec::new(); 2 + setups.len()];
            for _ in 0..ROUNDS {
                rates[0].push(rate(&mut client, parallel)?);
                conntrack_only(true)?;
                rates[1].push(rate(&mut client, parallel)?);
                conntrack_only(false)?;
                for (i, (_, state, flags)) in setups.iter().enumerate() {
                    let enforcers = start_enforcers(state, flags)?;
                    rates[2 + i].push(rate(&mut client, parallel)?);
                    stop_enforcers(enforcers)?;
                }
            }
            let median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let ratio = |with: usize, to: usize| {
                median((0..ROUNDS).map(|r| rates[with][r] / rates[to][r]).collect())
            };
            println!(
                "new TCP connections/s web (n1) -> db (n2), {parallel} connector(s), medians of {ROUNDS} rounds: \
                 no netfilter {:.0}, conntrack only {:.0}",
                median(rates[0].clone()),
                median(rates[1].clone())
            );
            for (i, (name, _, _)) in setups.iter().enumerate() {
                println!(
                    "  {name}: {:.0}/s, ratio {:.2} to no netfilter, {:.2} to conntrack only (target >= 0.7)",
                    median(rates[2 + i].clone()),
                    ratio(2 + i, 0),
                    ratio(2 + i, 1)
                );
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    drop(topology);
    result
}

fn main() {
    // `cargo bench` passes `--bench`; other arguments pick parts: `decision`, `api-memory`,
    // `connections`.
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    if wanted("decision") {
        decision_time();
    }
    if wanted("api-memory") {
        let objects = generate(&Shape::large());
        if let Err(error) = enforcer_api_memory(&objects) {
            println!("enforcer memory (Kubernetes API): failed: {error:#}");
        }
    }
    if wanted("connections")
        && tools::ready("connection-rate bench")
        && let Err(error) = connection_rate()
    {
        println!("connection-rate bench failed: {error:#}");
    }
}
