//! The HTTP side: `/validate`, `/healthz`, `/readyz`, `/metrics`. Evaluation runs on the
//! blocking pool behind a semaphore so that a burst cannot starve the runtime; bad bodies get
//! a JSON error and the server carries on.

mod error;
mod exchange;
mod validate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::sync::Semaphore;

pub use error::ApiError;
pub use exchange::{Review, answer};

use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::shared::Shared;

/// Limits of the HTTP side.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body accepted.
    pub body_bytes: usize,
    /// Evaluations running at once.
    pub concurrency: usize,
    /// Longest a request may wait for a slot and be evaluated.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 3 * 1024 * 1024,
            concurrency: 4,
            timeout: Duration::from_secs(8),
        }
    }
}

/// Everything a handler needs.
#[derive(Debug)]
pub struct App {
    pub shared: Arc<Shared>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    slots: Arc<Semaphore>,
}

impl App {
    pub fn new(
        shared: Arc<Shared>,
        settings: Settings,
        metrics: Arc<Metrics>,
        limits: Limits,
    ) -> Arc<Self> {
        Arc::new(Self {
            shared,
            settings: Arc::new(settings),
            metrics,
            slots: Arc::new(Semaphore::new(limits.concurrency.max(1))),
            limits,
        })
    }
}

/// Serves `router` over HTTPS on a bound listener until `handle` shuts it down.
pub async fn serve_tls(
    listener: std::net::TcpListener,
    router: Router,
    tls: RustlsConfig,
    handle: Handle<SocketAddr>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    axum_server::tls_rustls::from_tcp_rustls(listener, tls)?
        .handle(handle)
        .serve(router.into_make_service())
        .await
}

pub fn router(app: Arc<App>) -> Router {
    let body_bytes = app.limits.body_bytes;
    Router::new()
        .route("/validate", post(validate::handle))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint: try POST /validate",
            )
        })
        .layer(DefaultBodyLimit::max(body_bytes))
        .with_state(app)
}

async fn readyz(State(app): State<Arc<App>>) -> impl IntoResponse {
    if app.shared.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    app.metrics.set_sizes(app.shared.sizes());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
}
