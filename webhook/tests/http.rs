//! The HTTP side without TLS: bad bodies, wrong kinds, limits, readiness and metrics.

mod common;

use axum::body::Body;
use axum::http::StatusCode;
use common::{call, review, router, router_with, validate, yaml};
use netpol_webhook::server::{self, Limits};
use netpol_webhook::{Settings, Store};
use serde_json::{Value, json};

fn json_error(status: StatusCode, bytes: &[u8], want: StatusCode, what: &str) -> String {
    assert_eq!(status, want, "{what}: {}", String::from_utf8_lossy(bytes));
    let body: Value =
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"));
    assert_eq!(body["status"], want.as_u16(), "{what}");
    body["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bad_requests_get_json_errors_and_the_server_stays_up() {
    let router = router(Settings::default());
    let cases: &[(&str, &str, StatusCode, &str)] = &[
        (
            "garbage",
            "\u{0}not json{{",
            StatusCode::BAD_REQUEST,
            "AdmissionReview",
        ),
        (
            "wrong shape",
            r#"{"request": 42}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "AdmissionReview",
        ),
        (
            "no request",
            r#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#,
            StatusCode::BAD_REQUEST,
            "has no request",
        ),
        ("empty", "", StatusCode::BAD_REQUEST, "AdmissionReview"),
    ];
    for (what, body, want, says) in cases.iter().copied() {
        let (status, bytes) = call(&router, "POST", "/validate", Body::from(body)).await;
        let error = json_error(status, &bytes, want, what);
        assert!(error.contains(says), "{what}: {error}");
        let (status, _) = call(&router, "GET", "/healthz", Body::empty()).await;
        assert_eq!(status, StatusCode::OK, "{what}: still up");
    }
    let (status, bytes) = call(&router, "GET", "/nowhere", Body::empty()).await;
    json_error(status, &bytes, StatusCode::NOT_FOUND, "unknown path");
}

#[tokio::test]
async fn wrong_kind_is_denied_with_a_clear_message() {
    let router = router(Settings::default());
    let pod =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}});
    let response = validate(&router, &review("CREATE", Some(&pod), None, false)).await;
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(message.contains("does not validate /v1 Pod"), "{message}");
    assert!(message.contains("webhook configuration"), "{message}");
}

#[tokio::test]
async fn body_limit() {
    let limits = Limits {
        body_bytes: 1024,
        ..Limits::default()
    };
    let router = router_with(Settings::default(), limits, true);
    let mut big = yaml(
        "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: big, namespace: shop}, spec: {podSelector: {}}}",
    );
    big["metadata"]["labels"] = json!({"padding": "x".repeat(4096)});
    let body = review("CREATE", Some(&big), None, false).to_string();
    let (status, bytes) = call(&router, "POST", "/validate", Body::from(body)).await;
    json_error(status, &bytes, StatusCode::PAYLOAD_TOO_LARGE, "too large");
}

#[tokio::test]
async fn ready_only_when_synced() {
    let (status, _) = call(
        &router_with(Settings::default(), Limits::default(), false),
        "GET",
        "/readyz",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = call(
        &router(Settings::default()),
        "GET",
        "/readyz",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_and_caches() {
    let router = router(Settings::default());
    let np = yaml(
        "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: n, namespace: shop}, spec: {podSelector: {}}}",
    );
    validate(&router, &review("CREATE", Some(&np), None, false)).await;
    let (status, bytes) = call(&router, "GET", "/metrics", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(bytes).unwrap();
    for needle in [
        r#"netpol_webhook_admission_requests_total{kind="NetworkPolicy",operation="CREATE",result="allowed"} 1"#,
        "netpol_webhook_admission_duration_seconds_count 1",
        r#"netpol_webhook_cache_objects{cache="pods"} 4"#,
    ] {
        assert!(text.contains(needle), "want {needle} in\n{text}");
    }
}

/// The fuzz target `admission_review` (fuzz/) calls `server::answer` in place of the router: on
/// each of its seeds (allowed, denied, invalid and unreadable reviews) both give one answer.
#[tokio::test]
async fn the_router_answers_as_the_fuzzed_exchange_does() {
    let router = router(Settings::default());
    let engine = Store::new(common::cluster()).engine();
    let seeds = format!(
        "{}/../fuzz/seeds/admission_review",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut paths: Vec<_> = std::fs::read_dir(&seeds)
        .unwrap_or_else(|e| panic!("{seeds}: {e}"))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "seeds in {seeds}");
    let mut outcomes = std::collections::BTreeSet::new();
    for path in paths {
        let what = path.display();
        let body = std::fs::read(&path).unwrap();
        let (status, bytes) = call(&router, "POST", "/validate", Body::from(body.clone())).await;
        let got: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        let want = match server::answer(&body, &engine, &Settings::default()) {
            Ok(review) => {
                assert_eq!(status, StatusCode::OK, "{what}");
                serde_json::to_value(review).unwrap()
            }
            Err(error) => {
                assert_eq!(status, error.status, "{what}");
                json!({"error": error.error, "status": error.status.as_u16()})
            }
        };
        assert_eq!(got, want, "{what}");
        outcomes.insert((status.as_u16(), got["response"]["allowed"].as_bool()));
    }
    let want = [
        (200, Some(false)),
        (200, Some(true)),
        (400, None),
        (422, None),
    ];
    assert_eq!(
        outcomes,
        want.into(),
        "allowed, denied and unreadable among the seeds"
    );
}
