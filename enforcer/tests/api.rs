//! The enforcer with the cluster from the Kubernetes API: netpol-watch's caches fed with watch
//! events as the reflectors feed them (no cluster), then the real reflectors against a fake API
//! server on loopback.

#[path = "common/fake_api.rs"]
mod fake_api;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_api::{FakeApiServer, list};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::watcher::Event;
use netpol_enforcer::decide::Snapshot;
use netpol_enforcer::enforcement::Enforcement;
use netpol_enforcer::kernel::fake::FakeKernel;
use netpol_enforcer::kernel::{Connection, DecisionCache, Queues, RuleSet};
use netpol_enforcer::metrics::Metrics;
use netpol_enforcer::packet::{Packet, Transport};
use netpol_enforcer::source::ApiSource;
use netpol_enforcer::verdict;
use netpol_engine::Engine;
use netpol_watch::{Cached, Feed, Shared, Store};
use serde_json::{Value, json};

fn pod(name: &str, node: &str, ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
           "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i", "ports": [{"name": "pg", "containerPort": 5432}]}]},
           "status": {"podIP": ip, "podIPs": [{"ip": ip}]}})
}

fn namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "shop"}}})
}

fn node(name: &str, ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
           "status": {"addresses": [{"type": "InternalIP", "address": ip}]}})
}

/// Ingress to `db` only from `api`, on its named port.
fn db_policy() -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": "db", "namespace": "shop"},
           "spec": {"podSelector": {"matchLabels": {"app": "db"}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "api"}}}], "ports": [{"port": "pg"}]}]}})
}

fn typed<K: Cached>(value: Value) -> K {
    serde_json::from_value(value).expect("test object")
}

fn tcp(src: &str, dst: &str, port: u16) -> Packet {
    Packet {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        transport: Transport::Tcp,
        dst_port: Some(port),
    }
}

const WEB: &str = "10.0.1.2";
const DB: &str = "10.0.1.3";
const API: &str = "10.0.2.2";

/// Feeds a complete list of one kind.
fn relist<K: Cached>(shared: &Shared, objects: Vec<Value>) {
    let mut feed = Feed::<K>::default();
    shared.update(|store| {
        feed.handle(Event::Init, store);
        for object in objects {
            feed.handle(Event::InitApply(typed(object)), store);
        }
        feed.handle(Event::InitDone, store);
    });
}

#[test]
fn watch_events_reach_the_queues_rules_and_conntrack() {
    let shared = Arc::new(Shared::new(Store::default(), false));
    let mut source = ApiSource::over(shared.clone());
    assert!(source.poll().unwrap().is_none(), "not synced yet");

    relist::<Namespace>(&shared, vec![namespace()]);
    relist::<Node>(
        &shared,
        vec![node("node-a", "192.168.0.1"), node("node-b", "192.168.0.2")],
    );
    relist::<Pod>(
        &shared,
        vec![
            pod("web", "node-a", WEB),
            pod("db", "node-a", DB),
            pod("api", "node-b", API),
        ],
    );
    relist::<NetworkPolicy>(&shared, vec![]);
    assert!(shared.rebuild_if_stale());
    shared.set_ready(true);

    let engine = source.poll().unwrap().expect("synced: an engine");
    assert!(source.poll().unwrap().is_none(), "unchanged");
    let snapshot = Snapshot::new(engine, "node-a");
    assert!(snapshot.queued().is_empty(), "no policy selects anyone");
    let kernel = FakeKernel::default();
    let web_to_db = Connection {
        transport: Transport::Tcp,
        src: WEB.parse().unwrap(),
        dst: DB.parse().unwrap(),
        src_port: Some(40000),
        dst_port: Some(5432),
    };
    *kernel.connections.lock().unwrap() = vec![web_to_db];
    let queues = verdict::Shared::new(snapshot, Arc::new(Metrics::default()), true);
    let rules = RuleSet {
        queues: Queues { first: 0, count: 1 },
        fail_open: true,
        queued: Default::default(),
        decision_cache: Some(DecisionCache {
            mark: 0x2000,
            timeout_secs: 60,
        }),
        dns_queue: None,
    };
    assert!(queues.snapshot().decide(&tcp(WEB, DB, 5432)).allowed);
    // What the enforcer's loop does with each new engine (rules, queues, conntrack cuts).
    let mut enforcement = Enforcement::new(&kernel, &queues, rules, true);
    let mut put_in_force = |engine| {
        enforcement.put_in_force(Snapshot::new(engine, "node-a"), Instant::now());
        assert!(enforcement.settled(), "nothing failed");
    };

    // A policy event takes effect without a rebuild: db is queued, web → db is cut.
    let mut netpols = Feed::<NetworkPolicy>::default();
    shared.update(|store| netpols.handle(Event::Apply(typed(db_policy())), store));
    let engine = source.poll().unwrap().expect("a new engine");
    put_in_force(engine);
    let installed = kernel.current().expect("rules installed");
    // db's ingress only: the policy has no egress rules.
    assert_eq!(installed.queued.ingress, [DB.parse().unwrap()].into());
    assert!(installed.queued.egress.is_empty());
    assert_eq!(*kernel.forgotten.lock().unwrap(), [web_to_db]);
    assert_eq!(
        *kernel.decisions_forgotten.lock().unwrap(),
        1,
        "tuples accepted under the old state are forgotten"
    );
    let snapshot = queues.snapshot();
    assert!(!snapshot.decide(&tcp(WEB, DB, 5432)).allowed);
    assert!(
        snapshot.decide(&tcp(API, DB, 5432)).allowed,
        "named port resolved"
    );
    assert!(!snapshot.decide(&tcp(API, DB, 5433)).allowed);

    // A new local db pod: picked up at the next rebuild, and queued.
    let mut pods = Feed::<Pod>::default();
    shared.update(|store| {
        pods.handle(
            Event::Apply(typed(pod("db-2", "node-a", "10.0.1.4"))),
            store,
        )
    });
    assert!(
        source.poll().unwrap().is_none(),
        "endpoints wait for the rebuild"
    );
    let mut second = pod("db-2", "node-a", "10.0.1.4");
    second["metadata"]["labels"]["app"] = json!("db");
    shared.update(|store| pods.handle(Event::Apply(typed(second)), store));
    assert!(shared.rebuild_if_stale());
    let engine = source.poll().unwrap().expect("rebuilt");
    put_in_force(engine);
    assert_eq!(
        kernel.current().unwrap().queued.ingress,
        [DB.parse().unwrap(), "10.0.1.4".parse().unwrap()].into()
    );

    // Deleting the policy opens db again and unqueues it.
    shared.update(|store| netpols.handle(Event::Delete(typed(db_policy())), store));
    let engine = source.poll().unwrap().expect("a new engine");
    put_in_force(engine);
    assert!(kernel.current().unwrap().queued.is_empty());
    assert!(queues.snapshot().decide(&tcp(WEB, DB, 5432)).allowed);
    assert_eq!(
        *kernel.decisions_forgotten.lock().unwrap(),
        3,
        "once per state"
    );
}

/// Polls `source` until `check` holds for a snapshot of this node, or 20 s pass.
fn eventually(source: &mut ApiSource, check: impl Fn(&Snapshot) -> bool) -> Arc<Engine> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(engine) = source.poll().expect("reflectors running")
            && check(&Snapshot::new(engine.clone(), "node-a"))
        {
            return engine;
        }
        assert!(Instant::now() < deadline, "the engine never got there");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn reflectors_read_a_fake_api_server() {
    let cnp = json!({"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "no-web-to-api"},
        "spec": {"tier": "Admin", "priority": 5, "subject": {"namespaces": {}},
                 "egress": [{"name": "web-api", "action": "Deny", "to": [{"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "api"}}}}]}]}});
    let mut lists = BTreeMap::new();
    lists.insert(
        "/api/v1/namespaces".into(),
        list("v1", "Namespace", vec![namespace()]),
    );
    lists.insert(
        "/api/v1/nodes".into(),
        list(
            "v1",
            "Node",
            vec![node("node-a", "192.168.0.1"), node("node-b", "192.168.0.2")],
        ),
    );
    lists.insert(
        "/api/v1/pods".into(),
        list(
            "v1",
            "Pod",
            vec![
                pod("web", "node-a", WEB),
                pod("db", "node-a", DB),
                pod("api", "node-b", API),
            ],
        ),
    );
    lists.insert(
        "/apis/networking.k8s.io/v1/networkpolicies".into(),
        list("networking.k8s.io/v1", "NetworkPolicy", vec![]),
    );
    lists.insert("/apis/policy.networking.k8s.io/v1alpha2".into(), json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "policy.networking.k8s.io/v1alpha2",
        "resources": [{"name": "clusternetworkpolicies", "singularName": "clusternetworkpolicy", "namespaced": false,
                       "kind": "ClusterNetworkPolicy", "verbs": ["list", "watch"]}]}));
    lists.insert(
        "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies".into(),
        list(
            "policy.networking.k8s.io/v1alpha2",
            "ClusterNetworkPolicy",
            vec![cnp],
        ),
    );
    let mut watches = BTreeMap::new();
    let mut added = db_policy();
    added["metadata"]["resourceVersion"] = json!("2");
    watches.insert(
        "/apis/networking.k8s.io/v1/networkpolicies".to_string(),
        vec![json!({"type": "ADDED", "object": added})],
    );
    let server = FakeApiServer::start(lists, watches);

    let config = kube::Config::new(server.url.parse().expect("url"));
    let mut source = ApiSource::start(Some(config), Duration::from_millis(50)).expect("start");
    // The listed CNP (v1alpha2 is served; v1alpha1 answers 404 and is not watched) and the
    // NetworkPolicy that arrived on the watch.
    let engine = eventually(&mut source, |snapshot| {
        !snapshot.decide(&tcp(WEB, DB, 5432)).allowed
    });
    let snapshot = Snapshot::new(engine, "node-a");
    assert!(
        !snapshot.decide(&tcp(WEB, API, 80)).allowed,
        "CNP denies web → api"
    );
    assert!(snapshot.decide(&tcp(DB, WEB, 80)).allowed);
    assert_eq!(snapshot.queued().addresses().len(), 2, "web and db");
}
