//! Server functions of the tuning page. Each checks on the server that the caller is an admin.

use super::TuningPage;
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

/// The tuning page of a workflow, for one model version (empty: the newest item's), with the
/// what-if for the threshold `at` when given.
#[server(endpoint = "tuning/report", output = JsonText)]
pub async fn load_tuning(
    slug: String,
    model_version: Option<String>,
    at: Option<String>,
) -> Result<TuningPage, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    ctx.require(Role::Admin).await?;
    let workflow = crate::workflows::server::require_by_slug(ctx.db(), &slug).await?;
    let ask = super::server::Ask { model_version: model_version.filter(|v| !v.is_empty()), ..Default::default() };
    let report = super::server::report(ctx.db(), &workflow, ask).await?;
    Ok(super::page::page(&report, at.as_deref()))
}

/// Applies a threshold from the tuning page as a new settings version, with the evidence shown at
/// that moment. `how` is `recommendation` (the recommended threshold, all at once or through a
/// rollout share), `manual` (the threshold typed in; empty: stop auto-approving) or `widen` (the
/// threshold stays, the rollout share grows), or `reject` (the auto-reject band's threshold;
/// empty: reject nothing unseen). Needs a reason and the confirmation box.
#[server(endpoint = "tuning/apply", output = JsonText)]
pub async fn apply_threshold(
    slug: String,
    how: String,
    threshold: Option<String>,
    rollout_share: Option<String>,
    reason: String,
    confirm: Option<String>,
) -> Result<(), AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let workflow = crate::workflows::server::require_by_slug(ctx.db(), &slug).await?;
    let number = |field: &str, raw: Option<&str>| -> Result<Option<f64>, AppError> {
        match raw.map(str::trim).filter(|r| !r.is_empty()) {
            None => Ok(None),
            Some(r) => r
                .parse::<f64>()
                .map(Some)
                .map_err(|_| AppError::invalid(field, format!("'{r}' is not a number between 0 and 1."))),
        }
    };
    let share = number("rollout_share", rollout_share.as_deref())?.unwrap_or(1.0);
    let (how, threshold) = match how.as_str() {
        "recommendation" => {
            let report = super::server::report(ctx.db(), &workflow, Default::default()).await?;
            let t = report.recommendation.threshold.ok_or_else(|| {
                AppError::conflict("There is no recommendation to apply: the evidence does not support one.")
            })?;
            ("recommendation", Some(t))
        }
        "manual" => ("manual", number("threshold", threshold.as_deref())?),
        "reject" => ("reject", number("threshold", threshold.as_deref())?),
        "widen" => {
            if workflow.spec.auto_approve_at.is_none() {
                return Err(AppError::conflict("Nothing is rolling out: the workflow does not auto-approve."));
            }
            if share <= workflow.spec.rollout_share {
                return Err(AppError::invalid(
                    "rollout_share",
                    format!("Widening raises the share above the current {}.", workflow.spec.rollout_share),
                ));
            }
            ("widen", workflow.spec.auto_approve_at)
        }
        _ => return Err(AppError::BadRequest { message: format!("'{how}' is not a way to apply a threshold.") }),
    };
    if confirm.as_deref() != Some("on") {
        return Err(AppError::invalid("confirm", "Tick the box to confirm the change."));
    }
    let change = super::server::NewThreshold { threshold, rollout_share: share, reason, how };
    super::server::apply_threshold(ctx.db(), &admin.actor(), &workflow, change).await?;
    ctx.state.api_caches.workflows.clear();
    leptos_axum::redirect(&format!("/settings/workflows/{slug}/tuning?applied=1"));
    Ok(())
}

/// Closes the workflow's open breaker: auto-approval resumes. Admins only, with a reason.
#[server(endpoint = "tuning/close-breaker", output = JsonText)]
pub async fn close_breaker(slug: String, reason: String) -> Result<(), AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let workflow = crate::workflows::server::require_by_slug(ctx.db(), &slug).await?;
    super::breaker::close(ctx.db(), &admin.actor(), workflow.id, &slug, &reason).await?;
    ctx.state.api_caches.workflows.clear();
    leptos_axum::redirect(&format!("/settings/workflows/{slug}/tuning?closed=1"));
    Ok(())
}
