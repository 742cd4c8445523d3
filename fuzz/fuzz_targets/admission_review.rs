//! Arbitrary bytes as the body of `POST /validate`, through the webhook's own exchange:
//! AdmissionReview decoding, the object decoded once into its typed API, compile and the
//! priority, guard-rail and preview checks against a small cluster, then the JSON answer or
//! the JSON error. Nothing may panic.
#![no_main]

use std::sync::{Arc, LazyLock};

use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use netpol_engine::{Engine, State, read_str};
use netpol_webhook::server::answer;
use netpol_webhook::{Settings, Store, guard};

/// The admission tests' cluster and guard rail: a request is judged against real pods, an
/// admin policy to tie with and a rail to break, as in production.
struct Fixture {
    engine: Arc<Engine>,
    settings: Settings,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let cluster = include_str!("../../webhook/tests/fixtures/cluster.yaml");
    let loaded = read_str("cluster.yaml", cluster, "default");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let rails = include_str!("../../webhook/tests/fixtures/guard-rails.yaml");
    let settings = Settings {
        guard_rails: guard::parse("guard-rails.yaml", rails).expect("fixture rails parse"),
        ..Settings::default()
    };
    Fixture {
        engine: Store::new(State::from_loaded(&loaded)).engine(),
        settings,
    }
});

fuzz_target!(|body: &[u8]| {
    let fixture = &*FIXTURE;
    match answer(body, &fixture.engine, &fixture.settings) {
        // What the handler's `Json` response and the error's `IntoResponse` do with them.
        Ok(review) => {
            serde_json::to_vec(&review).expect("an AdmissionReview serializes");
        }
        Err(error) => {
            let _ = error.into_response();
        }
    }
});
