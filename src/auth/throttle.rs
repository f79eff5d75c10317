//! Sign-in throttling, stored: failures per account and per client address, kept in the
//! database so every instance sees them. The policy (waits, locks) is pure, in
//! [`crate::domain::throttle`].

use crate::domain::Email;
use crate::domain::throttle::{ThrottlePolicy, ThrottleState};
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use std::net::IpAddr;

/// The throttle of one account.
pub fn account_key(email: &Email) -> String {
    format!("account:{email}")
}

/// The throttle of one client address.
pub fn client_key(ip: IpAddr) -> String {
    format!("client:{ip}")
}

/// The stored failures under `key`.
pub async fn load(db: &Db, key: &str) -> Result<ThrottleState, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct ThrottleRow {
        failures: i64,
        last_failure_at: i64,
        locked_until: i64,
    }
    let row: Option<ThrottleRow> =
        sqlx::query_as("select failures, last_failure_at, locked_until from login_throttle where key = $1")
            .bind(key)
            .fetch_optional(db.pool())
            .await?;
    Ok(row
        .map(|row| ThrottleState {
            failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
            last_failure_ms: row.last_failure_at,
            locked_until_ms: row.locked_until,
        })
        .unwrap_or_default())
}

/// Records one more failure under `key`.
pub async fn record_failure(db: &Db, key: &str, policy: &ThrottlePolicy) -> Result<(), sqlx::Error> {
    let next = load(db, key).await?.after_failure(now_ms(), policy);
    sqlx::query(
        "insert into login_throttle (key, failures, last_failure_at, locked_until) values ($1, $2, $3, $4) \
         on conflict (key) do update set failures = excluded.failures, \
         last_failure_at = excluded.last_failure_at, locked_until = excluded.locked_until",
    )
    .bind(key)
    .bind(i64::from(next.failures))
    .bind(next.last_failure_ms)
    .bind(next.locked_until_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Forgets the failures of one account (after a successful sign-in or a password reset).
pub async fn clear_account(db: &Db, email: &Email) -> Result<(), sqlx::Error> {
    sqlx::query("delete from login_throttle where key = $1").bind(account_key(email)).execute(db.pool()).await?;
    Ok(())
}
