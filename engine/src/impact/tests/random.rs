//! Random small clusters and policy changes for the impact property test: namespaces, nodes
//! with one or two addresses, pods on several nodes (some on the host network, a DaemonSet of
//! them on every node), and policies of all four kinds with pod, namespace, node and network
//! peers, numeric, ranged and named ports. Every object it makes loads and compiles.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde_json::{Value, json};

/// xorshift64*: small, seeded, no dependency.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

const CIDRS: &[&str] = &[
    "192.168.0.0/24",
    "192.168.0.1/32",
    "192.168.0.0/16",
    "10.0.0.0/16",
    "10.0.1.0/24",
    "10.0.0.0/8",
    "172.16.0.0/24",
    "8.8.8.0/24",
    "0.0.0.0/0",
];

/// Addresses that are no pod's or node's, inside and outside the CIDRs above.
pub(crate) const OUTSIDE: &[&str] = &[
    "192.168.0.200",
    "192.168.1.1",
    "172.16.0.200",
    "10.0.5.5",
    "10.0.1.99",
    "10.9.0.1",
    "8.8.8.8",
    "203.0.113.9",
];

const APPS: &[&str] = &["web", "db", "api"];

/// The named container ports pods may have; policies name them and numbers near them.
const CONTAINER_PORTS: &[(&str, &str, u16)] = &[
    ("http", "TCP", 8080),
    ("dns", "UDP", 53),
    ("metrics", "TCP", 9100),
];

/// A random cluster: namespaces, nodes and pods as Kubernetes objects.
fn topology(rng: &mut Rng) -> Vec<Value> {
    let mut objects = Vec::new();
    for name in ["alpha", "beta"] {
        let team = rng.pick(&["x", "y"]);
        objects.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"team": team}}}));
    }
    let nodes = 2 + rng.below(2);
    for i in 0..nodes {
        let mut addresses =
            vec![json!({"type": "InternalIP", "address": format!("192.168.0.{}", i + 1)})];
        if rng.chance(50) {
            addresses.push(json!({"type": "ExternalIP", "address": format!("172.16.0.{}", i + 1)}));
        }
        let labels = json!({"role": rng.pick(&["worker", "infra"]), "zone": rng.pick(&["a", "b"])});
        objects.push(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("n{i}"), "labels": labels},
            "status": {"addresses": addresses}}));
    }
    for k in 0..4 + rng.below(5) {
        let namespace = rng.pick(&["alpha", "beta"]);
        let app = rng.pick(APPS);
        let node = (!rng.chance(10)).then(|| rng.below(nodes));
        let host_network = node.is_some() && rng.chance(35);
        let ip = match node {
            Some(n) if host_network => format!("192.168.0.{}", n + 1),
            Some(n) => format!("10.0.{n}.{}", 10 + k),
            None => format!("10.0.9.{}", 10 + k),
        };
        let ports: Vec<Value> = CONTAINER_PORTS
            .iter()
            .filter(|_| rng.chance(40))
            .map(|(name, protocol, port)| json!({"name": name, "protocol": protocol, "containerPort": port}))
            .collect();
        let mut metadata =
            json!({"name": format!("p{k}"), "namespace": namespace, "labels": {"app": app}});
        if rng.chance(40) {
            let (kind, owner) = if host_network {
                ("DaemonSet", format!("ds-{app}"))
            } else {
                ("ReplicaSet", format!("rs-{app}"))
            };
            metadata["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": kind,
                "name": owner, "uid": "u", "controller": true}]);
        }
        let mut spec = json!({"hostNetwork": host_network, "containers": [{"name": "c", "image": "i", "ports": ports}]});
        if let Some(n) = node {
            spec["nodeName"] = json!(format!("n{n}"));
        }
        objects.push(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": spec, "status": {"podIPs": [{"ip": ip}]}}),
        );
    }
    // A DaemonSet on the host network: alike pods on every node, told apart by their nodes.
    if rng.chance(60) {
        let (namespace, app) = (rng.pick(&["alpha", "beta"]), rng.pick(APPS));
        for n in 0..nodes {
            objects.push(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("agent-n{n}"), "namespace": namespace, "labels": {"app": app},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u", "controller": true}]},
                "spec": {"nodeName": format!("n{n}"), "hostNetwork": true,
                    "containers": [{"name": "c", "image": "i", "ports": [{"name": "metrics", "containerPort": 9100}]}]},
                "status": {"podIPs": [{"ip": format!("192.168.0.{}", n + 1)}]}}));
        }
    }
    objects
}

fn selector(rng: &mut Rng, key: &str, values: &[&str]) -> Value {
    match rng.below(4) {
        0 => json!({}),
        1 | 2 => json!({"matchLabels": {key: rng.pick(values)}}),
        _ => {
            let mut values = vec![rng.pick(values), rng.pick(values)];
            values.sort_unstable();
            values.dedup();
            json!({"matchExpressions": [{"key": key, "operator": "In", "values": values}]})
        }
    }
}

fn pod_selector(rng: &mut Rng) -> Value {
    selector(rng, "app", APPS)
}

fn namespace_selector(rng: &mut Rng) -> Value {
    if rng.chance(30) {
        json!({"matchLabels": {"kubernetes.io/metadata.name": rng.pick(&["alpha", "beta"])}})
    } else {
        selector(rng, "team", &["x", "y"])
    }
}

fn node_selector(rng: &mut Rng) -> Value {
    match rng.below(3) {
        0 => json!({}),
        1 => json!({"matchLabels": {"role": rng.pick(&["worker", "infra"])}}),
        _ => json!({"matchLabels": {"zone": rng.pick(&["a", "b"])}}),
    }
}

fn some<T>(rng: &mut Rng, max: usize, mut make: impl FnMut(&mut Rng) -> T) -> Vec<T> {
    (0..1 + rng.below(max)).map(|_| make(rng)).collect()
}

fn network_policy(rng: &mut Rng, name: &str, namespace: &str) -> Value {
    let types = rng.pick(&[
        None,
        Some(vec!["Ingress"]),
        Some(vec!["Egress"]),
        Some(vec!["Ingress", "Egress"]),
    ]);
    let has = |t: &str| types.as_ref().is_none_or(|types| types.contains(&t));
    let peer = |rng: &mut Rng| match rng.below(4) {
        0 => json!({"podSelector": pod_selector(rng)}),
        1 => json!({"namespaceSelector": namespace_selector(rng)}),
        2 => {
            json!({"namespaceSelector": namespace_selector(rng), "podSelector": pod_selector(rng)})
        }
        _ => {
            let cidr: IpNet = rng.pick(CIDRS).parse().expect("a CIDR");
            let inside: Vec<&str> = CIDRS
                .iter()
                .copied()
                .filter(|c| {
                    let c: IpNet = c.parse().expect("a CIDR");
                    cidr.contains(&c) && c != cidr
                })
                .collect();
            if !inside.is_empty() && rng.chance(50) {
                json!({"ipBlock": {"cidr": cidr.to_string(), "except": [rng.pick(&inside)]}})
            } else {
                json!({"ipBlock": {"cidr": cidr.to_string()}})
            }
        }
    };
    let port = |rng: &mut Rng| {
        rng.pick(&[
            json!({"port": 80}),
            json!({"port": 8080, "protocol": "TCP"}),
            json!({"port": 53, "protocol": "UDP"}),
            json!({"protocol": "SCTP"}),
            json!({"port": 9000, "endPort": 9100}),
            json!({"port": "http"}),
            json!({"port": "dns", "protocol": "UDP"}),
            json!({"port": "metrics"}),
        ])
    };
    let rules = |rng: &mut Rng, peers_key: &str| -> Vec<Value> {
        (0..rng.below(3))
            .map(|_| {
                let mut rule = json!({});
                if rng.chance(70) {
                    rule[peers_key] = json!(some(rng, 2, peer));
                }
                if rng.chance(60) {
                    rule["ports"] = json!(some(rng, 2, port));
                }
                rule
            })
            .collect()
    };
    let mut spec = json!({"podSelector": pod_selector(rng)});
    if let Some(types) = &types {
        spec["policyTypes"] = json!(types);
    }
    if has("Ingress") {
        spec["ingress"] = json!(rules(rng, "from"));
    }
    if has("Egress") && (types.is_some() || rng.chance(70)) {
        spec["egress"] = json!(rules(rng, "to"));
    }
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec})
}

/// Which admin API: its action names and how it writes ports and pod peers.
#[derive(Clone, Copy, PartialEq)]
enum AdminKind {
    Anp,
    Banp,
    Cnp,
}

fn admin_policy(rng: &mut Rng, kind: AdminKind, name: &str) -> Value {
    let pods = |rng: &mut Rng| json!({"namespaceSelector": namespace_selector(rng), "podSelector": pod_selector(rng)});
    let subject = if rng.chance(50) {
        json!({"namespaces": namespace_selector(rng)})
    } else {
        json!({"pods": pods(rng)})
    };
    let actions: &[&str] = match kind {
        AdminKind::Anp => &["Allow", "Deny", "Pass"],
        AdminKind::Banp => &["Allow", "Deny"],
        AdminKind::Cnp => &["Accept", "Deny", "Pass"],
    };
    let port = |rng: &mut Rng, named: bool| -> Value {
        let choice = rng.below(if named { 6 } else { 5 });
        match (kind, choice) {
            (AdminKind::Cnp, 0) => json!({"tcp": {"destinationPort": {"number": 80}}}),
            (AdminKind::Cnp, 1) => json!({"udp": {"destinationPort": {"number": 53}}}),
            (AdminKind::Cnp, 2) => {
                json!({"tcp": {"destinationPort": {"range": {"start": 9000, "end": 9100}}}})
            }
            (AdminKind::Cnp, 3) => json!({"sctp": {"destinationPort": {"number": 9}}}),
            (AdminKind::Cnp, 4) => json!({"tcp": {"destinationPort": {"number": 8080}}}),
            (AdminKind::Cnp, _) => {
                json!({"destinationNamedPort": rng.pick(&["http", "dns", "metrics"])})
            }
            (_, 0) => json!({"portNumber": {"protocol": "TCP", "port": 80}}),
            (_, 1) => json!({"portNumber": {"protocol": "UDP", "port": 53}}),
            (_, 2) => json!({"portRange": {"protocol": "TCP", "start": 9000, "end": 9100}}),
            (_, 3) => json!({"portNumber": {"protocol": "SCTP", "port": 9}}),
            (_, 4) => json!({"portNumber": {"protocol": "TCP", "port": 8080}}),
            (_, _) => json!({"namedPort": rng.pick(&["http", "dns", "metrics"])}),
        }
    };
    let rule = |rng: &mut Rng, egress: bool, index: usize| -> Value {
        let peer = |rng: &mut Rng| match rng.below(if egress { 5 } else { 2 }) {
            0 => json!({"namespaces": namespace_selector(rng)}),
            1 => json!({"pods": pods(rng)}),
            2 | 3 => json!({"nodes": node_selector(rng)}),
            _ => {
                let mut networks = some(rng, 2, |rng| rng.pick(CIDRS));
                networks.dedup();
                json!({"networks": networks})
            }
        };
        let peers = some(rng, 2, peer);
        // The CRDs forbid named ports with node and network peers.
        let named = !peers
            .iter()
            .any(|p| p.get("nodes").is_some() || p.get("networks").is_some());
        let mut rule = json!({"name": format!("r{index}"), "action": rng.pick(actions)});
        rule[if egress { "to" } else { "from" }] = json!(peers);
        if rng.chance(50) {
            let ports_key = if kind == AdminKind::Cnp {
                "protocols"
            } else {
                "ports"
            };
            rule[ports_key] = json!(some(rng, 2, |rng| port(rng, named)));
        }
        rule
    };
    let mut spec = json!({"subject": subject});
    let (ingress, egress) = loop {
        let counts = (rng.below(3), rng.below(3));
        if counts.0 + counts.1 > 0 {
            break counts;
        }
    };
    spec["ingress"] = json!(
        (0..ingress)
            .map(|i| rule(rng, false, i))
            .collect::<Vec<_>>()
    );
    spec["egress"] = json!((0..egress).map(|i| rule(rng, true, i)).collect::<Vec<_>>());
    let priority = rng.below(4);
    match kind {
        AdminKind::Anp => {
            spec["priority"] = json!(priority);
            json!({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
                "metadata": {"name": name}, "spec": spec})
        }
        AdminKind::Banp => json!({"apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"}, "spec": spec}),
        AdminKind::Cnp => {
            spec["priority"] = json!(priority);
            spec["tier"] = json!(rng.pick(&["Admin", "Baseline"]));
            json!({"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
                "metadata": {"name": name}, "spec": spec})
        }
    }
}

/// Policies by a key naming kind, namespace and name, so a change can replace or drop one.
pub(crate) type Policies = BTreeMap<String, Value>;

/// A new policy of a random kind (one BANP at most), or a new version of `existing`.
fn random_policy(rng: &mut Rng, policies: &Policies, existing: Option<&str>) -> (String, Value) {
    let key = match existing {
        Some(key) => key.to_owned(),
        None => loop {
            let n = rng.below(1000);
            let key = match rng.below(20) {
                0..8 => format!("np/{}/n{n}", rng.pick(&["alpha", "beta"])),
                8..12 => format!("anp/a{n}"),
                12..17 => format!("cnp/c{n}"),
                _ => "banp/default".to_owned(),
            };
            if !policies.contains_key(&key) {
                break key;
            }
        },
    };
    let parts: Vec<&str> = key.split('/').collect();
    let value = match parts.as_slice() {
        ["np", namespace, name] => network_policy(rng, name, namespace),
        ["anp", name] => admin_policy(rng, AdminKind::Anp, name),
        ["cnp", name] => admin_policy(rng, AdminKind::Cnp, name),
        _ => admin_policy(rng, AdminKind::Banp, "default"),
    };
    (key, value)
}

/// A cluster, its policies before and after one change, and the change in words.
pub(crate) struct Scenario {
    pub objects: Vec<Value>,
    pub before: Policies,
    pub after: Policies,
    pub change: String,
}

/// The scenario of a seed: one to four policies, then one policy added, removed or replaced.
pub(crate) fn scenario(seed: u64) -> Scenario {
    let mut rng = Rng(seed);
    let objects = topology(&mut rng);
    let mut policies = Policies::new();
    for _ in 0..1 + rng.below(4) {
        let (key, value) = random_policy(&mut rng, &policies, None);
        policies.insert(key, value);
    }
    let mut next = policies.clone();
    let keys: Vec<String> = policies.keys().cloned().collect();
    let change = match rng.below(3) {
        0 => {
            let (key, value) = random_policy(&mut rng, &policies, None);
            next.insert(key.clone(), value);
            format!("add {key}")
        }
        1 => {
            let key = rng.pick(&keys);
            next.remove(&key);
            format!("remove {key}")
        }
        _ => {
            let key = rng.pick(&keys);
            let (_, value) = random_policy(&mut rng, &policies, Some(&key));
            next.insert(key.clone(), value);
            format!("modify {key}")
        }
    };
    Scenario {
        objects,
        before: policies,
        after: next,
        change,
    }
}
