//! Webhook benchmark on the synthetic 150,000-pod cluster: admission decision latency without
//! and with the impact preview, then a load generator against the real HTTPS server over
//! 127.0.0.1 for a bounded time. Prints figures; asserts nothing.
//!
//! `cargo bench -p netpol-webhook --bench webhook` (the large cluster, 10 s of load);
//! `-- --pods 20000 --seconds 5 --connections 8` to change them.

#[path = "../tests/common/https.rs"]
mod https;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use netpol_engine::State;
use netpol_engine::load::{Located, Object};
use netpol_engine::synthetic::{self, Shape};
use netpol_webhook::metrics::Metrics;
use netpol_webhook::server::{self, App, Limits};
use netpol_webhook::shared::Shared;
use netpol_webhook::{Settings, Store, review};
use serde_json::{Value, json};

fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1)?.parse().ok()
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shape = arg("--pods").map_or_else(Shape::large, Shape::with_pods);
    let seconds: u64 = arg("--seconds").unwrap_or(10).min(60);
    let connections: usize = arg("--connections").unwrap_or(8).min(64);
    println!(
        "synthetic cluster: {} pods, {} namespaces, {} NetworkPolicies, {} ANP/CNP",
        shape.pods(),
        shape.namespaces,
        shape.namespaces * shape.network_policies_per_namespace,
        shape.admin_policies
    );
    let objects = synthetic::generate(&shape);
    let bodies = requests(&objects);
    let mut state = State::new();
    for located in objects {
        state.insert_new(located);
    }
    let started = Instant::now();
    let store = Store::new(state);
    println!(
        "caches: engine built in {:.2?}; {:?}",
        started.elapsed(),
        store.sizes()
    );
    let engine = store.engine();

    let parsed: Vec<(&str, AdmissionRequest<DynamicObject>)> = bodies
        .iter()
        .map(|(name, body)| {
            let review: AdmissionReview<DynamicObject> =
                serde_json::from_value(body.clone()).unwrap();
            (*name, review.try_into().unwrap())
        })
        .collect();
    components(&engine, &parsed);
    let no_preview = Settings {
        preview_budget: Duration::ZERO,
        ..Settings::default()
    };
    let with_preview = Settings::default();
    for (label, settings, rounds) in [
        ("decision without preview", &no_preview, 100),
        (
            "decision with preview (default 120 ms budget)",
            &with_preview,
            20,
        ),
    ] {
        println!("{label}:");
        let mut all = Vec::new();
        for (name, request) in &parsed {
            let mut times = Vec::new();
            let mut last = None;
            for _ in 0..rounds {
                let started = Instant::now();
                let reviewed = review(&engine, request, settings);
                times.push(started.elapsed());
                last = Some(reviewed);
            }
            let last = last.expect("ran");
            all.extend(times.iter().copied());
            println!(
                "  {name:<40} {} (allowed {}, {} warnings, preview complete {})",
                summary(&mut times),
                last.response.allowed,
                last.response.warnings.as_ref().map_or(0, Vec::len),
                last.preview_complete
            );
        }
        println!("  {:<40} {}", "all requests", summary(&mut all));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let shared = Arc::new(Shared::new(store, true));
    // The common requests (no equal priority) and the full mix, where half the requests
    // carry the priority analysis of a taken priority.
    let common: Vec<(&str, Value)> = bodies[..2].to_vec();
    for (label, settings, mix, secs) in [
        (
            "without preview, common requests",
            &no_preview,
            &common,
            seconds,
        ),
        (
            "without preview, all four requests",
            &no_preview,
            &bodies,
            seconds,
        ),
        (
            "with preview, all four requests",
            &with_preview,
            &bodies,
            seconds.div_ceil(2),
        ),
    ] {
        let app = App::new(
            shared.clone(),
            settings.clone(),
            Arc::new(Metrics::default()),
            Limits::default(),
        );
        let result = runtime.block_on(load(app, mix, connections, Duration::from_secs(secs)));
        println!(
            "HTTPS load {label}, {connections} connections over 127.0.0.1 for {secs} s: {result}"
        );
    }
}

/// Where a decision's time goes: the engine with the change, and the priority analysis.
fn components(engine: &netpol_engine::Engine, parsed: &[(&str, AdmissionRequest<DynamicObject>)]) {
    use netpol_engine::engine::compile_policy;
    println!("components:");
    for (name, request) in parsed {
        let value = serde_json::to_value(request.object.as_ref().unwrap()).unwrap();
        let loaded = netpol_engine::load::read_json_values("bench", 0, vec![value], "default");
        let Some(located) = loaded.objects.first() else {
            continue;
        };
        let policy = compile_policy(&located.object).unwrap().unwrap();
        let id = policy.id().clone();
        let mut changes = Vec::new();
        let mut conflicts = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let after = engine.with_changes(vec![policy.clone()], &[]);
            changes.push(started.elapsed());
            let started = Instant::now();
            std::hint::black_box(netpol_engine::lint::conflicts_for(&after, &id));
            conflicts.push(started.elapsed());
        }
        println!("  {name:<40} with_changes {}", summary(&mut changes));
        println!("  {:<40} conflicts_for {}", "", summary(&mut conflicts));
    }
}

/// Percentiles of a set of durations.
fn summary(times: &mut [Duration]) -> String {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    format!(
        "p50 {:.2?}, p99 {:.2?}, max {:.2?} (n={})",
        at(0.5),
        at(0.99),
        times[times.len() - 1],
        times.len()
    )
}

fn admission(
    operation: &str,
    object: &Value,
    group_version: (&str, &str),
    kind: &str,
    namespace: Option<&str>,
) -> Value {
    let mut request = json!({
        "uid": "bench",
        "kind": {"group": group_version.0, "version": group_version.1, "kind": kind},
        "resource": {"group": group_version.0, "version": group_version.1, "resource": "x"},
        "name": object["metadata"]["name"],
        "operation": operation,
        "userInfo": {},
        "object": object,
        "dryRun": true,
    });
    if let Some(ns) = namespace {
        request["namespace"] = ns.into();
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

/// Realistic requests: a new NetworkPolicy, an admin policy changed in place, and a new one
/// at a priority already taken with opposite actions (rejected).
fn requests(objects: &[Located]) -> Vec<(&'static str, Value)> {
    let namespace = synthetic::namespace_name(7);
    let np = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "bench-deny-ingress", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    });
    let changed = synthetic::changed_cnp(objects).expect("an Admin CNP");
    let Object::ClusterNetworkPolicy(cnp) = changed else {
        unreachable!()
    };
    let mut changed_value = serde_json::to_value(&cnp).unwrap();
    changed_value["apiVersion"] = "policy.networking.k8s.io/v1alpha2".into();
    changed_value["kind"] = "ClusterNetworkPolicy".into();
    // The original accepts where the changed one denies: as a second policy, a conflict.
    let original = objects
        .iter()
        .find_map(|l| match &l.object {
            Object::ClusterNetworkPolicy(c) if c.metadata.name == cnp.metadata.name => {
                Some(c.clone())
            }
            _ => None,
        })
        .expect("the original CNP");
    let mut twin = serde_json::to_value(&original).unwrap();
    twin["metadata"] = json!({"name": "bench-twin"});
    twin["apiVersion"] = changed_value["apiVersion"].clone();
    twin["kind"] = changed_value["kind"].clone();
    let mut twin_changed = changed_value.clone();
    twin_changed["metadata"] = json!({"name": "bench-twin"});
    let cnp_gv = ("policy.networking.k8s.io", "v1alpha2");
    vec![
        (
            "create NetworkPolicy (default deny)",
            admission(
                "CREATE",
                &np,
                ("networking.k8s.io", "v1"),
                "NetworkPolicy",
                Some(&namespace),
            ),
        ),
        (
            "update CNP (Accept -> Deny)",
            admission(
                "UPDATE",
                &changed_value,
                cnp_gv,
                "ClusterNetworkPolicy",
                None,
            ),
        ),
        (
            "create CNP at a taken priority (conflict)",
            admission(
                "CREATE",
                &twin_changed,
                cnp_gv,
                "ClusterNetworkPolicy",
                None,
            ),
        ),
        (
            "create CNP at a taken priority (same rules)",
            admission("CREATE", &twin, cnp_gv, "ClusterNetworkPolicy", None),
        ),
    ]
}

/// Requests/s, errors and latency of `connections` keep-alive clients for `duration`.
async fn load(
    app: Arc<App>,
    bodies: &[(&str, Value)],
    connections: usize,
    duration: Duration,
) -> String {
    let certs = https::pki("bench");
    let dir = https::temp_dir("bench");
    let (cert, key) = certs.write(&dir);
    let config = netpol_webhook::tls::load(&cert, &key).expect("certificate");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let handle = axum_server::Handle::new();
    let server = tokio::spawn(server::serve_tls(
        listener,
        server::router(app),
        config,
        handle.clone(),
    ));
    let connector = https::connector(&certs.root, &[&rustls::version::TLS13]);
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        bodies
            .iter()
            .map(|(_, b)| b.to_string().into_bytes())
            .collect(),
    );
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut clients = Vec::new();
    for c in 0..connections {
        let (connector, bodies, ok, errors) = (
            connector.clone(),
            bodies.clone(),
            ok.clone(),
            errors.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut stream = None;
            let mut i = c;
            while Instant::now() < deadline {
                if stream.is_none() {
                    match https::connect(&connector, addr).await {
                        Ok(s) => stream = Some(s),
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let body = &bodies[i % bodies.len()];
                i += 1;
                let sent = Instant::now();
                match https::request(
                    stream.as_mut().expect("connected"),
                    "POST",
                    "/validate",
                    body,
                )
                .await
                {
                    Ok((200, _)) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        latencies.push(sent.elapsed());
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        stream = None;
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let elapsed = started.elapsed();
    handle.graceful_shutdown(Some(Duration::from_secs(2)));
    let _ = server.await;
    let _ = std::fs::remove_dir_all(dir);
    let ok = ok.load(Ordering::Relaxed);
    let latency = if latencies.is_empty() {
        "no responses".to_owned()
    } else {
        summary(&mut latencies)
    };
    format!(
        "{:.0} requests/s ({ok} answered, {} errors); latency {latency}",
        ok as f64 / elapsed.as_secs_f64(),
        errors.load(Ordering::Relaxed)
    )
}
