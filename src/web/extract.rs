//! What the machine API's handlers take from a request: the caller's API key, a JSON body with
//! the right errors, the workflow named in the path (if the key may use it), and query values.

use super::api_error::ApiError;
use crate::api_keys::server::{self as api_keys, KeyScope};
use crate::error::AppError;
use crate::state::AppState;
use crate::workflows::cache;
use crate::workflows::server::Workflow;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The caller's API key, from `Authorization: Bearer <key>`.
pub struct ApiKey(pub KeyScope);

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AppError::InvalidApiKey)?;
        let token = token.trim();
        let scope =
            state.api_caches.keys.get_or_load(&token.to_owned(), api_keys::authenticate(&state.db, token)).await?;
        Ok(ApiKey(scope))
    }
}

/// A JSON body: 415 without a JSON content type, 413 over the limit, 400 when it is not JSON,
/// 422 when it is JSON of the wrong shape (the message names the field).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(AppError::UnsupportedMediaType.into());
        }
        let limit_bytes = if request.uri().path().ends_with(":batch") {
            state.settings.max_batch_body_bytes
        } else {
            state.settings.max_body_bytes
        };
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
                AppError::PayloadTooLarge { limit_bytes }
            }
            other => AppError::BadRequest { message: other.body_text() },
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => AppError::invalid("", format!("The JSON does not have the expected shape: {e}")),
                _ => AppError::BadRequest { message: format!("The body is not valid JSON: {e}") },
            }
            .into()
        })
    }
}

/// The workflow named in the path, if the key may use it.
pub async fn scoped_workflow(state: &AppState, key: &KeyScope, slug: &str) -> Result<Arc<Workflow>, ApiError> {
    let workflow = cache::by_slug(&state.db, &state.api_caches.workflows, slug).await?;
    if !key.allows(workflow.id) {
        return Err(AppError::KeyScope { workflow: slug.to_owned() }.into());
    }
    Ok(workflow)
}

/// The workflow named in the path, if the key may use it and is admin-scoped (tuning, stats).
pub async fn admin_workflow(state: &AppState, key: &KeyScope, slug: &str) -> Result<Arc<Workflow>, ApiError> {
    let workflow = scoped_workflow(state, key, slug).await?;
    if !key.admin {
        return Err(AppError::KeyNotAdmin.into());
    }
    Ok(workflow)
}

/// A `cursor` query value as this API hands them out; 400 otherwise.
pub fn parse_cursor(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|c| {
        c.parse::<i64>()
            .map_err(|_| AppError::BadRequest { message: format!("'{c}' is not a cursor from this API") }.into())
    })
    .transpose()
}

/// A query string that does not fit the endpoint's parameters: 400 saying why.
pub fn bad_query(rejection: QueryRejection) -> ApiError {
    AppError::BadRequest { message: rejection.body_text() }.into()
}
