//! Decision time of an egress rule matched by `domainNames` through a DNS answer, against the
//! same rule matched by a CIDR: `cargo bench -p netpol-engine --bench domains`. One client pod
//! under a ClusterNetworkPolicy whose Accept rule is either 25 names (wildcards and exact
//! names) or one CIDR, before a Deny of the rest; the pod learned 100 answers. Uncached
//! `decide_direction_with_dns` (egress) for flows to the learned addresses; prints figures,
//! asserts nothing.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use netpol_engine::dns::{DnsAnswers, Resolution};
use netpol_engine::model::Direction;
use netpol_engine::{Endpoint, Engine, Flow, Protocol, State, read_str};

const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {nodeName: n1, containers: [{name: c, image: i}]}
status: {podIPs: [{ip: 10.0.1.2}]}
"#;

fn policy(peer: &str) -> String {
    format!(
        r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: egress}}
spec:
  tier: Admin
  priority: 10
  subject: {{namespaces: {{matchLabels: {{team: shop}}}}}}
  egress:
  - {{name: allow, action: Accept, to: [{peer}], protocols: [{{tcp: {{destinationPort: {{number: 443}}}}}}]}}
  - {{name: deny-rest, action: Deny, to: [{{networks: [0.0.0.0/0]}}]}}
"#
    )
}

fn engine(peer: &str) -> Engine {
    let mut loaded = read_str("cluster.yaml", CLUSTER, "default");
    loaded.extend(read_str("policy.yaml", &policy(peer), "default"));
    let build = Engine::build(&State::from_loaded(&loaded));
    assert!(build.errors.is_empty(), "{:?}", build.errors);
    build.engine
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{what}: p50 {:.2?}, p99 {:.2?}, p99.9 {:.2?}",
        at(0.5),
        at(0.99),
        at(0.999)
    );
}

fn main() {
    // 24 names that match nothing asked here, then the wildcard that does: the worst case.
    let mut names: Vec<String> = (0..24)
        .map(|i| format!("\"svc{i}.other{i}.net\""))
        .collect();
    names.push("\"*.example.com\"".into());
    let by_name = engine(&format!("{{domainNames: [{}]}}", names.join(", ")));
    let by_cidr = engine("{networks: [203.0.113.0/24]}");
    let client: IpAddr = "10.0.1.2".parse().unwrap();
    let mut answers = DnsAnswers::default();
    let addresses: Vec<IpAddr> = (0..100)
        .map(|i| format!("203.0.113.{}", i + 1).parse().unwrap())
        .collect();
    for (i, address) in addresses.iter().enumerate() {
        let resolution: Resolution = format!("host{i}.api.example.com={address}")
            .parse()
            .unwrap();
        answers.add(Some(client), resolution, Some(300));
    }
    let flows: Vec<Flow> = (0..200_000)
        .map(|i| Flow {
            src: Endpoint::Address(client),
            dst: Endpoint::Address(addresses[i % addresses.len()]),
            protocol: Protocol::Tcp,
            port: 443,
        })
        .collect();
    for (what, engine) in [("CIDR rule", &by_cidr), ("domainNames rule", &by_name)] {
        let decision = engine.decide_direction_with_dns(Direction::Egress, &flows[0], &answers);
        assert!(decision.allowed, "{what} allows");
        let times = flows
            .iter()
            .map(|flow| {
                let started = Instant::now();
                black_box(engine.decide_direction_with_dns(Direction::Egress, flow, &answers));
                started.elapsed()
            })
            .collect();
        report(
            &format!("{what}, uncached egress decision (200,000 flows)"),
            times,
        );
    }
}
