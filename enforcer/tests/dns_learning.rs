//! DNS learning end to end, as root: two nodes in network namespaces with an enforcer each, a
//! client pod (web) under a ClusterNetworkPolicy whose egress allows names only, the cluster DNS
//! pod running a small authoritative responder (UDP and TCP 53) on the other node, a pod that
//! forges answers, and servers outside the cluster at the names' addresses. web resolves, then
//! connects at once: allowed to the learned address only, for the name's TTL; CNAME chains,
//! deeper names under the wildcard, TCP answers; a forged answer teaches nothing.

// Shared with the other namespace tests, which use more of it.
#[allow(dead_code)]
#[path = "netns/agent.rs"]
mod agent;
#[path = "netns/enforcer.rs"]
mod enforcer;
#[path = "netns/tools.rs"]
mod tools;
#[path = "netns/topology.rs"]
mod topology;

fn probe_binary() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_netpol-netns-probe").into()
}

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, ensure};

use agent::Agent;
use enforcer::Enforcer;

const CLUSTER: &str = include_str!("dns_learning/cluster.yaml");
const NODES: [&str; 2] = ["n1", "n2"];
const RESOLVER: &str = "10.251.2.2";
const WEB: &str = "10.251.1.2";
const PORT: u16 = 8080;
/// The addresses of the servers outside the cluster (one namespace on n2), the first its own.
const SERVERS: [&str; 8] = [
    "203.0.113.5",
    "203.0.113.6",
    "203.0.113.7",
    "203.0.113.8",
    "203.0.113.9",
    "203.0.113.10",
    "198.51.100.7",
    "192.0.2.9",
];
const ZONE: &str = "api.example.com/A/203.0.113.5/300,\
    short.example.com/A/203.0.113.7/2,\
    a.b.example.com/A/203.0.113.8/300,\
    example.com/A/203.0.113.9/300,\
    tcp.example.com/A/203.0.113.10/300,\
    www.partner.io/CNAME/edge.cdn.net/300,\
    edge.cdn.net/A/198.51.100.7/300";

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Pods {
    web: Agent,
    spoofer: Agent,
    _resolver: Agent,
    _servers: Agent,
}

impl Pods {
    fn connects(&mut self, address: &str) -> anyhow::Result<bool> {
        Ok(self.web.ask(
            "probe",
            &format!("tcp {address} {PORT} 1000"),
            Duration::from_secs(5),
        )? == "ok")
    }

    fn resolve(&mut self, name: &str, transport: &str) -> anyhow::Result<String> {
        self.web.ask(
            "resolve",
            &format!("{RESOLVER} {name} {transport} 3000"),
            Duration::from_secs(5),
        )
    }
}

fn metrics(node: &str) -> anyhow::Result<String> {
    topology::sh(
        "ip",
        &[
            "netns",
            "exec",
            node,
            env!("CARGO_BIN_EXE_netpol-netns-probe"),
            "get",
            "127.0.0.1:9401",
            "/metrics",
        ],
    )
}

fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Waits up to 2 s for a verdict event line of `events` holding every one of `parts`.
fn event_with(events: &std::path::Path, parts: &[&str]) -> anyhow::Result<String> {
    let begun = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(events).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return Ok(line.to_owned());
        }
        ensure!(
            begun.elapsed() < Duration::from_secs(2),
            "no event with {parts:?} in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scenario(pods: &mut Pods, n1: &str, events: &std::path::Path) -> anyhow::Result<()> {
    ensure!(!pods.connects(SERVERS[0])?, "denied before any answer");

    // Resolve, then connect at once: the answer is learned before web receives it.
    ensure!(pods.resolve("api.example.com", "udp")? == "203.0.113.5");
    ensure!(pods.connects("203.0.113.5")?, "the learned address");
    // The verdict event names the answer the connection was allowed through.
    event_with(
        events,
        &[
            r#""toIp":"203.0.113.5""#,
            r#""verdict":"allowed""#,
            r#""viaDns":"domainNames *.example.com via answer api.example.com → 203.0.113.5"#,
        ],
    )?;
    ensure!(
        !pods.connects("203.0.113.6")?,
        "another address of the same network"
    );

    ensure!(pods.resolve("a.b.example.com", "udp")? == "203.0.113.8");
    ensure!(
        pods.connects("203.0.113.8")?,
        "*.example.com matches a.b.example.com (one or more labels)"
    );
    ensure!(pods.resolve("example.com", "udp")? == "203.0.113.9");
    ensure!(
        !pods.connects("203.0.113.9")?,
        "*.example.com does not match example.com"
    );
    ensure!(pods.resolve("www.partner.io", "udp")? == "198.51.100.7");
    ensure!(
        pods.connects("198.51.100.7")?,
        "the queried name of a CNAME chain"
    );
    ensure!(pods.resolve("tcp.example.com", "tcp")? == "203.0.113.10");
    ensure!(pods.connects("203.0.113.10")?, "an answer over TCP");

    // A forged answer for a name the rule matches, from a pod that is no resolver.
    let forged = pods.spoofer.ask(
        "forge",
        &format!("{WEB} api.example.com 192.0.2.9"),
        Duration::from_secs(5),
    )?;
    ensure!(forged == "ok", "forging: {forged}");
    std::thread::sleep(Duration::from_millis(200));
    ensure!(
        !pods.connects("192.0.2.9")?,
        "a forged answer teaches nothing"
    );
    let text = metrics(n1)?;
    ensure!(
        counter(
            &text,
            "netpol_enforcer_dns_responses_total{result=\"untrusted\"}"
        ) >= 1,
        "the forged answer is counted:\n{text}"
    );
    ensure!(
        counter(
            &text,
            "netpol_enforcer_dns_responses_total{result=\"learned\"}"
        ) >= 5,
        "{text}"
    );
    ensure!(counter(&text, "netpol_enforcer_dns_entries") >= 5, "{text}");

    // TTL 2 s: a connection made while it lives survives its end; new ones are denied.
    ensure!(pods.resolve("short.example.com", "udp")? == "203.0.113.7");
    let conn = pods.web.send("open", &format!("203.0.113.7 {PORT} 1000"))?;
    let held = pods
        .web
        .wait(conn, Duration::from_secs(5))
        .context("opening")?;
    ensure!(held == "ok", "connecting while the answer lives: {held}");
    std::thread::sleep(Duration::from_millis(3_000));
    ensure!(
        !pods.connects("203.0.113.7")?,
        "a new connection after the TTL"
    );
    let echo = pods
        .web
        .ask("send", &format!("{conn} 1000"), Duration::from_secs(5))?;
    ensure!(echo == "ok", "the established connection survives: {echo}");
    Ok(())
}

fn run() -> anyhow::Result<()> {
    let pods = [
        ("shop/web".to_owned(), 0, WEB.parse()?),
        ("ops/spoofer".to_owned(), 0, "10.251.1.3".parse()?),
        ("kube-system/coredns".to_owned(), 1, RESOLVER.parse()?),
        ("servers".to_owned(), 1, SERVERS[0].parse()?),
    ];
    let topology = topology::build(&topology::prefix("d"), NODES.len(), &pods)?;
    let (n1, n2) = (&topology.nodes[0], &topology.nodes[1]);
    let servers = &topology.pods[3].netns;
    for address in &SERVERS[1..] {
        servers.ip(&["addr", "add", &format!("{address}/32"), "dev", "eth0"])?;
        n2.ip(&["route", "add", &format!("{address}/32"), "dev", "pod3"])?;
    }
    for net in ["203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24"] {
        n1.ip(&["route", "add", net, "via", "10.250.0.2", "dev", "to2"])?;
    }
    let state_dir = TempDir(std::env::temp_dir().join(topology::prefix("dns-state-")));
    std::fs::create_dir_all(&state_dir.0)?;
    std::fs::write(state_dir.0.join("cluster.yaml"), CLUSTER)?;

    let mut agents = Pods {
        web: Agent::serving(&topology.pods[0].netns.name, &[])?,
        spoofer: Agent::serving(&topology.pods[1].netns.name, &[])?,
        _resolver: Agent::with_args(&topology.pods[2].netns.name, &[], &["--dns", ZONE])?,
        _servers: Agent::serving(&servers.name, &[PORT])?,
    };
    let mut enforcers = Vec::new();
    for (i, node) in topology.nodes.iter().enumerate() {
        let log = state_dir.0.join(format!("{}.log", NODES[i]));
        enforcers.push(Enforcer::start(
            &node.name,
            NODES[i],
            &state_dir.0,
            log,
            &[
                "--dns-min-ttl",
                "1",
                "--dns-max-ttl",
                "60",
                "--flow-sample-allowed",
                "1",
            ],
        )?);
    }
    let result = scenario(&mut agents, &n1.name, &enforcers[0].events);
    if result.is_err() {
        for (i, enforcer) in enforcers.iter().enumerate() {
            let log = enforcer.log_text();
            eprintln!("--- enforcer {} log (last lines) ---", NODES[i]);
            for line in log.lines().rev().take(30).collect::<Vec<_>>().iter().rev() {
                eprintln!("{line}");
            }
        }
    }
    result?;
    for enforcer in &mut enforcers {
        enforcer.stop()?;
    }
    let rules = topology::sh("ip", &["netns", "exec", &n1.name, "iptables-save"])?;
    ensure!(!rules.contains("NETPOL-ENFORCER"), "rules left: {rules}");
    let sets = topology::sh("ip", &["netns", "exec", &n1.name, "ipset", "list", "-n"])?;
    ensure!(!sets.contains("netpol-enforcer"), "sets left: {sets}");
    Ok(())
}

#[test]
fn pods_reach_the_addresses_they_resolved_while_the_answer_lives() {
    if !tools::ready("dns_learning") {
        return;
    }
    run().context("DNS learning end to end").unwrap();
}
