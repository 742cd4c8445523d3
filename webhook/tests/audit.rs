//! The audit: which pairs of admin policies already in the cluster conflict, and the Events
//! it records on both (through a fake API server that serves the policies and takes Events).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fixture;
use netpol_engine::load::ObjectKind;
use netpol_engine::state::ObjectKey;
use netpol_engine::{Engine, State, read_str};
use netpol_webhook::Store;
use netpol_webhook::audit;
use netpol_webhook::metrics::Metrics;
use netpol_webhook::shared::Shared;
use serde_json::{Value, json};

fn anp(name: &str, priority: u32, subject: &str, action: &str, from_team: &str) -> String {
    format!(
        "---\napiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n\
         metadata: {{name: {name}}}\nspec:\n  priority: {priority}\n  subject: {subject}\n  ingress:\n\
         \x20 - {{name: r, action: {action}, from: [{{namespaces: {{matchLabels: {{team: {from_team}}}}}}}]}}\n"
    )
}

fn cnp(name: &str, tier: &str, priority: u32, action: &str) -> String {
    format!(
        "---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n\
         metadata: {{name: {name}}}\nspec:\n  tier: {tier}\n  priority: {priority}\n\
         \x20 subject: {{namespaces: {{matchLabels: {{team: shop}}}}}}\n  ingress:\n\
         \x20 - {{name: r, action: {action}, from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: kube-system}}}}}}]}}\n"
    )
}

const SHOP: &str = "{namespaces: {matchLabels: {team: shop}}}";

/// Isolates every shop pod for ingress, admitting only shop: a Pass from db ends denied.
const NP_ONLY_SHOP: &str = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n\
    metadata: {name: only-shop, namespace: shop}\nspec:\n  podSelector: {}\n\
    \x20 ingress: [{from: [{podSelector: {}}]}]\n";
const SHOP_API: &str = "{pods: {namespaceSelector: {matchLabels: {team: shop}}, podSelector: {matchLabels: {app: api}}}}";
const SHOP_WEB: &str = "{pods: {namespaceSelector: {matchLabels: {team: shop}}, podSelector: {matchLabels: {app: web}}}}";
const DB: &str = "{namespaces: {matchLabels: {team: db}}}";

/// The fixture cluster (which has ANP shop-guard: priority 10, shop denies db) plus `extra`.
fn state(extra: &str) -> State {
    let text = format!("{}\n{extra}", fixture("cluster.yaml"));
    let loaded = read_str("cluster.yaml", &text, "default");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    State::from_loaded(&loaded)
}

fn pairs(extra: &str) -> Vec<(String, String)> {
    let engine = Engine::build(&state(extra)).engine;
    let mut out: Vec<(String, String)> = audit::conflicts(&engine)
        .iter()
        .map(|c| {
            let mut pair = [c.policy.name.clone(), c.clash.other.name.clone()];
            pair.sort();
            (pair[0].clone(), pair[1].clone())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn conflicting_pairs() {
    let api_allow = anp("api-from-db", 10, SHOP_API, "Allow", "db");
    let web_allow = anp("web-from-db", 10, SHOP_WEB, "Allow", "db");
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    type Pairs = Vec<(String, String)>;
    let cases: Vec<(&str, String, Pairs)> = vec![
        ("the fixture alone", String::new(), vec![]),
        (
            "allow vs shop-guard's deny on shared pods",
            api_allow.clone(),
            vec![pair("api-from-db", "shop-guard")],
        ),
        (
            "equal priority, disjoint subjects",
            anp("db-guard", 10, DB, "Deny", "shop"),
            vec![],
        ),
        (
            "equal priority, same action",
            anp("also-deny", 10, SHOP, "Deny", "db"),
            vec![],
        ),
        (
            "Pass vs shop-guard's Deny with nothing below: the Pass ends allowed, the Deny denied",
            anp("shop-pass-db", 10, SHOP, "Pass", "db"),
            vec![pair("shop-guard", "shop-pass-db")],
        ),
        (
            "Pass vs shop-guard's Deny while a NetworkPolicy isolates shop: denied either way (latent)",
            format!(
                "{}{NP_ONLY_SHOP}",
                anp("shop-pass-db", 10, SHOP, "Pass", "db")
            ),
            vec![],
        ),
        (
            "Allow vs shop-guard's Deny while a NetworkPolicy isolates shop: the Allow still allows",
            format!(
                "{}{NP_ONLY_SHOP}",
                anp("shop-allow-db", 10, SHOP, "Allow", "db")
            ),
            vec![pair("shop-allow-db", "shop-guard")],
        ),
        (
            "another priority",
            anp("later", 11, SHOP, "Allow", "db"),
            vec![],
        ),
        (
            "two allows against one deny: two pairs, the allows agree",
            format!("{api_allow}{web_allow}"),
            vec![
                pair("api-from-db", "shop-guard"),
                pair("shop-guard", "web-from-db"),
            ],
        ),
        (
            "CNPs of different tiers share a number, not a tier",
            format!(
                "{}{}",
                cnp("admin-40", "Admin", 40, "Deny"),
                cnp("base-40", "Baseline", 40, "Accept")
            ),
            vec![],
        ),
        (
            "CNPs of one tier on flows shop-guard (priority 10) decides first: nothing reaches the tie",
            format!(
                "{}{}",
                anp("a-40", 40, SHOP, "Allow", "db"),
                anp("b-40", 40, SHOP, "Pass", "db")
            ),
            vec![],
        ),
        (
            "CNPs of one tier (from kube-system: shop-guard decides nothing there first)",
            format!(
                "{}{}",
                cnp("a-40", "Admin", 40, "Deny"),
                cnp("b-40", "Admin", 40, "Accept")
            ),
            vec![pair("a-40", "b-40")],
        ),
    ];
    for (what, extra, want) in cases {
        assert_eq!(pairs(&extra), want, "{what}");
    }
}

#[test]
fn notes_name_the_other_policy_and_a_flow() {
    let engine = Engine::build(&state(&anp("api-from-db", 10, SHOP_API, "Allow", "db"))).engine;
    let found = audit::conflicts(&engine);
    let conflict = &found[0];
    let note = conflict.note(&conflict.policy);
    assert!(note.contains(&conflict.clash.other.to_string()), "{note}");
    assert!(
        note.contains("priority 10") && note.contains("db/pg-1"),
        "{note}"
    );
    let other_note = conflict.note(&conflict.clash.other);
    assert!(
        other_note.contains(&conflict.policy.to_string()),
        "{other_note}"
    );
}

/// The audit loop against a fake API server: one Warning Event per policy of the pair, with
/// the object's uid so that `kubectl describe` shows it, and the metric set.
#[tokio::test]
async fn records_events_on_both_policies() {
    let events = Arc::new(Mutex::new(Vec::<Value>::new()));
    let client = fake_api(events.clone());
    let state = state(&anp("api-from-db", 10, SHOP_API, "Allow", "db"));
    let shared = Arc::new(Shared::new(Store::new(state), true));
    let metrics = Arc::new(Metrics::default());
    let task = tokio::spawn(audit::run(
        client,
        shared,
        metrics.clone(),
        Duration::from_millis(50),
    ));
    for _ in 0..100 {
        if events.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let events = events.lock().unwrap().clone();
    assert!(events.len() >= 2, "events: {events:?}");
    let mut about: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(e["type"], "Warning");
            assert_eq!(e["reason"], "PriorityConflict");
            assert!(e["note"].as_str().unwrap().contains("priority 10"));
            let regarding = &e["regarding"];
            (
                regarding["name"].as_str().unwrap().to_owned(),
                regarding["uid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    about.sort();
    about.dedup();
    assert_eq!(
        about,
        [
            ("api-from-db".to_owned(), "uid-api-from-db".to_owned()),
            ("shop-guard".to_owned(), "uid-shop-guard".to_owned())
        ]
    );
    let text = metrics.encode();
    assert!(
        text.contains("netpol_webhook_audit_priority_conflicts 1"),
        "{text}"
    );
}

/// A latent tie (a NetworkPolicy makes the Pass end denied, like the Deny) has no Event; once
/// the NetworkPolicy is deleted, the audit runs on the change (well before its period) and the
/// now real conflict gets its Events.
#[tokio::test]
async fn a_latent_tie_made_real_by_a_change_below_gets_its_events() {
    let events = Arc::new(Mutex::new(Vec::<Value>::new()));
    let client = fake_api(events.clone());
    let extra = format!(
        "{}{NP_ONLY_SHOP}",
        anp("shop-pass-db", 10, SHOP, "Pass", "db")
    );
    let shared = Arc::new(Shared::new(Store::new(state(&extra)), true));
    let metrics = Arc::new(Metrics::default());
    let task = tokio::spawn(audit::run_polling(
        client,
        shared.clone(),
        metrics.clone(),
        Duration::from_secs(3600),
        Duration::from_millis(20),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        events.lock().unwrap().is_empty(),
        "latent: {:?}",
        events.lock().unwrap()
    );
    assert!(
        metrics
            .encode()
            .contains("netpol_webhook_audit_runs_total 1")
    );
    // A pod change alone does not trigger an audit.
    shared.update(|store| {
        store.delete(&ObjectKey {
            kind: ObjectKind::Pod,
            namespace: Some("kube-system".into()),
            name: "coredns-1".into(),
        });
        store.refresh();
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        metrics
            .encode()
            .contains("netpol_webhook_audit_runs_total 1")
    );
    shared.update(|store| {
        store.delete(&ObjectKey {
            kind: ObjectKind::NetworkPolicy,
            namespace: Some("shop".into()),
            name: "only-shop".into(),
        })
    });
    for _ in 0..100 {
        if events.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let events = events.lock().unwrap().clone();
    let mut about: Vec<&str> = events
        .iter()
        .map(|e| e["regarding"]["name"].as_str().unwrap())
        .collect();
    about.sort();
    about.dedup();
    assert_eq!(about, ["shop-guard", "shop-pass-db"], "{events:?}");
    let note = events[0]["note"].as_str().unwrap();
    assert!(
        note.contains("allowed with shop-guard first")
            || note.contains("denied with shop-guard first"),
        "{note}"
    );
}

/// Serves admin policies by name (with a uid) and records posted Events.
fn fake_api(events: Arc<Mutex<Vec<Value>>>) -> kube::Client {
    use http_body_util::BodyExt;
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let events = events.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let path = parts.uri.path().to_owned();
            let (code, value) = if parts.method == http::Method::POST && path.contains("/events") {
                let event: Value = serde_json::from_slice(&body)?;
                events.lock().unwrap().push(event.clone());
                (201, event)
            } else if let Some(name) =
                path.strip_prefix("/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies/")
            {
                (
                    200,
                    json!({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
                    "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "7"}}),
                )
            } else {
                (
                    404,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": path}),
                )
            };
            let response = http::Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(bytes::Bytes::from(
                    value.to_string(),
                )))
                .unwrap();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(response)
        }
    });
    kube::Client::new(service, "default")
}
