//! The items REST API under `/api/v1` (mounted by [`crate::web::machine_api`]): submit one
//! item or a batch, read an item, list a workflow's items, and follow its decision feed. Each
//! handler authenticates the key, checks its scope, then makes one call into the services.

use super::ingest::{BatchError, ingest_batch};
use super::list::{self, Page};
use super::submission::Submission;
use super::view::{self, DecisionView, ItemView};
use crate::domain::item_state::ItemState;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::clock::parse_rfc3339;
use crate::web::api_error::{ApiError, BodyErrors, ErrorBody, KeyErrors, QueryErrors};
use crate::web::extract::{ApiKey, JsonBody, bad_query, parse_cursor, scoped_workflow};
use crate::workflows::server as workflows;
use axum::Json;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// The answer to a batch: each item and whether this call created it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    created: usize,
    items: Vec<BatchEntry>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BatchEntry {
    created: bool,
    item: ItemView,
}

/// The items API's routes and their part of the OpenAPI document (paths relative to `/api/v1`),
/// with the body limits of single and batch submits.
pub fn routes(max_body_bytes: usize, max_batch_body_bytes: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(submit_item, list_items).layer(DefaultBodyLimit::max(max_body_bytes)))
        .routes(routes!(submit_batch).layer(DefaultBodyLimit::max(max_batch_body_bytes)))
        .routes(routes!(item_by_external_id))
        .routes(routes!(decision_feed))
        .routes(routes!(item_by_id))
}

/// Submit one item.
///
/// Routes it at once: auto-approved (the decision is in the answer), to the review queue, or to
/// a lead's escalation inbox. Submitting the same `external_id` with the same body again returns
/// the stored item (200); another body under that id is a conflict (409).
#[utoipa::path(post, path = "/workflows/{slug}/items", tag = "items",
    params(("slug" = String, Path, description = "The workflow")),
    request_body = Submission,
    responses(
        (status = 201, description = "Created and routed", body = ItemView),
        (status = 200, description = "Already submitted with this body", body = ItemView),
        (status = 409, description = "Same external_id, different body", body = ErrorBody),
        KeyErrors, BodyErrors,
    ))]
pub async fn submit_item(
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
#[utoipa::path(post, path = "/workflows/{slug}/items:batch", tag = "items",
    params(("slug" = String, Path, description = "The workflow")),
    request_body = Batch,
    responses(
        (status = 200, description = "All stored (or already there)", body = BatchResult),
        (status = 409, description = "Conflicts with stored items; nothing stored", body = ErrorBody),
        KeyErrors, BodyErrors,
    ))]
pub async fn submit_batch(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    JsonBody(batch): JsonBody<Batch>,
) -> Result<Response, ApiError> {
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    match ingest_batch(&state.db, &state.contracts, &workflow, batch.items).await {
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
            Err(ApiError::with_details(error, json!({ "items": problems })))
        }
    }
}

/// Read an item: state, outcome, final output and its decisions.
#[utoipa::path(get, path = "/items/{id}", tag = "items",
    params(("id" = i64, Path, description = "The item id Gatehouse gave")),
    responses((status = 200, description = "The item", body = ItemView), KeyErrors))]
pub async fn item_by_id(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::from(AppError::not_found(format!("The item {id}")));
    let item_id: i64 = id.parse().map_err(|_| not_found())?;
    let workflow_id = view::workflow_of(&state.db, item_id).await?.ok_or_else(not_found)?;
    let workflow = workflows::find_by_id(&state.db, workflow_id).await?.ok_or_else(not_found)?;
    if !key.allows(workflow.id) {
        // As for a missing item: a key learns nothing of other workflows, not even their names.
        return Err(not_found());
    }
    let item = view::get(&state.db, &workflow, item_id).await?.ok_or_else(not_found)?;
    Ok(Json(item).into_response())
}

/// Read an item by your own id.
#[utoipa::path(get, path = "/workflows/{slug}/items/by-external-id/{external_id}", tag = "items",
    params(("slug" = String, Path), ("external_id" = String, Path)),
    responses((status = 200, description = "The item", body = ItemView), KeyErrors))]
pub async fn item_by_external_id(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path((slug, external_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    let item = view::get_by_external_id(&state.db, &workflow, &external_id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("The item with external_id '{external_id}'")))?;
    Ok(Json(item).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only items in this state (`queued`, `escalated`, `auto_approved`, `approved`, …).
    state: Option<String>,
    /// Only items created at or after this RFC 3339 time.
    since: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 100).
    limit: Option<i64>,
}

/// List a workflow's items in a stable order, a page at a time.
#[utoipa::path(get, path = "/workflows/{slug}/items", tag = "items",
    params(("slug" = String, Path), ListParams),
    responses((status = 200, description = "A page of items", body = Page<ItemView>), KeyErrors, QueryErrors))]
pub async fn list_items(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(bad_query)?;
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    if let Some(s) = params.state.as_deref().filter(|s| ItemState::parse(s).is_none()) {
        let states: Vec<&str> = ItemState::ALL.iter().map(|s| s.as_str()).collect();
        return Err(AppError::BadRequest {
            message: format!("'{s}' is not a state; use one of {}", states.join(", ")),
        }
        .into());
    }
    let since_ms = params
        .since
        .as_deref()
        .map(|s| {
            parse_rfc3339(s).ok_or_else(|| {
                ApiError::from(AppError::BadRequest { message: format!("'{s}' is not an RFC 3339 time") })
            })
        })
        .transpose()?;
    let cursor = parse_cursor(params.cursor.as_deref())?;
    let page = list::list(&state.db, &workflow, params.state.as_deref(), since_ms, cursor, params.limit.unwrap_or(100))
        .await?;
    Ok(Json(page).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedParams {
    /// The `next_cursor` of your last poll; omit to start from the beginning.
    since_cursor: Option<String>,
    /// At most this many decisions, 1 to 500 (default 100).
    limit: Option<i64>,
}

/// Final outcomes after a cursor, oldest first: poll this instead of (or besides) webhooks.
/// The answer always carries the cursor to resume from.
#[utoipa::path(get, path = "/workflows/{slug}/decisions", tag = "items",
    params(("slug" = String, Path), FeedParams),
    responses((status = 200, description = "Decisions after the cursor", body = Page<DecisionView>), KeyErrors, QueryErrors))]
pub async fn decision_feed(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    params: Result<Query<FeedParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(bad_query)?;
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    let cursor = parse_cursor(params.since_cursor.as_deref())?;
    let page = list::decision_feed(&state.db, &workflow, cursor, params.limit.unwrap_or(100)).await?;
    Ok(Json(page).into_response())
}
