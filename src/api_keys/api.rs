//! Server functions for the API keys page (admins only).

use super::KeySummary;
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

#[server(endpoint = "api-keys/list", output = JsonText)]
pub async fn list_api_keys() -> Result<Vec<KeySummary>, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    ctx.require(Role::Admin).await?;
    super::server::list(ctx.db()).await
}

/// Creates a key for the comma-separated workflow slugs; the answer is the key, shown once.
#[server(endpoint = "api-keys/create", output = JsonText)]
pub async fn create_api_key(name: String, workflows: String, admin: Option<String>) -> Result<String, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let caller = ctx.require(Role::Admin).await?;
    let slugs: Vec<String> =
        workflows.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let key = super::server::create(ctx.db(), &caller.actor(), &name, &slugs, admin.is_some()).await?;
    ctx.flash_secret(&format!("The new key {}", key.name), &key.token).await?;
    Ok(key.token)
}

#[server(endpoint = "api-keys/revoke", output = JsonText)]
pub async fn revoke_api_key(key_id: i64) -> Result<(), AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Role;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    super::server::revoke(ctx.db(), &admin.actor(), key_id).await?;
    ctx.state.api_caches.keys.clear();
    Ok(())
}
