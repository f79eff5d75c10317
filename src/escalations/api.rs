//! Server functions of the escalations area. Each checks on the server that the caller is a
//! lead (or an admin), and lets a lead act only in the workflows they are a member of.

use super::{Counts, EscalationItem, Inbox};
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;
use std::collections::HashMap;

#[cfg(feature = "ssr")]
mod support {
    use crate::auth::context::RequestCtx;
    use crate::error::AppError;
    use crate::review::decide::Verdict;
    use crate::users::server::UserRecord;

    /// The caller, who must be a lead or an admin.
    pub async fn lead() -> Result<(RequestCtx, UserRecord), AppError> {
        let ctx = RequestCtx::from_leptos().await?;
        let user = ctx.require(crate::domain::Role::Lead).await?;
        Ok((ctx, user))
    }

    /// The active user an item is to be assigned to.
    pub async fn assignee(ctx: &RequestCtx, email: &str) -> Result<UserRecord, AppError> {
        let email = crate::domain::Email::parse(email)
            .map_err(|_| AppError::invalid("assignee", "Choose whom to assign it to."))?;
        crate::users::server::find_by_email(ctx.db(), &email)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| AppError::invalid("assignee", "No active user has that email."))
    }

    /// The lead decides the item directly; back to the inbox after.
    pub async fn decide(item_id: i64, verdict: Verdict) -> Result<(), AppError> {
        let (ctx, lead) = lead().await?;
        let kind = verdict.action().as_str();
        super::super::resolve::decide_directly(&ctx.state.review_ctx(), &lead, item_id, verdict).await?;
        ctx.state.metrics.count("gatehouse_decisions_total", &[("kind", kind)], 1);
        leptos_axum::redirect("/escalations");
        Ok(())
    }
}

/// The open escalations the caller answers for, filtered, soonest due first, a page at a time.
/// Every filter is optional; `level` is 1 or 2; `assignee` an email, or `none` for unassigned.
#[server(endpoint = "escalations/inbox", output = JsonText)]
pub async fn load_inbox(
    workflow: Option<String>,
    reason: Option<String>,
    level: Option<String>,
    assignee: Option<String>,
    cursor: Option<String>,
) -> Result<Inbox, AppError> {
    let (ctx, user) = support::lead().await?;
    let filter = super::inbox::Filter::parse(workflow, reason, level, assignee, cursor)?;
    super::inbox::list(ctx.db(), &user, &filter).await
}

/// One escalated item, for its page.
#[server(endpoint = "escalations/item", output = JsonText)]
pub async fn load_escalation(item_id: i64) -> Result<EscalationItem, AppError> {
    let (ctx, user) = support::lead().await?;
    super::detail::load(ctx.db(), &ctx.state.api_caches.workflows, &user, item_id).await
}

/// Assigns the item to a member of its workflow (the caller too), with an optional note for them.
#[server(endpoint = "escalations/assign", output = JsonText)]
pub async fn assign_escalation(item_id: i64, assignee: String, note: Option<String>) -> Result<(), AppError> {
    let (ctx, lead) = support::lead().await?;
    let target = support::assignee(&ctx, &assignee).await?;
    crate::review::assign::assign(ctx.db(), &lead, item_id, &target, note.as_deref()).await
}

/// Assigns every selected item (`selected[<item id>]=on`, the inbox's checkboxes) to one member.
/// All or nothing is not promised: each item is assigned on its own, and the first refusal
/// (an item already decided, an assignee not of that item's workflow) stops the rest.
#[server(endpoint = "escalations/assign-selected", output = JsonText)]
pub async fn assign_selected(
    selected: Option<HashMap<String, String>>,
    assignee: String,
    note: Option<String>,
) -> Result<usize, AppError> {
    let (ctx, lead) = support::lead().await?;
    let mut ids: Vec<i64> = selected
        .unwrap_or_default()
        .keys()
        .map(|k| k.parse().map_err(|_| AppError::invalid("selected", "Choose escalations from the list.")))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(AppError::invalid("selected", "Select at least one escalation to assign."));
    }
    if ids.len() > super::PAGE as usize {
        return Err(AppError::invalid("selected", format!("Assign at most {} at once.", super::PAGE)));
    }
    ids.sort_unstable();
    let target = support::assignee(&ctx, &assignee).await?;
    for &id in &ids {
        crate::review::assign::assign(ctx.db(), &lead, id, &target, note.as_deref()).await?;
    }
    Ok(ids.len())
}

/// The lead decides the item directly: `verdict` is `approve`, `reject` (with `reason_code` and
/// an optional `note`) or `correct` (with `fields`, JSON pointers into the prediction to their
/// new values), validated as on the review page. One endpoint for the three, so that the page
/// carries one form handler instead of three.
#[server(endpoint = "escalations/decide", output = JsonText)]
pub async fn decide_escalation(
    item_id: i64,
    verdict: String,
    reason_code: Option<String>,
    note: Option<String>,
    fields: Option<HashMap<String, String>>,
) -> Result<(), AppError> {
    use crate::review::decide::Verdict;
    let verdict = match verdict.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject { reason_code: reason_code.unwrap_or_default(), note },
        "correct" => Verdict::Correct { fields: fields.unwrap_or_default() },
        _ => return Err(AppError::invalid("verdict", "Approve, reject or correct the item.")),
    };
    support::decide(item_id, verdict).await
}

/// Sends the item back to the normal queue, with an optional note for its next reviewer.
#[server(endpoint = "escalations/send-back", output = JsonText)]
pub async fn send_back(item_id: i64, note: Option<String>) -> Result<(), AppError> {
    let (ctx, lead) = support::lead().await?;
    super::resolve::send_back(ctx.db(), &ctx.state.api_caches.workflows, &lead, item_id, note.as_deref()).await?;
    leptos_axum::redirect("/escalations");
    Ok(())
}

/// What the navigation shows as needing the caller: any signed-in user.
#[server(endpoint = "escalations/counts", output = JsonText)]
pub async fn load_counts() -> Result<Counts, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Reviewer).await?;
    super::counts::counts(ctx.db(), &user).await
}
