//! The REST API for automation systems, under `/api/v1`: JSON in and out, bearer API keys,
//! one error shape (`{"error": {"code", "message", "details"}}`).

use crate::api_keys::server::{self as api_keys, KeyScope};
use crate::error::AppError;
use crate::items::server::{self as items, BatchError, Submission};
use crate::server::state::AppState;
use crate::workflows::server::{self as workflows, Workflow};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::OpenApi;

/// The OpenAPI document, generated from the handlers and types below.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse machine API",
        description = "Submit automation outputs for confidence routing and human review, read their \
            outcomes, and follow the decision feed. Authenticate with `Authorization: Bearer <key>`; \
            keys are scoped to workflows. Errors have one shape: `{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    paths(submit_item, submit_batch, item_by_id, item_by_external_id, list_items, decision_feed),
    components(schemas(
        Submission, Batch, BatchResult, BatchEntry, ErrorBody, ErrorDetail,
        crate::items::server::ItemView, crate::items::server::DecisionView, crate::items::server::BatchProblem,
        crate::items::server::Page<crate::items::server::ItemView>,
        crate::items::server::Page<crate::items::server::DecisionView>,
        crate::domain::routing::Route, crate::domain::routing::Destination, crate::domain::routing::RouteReason,
    )),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    tags((name = "items", description = "Submitting and reading items"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("ghk_…").build()),
        );
    }
}

/// The error shape every failed request answers with.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid`, `conflict`, `key_scope`.
    code: String,
    /// A sentence for people.
    message: String,
    /// E.g. `{"path": "/payload/total"}` for a contract violation, `{"items": [...]}` for a batch.
    #[schema(value_type = Object)]
    details: Value,
}

/// The answer to a batch: each item and whether this call created it.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct BatchResult {
    created: usize,
    items: Vec<BatchEntry>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct BatchEntry {
    created: bool,
    item: crate::items::server::ItemView,
}

pub fn router(max_body_bytes: usize, max_batch_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
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
async fn scoped_workflow(state: &AppState, key: &KeyScope, slug: &str) -> Result<Arc<Workflow>, ApiError> {
    let load = async { workflows::require_by_slug(&state.db, slug).await.map(Arc::new) };
    let workflow = state.api_caches.workflows.get_or_load(&slug.to_owned(), load).await?;
    if !key.allows(workflow.id) {
        return Err(AppError::KeyScope { workflow: slug.to_owned() }.into());
    }
    Ok(workflow)
}

/// Submit one item.
///
/// Routes it at once: auto-approved (the decision is in the answer), to the review queue, or to
/// a lead's escalation inbox. Submitting the same `external_id` with the same body again returns
/// the stored item (200); another body under that id is a conflict (409).
#[utoipa::path(post, path = "/api/v1/workflows/{slug}/items", tag = "items",
    params(("slug" = String, Path, description = "The workflow")),
    request_body = Submission,
    responses(
        (status = 201, description = "Created and routed", body = crate::items::server::ItemView),
        (status = 200, description = "Already submitted with this body", body = crate::items::server::ItemView),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Missing, wrong or revoked key", body = ErrorBody),
        (status = 403, description = "Key not scoped to this workflow", body = ErrorBody),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 409, description = "Same external_id, different body", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Breaks the data contract; details.path names the JSON path", body = ErrorBody),
    ))]
async fn submit_item(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    JsonBody(submission): JsonBody<Submission>,
) -> Result<Response, ApiError> {
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    let ingested = state.ingestor.submit(&state.contracts, workflow, submission).await?;
    let status = if ingested.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(ingested.item)).into_response())
}

/// Up to 1,000 items, all stored or none.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    items: Vec<Submission>,
}

/// Submit up to 1,000 items in one transaction.
///
/// Every item is validated first; if any is invalid (422) or conflicts with a stored item (409),
/// nothing is stored and `details.items` lists each problem with its index and JSON path.
#[utoipa::path(post, path = "/api/v1/workflows/{slug}/items:batch", tag = "items",
    params(("slug" = String, Path, description = "The workflow")),
    request_body = Batch,
    responses(
        (status = 200, description = "All stored (or already there)", body = BatchResult),
        (status = 409, description = "Conflicts; nothing stored", body = ErrorBody),
        (status = 422, description = "Invalid items; nothing stored", body = ErrorBody),
    ))]
async fn submit_batch(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    JsonBody(batch): JsonBody<Batch>,
) -> Result<Response, ApiError> {
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    match items::ingest_batch(&state.db, &state.contracts, &workflow, batch.items).await {
        Ok(results) => {
            // Serialised straight from the views (not through `Value`s: a batch answer is large).
            let created = results.iter().filter(|r| r.created).count();
            let items = results.into_iter().map(|r| BatchEntry { created: r.created, item: r.item }).collect();
            Ok((StatusCode::OK, Json(BatchResult { created, items })).into_response())
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

/// Read an item: state, outcome, final output and its decisions.
#[utoipa::path(get, path = "/api/v1/items/{id}", tag = "items",
    params(("id" = i64, Path, description = "The item id Gatehouse gave")),
    responses(
        (status = 200, body = crate::items::server::ItemView),
        (status = 403, description = "Key not scoped to the item's workflow", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
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

/// Read an item by your own id.
#[utoipa::path(get, path = "/api/v1/workflows/{slug}/items/by-external-id/{external_id}", tag = "items",
    params(("slug" = String, Path), ("external_id" = String, Path)),
    responses((status = 200, body = crate::items::server::ItemView), (status = 404, body = ErrorBody)))]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// Only items in this state (`queued`, `escalated`, `auto_approved`, `approved`, …).
    state: Option<String>,
    /// Only items created at or after this RFC 3339 time.
    since: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
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

/// List a workflow's items in a stable order, a page at a time.
#[utoipa::path(get, path = "/api/v1/workflows/{slug}/items", tag = "items",
    params(("slug" = String, Path), ListParams),
    responses((status = 200, body = crate::items::server::Page<crate::items::server::ItemView>), (status = 400, body = ErrorBody)))]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FeedParams {
    /// The `next_cursor` of your last poll; omit to start from the beginning.
    since_cursor: Option<String>,
    /// At most this many decisions, 1 to 500 (default 100).
    limit: Option<i64>,
}

/// Final outcomes after a cursor, oldest first: poll this instead of (or besides) webhooks.
/// The answer always carries the cursor to resume from.
#[utoipa::path(get, path = "/api/v1/workflows/{slug}/decisions", tag = "items",
    params(("slug" = String, Path), FeedParams),
    responses((status = 200, body = crate::items::server::Page<crate::items::server::DecisionView>)))]
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
