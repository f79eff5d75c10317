//! Server functions for a workflow's webhooks on its settings page (admins only).

use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

/// Adds a webhook endpoint; the answer carries its signing secret, shown once. `events` names
/// the events it subscribes to, one checkbox each (`events[item.approved]=on`).
#[server(endpoint = "webhooks/add", output = JsonText)]
pub async fn add_webhook(
    slug: String,
    url: String,
    events: Option<std::collections::HashMap<String, String>>,
) -> Result<String, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let workflow = crate::workflows::server::require_by_slug(ctx.db(), &slug).await?;
    let policy = ctx.state.settings.webhook_destinations();
    // In the order of the list of events, whatever the form's order.
    let chosen = events.unwrap_or_default();
    let mut events: Vec<String> =
        super::EVENT_TYPES.iter().filter(|e| chosen.contains_key(**e)).map(|e| (*e).to_owned()).collect();
    events.extend(chosen.into_keys().filter(|e| !super::EVENT_TYPES.contains(&e.as_str())));
    let (endpoint, secret) =
        super::endpoints::create(ctx.db(), &admin.actor(), workflow.id, &url, &events, policy).await?;
    ctx.flash_secret(&format!("Signing secret of {}", endpoint.url), &secret).await?;
    Ok(secret)
}

#[server(endpoint = "webhooks/replay", output = JsonText)]
pub async fn replay_webhook(outbox_id: i64) -> Result<(), AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    super::outbox::replay(ctx.db(), &admin.actor(), outbox_id).await
}

/// Sends a test event to one endpoint now; its result shows among the endpoint's attempts.
#[server(endpoint = "webhooks/test", output = JsonText)]
pub async fn send_test_webhook(endpoint_id: i64) -> Result<(), AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let endpoint = super::endpoints::require(ctx.db(), endpoint_id).await?;
    super::outbox::enqueue_test(ctx.db(), &admin.actor(), endpoint.id).await
}

/// Gives an endpoint a new signing secret, shown once; the old one signs beside it for a day.
#[server(endpoint = "webhooks/rotate-secret", output = JsonText)]
pub async fn rotate_webhook_secret(endpoint_id: i64) -> Result<String, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let (endpoint, secret) = super::endpoints::rotate_secret(ctx.db(), &admin.actor(), endpoint_id).await?;
    ctx.flash_secret(&format!("New signing secret of {}", endpoint.url), &secret).await?;
    Ok(secret)
}
