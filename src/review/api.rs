//! Server functions of the reviewer pages. Each checks the caller's role and, on the server
//! side, that they are a member of the item's workflow and hold its lease.
//!
//! A decision answers with the next leased item, which the review page's script shows at once;
//! a form posted without JavaScript is redirected to that item's page instead.

use super::{QueueSnapshot, QueuesOverview, Receipt, ReviewItem, UndoOffer};
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;
use std::collections::HashMap;

#[cfg(feature = "ssr")]
mod support {
    use crate::auth::context::RequestCtx;
    use crate::error::AppError;
    use crate::review::Receipt;
    use crate::review::decide::{Verdict, decide as decide_item};
    use crate::review::item_view::leased_item;

    pub async fn decide(item_id: i64, lease_token: String, verdict: Verdict) -> Result<Receipt, AppError> {
        let ctx = RequestCtx::from_leptos().await?;
        let user = ctx.require(crate::domain::Role::Reviewer).await?;
        let mut receipt = decide_item(&ctx.state.review_ctx(), &user, item_id, &lease_token, verdict).await?;
        ctx.state.metrics.count("gatehouse_decisions_total", &[("kind", &receipt.kind)], 1);
        let workflows = &ctx.state.api_caches.workflows;
        if ctx.form_post {
            leptos_axum::redirect(&receipt.next_href());
        } else if let (None, Some(next)) = (&receipt.next, receipt.next_item) {
            // The browser's script shows the next item from this answer: one request a decision.
            // The claim brought it along, but for a repeated decision (a double submit), which
            // answers with the item the first one leased. Should reading it fail, the page loads
            // it itself; the decision stands either way.
            receipt.next = leased_item(ctx.db(), workflows, &user, &receipt.slug, next).await.ok();
        }
        Ok(receipt)
    }
}

/// The caller's queues, their counts and the items assigned to them.
#[server(endpoint = "review/queues", output = JsonText)]
pub async fn queues() -> Result<QueuesOverview, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Reviewer).await?;
    super::queues::overview(ctx.db(), &user).await
}

/// One workflow's queue, for its page (`/review/:slug`): what waits there for the caller, and
/// whether the item they just skipped (if they say which) is among it.
#[server(endpoint = "review/queue", output = JsonText)]
pub async fn queue(slug: String, skipped: Option<i64>) -> Result<QueueSnapshot, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::workflows::membership::require_member;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Reviewer).await?;
    let workflow = crate::workflows::server::require_by_slug(ctx.db(), &slug).await?;
    require_member(&mut *ctx.db().pool().acquire().await?, &workflow, &user).await?;
    super::queues::queue(ctx.db(), &workflow, &user, skipped).await
}

/// "Start reviewing": leases the next item of the workflow (or the one already held) and opens it.
#[server(endpoint = "review/start", output = JsonText)]
pub async fn start_reviewing(slug: String) -> Result<Option<i64>, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Reviewer).await?;
    let workflow = crate::workflows::server::require_by_slug(ctx.db(), &slug).await?;
    let next = super::claim::claim_next(ctx.db(), &workflow, &user).await?;
    leptos_axum::redirect(&match next {
        Some(id) => super::item_href(&slug, id),
        None => format!("/review/{slug}"),
    });
    Ok(next)
}

/// Leases an item a lead assigned to the caller and opens it.
#[server(endpoint = "review/claim-assigned", output = JsonText)]
pub async fn claim_assigned(item_id: i64) -> Result<i64, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Reviewer).await?;
    let (slug, id) = super::claim::claim_assigned(ctx.db(), &user, item_id).await?;
    leptos_axum::redirect(&super::item_href(&slug, id));
    Ok(id)
}

/// An item leased to the caller, for its review page.
#[server(endpoint = "review/item", output = JsonText)]
pub async fn load_review_item(slug: String, item_id: i64) -> Result<ReviewItem, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Reviewer).await?;
    super::item_view::leased_item(ctx.db(), &ctx.state.api_caches.workflows, &user, &slug, item_id).await
}

/// Keeps the lease alive while the review page is open; the new end (Unix ms).
#[server(endpoint = "review/renew", output = JsonText)]
pub async fn renew_lease(item_id: i64, lease_token: String) -> Result<i64, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Reviewer).await?;
    super::lease::renew(ctx.db(), &user, item_id, &lease_token).await
}

#[server(endpoint = "review/approve", output = JsonText)]
pub async fn approve(item_id: i64, lease_token: String) -> Result<Receipt, AppError> {
    support::decide(item_id, lease_token, super::decide::Verdict::Approve).await
}

#[server(endpoint = "review/reject", output = JsonText)]
pub async fn reject(
    item_id: i64,
    lease_token: String,
    reason_code: String,
    note: Option<String>,
) -> Result<Receipt, AppError> {
    support::decide(item_id, lease_token, super::decide::Verdict::Reject { reason_code, note }).await
}

/// `fields` maps JSON pointers into the prediction to their new values (`fields[/total]=12`).
#[server(endpoint = "review/correct", output = JsonText)]
pub async fn correct(
    item_id: i64,
    lease_token: String,
    fields: Option<HashMap<String, String>>,
) -> Result<Receipt, AppError> {
    let fields = fields.unwrap_or_default();
    support::decide(item_id, lease_token, super::decide::Verdict::Correct { fields }).await
}

#[server(endpoint = "review/escalate", output = JsonText)]
pub async fn escalate(item_id: i64, lease_token: String, note: String) -> Result<Receipt, AppError> {
    support::decide(item_id, lease_token, super::decide::Verdict::Escalate { note }).await
}

/// Skips the item: it goes back to its queue and the next one opens.
#[server(endpoint = "review/skip", output = JsonText)]
pub async fn skip(item_id: i64, lease_token: String) -> Result<Receipt, AppError> {
    support::decide(item_id, lease_token, super::decide::Verdict::Release).await
}

/// Takes back the caller's last decision within its undo window and reopens the item.
#[server(endpoint = "review/undo", output = JsonText)]
pub async fn undo(decision_id: i64) -> Result<i64, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Reviewer).await?;
    let (slug, item_id) = super::undo::undo(ctx.db(), &user, decision_id).await?;
    ctx.state.metrics.count("gatehouse_decisions_total", &[("kind", "undo")], 1);
    leptos_axum::redirect(&super::item_href(&slug, item_id));
    Ok(item_id)
}

/// The undo banner's content, while the caller's decision can still be undone.
#[server(endpoint = "review/undo-offer", output = JsonText)]
pub async fn load_undo_offer(decision_id: i64) -> Result<Option<UndoOffer>, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Reviewer).await?;
    super::undo::undo_offer(ctx.db(), &user, decision_id).await
}

/// A lead assigns an item to a reviewer of its workflow.
#[server(endpoint = "review/assign", output = JsonText)]
pub async fn assign(item_id: i64, assignee: String) -> Result<(), AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let lead = ctx.require(crate::domain::Role::Lead).await?;
    let email = crate::domain::Email::parse(&assignee)
        .map_err(|_| AppError::invalid("assignee", "Enter the reviewer's email address."))?;
    let target = crate::users::server::find_by_email(ctx.db(), &email)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| AppError::invalid("assignee", "No active user has that email."))?;
    super::assign::assign(ctx.db(), &lead, item_id, &target, None).await
}
