//! `GET /api/v1/audit` (mounted by [`crate::web::machine_api`]): the audit log for an
//! admin-scoped key, limited to the events of the workflows the key is scoped to.

use super::AuditPage;
use super::server::{self, Filter, Readable};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::api_error::{ApiError, ErrorBody, QueryErrors};
use crate::web::extract::{ApiKey, bad_query};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(audit_log))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only this actor's events: a user's email, `cli` or `system`.
    actor: Option<String>,
    /// Only this action (`item.approve`, `workflow.update`, …).
    action: Option<String>,
    /// Only this workflow's events (its slug).
    workflow: Option<String>,
    /// From this time on (RFC 3339).
    from: Option<String>,
    /// Before this time (RFC 3339).
    to: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Events a page, 1 to 200 (default 50).
    limit: Option<i64>,
}

/// Read the audit log.
///
/// Who changed what and when, newest first, a page at a time: the events of the workflows the
/// key is scoped to (events that concern no workflow, such as user administration, are for
/// admins on the audit page). Read only: nothing in Gatehouse changes or deletes an event.
/// Needs an admin-scoped key.
#[utoipa::path(get, path = "/audit", tag = "monitoring",
    params(AuditParams),
    responses(
        (status = 200, description = "One page of events", body = AuditPage),
        (status = 401, description = "The API key is missing, malformed, unknown or revoked", body = ErrorBody),
        (status = 403, description = "The key is not admin-scoped", body = ErrorBody),
        (status = 422, description = "A time, cursor or limit that is not one", body = ErrorBody),
        QueryErrors,
    ))]
pub async fn audit_log(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(p) = params.map_err(bad_query)?;
    if !key.admin {
        return Err(AppError::KeyNotAdmin.into());
    }
    let filter = Filter {
        actor: p.actor,
        action: p.action,
        workflow: p.workflow,
        from: p.from,
        to: p.to,
        cursor: p.cursor,
        limit: p.limit,
    };
    Ok(Json(server::list(&state.db, &Readable::Workflows(key.workflow_ids.clone()), &filter).await?))
}
