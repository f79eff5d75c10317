//! Server functions of the account page. Each acts on the caller's own account only, and each
//! is allowed to a user who must still replace a password an admin chose (that is what the page
//! is for).

use super::SessionSummary;
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

/// The caller's sessions, the current one first.
#[server(endpoint = "account/sessions", output = JsonText)]
pub async fn my_sessions() -> Result<Vec<SessionSummary>, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require_signed_in().await?;
    super::sessions::list(&ctx.state.sessions, &user, ctx.session.id()).await
}

/// Replaces the caller's password, given the current one. Every other session of theirs ends;
/// this one carries on under a new id.
#[server(endpoint = "account/change-password", output = JsonText)]
pub async fn change_password(
    current_password: String,
    new_password: String,
    new_password_confirm: String,
) -> Result<(), AppError> {
    use super::password_change::{self, PasswordChange};
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require_signed_in().await?;
    let change = PasswordChange::parse(&current_password, &new_password, &new_password_confirm)?;
    let updated =
        password_change::change_password(ctx.db(), ctx.sign_in_policy(), ctx.client_ip, &user, change).await?;
    ctx.state.api_caches.users.remove(&user.id);
    ctx.state.sessions.delete_sessions_of(user.id, None).await.map_err(AppError::internal)?;
    ctx.start_session(&updated).await?;
    // Someone who had to choose a password goes on to their work; others stay to see it done.
    leptos_axum::redirect(if user.temporary_password { "/queues" } else { "/account?changed=password" });
    Ok(())
}

/// Ends one of the caller's other sessions, named by its handle. (A form posted without
/// JavaScript comes back to the page it was on, as every such form does.)
#[server(endpoint = "account/end-session", output = JsonText)]
pub async fn end_session(handle: String) -> Result<(), AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require_signed_in().await?;
    super::sessions::end(ctx.db(), &ctx.state.sessions, &user, ctx.session.id(), handle.trim()).await
}

/// Ends every session of the caller but this one; returns how many ended.
#[server(endpoint = "account/end-other-sessions", output = JsonText)]
pub async fn end_other_sessions() -> Result<u64, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require_signed_in().await?;
    let Some(current) = ctx.session.id() else {
        return Err(AppError::Unauthenticated);
    };
    super::sessions::end_others(ctx.db(), &ctx.state.sessions, &user, Some(current)).await
}
