//! The monitoring REST API under `/api/v1` (mounted by [`crate::web::machine_api`]): a workflow's
//! numbers over a range, the dashboard's, for an admin-scoped key (they name the reviewers).

use super::stats::{self, Stats, range_of};
use crate::domain::text::is_one_line;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::api_error::{ApiError, ErrorBody, KeyErrors, QueryErrors};
use crate::web::extract::{ApiKey, admin_workflow, bad_query};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(workflow_stats))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    /// Start of the range (RFC 3339; rounded down to the hour). Default: 7 days before `to`.
    from: Option<String>,
    /// End of the range (RFC 3339; rounded up to the hour). Default: now.
    to: Option<String>,
    /// Only this model version's items (`""`: items sent without one). Default: all.
    model_version: Option<String>,
}

/// Read a workflow's numbers.
///
/// Over a range of whole UTC hours: volume by route, the automation rate, override rates of
/// reviewed, audited, rollout and escalated items with exact 95 % intervals, SLA breaches,
/// escalations by reason, decisions per reviewer, rejections by reason code, a series by hour
/// (ranges of two days or less) or by UTC day, and every model version side by side; the backlog
/// is as it is now. Read from hourly rollups, never from the items. Needs an admin-scoped key.
#[utoipa::path(get, path = "/workflows/{slug}/stats", tag = "monitoring",
    params(("slug" = String, Path, description = "The workflow"), StatsParams),
    responses(
        (status = 200, description = "The numbers", body = Stats),
        (status = 422, description = "A time that is not RFC 3339, or a range reversed or over 400 days", body = ErrorBody),
        KeyErrors, QueryErrors,
    ))]
pub async fn workflow_stats(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(slug): Path<String>,
    params: Result<Query<StatsParams>, QueryRejection>,
) -> Result<Json<Stats>, ApiError> {
    let Query(params) = params.map_err(bad_query)?;
    let workflow = admin_workflow(&state, &key, &slug).await?;
    if params.model_version.as_deref().is_some_and(|v| !is_one_line(v)) {
        return Err(AppError::invalid("model_version", "It holds a control character.").into());
    }
    let range = range_of(params.from.as_deref(), params.to.as_deref())?;
    Ok(Json(stats::stats(&state.db, &workflow, range, params.model_version.as_deref()).await?))
}
