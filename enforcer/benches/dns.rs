//! DNS learning figures: `cargo bench -p netpol-enforcer --bench dns`. Prints, asserts nothing.
//! - decision time of a packet whose egress rests on a learned answer (`domainNames` rule,
//!   decided again with the cache) against one a CIDR rule accepts (the verdict cache answers);
//! - memory of the answer cache per 10,000 entries (resident memory growth while 200,000
//!   entries are learned, 100 per pod);
//! - time to read and learn one response in the process (`Learner::hear`);
//! - as root: a pod's DNS round trip to the cluster DNS pod on the other node with no
//!   enforcer, then with both nodes' enforcers learning (the response held until learned),
//!   timed in the pod; the difference is what each answer costs.

#[allow(dead_code)]
#[path = "../tests/netns/agent.rs"]
mod agent;
#[path = "../tests/netns/enforcer.rs"]
mod enforcer;
#[path = "../tests/netns/tools.rs"]
mod tools;
#[path = "../tests/netns/topology.rs"]
mod topology;

fn probe_binary() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_netpol-netns-probe").into()
}

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use netpol_enforcer::decide::Snapshot;
use netpol_enforcer::dns::cache::{DnsCache, Limits};
use netpol_enforcer::dns::learn::Learner;
use netpol_enforcer::dns::response::Learned;
use netpol_enforcer::packet::{Packet, Transport};
use netpol_engine::dns::NameChain;
use netpol_engine::{State, read_str};

const CLUSTER: &str = include_str!("../tests/dns_learning/cluster.yaml");
const WEB: &str = "10.251.1.2";

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!("{what}: p50 {:.2?}, p99 {:.2?}", at(0.5), at(0.99));
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn snapshot() -> Snapshot {
    let loaded = read_str("cluster.yaml", CLUSTER, "default");
    // A CIDR rule beside the names, for the comparison.
    let cidr = CLUSTER.replace(
        "  - name: deny-rest",
        "  - name: partner-net\n    action: Accept\n    to: [{networks: [198.18.0.0/15]}]\n  - name: deny-rest",
    );
    let loaded = if cidr == CLUSTER {
        loaded
    } else {
        read_str("cluster.yaml", &cidr, "default")
    };
    let (snapshot, errors) = Snapshot::build(&State::from_loaded(&loaded), "n1");
    assert!(errors.is_empty(), "{errors:?}");
    snapshot
}

fn learned(name: &str, address: IpAddr) -> Learned {
    Learned {
        chain: NameChain::new(name, &[]),
        address,
        ttl: 300,
    }
}

fn decisions() {
    let snapshot = snapshot();
    let web: IpAddr = WEB.parse().unwrap();
    let cache = DnsCache::new(Limits {
        per_node: 1_000_000,
        ..Limits::default()
    });
    let now = Instant::now();
    let addresses: Vec<IpAddr> = (0..100)
        .map(|i| format!("203.0.113.{}", i + 1).parse().unwrap())
        .collect();
    // web's 100 answers among 10,000 of 100 pods.
    for pod in 0..100u32 {
        let client: IpAddr = if pod == 0 {
            web
        } else {
            format!("10.252.{}.{}", pod / 250, pod % 250 + 1)
                .parse()
                .unwrap()
        };
        let answers: Vec<Learned> = addresses
            .iter()
            .enumerate()
            .map(|(i, a)| learned(&format!("host{i}.api.example.com"), *a))
            .collect();
        cache.learn(client, &answers, now);
    }
    let packet = |dst: IpAddr| Packet {
        src: web,
        dst,
        transport: Transport::Tcp,
        dst_port: Some(8080),
    };
    let by_name: Vec<Packet> = (0..200_000).map(|i| packet(addresses[i % 100])).collect();
    let by_cidr: Vec<Packet> = (0..200_000)
        .map(|i| packet(format!("198.18.0.{}", i % 100 + 1).parse().unwrap()))
        .collect();
    for (what, packets) in [("CIDR rule", &by_cidr), ("domainNames rule", &by_name)] {
        let view = cache.at(Instant::now());
        assert!(
            snapshot.decide_with_dns(&packets[0], &view).allowed,
            "{what}"
        );
        let times = packets
            .iter()
            .map(|p| {
                let started = Instant::now();
                black_box(snapshot.decide_with_dns(p, &view));
                started.elapsed()
            })
            .collect();
        report(
            &format!("packet decision, {what} (10,000 entries cached)"),
            times,
        );
    }
}

fn memory() {
    let cache = DnsCache::new(Limits {
        per_node: 1_000_000,
        ..Limits::default()
    });
    let before = rss_kib();
    let now = Instant::now();
    for pod in 0..2_000u32 {
        let client: IpAddr = format!(
            "10.{}.{}.{}",
            100 + pod / 62_500,
            pod / 250 % 250,
            pod % 250 + 1
        )
        .parse()
        .unwrap();
        let answers: Vec<Learned> = (0..100u32)
            .map(|i| {
                let address = format!("198.{}.{}.{}", 18 + i / 64, i % 64, pod % 250 + 1);
                learned(
                    &format!("svc{i}.pod{pod}.example.com"),
                    address.parse().unwrap(),
                )
            })
            .collect();
        cache.learn(client, &answers, now);
    }
    let grown = rss_kib().saturating_sub(before);
    println!(
        "answer cache: {} entries, resident memory grew {grown} KiB: {:.2} MiB per 10,000 entries",
        cache.len(),
        grown as f64 / 1024.0 / (cache.len() as f64 / 10_000.0)
    );
}

fn hear() {
    let snapshot = snapshot();
    let learner = Learner::new(Limits::default(), Vec::new());
    // coredns (10.251.2.2:53) to web, one A record, as the responder writes it.
    let message: Vec<u8> = [
        &[0x12, 0x34, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0][..],
        b"\x03api\x07example\x03com\x00\x00\x01\x00\x01",
        b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xcb\x00\x71\x05",
    ]
    .concat();
    let mut packet = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 251, 2, 2, 10, 251, 1, 2, 0, 53, 0x9c, 0x40,
    ];
    packet.extend(((8 + message.len()) as u16).to_be_bytes());
    packet.extend([0, 0]);
    packet.extend(&message);
    let times = (0..200_000)
        .map(|_| {
            let started = Instant::now();
            black_box(learner.hear(&snapshot, &packet, started));
            started.elapsed()
        })
        .collect();
    report("read and learn one response (in process)", times);
}

fn round_trips() -> anyhow::Result<()> {
    let pods = [
        ("shop/web".to_owned(), 0, WEB.parse()?),
        ("kube-system/coredns".to_owned(), 1, "10.251.2.2".parse()?),
    ];
    let topology = topology::build(&topology::prefix("b"), 2, &pods)?;
    let state = std::env::temp_dir().join(topology::prefix("dns-bench-"));
    std::fs::create_dir_all(&state)?;
    std::fs::write(state.join("cluster.yaml"), CLUSTER)?;
    let mut web = agent::Agent::serving(&topology.pods[0].netns.name, &[])?;
    let _resolver = agent::Agent::with_args(
        &topology.pods[1].netns.name,
        &[],
        &["--dns", "api.example.com/A/203.0.113.5/300"],
    )?;
    let mut measure = |what: &str| -> anyhow::Result<()> {
        let answer = web.ask(
            "resolve-times",
            "10.251.2.2 api.example.com 3000",
            Duration::from_secs(120),
        )?;
        let [p50, p99, n] = answer.split(' ').collect::<Vec<_>>()[..] else {
            anyhow::bail!("{answer}")
        };
        println!("DNS round trip, {what}: p50 {p50} µs, p99 {p99} µs ({n} answers)");
        Ok(())
    };
    for round in 1..=2 {
        println!("round {round}");
        measure("no enforcer")?;
        let mut enforcers = Vec::new();
        for (i, node) in topology.nodes.iter().enumerate() {
            let name = ["n1", "n2"][i];
            let log = state.join(format!("{name}.log"));
            enforcers.push(enforcer::Enforcer::start(
                &node.name,
                name,
                &state,
                log,
                &[],
            )?);
        }
        measure("enforcers learning each answer")?;
        drop(enforcers);
    }
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

fn main() {
    decisions();
    memory();
    hear();
    if tools::ready("DNS round-trip bench")
        && let Err(error) = round_trips()
    {
        println!("DNS round trips not measured: {error:#}");
    }
}
