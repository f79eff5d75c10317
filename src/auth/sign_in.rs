//! Checking who signs in: the email and password, under per-account and per-client throttling.
//! Starting the session is the caller's (the server function), once this has said yes.

use super::throttle::{self, Attempt, account_key, client_key};
use crate::domain::throttle::ThrottlePolicy;
use crate::domain::{Email, Password};
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

/// Checks a password for an attempt [`take_password_attempt`] let through. When the server is
/// too busy hashing to check it at all, the attempt is withdrawn (it counts for nothing) and
/// the 503 passed on.
pub async fn verify_for(
    db: &Db,
    attempt: Attempt,
    candidate: String,
    stored: Option<String>,
) -> Result<(Attempt, bool), AppError> {
    match password::verify(candidate, stored).await {
        Ok(matches) => Ok((attempt, matches)),
        Err(error) => {
            if matches!(error, AppError::Busy { .. }) {
                attempt.withdraw(db).await?;
            }
            Err(error)
        }
    }
}

/// The account whose email and password these are, if it may sign in now. Each attempt the
/// throttles let through counts as a failure against the account and the client until its
/// password proves right ([`throttle::take_attempt`]); a success forgets the account's failures.
/// Unknown email, wrong password and disabled account get the same answer, so that the answer
/// tells a guesser nothing. When the server is too busy hashing to check the password at all
/// (503), the attempt is not counted.
#[tracing::instrument(skip_all, fields(email))]
pub async fn check_credentials(
    db: &Db,
    policy: SignInPolicy,
    client_ip: Option<IpAddr>,
    raw_email: &str,
    password: String,
) -> Result<UserRecord, AppError> {
    let email = Email::parse(raw_email)?;
    tracing::Span::current().record("email", email.as_str());
    if password.is_empty() {
        return Err(AppError::invalid("password", "Enter your password."));
    }
    Password::check_length_to_verify(&password, "password")?;
    let attempt = take_password_attempt(db, policy, &email, client_ip).await?;
    let user = users::find_by_email(db, &email).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let (attempt, matches) = verify_for(db, attempt, password, stored).await?;
    let Some(user) = user.filter(|user| matches && !user.disabled) else {
        // The failure was counted when the attempt was let through.
        tracing::info!("sign-in refused: wrong email or password, or a disabled account");
        return Err(AppError::InvalidCredentials);
    };
    attempt.succeeded(db).await?;
    throttle::clear_account(db, &email).await?;
    tracing::info!(user_id = user.id, "signed in");
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::throttle::ThrottlePolicy;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    /// The longest value any span field was given.
    #[derive(Clone, Default)]
    struct Longest(Arc<AtomicUsize>);

    impl Visit for Longest {
        fn record_debug(&mut self, _: &Field, value: &dyn std::fmt::Debug) {
            self.0.fetch_max(format!("{value:?}").len(), Ordering::Relaxed);
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Longest {
        fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, _: &tracing::span::Id, _: Context<'_, S>) {
            attrs.record(&mut self.clone());
        }

        fn on_record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>, _: Context<'_, S>) {
            values.record(&mut self.clone());
        }
    }

    /// A megabyte typed into the email field is refused before it reaches the logs.
    #[tokio::test]
    async fn an_overlong_email_never_reaches_a_span() {
        let longest = Longest::default();
        let _logging = tracing::subscriber::set_default(tracing_subscriber::registry().with(longest.clone()));
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let path = std::env::temp_dir().join(format!("gatehouse-sign-in-span-{nanos}.db"));
        let db = Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        let policy = SignInPolicy { account: ThrottlePolicy::ACCOUNT, client: ThrottlePolicy::CLIENT };
        let huge = format!("{}@example.com", "x".repeat(1 << 20));
        let refused = check_credentials(&db, policy, None, &huge, "whatever".into()).await;
        assert_eq!(refused.unwrap_err().field(), Some("email"));
        assert!(
            longest.0.load(Ordering::Relaxed) < 300,
            "a span field took {} bytes",
            longest.0.load(Ordering::Relaxed)
        );
        let _ = std::fs::remove_file(path);
    }
}
