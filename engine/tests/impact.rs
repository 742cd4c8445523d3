//! Impact preview against brute force: every pod pair and port of interest, evaluated in both
//! states, must give exactly the groups and counts the preview reports.

use std::collections::BTreeMap;
use std::sync::Arc;

use netpol_engine::impact::{ImpactOptions, impact};
use netpol_engine::{Endpoint, Engine, Flow, Protocol, State, read_str};

const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: bank, labels: {team: b}}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: web-1, namespace: shop, labels: {app: web, pod-template-hash: 5d9f}, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d9f, uid: u1, controller: true}]}, spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}, status: {podIPs: [{ip: 10.0.0.1}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: web-2, namespace: shop, labels: {app: web}}, spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}, status: {podIPs: [{ip: 10.0.0.2}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: db-1, namespace: shop, labels: {app: db}}, spec: {containers: [{name: c, image: i}]}, status: {podIPs: [{ip: 10.0.0.3}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: api-1, namespace: bank, labels: {app: api}}, spec: {containers: [{name: c, image: i}]}, status: {podIPs: [{ip: 10.0.1.1}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: api-2, namespace: bank, labels: {app: api}}, spec: {containers: [{name: c, image: i}]}, status: {podIPs: [{ip: 10.0.1.2}]}}
"#;

fn engine(extra: &str) -> Engine {
    let loaded = read_str("test.yaml", &format!("{CLUSTER}\n---\n{extra}"), "default");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let build = Engine::build(&State::from_loaded(&loaded));
    assert!(build.errors.is_empty(), "{:?}", build.errors);
    build.engine
}

/// Every ordered pair of distinct pods, on the given ports: (from, to, proto, port) -> allowed.
fn brute_force(
    engine: &Engine,
    ports: &[(Protocol, u16)],
) -> BTreeMap<(String, String, Protocol, u16), bool> {
    let pods = engine.cluster.pods.len() as u32;
    let mut out = BTreeMap::new();
    for src in 0..pods {
        for dst in (0..pods).filter(|d| *d != src) {
            for (protocol, port) in ports {
                let flow = Flow {
                    src: Endpoint::Pod(src),
                    dst: Endpoint::Pod(dst),
                    protocol: *protocol,
                    port: *port,
                };
                let key = (
                    engine.cluster.pod(src).key(),
                    engine.cluster.pod(dst).key(),
                    *protocol,
                    *port,
                );
                out.insert(key, engine.decide(&flow).allowed);
            }
        }
    }
    out
}

fn changed_pairs(before: &Engine, after: &Engine, ports: &[(Protocol, u16)]) -> (u64, u64) {
    let (b, a) = (brute_force(before, ports), brute_force(after, ports));
    let mut denied = 0;
    let mut allowed = 0;
    for (key, was) in &b {
        match (was, a[key]) {
            (true, false) => denied += 1,
            (false, true) => allowed += 1,
            _ => {}
        }
    }
    (denied, allowed)
}

const DENY_SHOP_TO_BANK: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-bank}
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {matchLabels: {team: a}}}
  egress:
  - {action: Deny, to: [{namespaces: {matchLabels: {team: b}}}], protocols: [{tcp: {destinationPort: {number: 443}}}]}
"#;

#[test]
fn adding_a_deny_reports_exactly_the_pairs_brute_force_finds() {
    let cluster_engine = engine("");
    let after = engine(DENY_SHOP_TO_BANK);
    // Share the topology as the webhook does: same cluster, new policies.
    let after = Engine::new(Arc::clone(&cluster_engine.cluster), after_policies(&after));
    let result = impact(&cluster_engine, &after, &ImpactOptions::default());
    assert!(result.complete);
    let (denied, allowed) = changed_pairs(&cluster_engine, &after, &[(Protocol::Tcp, 443)]);
    assert_eq!(
        (result.newly_denied_count, result.newly_allowed_count),
        (denied, allowed)
    );
    assert_eq!(denied, 6, "3 shop pods x 2 bank pods on 443");
    let groups: Vec<(String, String, u16, u16, u64)> = result
        .newly_denied
        .iter()
        .map(|g| {
            (
                g.from.clone(),
                g.to.clone(),
                g.port_start,
                g.port_end,
                g.count,
            )
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            ("shop/db-1".into(), "bank/api-1".into(), 443, 443, 1),
            ("shop/db-1".into(), "bank/api-2".into(), 443, 443, 1),
            (
                "shop/deployment/web".into(),
                "bank/api-1".into(),
                443,
                443,
                1
            ),
            (
                "shop/deployment/web".into(),
                "bank/api-2".into(),
                443,
                443,
                1
            ),
            ("shop/web-2".into(), "bank/api-1".into(), 443, 443, 1),
            ("shop/web-2".into(), "bank/api-2".into(), 443, 443, 1),
        ]
    );
    assert_eq!(result.changed_policies.len(), 1);
}

fn after_policies(engine: &Engine) -> Vec<netpol_engine::Policy> {
    let admin = engine
        .admin_policies()
        .map(|(_, p)| netpol_engine::Policy::Admin(p.clone()));
    let network = engine
        .network_policies()
        .map(|(_, p)| netpol_engine::Policy::Network(p.clone()));
    admin.chain(network).collect()
}

#[test]
fn network_policy_isolation_and_named_ports_match_brute_force() {
    let before = engine(DENY_SHOP_TO_BANK);
    let after = engine(&format!(
        "{DENY_SHOP_TO_BANK}\n---\n{}",
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-only-http, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{namespaceSelector: {}}]
    ports: [{port: http}]
"#
    ));
    let result = impact(&before, &after, &ImpactOptions::default());
    let ports = [
        (Protocol::Tcp, 80),
        (Protocol::Tcp, 8080),
        (Protocol::Tcp, 443),
        (Protocol::Udp, 53),
    ];
    let (denied, allowed) = changed_pairs(&before, &after, &ports);
    // Brute force here covers pod pairs; the preview also reports addresses (web's ingress from
    // outside the cluster is newly denied too), which the property test in
    // `src/impact/tests.rs` compares with brute force.
    let pod_pairs: Vec<_> = result
        .newly_denied
        .iter()
        .filter(|g| {
            let address = |example: &str| example.parse::<std::net::IpAddr>().is_ok();
            !address(&g.example_from) && !address(&g.example_to)
        })
        .collect();
    assert!(
        pod_pairs.len() < result.newly_denied.len(),
        "ingress from addresses: {:?}",
        result.newly_denied
    );
    // The preview counts port classes, brute force counts sample ports: compare per class.
    let classes: Vec<(Protocol, u16, u16)> = pod_pairs
        .iter()
        .map(|g| (g.protocol, g.port_start, g.port_end))
        .collect();
    assert!(
        classes.contains(&(Protocol::Tcp, 8081, 65535)),
        "{classes:?}"
    );
    assert!(
        !classes
            .iter()
            .any(|(p, s, e)| *p == Protocol::Tcp && (*s..=*e).contains(&8080)),
        "{classes:?}"
    );
    let sample_denied: u64 = pod_pairs
        .iter()
        .filter(|g| {
            ports
                .iter()
                .any(|(p, n)| *p == g.protocol && (g.port_start..=g.port_end).contains(n))
        })
        .map(|g| {
            let covered = ports
                .iter()
                .filter(|(p, n)| *p == g.protocol && (g.port_start..=g.port_end).contains(n));
            g.count * covered.count() as u64
        })
        .sum();
    assert_eq!(sample_denied, denied);
    assert_eq!(allowed, 0);
    assert_eq!(result.newly_allowed_count, 0);
}

#[test]
fn changed_pod_labels_are_compared_pod_by_pod() {
    let before = engine(DENY_SHOP_TO_BANK);
    let relabelled = CLUSTER.replace(
        "{name: api-2, namespace: bank, labels: {app: api}}",
        "{name: api-2, namespace: bank, labels: {app: api, open: x}}",
    );
    let extra = r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: open}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {}}
  egress:
  - {action: Accept, to: [{pods: {podSelector: {matchLabels: {open: x}}}}]}
"#;
    let text = format!("{relabelled}\n---\n{DENY_SHOP_TO_BANK}\n---\n{extra}");
    let loaded = read_str("after.yaml", &text, "default");
    let after = Engine::build(&State::from_loaded(&loaded)).engine;
    let result = impact(&before, &after, &ImpactOptions::default());
    let (denied, allowed) = changed_pairs(&before, &after, &[(Protocol::Tcp, 443)]);
    assert_eq!(allowed, 3, "shop pods to the relabelled api-2 on 443");
    assert_eq!(denied, 0);
    let on_443: u64 = result
        .newly_allowed
        .iter()
        .filter(|g| g.protocol == Protocol::Tcp && (g.port_start..=g.port_end).contains(&443))
        .map(|g| g.count)
        .sum();
    assert_eq!(on_443, allowed);
}

/// Two nodes, each with a replica of `web` and a host-network `agent`.
const NODES: &str = r#"
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
- {apiVersion: v1, kind: Namespace, metadata: {name: infra}}
- {apiVersion: v1, kind: Node, metadata: {name: n1}, status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}}
- {apiVersion: v1, kind: Node, metadata: {name: n2}, status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: web-1, namespace: shop, labels: {app: web, pod-template-hash: 5d9f}, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d9f, uid: u1, controller: true}]}, spec: {nodeName: n1, containers: [{name: c, image: i}]}, status: {podIPs: [{ip: 10.0.1.1}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: web-2, namespace: shop, labels: {app: web, pod-template-hash: 5d9f}, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d9f, uid: u1, controller: true}]}, spec: {nodeName: n2, containers: [{name: c, image: i}]}, status: {podIPs: [{ip: 10.0.2.1}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: agent-1, namespace: infra, labels: {app: agent}, ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: u2, controller: true}]}, spec: {nodeName: n1, hostNetwork: true, containers: [{name: c, image: i}]}, status: {podIPs: [{ip: 192.168.0.1}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: agent-2, namespace: infra, labels: {app: agent}, ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: u2, controller: true}]}, spec: {nodeName: n2, hostNetwork: true, containers: [{name: c, image: i}]}, status: {podIPs: [{ip: 192.168.0.2}]}}
"#;

#[test]
fn isolation_spares_each_pods_own_node_and_counts_the_others() {
    let build = |extra: &str| {
        let loaded = read_str("nodes.yaml", &format!("{NODES}\n---\n{extra}"), "default");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        Engine::build(&State::from_loaded(&loaded)).engine
    };
    let before = build("");
    let after = build(
        "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: web-egress, namespace: shop}, spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Egress]}}",
    );
    let result = impact(&before, &after, &ImpactOptions::default());
    let tcp: Vec<(&str, &str, u64)> = result
        .newly_denied
        .iter()
        .filter(|g| g.protocol == Protocol::Tcp && (g.port_start, g.port_end) == (1, 65535))
        .map(|g| (g.from.as_str(), g.to.as_str(), g.count))
        .collect();
    // Each replica keeps its own node's agent and address: two of the four pairs change.
    assert_eq!(
        tcp,
        [
            ("shop/deployment/web", "0.0.0.0/0", 2),
            (
                "shop/deployment/web",
                "192.168.0.1 (node n1) and 1 other node addresses",
                2
            ),
            ("shop/deployment/web", "infra/daemonset/agent", 2),
            ("shop/deployment/web", "shop/deployment/web", 2),
        ]
    );
    let examples: Vec<(&str, &str)> = result
        .newly_denied
        .iter()
        .filter(|g| g.to == "infra/daemonset/agent")
        .map(|g| (g.example_from.as_str(), g.example_to.as_str()))
        .collect();
    assert!(
        examples
            .iter()
            .all(|e| *e == ("shop/web-1", "infra/agent-2") || *e == ("shop/web-2", "infra/agent-1")),
        "{examples:?}"
    );
    // TCP, UDP, SCTP and ICMP alike.
    assert_eq!(result.newly_denied_count, 4 * 8);
    assert_eq!(result.newly_allowed_count, 0);
}
