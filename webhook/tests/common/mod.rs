//! Builders shared by the integration tests: the fixture cluster, routers over it, and
//! AdmissionReview requests.
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use netpol_engine::{State, read_str};
use netpol_webhook::metrics::Metrics;
use netpol_webhook::server::{self, App, Limits};
use netpol_webhook::shared::Shared;
use netpol_webhook::{Settings, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn cluster() -> State {
    let loaded = read_str("cluster.yaml", &fixture("cluster.yaml"), "default");
    assert!(
        loaded.errors.is_empty(),
        "fixture reads: {:?}",
        loaded.errors
    );
    State::from_loaded(&loaded)
}

pub fn router_with(settings: Settings, limits: Limits, ready: bool) -> Router {
    router_over(cluster(), settings, limits, ready)
}

/// A router whose caches hold `state`.
pub fn router_over(state: State, settings: Settings, limits: Limits, ready: bool) -> Router {
    let shared = Arc::new(Shared::new(Store::new(state), ready));
    server::router(App::new(
        shared,
        settings,
        Arc::new(Metrics::default()),
        limits,
    ))
}

pub fn router(settings: Settings) -> Router {
    router_with(settings, Limits::default(), true)
}

/// A YAML object as JSON.
pub fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("test YAML")
}

/// An AdmissionReview for `object` (CREATE/UPDATE) or `old` (DELETE).
pub fn review(
    operation: &str,
    object: Option<&Value>,
    old: Option<&Value>,
    dry_run: bool,
) -> Value {
    let subject = object.or(old).expect("an object");
    let api_version = subject["apiVersion"].as_str().unwrap();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = subject["kind"].as_str().unwrap();
    let mut request = json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
        "name": subject["metadata"]["name"],
        "operation": operation,
        "userInfo": {"username": "admin"},
        "object": object,
        "oldObject": old,
        "dryRun": dry_run,
    });
    if let Some(ns) = subject["metadata"].get("namespace") {
        request["namespace"] = ns.clone();
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

pub async fn call(router: &Router, method: &str, path: &str, body: Body) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

/// Posts a review and returns the response part.
pub async fn validate(router: &Router, body: &Value) -> Value {
    let (status, bytes) = call(router, "POST", "/validate", Body::from(body.to_string())).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let review: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["response"]["uid"], body["request"]["uid"]);
    review["response"].clone()
}

pub fn warnings(response: &Value) -> Vec<String> {
    response["warnings"]
        .as_array()
        .map(|w| w.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

pub fn message(response: &Value) -> String {
    response["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub mod https;
