//! Server functions for a workflow's webhooks on its settings page (admins only).

use crate::error::AppError;
use leptos::prelude::*;

/// Adds a webhook endpoint; the answer carries its signing secret, shown once.
#[server(endpoint = "webhooks/add")]
pub async fn add_webhook(
    slug: String,
    url: String,
    ev_auto_approved: Option<String>,
    ev_approved: Option<String>,
    ev_rejected: Option<String>,
    ev_corrected: Option<String>,
    ev_escalated: Option<String>,
) -> Result<String, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let workflow = crate::workflows::server::require_by_slug(ctx.db(), &slug).await?;
    let policy = ctx.state.settings.webhook_destinations();
    let events: Vec<String> = [
        (ev_auto_approved, "item.auto_approved"),
        (ev_approved, "item.approved"),
        (ev_rejected, "item.rejected"),
        (ev_corrected, "item.corrected"),
        (ev_escalated, "item.escalated"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.map(|_| name.to_owned()))
    .collect();
    let (endpoint, secret) =
        super::endpoints::create(ctx.db(), &admin.actor(), workflow.id, &url, &events, policy).await?;
    ctx.flash_secret(&format!("Signing secret of {}", endpoint.url), &secret).await?;
    Ok(secret)
}

#[server(endpoint = "webhooks/replay")]
pub async fn replay_webhook(outbox_id: i64) -> Result<(), AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    super::outbox::replay(ctx.db(), &admin.actor(), outbox_id).await
}

/// Sends a test event to one endpoint now; its result shows among the endpoint's attempts.
#[server(endpoint = "webhooks/test")]
pub async fn send_test_webhook(endpoint_id: i64) -> Result<(), AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let endpoint = super::endpoints::require(ctx.db(), endpoint_id).await?;
    super::outbox::enqueue_test(ctx.db(), &admin.actor(), endpoint.id).await
}

/// Gives an endpoint a new signing secret, shown once; the old one signs beside it for a day.
#[server(endpoint = "webhooks/rotate-secret")]
pub async fn rotate_webhook_secret(endpoint_id: i64) -> Result<String, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let (endpoint, secret) = super::endpoints::rotate_secret(ctx.db(), &admin.actor(), endpoint_id).await?;
    ctx.flash_secret(&format!("New signing secret of {}", endpoint.url), &secret).await?;
    Ok(secret)
}
