//! The tuning REST API under `/api/v1` (mounted by [`crate::web::machine_api`]): import past
//! items as evidence, and read the tuning report. Both need an admin-scoped key of the workflow.

use super::import::{self, HistoryLine, ImportError, Imported};
use super::report::TuningReport;
use super::server::{self, Ask};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::api_error::{ApiError, ErrorBody, KeyErrors, QueryErrors};
use crate::web::extract::{ApiKey, admin_workflow, bad_query};
use axum::Json;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// The tuning API's routes and their part of the OpenAPI document. The import reads its body as
/// a stream with its own limits (lines and line length), so the body limit is off for it.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(import_history).layer(DefaultBodyLimit::disable()))
        .routes(routes!(tuning_report))
}

/// Import past items as evidence.
///
/// The body is JSON lines (`application/x-ndjson`), one past item a line, up to 1,000,000 lines:
/// `{"external_id", "confidence", "model_version", "verdict": "right" | "wrong" | null,
/// "review_probability"}` (`null`: routed but never reviewed). It is imported in one transaction:
/// if any line is bad, nothing is imported and `details.lines` lists the bad lines (the first 100,
/// `details.count` all of them). An id imported before is skipped, so importing again is harmless.
/// Needs an admin-scoped key.
#[utoipa::path(post, path = "/workflows/{slug}/history", tag = "tuning",
    params(("slug" = String, Path, description = "The workflow")),
    request_body(content = HistoryLine, content_type = "application/x-ndjson", description = "One past item a line"),
    responses(
        (status = 200, description = "Imported", body = Imported),
        (status = 400, description = "The body could not be read", body = ErrorBody),
        (status = 415, description = "Not sent as JSON lines", body = ErrorBody),
        (status = 422, description = "Bad lines (`details.lines`: line and message); nothing imported", body = ErrorBody),
        KeyErrors,
    ))]
pub async fn import_history(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Imported>, ApiError> {
    let workflow = admin_workflow(&state, &key, &slug).await?;
    let lines = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| matches!(m.as_str(), "application/x-ndjson" | "application/jsonl" | "application/json-lines"));
    if !lines {
        return Err(AppError::UnsupportedMediaType.into());
    }
    match import::import(&state.db, workflow.id, body).await {
        Ok(imported) => Ok(Json(imported)),
        Err(ImportError::Other(e)) => Err(e.into()),
        Err(ImportError::Lines { bad, count }) => Err(ApiError::with_details(
            AppError::invalid("body", format!("{count} line(s) are invalid; nothing was imported.")),
            json!({ "count": count, "lines": bad }),
        )),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TuningParams {
    /// Target error rate among automated items (default: the workflow's `target_error_rate`).
    alpha: Option<f64>,
    /// Chance allowed that the guarantee fails (default: 1 - the workflow's `confidence`).
    delta: Option<f64>,
    /// The model version to tune (default: the newest item's).
    model_version: Option<String>,
}

/// Read the tuning report.
///
/// The trade-off curve of every candidate threshold (automation share, inverse-probability-weighted
/// error estimate and its exact upper bound), the recommendation (the laxest threshold reached
/// from the strictest while the bound stays at or under alpha, or none with the reason), the
/// calibration, and the evidence it rests on. Needs an admin-scoped key.
#[utoipa::path(get, path = "/workflows/{slug}/tuning", tag = "tuning",
    params(("slug" = String, Path, description = "The workflow"), TuningParams),
    responses(
        (status = 200, description = "The report", body = TuningReport),
        (status = 422, description = "alpha or delta out of range", body = ErrorBody),
        KeyErrors, QueryErrors,
    ))]
pub async fn tuning_report(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    params: Result<Query<TuningParams>, QueryRejection>,
) -> Result<Json<TuningReport>, ApiError> {
    let Query(params) = params.map_err(bad_query)?;
    let workflow = admin_workflow(&state, &key, &slug).await?;
    let ask =
        Ask { alpha: params.alpha, confidence: params.delta.map(|d| 1.0 - d), model_version: params.model_version };
    Ok(Json(server::report(&state.db, &workflow, ask).await?))
}
