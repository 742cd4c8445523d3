//! The backends' decision cache on the real kernel, as root, in network namespaces.
//!
//! nftables: this kernel (like CI's) lacks the nftables `queue` expression, so the backend's
//! table is loaded with each queue statement replaced by what an accept verdict does to the
//! packet: set the cache's mark. Everything else is the backend's own: the lookup that lets
//! known tuples through, the chain that records the tuples of marked packets and clears the
//! mark, `forget_decisions` and `remove`. (The iptables backend's cache runs for real, queue
//! and all, in tests/netns.rs.)
//!
//! iptables: the ipsets an enforcer that failed closed left behind, still referred to by its
//! rules, take the new cache's parameters; `remove` takes every rule, chain and set away; and
//! the enforcer itself, failing closed, empties the cache at start and at exit.

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

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Context, ensure};
use netpol_enforcer::kernel::iptables::{self, Iptables};
use netpol_enforcer::kernel::nftables::{self, Nftables};
use netpol_enforcer::kernel::{DecisionCache, Kernel, Queued, Queues, RuleSet};
use nix::sched::{CloneFlags, setns};

use agent::Agent;

const MARK: u32 = 0x2000;

/// Runs `nft args` (in the calling thread's network namespace), returning stdout.
fn nft(args: &[&str], input: Option<&str>) -> anyhow::Result<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("nft")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(text) = input {
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(text.as_bytes())?;
    }
    drop(child.stdin.take());
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The elements line of a set listing (empty when the set is).
fn elements(set: &str) -> anyhow::Result<String> {
    let listing = nft(&["list", "set", "inet", nftables::TABLE, set], None)?;
    Ok(listing
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("elements"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// Counter `name`'s packet count in table `inet observe`.
fn packets(name: &str) -> anyhow::Result<u64> {
    let listing = nft(&["list", "counter", "inet", "observe", name], None)?;
    listing
        .split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no packet count in {listing}"))
}

/// Moves this thread (and the tools it runs) into network namespace `name`.
fn enter(name: &str) -> anyhow::Result<()> {
    let netns = std::fs::File::open(format!("/run/netns/{name}"))?;
    setns(netns, CloneFlags::CLONE_NEWNET).context("entering the node's namespace")
}

/// Runs `program args` in this thread's namespace, returning stdout.
fn sh(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = std::process::Command::new(program).args(args).output()?;
    ensure!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn rules(timeout_secs: u32) -> RuleSet {
    RuleSet {
        queues: Queues { first: 0, count: 1 },
        fail_open: true,
        queued: Queued {
            egress: [Ipv4Addr::new(10, 251, 1, 2).into()].into(),
            ..Default::default()
        },
        decision_cache: Some(DecisionCache {
            mark: MARK,
            timeout_secs,
        }),
        dns_queue: None,
    }
}

fn run(topology: &topology::Topology, client: &mut Agent) -> anyhow::Result<()> {
    enter(&topology.nodes[0].name)?;

    let (web, db) = (Ipv4Addr::new(10, 251, 1, 2), Ipv4Addr::new(10, 251, 2, 2));
    let rendered = nftables::render(&rules(60));
    let accept_verdict = format!("meta mark set meta mark | {MARK:#x}");
    let table = rendered.replace("queue num 0 bypass", &accept_verdict);
    ensure!(table != rendered, "no queue statement in {rendered}");
    nft(&["-f", "-"], Some(&table))?;
    // Counts new packets carrying the mark between the table's two chains (those the queue's
    // stand-in marked) and after both (the mark must be gone).
    let observe = |name: &str, priority: i32| {
        format!(
            " counter {name} {{}}\n chain {name} {{\n  type filter hook forward priority {priority}; policy accept;\n  ct state new meta mark & {MARK:#x} != 0 counter name {name}\n }}\n"
        )
    };
    nft(
        &["-f", "-"],
        Some(&format!(
            "table inet observe {{\n{}{}}}\n",
            observe("queued", 5),
            observe("marked", 20)
        )),
    )?;

    let probe = |client: &mut Agent, protocol: &str, port: u16| -> anyhow::Result<()> {
        let answer = client.ask(
            "probe",
            &format!("{protocol} {db} {port} 1000"),
            Duration::from_secs(5),
        )?;
        ensure!(answer == "ok", "{protocol}/{port}: {answer}");
        Ok(())
    };
    let mut first = vec![("tcp", 8080), ("udp", 9090)];
    if client.sctp {
        first.push(("sctp", 8080));
    }
    for (protocol, port) in &first {
        probe(client, protocol, *port)?;
    }
    let recorded = elements("decided4")?;
    for (protocol, port) in &first {
        let tuple = format!("{web} . {protocol} . {port} . {db}");
        ensure!(recorded.contains(&tuple), "{tuple} not in {recorded}");
    }
    let queued = first.len() as u64;
    ensure!(packets("queued")? == queued, "one queued packet per probe");
    ensure!(packets("marked")? == 0, "the cache's mark left the table");

    // A known tuple skips the queue, whatever its source port.
    probe(client, "tcp", 8080)?;
    probe(client, "udp", 9090)?;
    ensure!(
        packets("queued")? == queued,
        "known tuples were queued again"
    );

    // A change of queued pods is a transaction of element changes: the cache stays.
    let before = rules(60).queued;
    let mut after = before.clone();
    after.ingress.insert(db.into());
    let changes = nftables::render_changes(&before.changes_to(&after)).context("a change")?;
    nft(&["-f", "-"], Some(&changes))?;
    ensure!(
        elements("ingress4")?.contains(&db.to_string()),
        "{}",
        elements("ingress4")?
    );
    ensure!(!elements("decided4")?.is_empty(), "the cache was emptied");
    let back = nftables::render_changes(&after.changes_to(&before)).context("a change")?;
    nft(&["-f", "-"], Some(&back))?;
    ensure!(
        elements("ingress4")?.is_empty(),
        "{}",
        elements("ingress4")?
    );

    let backend = Nftables::default();
    backend.forget_decisions()?;
    ensure!(
        elements("decided4")?.is_empty(),
        "not emptied: {}",
        elements("decided4")?
    );
    probe(client, "tcp", 8080)?;
    ensure!(
        packets("queued")? == queued + 1,
        "a forgotten tuple is queued again"
    );
    ensure!(
        elements("decided4")?.contains(&format!("{web} . tcp . 8080 . {db}")),
        "recorded again after the flush"
    );

    backend.remove()?;
    nft(&["delete", "table", "inet", "observe"], None)?;
    let left = nft(&["list", "tables"], None)?;
    ensure!(!left.contains(nftables::TABLE), "table left: {left}");
    Ok(())
}

#[test]
fn nftables_decision_cache_records_accepted_tuples_and_forgets_them() {
    if !tools::ready("nftables decision cache test") {
        return;
    }
    let topology = topology::build(
        &topology::prefix("c"),
        2,
        &[
            ("shop/web".into(), 0, Ipv4Addr::new(10, 251, 1, 2)),
            ("shop/db".into(), 1, Ipv4Addr::new(10, 251, 2, 2)),
        ],
    )
    .expect("topology");
    let mut client = Agent::start(&topology.pods[0].netns.name).expect("client agent");
    let _server = Agent::start(&topology.pods[1].netns.name).expect("server agent");
    // setns changes the calling thread only: a thread of its own keeps the test's untouched.
    std::thread::scope(|scope| {
        scope
            .spawn(|| run(&topology, &mut client))
            .join()
            .expect("test thread")
    })
    .expect("decision cache");
}

/// Creates the IPv4 cache set as an earlier run with a `timeout_secs` cache did.
fn create_set(timeout_secs: u32) -> anyhow::Result<()> {
    let timeout = timeout_secs.to_string();
    let set = iptables::Family::V4.cache_set();
    let args = [
        "create",
        set,
        "hash:ip,port,ip",
        "family",
        "inet",
        "timeout",
        &timeout,
    ];
    sh("ipset", &args).map(drop)
}

fn iptables_run(node: &str) -> anyhow::Result<()> {
    enter(node)?;
    let set = iptables::Family::V4.cache_set();
    // What a fail-closed enforcer with a 30 s cache leaves behind: its set and the rules using it.
    create_set(30)?;
    let backend = Iptables::default();
    backend.install(&rules(30))?;
    backend.install(&rules(90))?;
    let header = sh("ipset", &["list", set, "-t"])?;
    ensure!(header.contains("timeout 90"), "{header}");
    let filter = sh("iptables", &["-S", iptables::CHAIN])?;
    ensure!(
        filter.contains(&format!("--match-set {set} src,dst,dst -j RETURN")),
        "{filter}"
    );
    let security = sh("iptables", &["-t", "security", "-S"])?;
    ensure!(
        security.contains(&format!(
            "-A FORWARD -m conntrack --ctstate NEW -j {}",
            iptables::CACHE_CHAIN
        )),
        "{security}"
    );
    ensure!(security.contains("--add-set"), "{security}");
    backend.forget_decisions()?;

    // The queued pods are set members; a change of them adds and deletes just those.
    let [egress, ingress] = iptables::Family::V4.queued_sets();
    let members = |set: &str| -> anyhow::Result<Vec<String>> {
        let listing = sh("ipset", &["list", set])?;
        let mut members: Vec<String> = listing
            .lines()
            .skip_while(|l| !l.starts_with("Members:"))
            .skip(1)
            .map(str::to_owned)
            .collect();
        members.sort();
        Ok(members)
    };
    ensure!(members(egress)? == ["10.251.1.2"], "{:?}", members(egress)?);
    ensure!(members(ingress)?.is_empty(), "{:?}", members(ingress)?);
    let chain_before = sh("iptables", &["-S", iptables::CHAIN])?;
    let mut changed = rules(90);
    changed.queued.egress = [Ipv4Addr::new(10, 251, 1, 3).into()].into();
    changed.queued.ingress = [Ipv4Addr::new(10, 251, 1, 2).into()].into();
    backend.install(&changed)?;
    ensure!(members(egress)? == ["10.251.1.3"], "{:?}", members(egress)?);
    ensure!(
        members(ingress)? == ["10.251.1.2"],
        "{:?}",
        members(ingress)?
    );
    ensure!(
        sh("iptables", &["-S", iptables::CHAIN])? == chain_before,
        "the chain was rewritten for a change of pods"
    );
    // Another tool flushes the chain and FORWARD: the next change of pods puts them back.
    sh("iptables", &["-w", "-F", iptables::CHAIN])?;
    sh("iptables", &["-w", "-F", "FORWARD"])?;
    changed
        .queued
        .egress
        .insert(Ipv4Addr::new(10, 251, 1, 4).into());
    backend.install(&changed)?;
    ensure!(
        sh("iptables", &["-S", iptables::CHAIN])? == chain_before,
        "the chain was not put back"
    );
    let forward = sh("iptables", &["-S", "FORWARD"])?;
    ensure!(forward.contains(iptables::CHAIN), "no jump: {forward}");
    changed
        .queued
        .egress
        .remove(&Ipv4Addr::new(10, 251, 1, 4).into());
    backend.install(&changed)?;
    // A fresh backend (a restart) fills the sets whole, dropping what it does not want.
    sh("ipset", &["add", egress, "10.251.9.9"])?;
    Iptables::default().install(&changed)?;
    ensure!(members(egress)? == ["10.251.1.3"], "{:?}", members(egress)?);

    // Turned off (by flag, or after a failed flush): nothing of the cache stays behind.
    backend.install(&RuleSet {
        decision_cache: None,
        ..rules(90)
    })?;
    let security = sh("iptables", &["-t", "security", "-S"])?;
    ensure!(!security.contains(iptables::CACHE_CHAIN), "{security}");
    let sets = sh("ipset", &["list", "-n"])?;
    ensure!(!sets.contains(set), "cache set left: {sets}");
    let filter = sh("iptables", &["-S", iptables::CHAIN])?;
    ensure!(
        !filter.contains(&format!("--match-set {set} ")) && filter.contains("NFQUEUE"),
        "{filter}"
    );

    backend.remove()?;
    let sets = sh("ipset", &["list", "-n"])?;
    ensure!(!sets.contains("netpol"), "sets left: {sets}");
    let left = sh("iptables-save", &[])?;
    ensure!(!left.contains("NETPOL"), "rules left: {left}");

    // A node without IPv6 may have only the IPv4 set: emptying the cache still works.
    create_set(60)?;
    Iptables::default().forget_decisions()?;
    sh("ipset", &["destroy", set])?;
    Ok(())
}

#[test]
fn iptables_cache_sets_take_new_parameters_and_go_on_remove() {
    if !tools::ready("iptables decision cache test") {
        return;
    }
    let node = topology::Netns::new(format!("{}n", topology::prefix("i"))).expect("namespace");
    std::thread::scope(|scope| scope.spawn(|| iptables_run(&node.name)).join())
        .expect("test thread")
        .expect("iptables decision cache");
}

/// The entry count of the family's cache set.
fn cached() -> anyhow::Result<usize> {
    let listing = sh("ipset", &["list", iptables::Family::V4.cache_set(), "-t"])?;
    listing
        .lines()
        .find_map(|l| l.strip_prefix("Number of entries: "))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no entry count in {listing}"))
}

fn fail_closed_run(node: &str, state_dir: &std::path::Path) -> anyhow::Result<()> {
    enter(node)?;
    let set = iptables::Family::V4.cache_set();
    let stale = "10.251.1.2,tcp:8080,10.251.2.2";
    // What a fail-closed run leaves: its set, holding a verdict of an older cluster state.
    create_set(60)?;
    sh("ipset", &["add", set, stale])?;
    let flags = ["--fail-mode", "closed", "--backend", "iptables"];
    let log = state_dir.join("enforcer.log");
    let mut enforcer = enforcer::Enforcer::start(node, "n1", state_dir, log, &flags)?;
    ensure!(
        cached()? == 0,
        "a tuple of an older state survived the start"
    );
    sh("ipset", &["add", set, stale])?;
    enforcer.stop()?;
    let log = enforcer.log_text();
    ensure!(log.contains("fail-closed: rules left in place"), "{log}");
    ensure!(cached()? == 0, "a tuple survived the fail-closed exit");
    let filter = sh("iptables", &["-S", iptables::CHAIN])?;
    ensure!(
        filter.contains("--match-set"),
        "rules left in place: {filter}"
    );
    Iptables::default().remove()?;
    Ok(())
}

#[test]
fn a_fail_closed_enforcer_empties_the_cache_at_start_and_exit() {
    if !tools::ready("fail-closed decision cache test") {
        return;
    }
    let node = topology::Netns::new(format!("{}n", topology::prefix("f"))).expect("namespace");
    let state_dir = std::env::temp_dir().join(topology::prefix("cache-state-"));
    std::fs::create_dir_all(&state_dir).expect("state directory");
    std::fs::write(
        state_dir.join("cluster.yaml"),
        include_str!("netns/cluster.yaml"),
    )
    .expect("cluster");
    let result = std::thread::scope(|scope| {
        scope
            .spawn(|| fail_closed_run(&node.name, &state_dir))
            .join()
    });
    let _ = std::fs::remove_dir_all(&state_dir);
    result.expect("test thread").expect("fail-closed cache");
}
