//! The items REST API under `/api/v1` (mounted by [`crate::web::machine_api`]): submit one
//! item or a batch, read an item, list a workflow's items, and follow its decision feed. Each
//! handler authenticates the key, checks its scope, then makes one call into the services.

use super::export::{self, Export, Format};
use super::ingest::{BatchError, ingest_batch};
use super::list::{self, Page};
use super::submission::Submission;
use super::view::{self, DecisionView, ItemView};
use crate::domain::item_state::ItemState;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::clock::{parse_day, parse_rfc3339};
use crate::web::api_error::{ApiError, BodyErrors, ErrorBody, KeyErrors, QueryErrors, WriteErrors};
use crate::web::extract::{ApiKey, JsonBody, admin_workflow, bad_query, parse_cursor, scoped_workflow};
use crate::workflows::server as workflows;
use axum::Json;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
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
        .routes(routes!(export_items))
}

/// Counts stored items by route reason (`GET /metrics`).
fn count_ingested<'a>(state: &AppState, slug: &str, items: impl Iterator<Item = &'a ItemView>) {
    let mut by_reason: std::collections::BTreeMap<&'static str, u64> = Default::default();
    for item in items {
        *by_reason.entry(item.route.reason.as_str()).or_default() += 1;
    }
    for (reason, n) in by_reason {
        state.metrics.count("gatehouse_items_ingested_total", &[("workflow", slug), ("route", reason)], n);
    }
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
        KeyErrors, BodyErrors, WriteErrors,
    ))]
pub async fn submit_item(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    JsonBody(submission): JsonBody<Submission>,
) -> Result<Response, ApiError> {
    let workflow = scoped_workflow(&state, &key, &slug).await?;
    let ingested = state.ingestor.submit(&state.contracts, workflow, submission).await?;
    if ingested.created {
        count_ingested(&state, &slug, std::iter::once(&ingested.item));
    }
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
        KeyErrors, BodyErrors, WriteErrors,
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
            count_ingested(&state, &slug, results.iter().filter(|r| r.created).map(|r| &r.item));
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// `jsonl` (default) or `csv`.
    format: Option<String>,
    /// Only items that arrived at or after this RFC 3339 time.
    from: Option<String>,
    /// Only items that arrived before this RFC 3339 time.
    to: Option<String>,
}

/// The export asked for, its parameters checked. A time may also be a UTC day (YYYY-MM-DD, as
/// the workflow page's date fields give it): its midnight.
pub fn export_of(
    workflow_id: i64,
    format: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Export, AppError> {
    let time = |field: &str, raw: Option<&str>| {
        raw.map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| {
                let parsed = if r.len() == 10 { parse_day(r) } else { parse_rfc3339(r) };
                parsed.ok_or_else(|| AppError::invalid(field, format!("'{r}' is not an RFC 3339 time.")))
            })
            .transpose()
    };
    let (from, to) = (time("from", from)?, time("to", to)?);
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        return Err(AppError::invalid("to", "The range ends before it starts."));
    }
    Ok(Export { workflow_id, from, to, format: Format::parse(format)? })
}

/// The export as a streamed download named for the workflow.
pub fn download(state: &AppState, slug: &str, export: Export) -> Response {
    let headers = [
        (header::CONTENT_TYPE, export.format.content_type().to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{slug}-decisions.{}\"", export.format.extension()),
        ),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    (headers, Body::from_stream(export::stream(state.db.clone(), export))).into_response()
}

/// Export decided items: the team's training data.
///
/// Every item of the workflow with a final outcome (approved, rejected, corrected, auto-approved,
/// auto-rejected) that arrived in the range, oldest first: its input, the model's prediction and
/// confidence, the output it settled on (`final_output`: the correction where a person corrected
/// it), the final decision's reason code and note, and who decided (`system` for the automated
/// ones). Streamed as JSON lines or CSV (cells a spreadsheet would read as a formula start with
/// `'`). Needs an admin-scoped key.
#[utoipa::path(get, path = "/workflows/{slug}/export", tag = "items",
    params(("slug" = String, Path, description = "The workflow"), ExportParams),
    responses(
        (status = 200, description = "The items, one a line", content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        )),
        (status = 422, description = "A format or time that is not one, or a range reversed", body = ErrorBody),
        KeyErrors, QueryErrors,
    ))]
pub async fn export_items(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    let workflow = admin_workflow(&state, &key, &slug).await?;
    let export = export_of(workflow.id, p.format.as_deref(), p.from.as_deref(), p.to.as_deref())?;
    Ok(download(&state, &slug, export))
}

/// `GET /settings/workflows/{slug}/export`: the same export as a download from the workflow's
/// page, for a signed-in admin or a lead of the workflow (the session's cookie, not a key).
pub async fn download_for_session(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    Path(slug): Path<String>,
    Query(p): Query<ExportParams>,
) -> Response {
    let ctx = crate::auth::context::RequestCtx::for_route(state.clone(), session);
    let checked = async {
        let user = ctx.require(crate::domain::Role::Lead).await?;
        let workflow = workflows::require_by_slug(&state.db, &slug).await?;
        let mut conn = state.db.pool().acquire().await?;
        crate::escalations::resolve::require_lead_of(&mut conn, &workflow, &user).await?;
        export_of(workflow.id, p.format.as_deref(), p.from.as_deref(), p.to.as_deref())
    };
    match checked.await {
        Ok(export) => download(&state, &slug, export),
        Err(error) => {
            (StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), error.to_string())
                .into_response()
        }
    }
}
