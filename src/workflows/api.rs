//! Server functions for the workflow settings pages. Each checks the caller is an admin first.

// `save_workflow` takes the settings form's fields one by one, as the form posts them (the
// macro's generated code carries the argument list, so the allowance must be module-wide).
#![allow(clippy::too_many_arguments)]

use super::{WorkflowDetail, WorkflowSummary};
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

#[server(endpoint = "workflows/list", output = JsonText)]
pub async fn list_workflows() -> Result<Vec<WorkflowSummary>, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    ctx.require(Role::Admin).await?;
    Ok(super::server::list(ctx.db()).await?.iter().map(|w| w.summary()).collect())
}

#[server(endpoint = "workflows/detail", output = JsonText)]
pub async fn load_workflow(slug: String) -> Result<WorkflowDetail, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    ctx.require(Role::Admin).await?;
    super::server::detail(ctx.db(), &slug, ctx.state.settings.webhook_destinations()).await
}

/// Creates (`mode` = "create") or changes (`mode` = "update") a workflow. A change needs a
/// reason: it is recorded in the settings history with the old and new settings.
#[server(endpoint = "workflows/save", output = JsonText)]
pub async fn save_workflow(
    mode: String,
    slug: String,
    name: String,
    description: String,
    owner: String,
    members: String,
    payload_schema: String,
    prediction_schema: String,
    labels: String,
    reason_codes: String,
    auto_approve_at: String,
    escalate_below: String,
    audit_rate: String,
    rollout_share: String,
    target_error_rate: String,
    review_sla_minutes: String,
    escalation_sla_minutes: String,
    lease_minutes: String,
    paused: Option<String>,
    reason: String,
    escalate_after_lease_expiries: Option<String>,
    escalate_on_reasons: Option<String>,
    confidence: Option<String>,
    tune_auto_reject: Option<String>,
    rollout_from: Option<String>,
    auto_reject_below: Option<String>,
) -> Result<WorkflowSummary, AppError> {
    use super::WorkflowForm;
    use super::server as workflows;
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let form = WorkflowForm {
        slug,
        name,
        description,
        owner,
        members,
        payload_schema,
        prediction_schema,
        labels,
        reason_codes,
        auto_approve_at,
        escalate_below,
        audit_rate,
        rollout_share,
        target_error_rate,
        review_sla_minutes,
        escalation_sla_minutes,
        lease_minutes,
        paused: paused.is_some(),
        // Absent (a client older than these rules): the defaults.
        escalate_after_lease_expiries: escalate_after_lease_expiries.unwrap_or_else(|| "3".into()),
        escalate_on_reasons: escalate_on_reasons.unwrap_or_default(),
        confidence: confidence.unwrap_or_else(|| "0.95".into()),
        tune_auto_reject: tune_auto_reject.is_some(),
        rollout_from: rollout_from.unwrap_or_default(),
        auto_reject_below: auto_reject_below.unwrap_or_default(),
    };
    let spec = super::form::spec_from_form(&form)?;
    let creating = mode == "create";
    if creating && workflows::find_by_slug(ctx.db(), spec.slug.as_str()).await?.is_some() {
        return Err(AppError::invalid("slug", format!("A workflow with the slug '{}' already exists.", spec.slug)));
    }
    let reason = reason.trim();
    if !creating && reason.is_empty() {
        return Err(AppError::invalid("reason", "Say why you are changing the settings: it is kept in the history."));
    }
    let reason = if reason.is_empty() { "created" } else { reason };
    let (workflow, _) = workflows::apply(ctx.db(), &admin.actor(), spec, reason).await?;
    ctx.state.api_caches.workflows.clear();
    if creating {
        leptos_axum::redirect(&format!("/settings/workflows/{}", workflow.slug()));
    }
    Ok(workflow.summary())
}
