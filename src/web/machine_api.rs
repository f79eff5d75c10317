//! The REST API for automation systems, under `/api/v1`: its router and its OpenAPI document.
//! JSON in and out, bearer API keys, one error shape (`{"error": {"code", "message", "details"}}`).

use super::api_error::{ApiError, ErrorBody, ErrorDetail};
use crate::domain::routing::{Destination, Route, RouteReason};
use crate::error::AppError;
use crate::items::ingest::BatchProblem;
use crate::items::rest as items;
use crate::state::AppState;
use axum::Router;
use axum::http::header;
use axum::routing::get;
use std::sync::LazyLock;
use utoipa::OpenApi;

/// The OpenAPI document's frame: its paths come from the routes themselves (see [`routes`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse machine API",
        description = "Submit automation outputs for confidence routing and human review, read their \
            outcomes, and follow the decision feed. Authenticate with `Authorization: Bearer <key>`; \
            keys are scoped to workflows. Errors have one shape: `{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    components(schemas(ErrorBody, ErrorDetail, BatchProblem, Route, Destination, RouteReason)),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    tags(
        (name = "items", description = "Submitting and reading items"),
        (name = "tuning", description = "Threshold tuning: importing past decisions and reading the recommendation (admin-scoped keys)"),
        (name = "monitoring", description = "A workflow's numbers over time (admin-scoped keys)")
    )
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

/// Every route of the machine API with its OpenAPI document, built from the same handlers, so
/// that the two cannot drift apart; paths relative to `/api/v1`.
fn routes(max_body_bytes: usize, max_batch_body_bytes: usize) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, paths) = items::routes(max_body_bytes, max_batch_body_bytes)
        .merge(crate::tuning::rest::routes())
        .merge(crate::monitoring::rest::routes())
        .merge(crate::audit_log::rest::routes())
        .split_for_parts();
    let doc = ApiDoc::openapi().nest("/api/v1", paths);
    (router, doc)
}

/// The OpenAPI document, built once per process.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| routes(0, 0).1);
    &DOC
}

/// The document as served at `/api/v1/openapi.json`, serialised once.
fn openapi_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| serde_json::to_string(openapi()).unwrap_or_default());
    &JSON
}

/// The machine API's router, nested under `/api/v1` by the application.
pub fn router(max_body_bytes: usize, max_batch_body_bytes: usize) -> Router<AppState> {
    let (router, _) = routes(max_body_bytes, max_batch_body_bytes);
    router
        .route("/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], openapi_json()) }))
        .fallback(|| async { ApiError::from(AppError::not_found("That API endpoint")) })
}
