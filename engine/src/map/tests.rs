//! Property test: on random small clusters (pods on several nodes, host-network pods, node
//! addresses, policies of all four kinds with pod, namespace, node and network peers, numeric,
//! ranged and named ports), the map expanded to endpoint pairs must equal `decide` over every
//! ordered pair of endpoints (pods, node addresses and the map's addresses outside) and every
//! port class of TCP, UDP and SCTP, and ICMP.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{ClassKind, Ends, MapOptions, PortSet, PortView, map};
use crate::engine::Engine;
use crate::eval::{Endpoint, Flow};
use crate::impact::tests::random::{Policies, scenario};
use crate::impact::tests::sample_ports;
use crate::{PortSpec, State, read_str};

const RUNS: u64 = 300;
const SEED: u64 = 0x0a7c_4a95_11e5;

fn engine(objects: &[Value], policies: &Policies) -> Engine {
    let items: Vec<&Value> = objects.iter().chain(policies.values()).collect();
    let text = json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
    let loaded = read_str("random.json", &text, "default");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let built = Engine::build(&State::from_loaded(&loaded));
    assert!(built.errors.is_empty(), "{:?}", built.errors);
    built.engine
}

/// The classes and edges of a map, for failure messages.
fn described(engine: &Engine, map: &super::Map) -> String {
    let mut out = String::new();
    for (i, class) in map.classes.iter().enumerate() {
        let members: Vec<String> = class.members.iter().map(|e| engine.describe(*e)).collect();
        out.push_str(&format!(
            "class {i} {:?}: {}\n",
            class.kind,
            members.join(", ")
        ));
    }
    for edge in &map.edges {
        out.push_str(&format!(
            "{:?} -> {:?} {:?}: {}\n",
            map.sets[edge.from as usize], map.sets[edge.to as usize], edge.relation, edge.ports
        ));
    }
    out
}

#[test]
fn the_map_expanded_equals_decide_over_every_pair_and_port_class() {
    for run in 0..RUNS {
        let seed = SEED.wrapping_add(run.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let scenario = scenario(seed);
        // Both states of the scenario make two clusters to map.
        for policies in [&scenario.before, &scenario.after] {
            let engine = engine(&scenario.objects, policies);
            let everything = Ends::namespaces(&[], true);
            let options = MapOptions {
                from: everything.clone(),
                to: everything,
                ports: PortView::All,
            };
            let result = map(&engine, &options);
            let mut allowed: HashMap<(Endpoint, Endpoint), &PortSet> = HashMap::new();
            for (a, b, ports) in result.expand() {
                assert!(
                    allowed.insert((a, b), ports).is_none(),
                    "seed {seed:#x}: {a:?} -> {b:?} twice in the map"
                );
            }
            let mut endpoints: Vec<(Endpoint, bool)> = (0..engine.cluster.pods.len() as u32)
                .map(|p| (Endpoint::Pod(p), true))
                .collect();
            for class in &result.classes {
                if matches!(class.kind, ClassKind::NodeAddresses | ClassKind::Addresses) {
                    endpoints.extend(class.members.iter().map(|e| (*e, false)));
                }
            }
            let ports = sample_ports([&engine, &engine]);
            let none = PortSet::default();
            for (src, src_pod) in &endpoints {
                for (dst, dst_pod) in &endpoints {
                    if src == dst || !(*src_pod || *dst_pod) {
                        continue;
                    }
                    let got = allowed.get(&(*src, *dst)).copied().unwrap_or(&none);
                    for (protocol, port) in &ports {
                        let flow = Flow {
                            src: *src,
                            dst: *dst,
                            protocol: *protocol,
                            port: *port,
                        };
                        let want = engine.decide(&flow).allowed;
                        assert_eq!(
                            got.contains(*protocol, *port),
                            want,
                            "seed {seed:#x}: {} -> {} {protocol}/{port}: map says {got}, decide says {want}\n{}\n{}",
                            engine.describe(*src),
                            engine.describe(*dst),
                            serde_json::to_string_pretty(&policies).unwrap_or_default(),
                            described(&engine, &result)
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_shown_ports_and_namespaces_restrict_the_map() {
    let text = r#"
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
- {apiVersion: v1, kind: Namespace, metadata: {name: ops}}
- apiVersion: v1
  kind: Pod
  metadata: {name: web, namespace: shop, labels: {app: web}}
  spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
  status: {podIP: 10.0.0.1}
- apiVersion: v1
  kind: Pod
  metadata: {name: db, namespace: shop, labels: {app: db}}
  spec: {containers: [{name: c, ports: [{name: pg, containerPort: 5432}]}]}
  status: {podIP: 10.0.0.2}
- apiVersion: v1
  kind: Pod
  metadata: {name: probe, namespace: ops, labels: {app: probe}}
  spec: {containers: [{name: c}]}
  status: {podIP: 10.0.0.3}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: db, namespace: shop}
  spec:
    podSelector: {matchLabels: {app: db}}
    ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: pg}]}]
"#;
    let loaded = read_str("shop.yaml", text, "default");
    let engine = Engine::build(&State::from_loaded(&loaded)).engine;
    let name = |e: Endpoint| engine.describe(e);
    let edges = |options: &MapOptions| -> Vec<String> {
        let result = map(&engine, options);
        let mut lines: Vec<String> = result
            .expand()
            .map(|(a, b, ports)| format!("{} -> {}: {ports}", name(a), name(b)))
            .collect();
        lines.sort();
        lines
    };
    // Every port: the database takes only web on 5432; everything else is open.
    let all = edges(&MapOptions {
        ports: PortView::All,
        ..MapOptions::default()
    });
    assert!(
        all.contains(&"shop/web -> shop/db: TCP 5432".to_owned()),
        "{all:#?}"
    );
    assert!(
        all.contains(&"ops/probe -> shop/web: all".to_owned()),
        "{all:#?}"
    );
    assert!(
        !all.iter().any(|l| l.starts_with("ops/probe -> shop/db")),
        "{all:#?}"
    );
    // The declared container ports (8080 and 5432), on every destination.
    let declared = edges(&MapOptions::default());
    assert!(
        declared.contains(&"ops/probe -> shop/web: TCP 5432,8080".to_owned()),
        "{declared:#?}"
    );
    assert!(declared.contains(&"shop/web -> shop/db: TCP 5432".to_owned()));
    // A named port resolves on each destination; one namespace only.
    let named = edges(&MapOptions {
        from: Ends::namespaces(&["shop".into()], false),
        to: Ends::namespaces(&["shop".into()], false),
        ports: PortView::Only(vec![(None, PortSpec::Name("http".into()))]),
    });
    assert_eq!(named, vec!["shop/db -> shop/web: TCP 8080".to_owned()]);
}

/// The synthetic clusters of the map benchmark (bare pods, four NetworkPolicies per namespace,
/// admin policies of every kind): random pod pairs and the map's address classes, every port
/// the policies or pods draw a boundary at, against `decide`.
#[test]
fn the_map_agrees_with_decide_on_sampled_pairs_of_synthetic_clusters() {
    use crate::synthetic::{Rng, Shape, generate};
    for pods in [600, 1_200] {
        let mut state = State::new();
        for located in generate(&Shape::bare_pods(pods)) {
            state.insert_new(located);
        }
        let engine = Engine::build(&state).engine;
        let everything = Ends::namespaces(&[], true);
        let options = MapOptions {
            from: everything.clone(),
            to: everything,
            ports: PortView::All,
        };
        let result = map(&engine, &options);
        let allowed: HashMap<(Endpoint, Endpoint), &PortSet> =
            result.expand().map(|(a, b, p)| ((a, b), p)).collect();
        let mut ends: Vec<Endpoint> = (0..engine.cluster.pods.len() as u32)
            .map(Endpoint::Pod)
            .collect();
        let pod_count = ends.len();
        for class in &result.classes {
            if !class.kind.is_pods() {
                ends.push(class.members[0]);
            }
        }
        let ports = sample_ports([&engine, &engine]);
        let none = PortSet::default();
        let mut rng = Rng::new(pods as u64);
        for _ in 0..3_000 {
            let src = ends[rng.below(ends.len())];
            let dst = if rng.below(4) == 0 {
                ends[rng.below(ends.len())]
            } else {
                ends[rng.below(pod_count)]
            };
            let pods_involved = matches!(src, Endpoint::Pod(_)) || matches!(dst, Endpoint::Pod(_));
            if src == dst || !pods_involved {
                continue;
            }
            let got = allowed.get(&(src, dst)).copied().unwrap_or(&none);
            for (protocol, port) in &ports {
                let flow = Flow {
                    src,
                    dst,
                    protocol: *protocol,
                    port: *port,
                };
                assert_eq!(
                    got.contains(*protocol, *port),
                    engine.decide(&flow).allowed,
                    "{pods} pods: {} -> {} {protocol}/{port}: map says {got}",
                    engine.describe(src),
                    engine.describe(dst),
                );
            }
        }
    }
}
