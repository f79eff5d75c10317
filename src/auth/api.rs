//! Server functions for signing in and out and for the one-time setup.

use super::{FlashSecret, SessionUser};
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

/// The signed-in user, or `None`.
#[server(endpoint = "auth/me", output = JsonText)]
pub async fn current_user() -> Result<Option<SessionUser>, AppError> {
    use super::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    Ok(ctx.current_user().await?.map(|user| user.to_session_user()))
}

#[server(endpoint = "auth/login", output = JsonText)]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<SessionUser, AppError> {
    use super::context::RequestCtx;
    use super::sign_in::check_credentials;
    let ctx = RequestCtx::from_leptos().await?;
    let user = check_credentials(ctx.db(), ctx.sign_in_policy(), ctx.client_ip, &email, password).await?;
    ctx.start_session(&user).await?;
    if user.temporary_password {
        // An admin chose this password: the account page asks for the user's own first.
        leptos_axum::redirect("/account");
    } else {
        leptos_axum::redirect(&super::safe_next(next.as_deref()));
    }
    Ok(user.to_session_user())
}

#[server(endpoint = "auth/logout", output = JsonText)]
pub async fn logout() -> Result<(), AppError> {
    use super::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    ctx.end_session().await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Whether the instance still needs its first admin.
#[server(endpoint = "setup/status", output = JsonText)]
pub async fn needs_setup() -> Result<bool, AppError> {
    use super::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    Ok(crate::users::server::count(ctx.db()).await? == 0)
}

/// Creates the first admin and signs them in, given the setup token the server printed at
/// start. Refused once any user exists.
#[server(endpoint = "setup/first-admin", output = JsonText)]
pub async fn create_first_admin(
    setup_token: String,
    name: String,
    email: String,
    password: String,
    password_confirm: String,
) -> Result<SessionUser, AppError> {
    use super::context::RequestCtx;
    use crate::users::server::{self as users, NewUser};
    let ctx = RequestCtx::from_leptos().await?;
    super::setup_token::check(ctx.db(), &setup_token).await?;
    if password != password_confirm {
        return Err(AppError::invalid("password_confirm", "The two passwords do not match."));
    }
    let new_user = NewUser::parse(&email, &name, crate::domain::Role::Admin, &password, "password")?;
    let user = users::create_first_admin(ctx.db(), new_user).await?;
    super::setup_token::retire(ctx.db()).await?;
    ctx.start_session(&user).await?;
    leptos_axum::redirect("/settings/users");
    Ok(user.to_session_user())
}

/// A secret created by the admin's last form post without JavaScript, shown once.
#[server(endpoint = "flash/take", output = JsonText)]
pub async fn take_flash_secret() -> Result<Option<FlashSecret>, AppError> {
    use super::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    ctx.require(crate::domain::Role::Admin).await?;
    ctx.take_flash_secret().await
}
