//! The store fed with watch events, as the watchers feed it, without a cluster.

use k8s_openapi::api::core::v1::{Container, ContainerPort, Namespace, Pod, PodSpec, PodStatus};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
use kube::runtime::watcher::Event;
use netpol_engine::api::v1alpha1::AdminNetworkPolicy;
use netpol_engine::load::Object;
use netpol_engine::{Endpoint, Flow, Protocol};
use netpol_watch::{Feed, Store};

fn meta(namespace: Option<&str>, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(Into::into),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        managed_fields: Some(vec![ManagedFieldsEntry::default()]),
        annotations: Some([("big".to_string(), "x".repeat(1000))].into()),
        ..ObjectMeta::default()
    }
}

fn mk_pod(ns: &str, name: &str, app: &str, ip: &str) -> Pod {
    Pod {
        metadata: meta(Some(ns), name, &[("app", app)]),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: Some("registry.example/app:1".into()),
                ports: Some(vec![ContainerPort {
                    container_port: 8080,
                    name: Some("http".into()),
                    ..ContainerPort::default()
                }]),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            pod_ip: Some(ip.into()),
            message: Some("running".into()),
            ..PodStatus::default()
        }),
    }
}

fn mk_ns(name: &str) -> Namespace {
    Namespace {
        metadata: meta(None, name, &[]),
        ..Namespace::default()
    }
}

fn deny_all(ns: &str) -> NetworkPolicy {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "deny-all", "namespace": ns},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
    }))
    .unwrap()
}

fn web_to_api(store: &Store) -> bool {
    let engine = store.engine();
    let pod = |name| {
        Endpoint::Pod(
            engine
                .cluster
                .pod_by_name("shop", name)
                .expect("pod cached"),
        )
    };
    engine
        .decide(&Flow {
            src: pod("web"),
            dst: pod("api"),
            protocol: Protocol::Tcp,
            port: 8080,
        })
        .allowed
}

#[test]
fn relist_then_events() {
    let mut store = Store::default();
    let mut namespaces = Feed::<Namespace>::default();
    let mut pods = Feed::<Pod>::default();
    let mut netpols = Feed::<NetworkPolicy>::default();

    for event in [
        Event::Init,
        Event::InitApply(mk_ns("shop")),
        Event::InitDone,
    ] {
        namespaces.handle(event, &mut store);
    }
    assert!(!pods.handle(Event::Init, &mut store));
    for pod in [
        mk_pod("shop", "web", "web", "10.0.0.1"),
        mk_pod("shop", "api", "api", "10.0.0.2"),
    ] {
        // Objects of a re-list are buffered without the store.
        assert!(pods.buffer(Event::InitApply(pod)).is_none());
    }
    assert!(
        pods.handle(Event::InitDone, &mut store),
        "a completed list says so"
    );
    assert!(store.is_stale(), "endpoints changed: a rebuild is due");
    assert!(store.refresh());
    assert!(!store.refresh(), "nothing more to rebuild");
    assert_eq!(store.sizes().pods, 2);
    assert!(web_to_api(&store), "no policy yet");

    // A policy event takes effect at once, without a rebuild.
    netpols.handle(Event::Apply(deny_all("shop")), &mut store);
    assert!(!store.is_stale());
    assert!(!web_to_api(&store), "deny-all applied");
    netpols.handle(Event::Delete(deny_all("shop")), &mut store);
    assert!(web_to_api(&store), "deny-all deleted");

    // A pod deleted and the store rebuilt.
    pods.handle(
        Event::Delete(mk_pod("shop", "api", "api", "10.0.0.2")),
        &mut store,
    );
    assert!(store.refresh());
    assert_eq!(store.sizes().pods, 1);

    // A re-list replaces the kind: objects missing from it are gone.
    for event in [
        Event::Init,
        Event::InitApply(mk_pod("shop", "db", "db", "10.0.0.3")),
        Event::InitDone,
    ] {
        if let Some(event) = pods.buffer(event) {
            pods.handle(event, &mut store);
        }
    }
    store.refresh();
    let engine = store.engine();
    assert!(engine.cluster.pod_by_name("shop", "web").is_none());
    assert!(engine.cluster.pod_by_name("shop", "db").is_some());
}

#[test]
fn policy_changes_during_a_rebuild_are_kept() {
    let mut store = Store::default();
    store.apply(netpol_engine::load::Located {
        origin: Default::default(),
        object: Object::Namespace(Box::new(mk_ns("shop"))),
    });
    store.apply(netpol_engine::load::Located {
        origin: Default::default(),
        object: Object::Pod(Box::new(mk_pod("shop", "web", "web", "10.1.0.9"))),
    });
    let rebuild = store.begin_rebuild().expect("stale after a pod event");
    // While the engine is being built, a policy arrives.
    let mut netpols = Feed::<NetworkPolicy>::default();
    netpols.handle(Event::Apply(deny_all("shop")), &mut store);
    let mut anps = Feed::<AdminNetworkPolicy>::default();
    let anp: AdminNetworkPolicy = serde_yaml_ng::from_str(
        "{apiVersion: policy.networking.k8s.io/v1alpha1, kind: AdminNetworkPolicy, metadata: {name: shop-guard}, spec: {priority: 10, subject: {namespaces: {}}}}",
    )
    .unwrap();
    anps.handle(Event::Delete(anp), &mut store);
    store.finish_rebuild(rebuild.build());
    let engine = store.engine();
    let ids: Vec<String> = engine
        .network_policies()
        .map(|(_, p)| p.id.to_string())
        .collect();
    assert!(
        ids.contains(&"NetworkPolicy shop/deny-all".to_string()),
        "{ids:?}"
    );
    assert_eq!(
        engine.admin_policies().count(),
        0,
        "the deleted ANP stays deleted"
    );
}

#[test]
fn objects_read_from_files_are_trimmed_alike() {
    let loaded = netpol_engine::read_str(
        "pod.yaml",
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  labels: {app: web, pod-template-hash: abc}
  annotations: {big: xxxxxxxx}
  finalizers: [example.com/keep]
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-abc, uid: u1, controller: true}
  - {apiVersion: v1, kind: ConfigMap, name: other, uid: u2}
spec:
  nodeName: node-a
  volumes: [{name: v, emptyDir: {}}]
  containers: [{name: c, image: i, env: [{name: A, value: b}], ports: [{name: http, containerPort: 80}]}]
status: {podIP: 10.0.0.1, message: running}
"#,
        "default",
    );
    let object = netpol_watch::caches::trim(loaded.objects[0].object.clone());
    let Object::Pod(pod) = object else {
        panic!("a pod")
    };
    let meta = &pod.metadata;
    assert!(meta.annotations.is_none() && meta.finalizers.is_none());
    let owners = meta.owner_references.as_ref().unwrap();
    assert_eq!(owners.len(), 1, "only the controller");
    assert_eq!(owners[0].name, "web-abc");
    let spec = pod.spec.as_ref().unwrap();
    assert!(spec.volumes.is_none() && spec.containers[0].env.is_none());
    assert_eq!(spec.node_name.as_deref(), Some("node-a"));
    assert_eq!(pod.status.as_ref().unwrap().message, None);
    // The engine sees the same pod, workload included.
    let state = netpol_engine::State::from_loaded(&netpol_engine::load::Loaded {
        objects: vec![netpol_engine::load::Located {
            origin: Default::default(),
            object: Object::Pod(pod),
        }],
        ..Default::default()
    });
    let engine = netpol_engine::Engine::build(&state).engine;
    let pod = &engine.cluster.pods[0];
    assert_eq!(pod.workload.as_ref().map(|w| w.name.as_str()), Some("web"));
    assert_eq!(pod.ports.len(), 1);
}
