//! Sign-in throttling, stored: failures per account and per client address, kept in the
//! database so every instance sees them. The policy (waits, locks) is pure, in
//! [`crate::domain::throttle`].

use crate::domain::Email;
use crate::domain::throttle::{Blocked, ThrottlePolicy, ThrottleState};
use crate::error::AppError;
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

#[derive(sqlx::FromRow)]
struct ThrottleRow {
    failures: i64,
    last_failure_at: i64,
    locked_until: i64,
}

impl From<ThrottleRow> for ThrottleState {
    fn from(row: ThrottleRow) -> Self {
        Self {
            failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
            last_failure_ms: row.last_failure_at,
            locked_until_ms: row.locked_until,
        }
    }
}

/// The stored failures under `key`.
pub async fn load(db: &Db, key: &str) -> Result<ThrottleState, sqlx::Error> {
    let row: Option<ThrottleRow> =
        sqlx::query_as("select failures, last_failure_at, locked_until from login_throttle where key = $1")
            .bind(key)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(ThrottleState::from).unwrap_or_default())
}

/// An attempt [`take_attempt`] let through: counted as a failure under each key until
/// [`Attempt::succeeded`] takes that back.
#[derive(Debug)]
pub struct Attempt {
    /// Each key, and the lock its failure set (if it set one), to lift again on success.
    counted: Vec<(String, Option<i64>)>,
}

/// Lets one sign-in attempt through under every key, or says which key refuses it and why; in
/// one write transaction, so that parallel attempts queue on the keys' rows and each is judged
/// after the ones before it. An attempt let through is counted as a failure at once, before its
/// password is checked: twenty guesses at the same moment meet the same waits and lock as twenty
/// in a row.
pub async fn take_attempt(
    db: &Db,
    keys: &[(String, ThrottlePolicy)],
    now: i64,
) -> Result<Result<Attempt, (String, Blocked)>, AppError> {
    let mut tx = db.begin_write().await?;
    let mut next = Vec::with_capacity(keys.len());
    // In the order given (the account, then the client), for every attempt alike.
    for (key, policy) in keys {
        // A row to lock, so that the first failures of a key queue too.
        sqlx::query(
            "insert into login_throttle (key, failures, last_failure_at, locked_until) values ($1, 0, 0, 0) \
             on conflict (key) do nothing",
        )
        .bind(key)
        .execute(&mut *tx)
        .await?;
        let row: ThrottleRow = sqlx::query_as(&format!(
            "select failures, last_failure_at, locked_until from login_throttle where key = $1{}",
            db.backend().for_update()
        ))
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        let state = ThrottleState::from(row);
        if let Err(blocked) = state.check(now, policy) {
            tx.rollback().await?;
            return Ok(Err((key.clone(), blocked)));
        }
        next.push((key, state.after_failure(now, policy), state.locked_until_ms));
    }
    let mut counted = Vec::with_capacity(next.len());
    for (key, state, locked_before) in next {
        sqlx::query("update login_throttle set failures = $1, last_failure_at = $2, locked_until = $3 where key = $4")
            .bind(i64::from(state.failures))
            .bind(state.last_failure_ms)
            .bind(state.locked_until_ms)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        let locked_now = (state.locked_until_ms != locked_before).then_some(state.locked_until_ms);
        counted.push((key.clone(), locked_now));
    }
    tx.commit().await?;
    Ok(Ok(Attempt { counted }))
}

impl Attempt {
    /// The password was right: the failure counted under each key is taken back (and a lock it
    /// set lifted), unless the key is forgotten altogether (an account's, by [`clear_account`]).
    pub async fn succeeded(self, db: &Db) -> Result<(), sqlx::Error> {
        self.withdraw(db).await
    }

    /// The password could not be checked at all (the server was busy): the attempt counts for
    /// nothing, as if it had not been made.
    pub async fn withdraw(self, db: &Db) -> Result<(), sqlx::Error> {
        let _turn = db.write_turn().await;
        for (key, locked) in self.counted {
            sqlx::query(
                "update login_throttle set failures = failures - 1, \
                 locked_until = case when locked_until = $2 then 0 else locked_until end \
                 where key = $1 and failures > 0",
            )
            .bind(&key)
            .bind(locked.unwrap_or(-1))
            .execute(db.pool())
            .await?;
            sqlx::query("delete from login_throttle where key = $1 and failures = 0 and locked_until = 0")
                .bind(&key)
                .execute(db.pool())
                .await?;
        }
        Ok(())
    }
}

/// Forgets the failures of one account (after a successful sign-in or a password reset).
pub async fn clear_account(db: &Db, email: &Email) -> Result<(), sqlx::Error> {
    let _turn = db.write_turn().await;
    sqlx::query("delete from login_throttle where key = $1").bind(account_key(email)).execute(db.pool()).await?;
    Ok(())
}

/// Removes the throttle rows of keys quiet for a day and not locked: their failures would be
/// forgotten anyway (see `ThrottleState`), and guessed emails and addresses would otherwise pile
/// up for good. Run periodically; returns how many went.
pub async fn forget_quiet(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let _turn = db.write_turn().await;
    let done = sqlx::query("delete from login_throttle where last_failure_at < $1 and locked_until < $2")
        .bind(now - 24 * 3_600_000)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}
