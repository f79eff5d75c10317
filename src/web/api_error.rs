//! The machine API's one error shape, `{"error": {"code", "message", "details"}}`, with the
//! status chosen by [`AppError::status`].

use crate::error::AppError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The error shape every failed request answers with.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid`, `conflict`, `key_scope`.
    code: String,
    /// A sentence for people.
    message: String,
    /// E.g. `{"path": "/payload/total"}` for a contract violation, `{"items": [...]}` for a batch.
    #[schema(value_type = Object)]
    details: Value,
}

/// The errors of every operation that takes an API key and names a workflow or an item.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum KeyErrors {
    /// The API key is missing, malformed, unknown or revoked.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The API key may not use this workflow.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such workflow or item.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// The errors of an operation that reads a JSON body.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// The body is not JSON.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// The body is larger than the limit (`details.limit_bytes`).
    #[response(status = 413)]
    PayloadTooLarge(ErrorBody),
    /// The body is not sent as `application/json`.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// The JSON has the wrong shape, or breaks the data contract (`details.path` names the JSON
    /// path, `details.items` each item of a batch).
    #[response(status = 422)]
    Invalid(ErrorBody),
}

/// The error of an operation that writes.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum WriteErrors {
    /// PostgreSQL rolled the write back to break a deadlock each time it was tried; nothing was
    /// stored. Send it again after `Retry-After` seconds.
    #[response(status = 503)]
    RolledBack(ErrorBody),
}

/// The error of an operation with query parameters.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum QueryErrors {
    /// A query parameter is unknown or not of its type (a cursor, a state, an RFC 3339 time).
    #[response(status = 400)]
    BadRequest(ErrorBody),
}

/// An error in the machine API's shape.
pub struct ApiError {
    error: AppError,
    details: Value,
}

impl ApiError {
    /// The error with details of its own (a batch's per-item problems).
    pub fn with_details(error: AppError, details: Value) -> Self {
        Self { error, details }
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let details = match &error {
            AppError::Invalid { field, .. } => json!({ "path": field }),
            AppError::TooManyAttempts { retry_after_secs, .. } | AppError::Busy { retry_after_secs } => {
                json!({ "retry_after_secs": retry_after_secs })
            }
            AppError::PayloadTooLarge { limit_bytes } => json!({ "limit_bytes": limit_bytes }),
            _ => json!({}),
        };
        Self { error, details }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({ "error": { "code": self.error.code(), "message": self.error.to_string(), "details": self.details } });
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.error.retry_after_secs() {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}
