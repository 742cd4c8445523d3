//! End to end, as root: two nodes and six pods in network namespaces, one enforcer per node
//! reading `--state-dir`, and real TCP, UDP (and SCTP when the kernel has it) connections and
//! ICMP echoes (ping) between every pair of pods, checked against the engine's verdicts for each policy set of
//! `netns/policies/` in turn, switched while running. Also checks that verdicts follow a change
//! within 1 s and that an established connection is cut when it becomes denied.

#[path = "netns/agent.rs"]
mod agent;
#[path = "netns/enforcer.rs"]
mod enforcer;
#[path = "netns/tools.rs"]
mod tools;
#[path = "netns/topology.rs"]
mod topology;

/// The probe agent's binary (see `netns/agent.rs`).
fn probe_binary() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_netpol-netns-probe").into()
}

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use netpol_engine::{Endpoint, Engine, Flow, Protocol, State, read_str};

use agent::{Agent, PORTS};
use enforcer::Enforcer;

const CLUSTER: &str = include_str!("netns/cluster.yaml");
const NODES: [&str; 2] = ["n1", "n2"];
const PROBE_TIMEOUT_MS: u64 = 250;
const FOLLOW_WITHIN: Duration = Duration::from_secs(1);

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn policy_sets() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/netns/policies");
    let mut sets: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("policies directory")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("policy file"))
        })
        .collect();
    sets.sort();
    sets
}

fn engine_for(policies: &str) -> anyhow::Result<Engine> {
    let mut loaded = read_str("cluster.yaml", CLUSTER, "default");
    loaded.extend(read_str("policies.yaml", policies, "default"));
    ensure!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let build = Engine::build(&State::from_loaded(&loaded));
    ensure!(build.errors.is_empty(), "{:?}", build.errors);
    Ok(build.engine)
}

/// Writes the policies so that the enforcer never reads half a file.
fn publish(state_dir: &Path, policies: &str) -> anyhow::Result<()> {
    let tmp = state_dir.join(".policies.tmp");
    std::fs::write(&tmp, policies)?;
    std::fs::rename(&tmp, state_dir.join("policies.yaml"))?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Probe {
    src: usize,
    dst: usize,
    protocol: Protocol,
    port: u16,
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
        Protocol::Icmp => "icmp",
    }
}

struct Cluster {
    /// Agents are dropped before the topology they run in.
    agents: Vec<Agent>,
    ips: Vec<Ipv4Addr>,
    keys: Vec<String>,
    probes: Vec<Probe>,
}

impl Cluster {
    fn expected(&self, engine: &Engine) -> Vec<bool> {
        self.probes
            .iter()
            .map(|p| {
                let flow = Flow {
                    src: Endpoint::Address(IpAddr::V4(self.ips[p.src])),
                    dst: Endpoint::Address(IpAddr::V4(self.ips[p.dst])),
                    protocol: p.protocol,
                    port: p.port,
                };
                engine.decide(&flow).allowed
            })
            .collect()
    }

    /// Runs every probe once, all sources in parallel; true where the echo came back.
    fn observe(&mut self, timeout_ms: u64) -> anyhow::Result<Vec<bool>> {
        let mut pending = Vec::new();
        for probe in &self.probes {
            let rest = format!(
                "{} {} {} {timeout_ms}",
                protocol_name(probe.protocol),
                self.ips[probe.dst],
                probe.port
            );
            pending.push((probe.src, self.agents[probe.src].send("probe", &rest)?));
        }
        pending
            .into_iter()
            .map(|(src, id)| {
                let answer = self.agents[src]
                    .wait(id, Duration::from_secs(5))
                    .context("probe answer")?;
                Ok(answer == "ok")
            })
            .collect()
    }

    fn describe(&self, index: usize, expected: bool) -> String {
        let p = self.probes[index];
        format!(
            "{} -> {} {}/{}: expected {}",
            self.keys[p.src],
            self.keys[p.dst],
            protocol_name(p.protocol),
            p.port,
            if expected { "allow" } else { "deny" }
        )
    }

    /// Probes until what is observed matches `expected` or `deadline` passes; returns when the
    /// matching round started, measured from `since`.
    fn converge(
        &mut self,
        expected: &[bool],
        since: Instant,
        deadline: Duration,
    ) -> anyhow::Result<Duration> {
        loop {
            let round = since.elapsed();
            let observed = self.observe(PROBE_TIMEOUT_MS)?;
            let wrong: Vec<String> = (0..expected.len())
                .filter(|i| observed[*i] != expected[*i])
                .map(|i| self.describe(i, expected[i]))
                .collect();
            if wrong.is_empty() {
                return Ok(round);
            }
            eprintln!(
                "  at {round:?}, {} disagree, e.g. {}",
                wrong.len(),
                wrong[0]
            );
            if since.elapsed() > deadline {
                bail!(
                    "{} probes disagree with the engine:\n  {}",
                    wrong.len(),
                    wrong.join("\n  ")
                );
            }
        }
    }
}

/// A TCP connection held open across a policy change.
struct Held {
    src: usize,
    dst: usize,
    port: u16,
    id: String,
}

fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let sets = policy_sets();
    let engine = engine_for("")?;
    let cluster = &engine.cluster;
    let mut pods = Vec::new();
    for pod in &cluster.pods {
        let node = NODES
            .iter()
            .position(|n| Some(*n) == pod.node.as_deref())
            .context("pod node")?;
        let Some(IpAddr::V4(ip)) = pod.ips.first() else {
            bail!("pod {} needs an IPv4 address", pod.key())
        };
        pods.push((pod.key(), node, *ip));
    }
    let topology = topology::build(&topology::prefix("e"), NODES.len(), &pods)?;
    let state_dir = TempDir(std::env::temp_dir().join(topology::prefix("e2e-state-")));
    std::fs::create_dir_all(&state_dir.0)?;
    std::fs::write(state_dir.0.join("cluster.yaml"), CLUSTER)?;
    publish(&state_dir.0, &sets[0].1)?;

    let mut agents = Vec::new();
    for pod in &topology.pods {
        agents.push(Agent::start(&pod.netns.name)?);
    }
    let sctp = agents.iter().all(|a| a.sctp);
    if !sctp {
        eprintln!("!! SCTP: the kernel has no SCTP sockets here; probing TCP and UDP only");
    }
    let mut protocols = vec![Protocol::Tcp, Protocol::Udp];
    if sctp {
        protocols.push(Protocol::Sctp);
    }
    let mut probes = Vec::new();
    for src in 0..pods.len() {
        for dst in (0..pods.len()).filter(|d| *d != src) {
            for protocol in &protocols {
                for port in PORTS {
                    probes.push(Probe {
                        src,
                        dst,
                        protocol: *protocol,
                        port,
                    });
                }
            }
            // ICMP has no port: one echo per pair.
            probes.push(Probe {
                src,
                dst,
                protocol: Protocol::Icmp,
                port: 0,
            });
        }
    }
    let mut net = Cluster {
        agents,
        ips: pods.iter().map(|p| p.2).collect(),
        keys: pods.iter().map(|p| p.0.clone()).collect(),
        probes,
    };

    let mut enforcers = Vec::new();
    for (i, node) in topology.nodes.iter().enumerate() {
        let log = state_dir.0.join(format!("{}.log", NODES[i]));
        enforcers.push(Enforcer::start(
            &node.name,
            NODES[i],
            &state_dir.0,
            log,
            &[],
        )?);
    }
    let result = run_sets(&mut net, &sets, &state_dir.0, &enforcers);
    if result.is_err() {
        for (i, enforcer) in enforcers.iter().enumerate() {
            let log = enforcer.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- enforcer {} log (last lines) ---", NODES[i]);
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
    result?;
    for (i, node) in topology.nodes.iter().enumerate() {
        let ipset = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &node.name, "ipset"];
            all.extend(args);
            topology::sh("ip", &all)
        };
        // The probes repeat tuples: the kernel must have recorded the accepted ones.
        let listing = ipset(&["list", "netpol-enforcer-v4"])?;
        let entries = listing
            .lines()
            .find_map(|l| l.strip_prefix("Number of entries: "))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .context("ipset entry count")?;
        ensure!(
            entries > 0,
            "{}: the decision cache is empty:\n{listing}",
            NODES[i]
        );
        eprintln!(
            "{}: {entries} accepted tuples in the decision cache",
            NODES[i]
        );
        let get = |path: &str| {
            topology::sh(
                "ip",
                &[
                    "netns",
                    "exec",
                    &node.name,
                    env!("CARGO_BIN_EXE_netpol-netns-probe"),
                    "get",
                    "127.0.0.1:9401",
                    path,
                ],
            )
        };
        ensure!(get("/healthz")? == "ok\n", "{}: not healthy", NODES[i]);
        let metrics = get("/metrics")?;
        for needle in [
            "netpol_enforcer_verdicts_total{action=\"drop\",protocol=\"tcp\"}",
            "netpol_enforcer_verdicts_total{action=\"accept\",protocol=\"udp\"}",
            "protocol=\"icmp\"}",
            "netpol_enforcer_decision_seconds_count",
            "netpol_enforcer_queue_dropped{queue=\"0\",reason=\"kernel\"}",
            "netpol_enforcer_rule_syncs_total{result=\"ok\"}",
            "netpol_enforcer_connections_cut_total",
            "netpol_enforcer_decision_cache_flushes_total{result=\"ok\"}",
        ] {
            ensure!(
                metrics.contains(needle),
                "{}: no {needle} in\n{metrics}",
                NODES[i]
            );
        }
    }
    let mut deny_lines = 0;
    for (i, enforcer) in enforcers.iter_mut().enumerate() {
        enforcer.stop()?;
        let log = enforcer.log_text();
        // The deny log names the direction and what denied (written after the verdict).
        deny_lines += log
            .lines()
            .filter(|l| {
                l.contains("\"reason\":\"egress denied")
                    || l.contains("\"reason\":\"ingress denied")
            })
            .count();
        ensure!(
            log.contains("rules removed"),
            "enforcer {} did not remove its rules: {log}",
            NODES[i]
        );
        ensure!(
            log.contains("\"backend\":\"iptables\"") || log.contains("\"backend\":\"nftables\""),
            "no backend line: {log}"
        );
        ensure!(
            !log.contains("decision cache unavailable"),
            "enforcer {} ran without its decision cache: {log}",
            NODES[i]
        );
        let node = &topology.nodes[i].name;
        let sets = topology::sh("ip", &["netns", "exec", node, "ipset", "list", "-n"])?;
        ensure!(
            !sets.contains("netpol"),
            "enforcer {} left its ipsets: {sets}",
            NODES[i]
        );
    }
    ensure!(deny_lines > 0, "no deny log line names what denied");
    eprintln!(
        "end-to-end total {:?}, {deny_lines} deny log lines",
        started.elapsed()
    );
    drop(net);
    drop(topology);
    Ok(())
}

/// The audited policies of a set let traffic through (checked by `converge`); the enforcers
/// must report would-deny or would-allow for exactly the probes they would decide otherwise.
fn check_audit_events(
    net: &Cluster,
    audit: &Engine,
    expected: &[bool],
    enforcers: &[Enforcer],
) -> anyhow::Result<()> {
    let key = |p: &Probe| {
        (
            IpAddr::V4(net.ips[p.src]),
            IpAddr::V4(net.ips[p.dst]),
            p.protocol,
            p.port,
        )
    };
    let would: BTreeSet<_> = net
        .expected(audit)
        .iter()
        .zip(expected)
        .zip(&net.probes)
        .filter(|((with, without), _)| with != without)
        .map(|(_, p)| key(p))
        .collect();
    ensure!(
        !would.is_empty(),
        "the audited policy of the set changes no probe"
    );
    // The writer thread follows the verdicts within milliseconds.
    std::thread::sleep(Duration::from_millis(300));
    let mut reported = BTreeSet::new();
    for enforcer in enforcers {
        for line in std::fs::read_to_string(&enforcer.events)?.lines() {
            let event: netpol_engine::events::FlowEvent = serde_json::from_str(line)?;
            if event.audit.is_some() {
                reported.insert((event.from_ip, event.to_ip, event.protocol, event.port));
            }
        }
    }
    let probed: BTreeSet<_> = net.probes.iter().map(key).collect();
    let reported: BTreeSet<_> = reported.intersection(&probed).copied().collect();
    ensure!(
        reported == would,
        "audit events differ from the engine: missing {:?}, unexpected {:?}",
        would.difference(&reported).collect::<Vec<_>>(),
        reported.difference(&would).collect::<Vec<_>>()
    );
    eprintln!(
        "audit: {} probes reported as would-deny or would-allow, as the engine says",
        would.len()
    );
    Ok(())
}

fn run_sets(
    net: &mut Cluster,
    sets: &[(String, String)],
    state_dir: &Path,
    enforcers: &[Enforcer],
) -> anyhow::Result<()> {
    let mut previous: Option<Vec<bool>> = None;
    for (name, policies) in sets {
        let engine = engine_for(policies)?;
        let expected = net.expected(&engine);
        let denied = expected.iter().filter(|a| !**a).count();
        if name != "00-none" {
            ensure!(
                denied > 0 && denied < expected.len(),
                "{name}: a set must allow some and deny some"
            );
        }
        // Hold a TCP connection that this set denies, and one it keeps allowing.
        let mut held = Vec::new();
        if let Some(before) = &previous {
            let tcp = |i: &usize| net.probes[*i].protocol == Protocol::Tcp;
            let cut = (0..expected.len()).find(|i| tcp(i) && before[*i] && !expected[*i]);
            let kept = (0..expected.len()).find(|i| tcp(i) && before[*i] && expected[*i]);
            for (index, must_pass) in [(cut, false), (kept, true)] {
                let Some(index) = index else { continue };
                let p = net.probes[index];
                let rest = format!("{} {} 1000", net.ips[p.dst], p.port);
                let agent = &mut net.agents[p.src];
                let id = agent.send("open", &rest)?.to_string();
                let opened = agent.wait(id.parse()?, Duration::from_secs(3));
                ensure!(
                    opened.as_deref() == Some("ok"),
                    "{name}: cannot open {rest}"
                );
                held.push((
                    Held {
                        src: p.src,
                        dst: p.dst,
                        port: p.port,
                        id,
                    },
                    must_pass,
                ));
            }
        }
        let since = Instant::now();
        publish(state_dir, policies)?;
        for (h, must_pass) in &held {
            let what = format!("{} -> {} tcp/{}", net.keys[h.src], net.keys[h.dst], h.port);
            let agent = &mut net.agents[h.src];
            let passes = |agent: &mut Agent| -> anyhow::Result<bool> {
                Ok(agent.ask("send", &format!("{} 300", h.id), Duration::from_secs(3))? == "ok")
            };
            if *must_pass {
                ensure!(
                    passes(agent)?,
                    "{name}: established {what} was cut but stays allowed"
                );
            } else {
                let deadline = since + FOLLOW_WITHIN + Duration::from_millis(500);
                while passes(agent)? {
                    ensure!(
                        Instant::now() < deadline,
                        "{name}: established {what} not cut"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
                eprintln!("{name}: established {what} cut after {:?}", since.elapsed());
            }
        }
        let followed = net.converge(&expected, since, Duration::from_secs(5))?;
        ensure!(
            previous.is_none() || followed <= FOLLOW_WITHIN,
            "{name}: verdicts followed only after {followed:?}"
        );
        if let Some(audit) = engine.with_audited_enforced() {
            check_audit_events(net, &audit, &expected, enforcers)?;
        }
        let icmp_denied = (0..expected.len())
            .filter(|i| net.probes[*i].protocol == Protocol::Icmp && !expected[*i])
            .count();
        eprintln!(
            "{name}: {} probes match the engine ({denied} denied, {icmp_denied} of them ICMP), followed the change within {followed:?}",
            expected.len()
        );
        previous = Some(expected);
    }
    Ok(())
}

#[test]
fn enforces_engine_verdicts_between_namespaced_pods() {
    if !tools::ready("enforcer end-to-end test") {
        return;
    }
    run().expect("end-to-end");
}
