//! A person choosing their own password: the current one proves it is them (under the same
//! throttling as signing in, so a stolen session cannot guess it), then the new one replaces it.

use crate::auth::sign_in::{SignInPolicy, take_password_attempt, verify_for};
use crate::domain::{Email, Password};
use crate::error::AppError;
use crate::storage::db::Db;
use crate::users::server::{self as users, UserRecord};
use std::net::IpAddr;

/// A validated request to change one's password.
#[derive(Debug)]
pub struct PasswordChange {
    current: String,
    new: Password,
}

impl PasswordChange {
    /// Checks everything that needs no database: each field given, the new password long enough,
    /// typed the same twice, and not the current one again.
    pub fn parse(current: &str, new: &str, confirm: &str) -> Result<Self, AppError> {
        if current.is_empty() {
            return Err(AppError::invalid("current_password", "Enter your current password."));
        }
        Password::check_length_to_verify(current, "current_password")?;
        let new_password = Password::parse(new, "new_password")?;
        if new != confirm {
            return Err(AppError::invalid("new_password_confirm", "The two new passwords do not match."));
        }
        if new == current {
            return Err(AppError::invalid("new_password", "Choose a password different from your current one."));
        }
        Ok(Self { current: current.to_owned(), new: new_password })
    }
}

/// Replaces `user`'s password once their current one proves right; returns the updated user,
/// whose sign-in epoch has moved on (every session signed in under the old password ends). A
/// wrong current password counts as a failed sign-in against the account and the client.
pub async fn change_password(
    db: &Db,
    policy: SignInPolicy,
    client_ip: Option<IpAddr>,
    user: &UserRecord,
    change: PasswordChange,
) -> Result<UserRecord, AppError> {
    let email = Email::parse(&user.email)?;
    let attempt = take_password_attempt(db, policy, &email, client_ip).await?;
    let (attempt, matches) = verify_for(db, attempt, change.current, Some(user.password_hash.clone())).await?;
    if !matches {
        tracing::info!(user_id = user.id, "password change refused: wrong current password");
        return Err(AppError::invalid("current_password", "That is not your current password."));
    }
    attempt.succeeded(db).await?;
    let updated = users::set_own_password(db, user, change.new).await?;
    tracing::info!(user_id = user.id, "password changed by its owner");
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::PasswordChange;

    #[test]
    fn each_field_is_checked_before_the_database() {
        let field = |result: Result<PasswordChange, crate::error::AppError>| {
            result.err().and_then(|e| e.field().map(str::to_owned))
        };
        let new = "a brand new password";
        assert_eq!(field(PasswordChange::parse("", new, new)).as_deref(), Some("current_password"));
        assert_eq!(field(PasswordChange::parse("old one", "short", "short")).as_deref(), Some("new_password"));
        assert_eq!(field(PasswordChange::parse("old one", new, "another")).as_deref(), Some("new_password_confirm"));
        assert_eq!(field(PasswordChange::parse(new, new, new)).as_deref(), Some("new_password"));
        assert!(PasswordChange::parse("the old password", new, new).is_ok());
    }
}
