//! Checking who signs in: the email and password, under per-account and per-client throttling.
//! Starting the session is the caller's (the server function), once this has said yes.

use super::throttle::{self, Attempt, account_key, client_key};
use crate::domain::Email;
use crate::domain::throttle::ThrottlePolicy;
use crate::error::AppError;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::users::password;
use crate::users::server::{self as users, UserRecord};
use std::net::IpAddr;

/// The throttling that applies to a sign-in: per account, and per client address when known.
#[derive(Debug, Clone, Copy)]
pub struct SignInPolicy {
    pub account: ThrottlePolicy,
    pub client: ThrottlePolicy,
}

/// Lets one try of the password of `email`'s account through the account's and the client's
/// throttles ([`throttle::take_attempt`]), or refuses it with 429: for signing in and for
/// proving the current password alike.
pub async fn take_password_attempt(
    db: &Db,
    policy: SignInPolicy,
    email: &Email,
    client_ip: Option<IpAddr>,
) -> Result<Attempt, AppError> {
    let mut keys = vec![(account_key(email), policy.account)];
    if let Some(ip) = client_ip {
        keys.push((client_key(ip), policy.client));
    }
    match throttle::take_attempt(db, &keys, now_ms()).await? {
        Ok(attempt) => Ok(attempt),
        Err((key, blocked)) => {
            tracing::warn!(key, retry_after = blocked.retry_after_secs(), "password attempt throttled");
            Err(AppError::TooManyAttempts { message: blocked.message(), retry_after_secs: blocked.retry_after_secs() })
        }
    }
}

/// The account whose email and password these are, if it may sign in now. Each attempt the
/// throttles let through counts as a failure against the account and the client until its
/// password proves right ([`throttle::take_attempt`]); a success forgets the account's failures.
#[tracing::instrument(skip_all, fields(email = %raw_email.trim()))]
pub async fn check_credentials(
    db: &Db,
    policy: SignInPolicy,
    client_ip: Option<IpAddr>,
    raw_email: &str,
    password: String,
) -> Result<UserRecord, AppError> {
    let email = Email::parse(raw_email)?;
    if password.is_empty() {
        return Err(AppError::invalid("password", "Enter your password."));
    }
    let attempt = take_password_attempt(db, policy, &email, client_ip).await?;
    let user = users::find_by_email(db, &email).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = password::verify(password, stored).await?;
    let Some(user) = user.filter(|_| matches) else {
        // The failure was counted when the attempt was let through.
        tracing::info!("sign-in refused: wrong email or password");
        return Err(AppError::InvalidCredentials);
    };
    attempt.succeeded(db).await?;
    if user.disabled {
        return Err(AppError::Conflict { message: "This account is disabled. Ask an admin to enable it.".into() });
    }
    throttle::clear_account(db, &email).await?;
    tracing::info!(user_id = user.id, "signed in");
    Ok(user)
}
