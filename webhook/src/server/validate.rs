//! `POST /validate`: an AdmissionReview in, an AdmissionReview out.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, Operation};
use tracing::Instrument;

use super::exchange::{self, Review};
use super::{ApiError, App};
use crate::admission::served_kind;
use crate::metrics::RequestLabels;

pub async fn handle(
    State(app): State<Arc<App>>,
    payload: Result<Json<Review>, JsonRejection>,
) -> Result<Json<Review>, ApiError> {
    let started = Instant::now();
    let record = |kind, operation, result| {
        let labels = RequestLabels {
            kind,
            operation,
            result,
        };
        app.metrics.record_request(labels, started);
    };
    let review = match payload {
        Ok(Json(review)) => review,
        Err(rejection) => {
            record("unknown", "unknown", "bad_request");
            tracing::warn!(error = %rejection.body_text(), "unreadable admission request");
            return Err(rejection.into());
        }
    };
    let request = exchange::request(review).inspect_err(|_| {
        record("unknown", "unknown", "bad_request");
    })?;
    let kind = served_kind(&request.kind).map_or("other", |k| k.name());
    let operation = operation_label(&request.operation);
    let span = tracing::info_span!(
        "admission",
        uid = %request.uid,
        kind,
        operation,
        namespace = request.namespace.as_deref().unwrap_or(""),
        name = %request.name,
        dry_run = request.dry_run,
    );
    decide(app.clone(), request, kind, operation, started)
        .instrument(span)
        .await
}

async fn decide(
    app: Arc<App>,
    request: AdmissionRequest<DynamicObject>,
    kind: &'static str,
    operation: &'static str,
    started: Instant,
) -> Result<Json<Review>, ApiError> {
    let record = |result| {
        let labels = RequestLabels {
            kind,
            operation,
            result,
        };
        app.metrics.record_request(labels, started);
    };
    let deadline = started + app.limits.timeout;
    let busy = || {
        record("busy");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the webhook is busy or the evaluation timed out; retry",
        )
    };
    let permit = tokio::time::timeout_at(deadline.into(), app.slots.clone().acquire_owned())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let engine = app.shared.engine();
    let settings = app.settings.clone();
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        exchange::decide(&engine, &request, &settings)
    });
    let reviewed = tokio::time::timeout_at(deadline.into(), work)
        .await
        .map_err(|_| busy())?
        .map_err(|err| {
            record("error");
            tracing::error!(error = %err, "evaluation failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the evaluation failed")
        })?;
    if !reviewed.preview_complete {
        app.metrics.previews_cut_short.inc();
    }
    record(reviewed.outcome.as_str());
    tracing::info!(
        result = reviewed.outcome.as_str(),
        allowed = reviewed.response.allowed,
        message = %reviewed.response.result.message,
        warnings = reviewed.response.warnings.as_ref().map_or(0, Vec::len),
        micros = started.elapsed().as_micros() as u64,
        "admission decided"
    );
    Ok(Json(reviewed.response.into_review()))
}

fn operation_label(operation: &Operation) -> &'static str {
    match operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}
