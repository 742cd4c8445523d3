//! One exchange of `POST /validate` without the HTTP, the blocking pool or the metrics: the
//! steps from a body's AdmissionReview to the AdmissionReview answered. The handler runs them
//! one by one around its own concerns (span, slot, timeout); `answer` runs them in the same
//! order on raw bytes, for the fuzz target `admission_review` (fuzz/) and the test that holds
//! the two to the same answers.

use axum::Json;
use axum::http::StatusCode;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use netpol_engine::Engine;

use super::ApiError;
use crate::admission::{self, Reviewed};
use crate::settings::Settings;

pub type Review = AdmissionReview<DynamicObject>;

/// The whole exchange on a body's bytes. The handler's `Json` extractor first checks the
/// content type and the size limit, then decodes with the same `Json::from_bytes`.
pub fn answer(body: &[u8], engine: &Engine, settings: &Settings) -> Result<Review, ApiError> {
    let Json(review) = Json::<Review>::from_bytes(body)?;
    let request = request(review)?;
    Ok(decide(engine, &request, settings).response.into_review())
}

/// The request a decoded review carries.
pub fn request(review: Review) -> Result<AdmissionRequest<DynamicObject>, ApiError> {
    review.try_into().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "the AdmissionReview has no request: want {\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": \"AdmissionReview\", \"request\": {...}}",
        )
    })
}

/// The decision on a request, its warnings capped for the API server and kubectl.
pub fn decide(
    engine: &Engine,
    request: &AdmissionRequest<DynamicObject>,
    settings: &Settings,
) -> Reviewed {
    admission::capped(admission::review(engine, request, settings), settings)
}
