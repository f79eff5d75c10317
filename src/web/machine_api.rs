//! The REST API for automation systems, under `/api/v1`: its router and its OpenAPI document.
//! JSON in and out, bearer API keys, one error shape (`{"error": {"code", "message", "details"}}`).

use super::api_error::{ApiError, ErrorBody, ErrorDetail};
use crate::domain::routing::{Destination, Route, RouteReason};
use crate::error::AppError;
use crate::items::ingest::BatchProblem;
use crate::items::list::Page;
use crate::items::rest as items;
use crate::items::submission::Submission;
use crate::items::view::{DecisionView, ItemView};
use crate::state::AppState;
use axum::routing::get;
use axum::{Json, Router};
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
    paths(
        items::submit_item, items::submit_batch, items::item_by_id, items::item_by_external_id,
        items::list_items, items::decision_feed,
    ),
    components(schemas(
        Submission, items::Batch, items::BatchResult, items::BatchEntry, ErrorBody, ErrorDetail,
        ItemView, DecisionView, BatchProblem, Page<ItemView>, Page<DecisionView>,
        Route, Destination, RouteReason,
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

/// The machine API's routes, nested under `/api/v1` by the application; each area's handlers
/// are in its `rest.rs`.
pub fn router(max_body_bytes: usize, max_batch_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .merge(items::routes(max_body_bytes, max_batch_body_bytes))
        .fallback(|| async { ApiError::from(AppError::not_found("That API endpoint")) })
}
