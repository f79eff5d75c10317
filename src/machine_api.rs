//! The REST API for automation systems, under `/api/v1`: JSON in and out, bearer API keys,
//! one error shape (`{"error": {"code", "message", "details"}}`).

use crate::api_keys::server::{self as api_keys, KeyScope};
use crate::error::AppError;
use crate::items::server::{self as items, BatchError, Submission};
use crate::server::state::AppState;
use crate::workflows::server::{self as workflows, Workflow};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub fn router(max_body_bytes: usize, max_batch_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/workflows/{slug}/items",
            post(submit_item).layer(DefaultBodyLimit::max(max_body_bytes)).get(list_items),
        )
        .route("/workflows/{slug}/items:batch", post(submit_batch).layer(DefaultBodyLimit::max(max_batch_body_bytes)))
        .route("/workflows/{slug}/items/by-external-id/{external_id}", get(item_by_external_id))
        .route("/workflows/{slug}/decisions", get(decision_feed))
        .route("/items/{id}", get(item_by_id))
        .fallback(|| async { ApiError::from(AppError::not_found("That API endpoint")) })
}

/// An error in the machine API's shape.
pub struct ApiError {
    error: AppError,
    details: Value,
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let details = match &error {
            AppError::Invalid { field, .. } => json!({ "path": field }),
            AppError::TooManyAttempts { retry_after_secs, .. } => json!({ "retry_after_secs": retry_after_secs }),
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
        (status, Json(body)).into_response()
    }
}

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
        Ok(ApiKey(api_keys::authenticate(&state.db, token.trim()).await?))
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
            BytesRejection::FailedToBufferBody(e) if e.body_text().contains("length limit") => {
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
async fn scoped_workflow(state: &AppState, key: &KeyScope, slug: &str) -> Result<Workflow, ApiError> {
    let workflow = workflows::require_by_slug(&state.db, slug).await?;
    if !key.allows(workflow.id) {
        return Err(AppError::KeyScope { workflow: slug.to_owned() }.into());
    }
    Ok(workflow)
}

async fn submit_item(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    JsonBody(submission): JsonBody<Submission>,
) -> Result<Response, ApiError> {
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    let ingested = items::ingest_one(&state.db, &state.contracts, &workflow, submission).await?;
    let status = if ingested.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(ingested.item)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    items: Vec<Submission>,
}

async fn submit_batch(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    JsonBody(batch): JsonBody<Batch>,
) -> Result<Response, ApiError> {
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    match items::ingest_batch(&state.db, &state.contracts, &workflow, batch.items).await {
        Ok(results) => {
            let created = results.iter().filter(|r| r.created).count();
            let items: Vec<_> = results.into_iter().map(|r| json!({ "created": r.created, "item": r.item })).collect();
            Ok((StatusCode::OK, Json(json!({ "created": created, "items": items }))).into_response())
        }
        Err(BatchError::Other(e)) => Err(e.into()),
        Err(BatchError::Items { status, problems }) => {
            let error = if status == 409 {
                AppError::conflict(format!(
                    "{} item(s) conflict with stored items; nothing was stored.",
                    problems.len()
                ))
            } else {
                AppError::invalid("/items", format!("{} item(s) are invalid; nothing was stored.", problems.len()))
            };
            let mut api_error = ApiError::from(error);
            api_error.details = json!({ "items": problems });
            Err(api_error)
        }
    }
}

async fn item_by_id(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::from(AppError::not_found(format!("The item {id}")));
    let item_id: i64 = id.parse().map_err(|_| not_found())?;
    let workflow_id = items::workflow_of(&state.db, item_id).await?.ok_or_else(not_found)?;
    let workflow = workflows::find_by_id(&state.db, workflow_id).await?.ok_or_else(not_found)?;
    if !key.allows(workflow.id) {
        return Err(AppError::KeyScope { workflow: workflow.slug().to_owned() }.into());
    }
    let item = items::get(&state.db, &workflow, item_id).await?.ok_or_else(not_found)?;
    Ok(Json(item).into_response())
}

async fn item_by_external_id(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path((slug, external_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    let item = items::get_by_external_id(&state.db, &workflow, &external_id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("The item with external_id '{external_id}'")))?;
    Ok(Json(item).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    state: Option<String>,
    since: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

const STATES: &[&str] =
    &["queued", "claimed", "escalated", "assigned", "auto_approved", "approved", "rejected", "corrected"];

fn parse_cursor(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|c| {
        c.parse::<i64>()
            .map_err(|_| AppError::BadRequest { message: format!("'{c}' is not a cursor from this API") }.into())
    })
    .transpose()
}

fn bad_query(rejection: QueryRejection) -> ApiError {
    AppError::BadRequest { message: rejection.body_text() }.into()
}

async fn list_items(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(bad_query)?;
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    if let Some(s) = params.state.as_deref().filter(|s| !STATES.contains(s)) {
        return Err(AppError::BadRequest {
            message: format!("'{s}' is not a state; use one of {}", STATES.join(", ")),
        }
        .into());
    }
    let since_ms = params
        .since
        .as_deref()
        .map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|_| ApiError::from(AppError::BadRequest { message: format!("'{s}' is not an RFC 3339 time") }))
        })
        .transpose()?;
    let cursor = parse_cursor(params.cursor.as_deref())?;
    let page =
        items::list(&state.db, &workflow, params.state.as_deref(), since_ms, cursor, params.limit.unwrap_or(100))
            .await?;
    Ok(Json(page).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedParams {
    since_cursor: Option<String>,
    limit: Option<i64>,
}

async fn decision_feed(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    params: Result<Query<FeedParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(bad_query)?;
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    let cursor = parse_cursor(params.since_cursor.as_deref())?;
    let page = items::decision_feed(&state.db, &workflow, cursor, params.limit.unwrap_or(100)).await?;
    Ok(Json(page).into_response())
}
