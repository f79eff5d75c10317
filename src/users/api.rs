//! Server functions for the admin users page. Each checks the caller is an admin first.

use super::UserSummary;
use crate::codec::JsonText;
use crate::domain::Role;
use crate::error::AppError;
use leptos::prelude::*;

#[server(endpoint = "users/list", output = JsonText)]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    ctx.require(Role::Admin).await?;
    super::server::list(ctx.db()).await
}

#[server(endpoint = "users/add", output = JsonText)]
pub async fn add_user(email: String, name: String, role: Role, password: String) -> Result<UserSummary, AppError> {
    use super::server::{self as users, NewUser};
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    // The admin chose it: the new user replaces it at their first sign-in.
    let new_user = NewUser::parse(&email, &name, role, &password, "password")?.with_temporary_password();
    Ok(users::create(ctx.db(), &admin.actor(), new_user).await?.summary())
}

#[server(endpoint = "users/set-role", output = JsonText)]
pub async fn set_user_role(user_id: i64, role: Role) -> Result<UserSummary, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let user = super::server::set_role(ctx.db(), &admin.actor(), user_id, role).await?;
    ctx.state.api_caches.users.clear();
    Ok(user.summary())
}

#[server(endpoint = "users/set-disabled", output = JsonText)]
pub async fn set_user_disabled(user_id: i64, disabled: bool) -> Result<UserSummary, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let user = super::server::set_disabled(ctx.db(), &admin.actor(), user_id, disabled).await?;
    ctx.state.api_caches.users.clear();
    Ok(user.summary())
}

#[server(endpoint = "users/reset-password", output = JsonText)]
pub async fn reset_user_password(user_id: i64, new_password: String) -> Result<UserSummary, AppError> {
    use crate::auth::context::RequestCtx;
    use crate::domain::Password;
    let ctx = RequestCtx::from_leptos().await?;
    let admin = ctx.require(Role::Admin).await?;
    let password = Password::parse(&new_password, "new_password")?;
    let user = super::server::reset_password(ctx.db(), &admin.actor(), user_id, password).await?;
    // A new password also lifts a lock from failed sign-ins.
    crate::auth::throttle::clear_account(ctx.db(), &crate::domain::Email::parse(&user.email)?).await?;
    ctx.state.api_caches.users.clear();
    Ok(user.summary())
}
