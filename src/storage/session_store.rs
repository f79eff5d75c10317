//! tower-sessions store on our own [`Db`], so sessions live in the same database on both
//! backends and are shared by every instance.
//!
//! Every request of a signed-in user loads its session, so a session read from the database is
//! kept for [`RECENT_FOR`]: a reviewer deciding an item a second saves a query a decision. What
//! this instance writes or deletes updates that copy at once; a sign-out on another instance is
//! seen here within [`RECENT_FOR`], as a changed user record is (`ApiCaches`).

use super::db::{Db, is_unique_violation};
use super::ttl_cache::TtlCache;
use async_trait::async_trait;
use std::time::Duration;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// How long a session read from the database is used without reading it again.
pub const RECENT_FOR: Duration = Duration::from_secs(1);

/// The most sessions kept in memory: those used within [`RECENT_FOR`], each a session's data
/// (a user id, a CSRF token, a flash message), well under 1 KB.
pub const RECENT_MAX: usize = 10_000;

/// The key of a session's data that names the signed-in user. The store copies it to the row's
/// `user_id` column, so that a person's sessions can be listed and ended.
pub const OWNER_KEY: &str = "user_id";

/// A stored session, with the id that the cookie carries (never shown to anybody).
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub id: Id,
    pub record: Record,
}

/// A session row: its id as text, its data as JSON, when it expires (Unix ms).
#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    data: String,
    expires_at: i64,
}

#[derive(Clone)]
pub struct DbSessionStore {
    db: Db,
    recent: TtlCache<Id, Record>,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSessionStore").finish_non_exhaustive()
    }
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db, recent: recent_cache() }
    }

    /// Removes expired sessions; run periodically.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let now = super::clock::now_ms();
        let _turn = self.db.write_turn().await;
        let done = sqlx::query("delete from sessions where expires_at <= $1").bind(now).execute(self.db.pool()).await?;
        Ok(done.rows_affected())
    }
}

/// The in-memory copy of recently used sessions: [`RECENT_FOR`], at most [`RECENT_MAX`].
fn recent_cache() -> TtlCache<Id, Record> {
    TtlCache::new(RECENT_FOR, RECENT_MAX)
}

fn backend(error: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

fn expiry_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The signed-in user a session belongs to, if any.
fn owner(record: &Record) -> Option<i64> {
    record.data.get(OWNER_KEY).and_then(serde_json::Value::as_i64)
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let _turn = self.db.write_turn().await;
        loop {
            let inserted = sqlx::query("insert into sessions (id, data, expires_at, user_id) values ($1, $2, $3, $4)")
                .bind(record.id.to_string())
                .bind(&data)
                .bind(expiry_ms(record.expiry_date))
                .bind(owner(record))
                .execute(self.db.pool())
                .await;
            match inserted {
                Ok(_) => {
                    self.recent.insert(record.id, record.clone());
                    return Ok(());
                }
                // A colliding random id is astronomically unlikely, but never reuse one.
                Err(error) if is_unique_violation(&error, "sessions_pkey") || is_sqlite_pk(&error) => {
                    record.id = Id::default();
                }
                Err(error) => return Err(backend(error)),
            }
        }
    }

    /// Updates a session that exists, and only that: a session ended (signed out, or ended from
    /// the account page) while a request that had loaded it was still running stays ended when
    /// that request saves. New sessions come through [`SessionStore::create`].
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let _turn = self.db.write_turn().await;
        let updated = sqlx::query("update sessions set data = $2, expires_at = $3, user_id = $4 where id = $1")
            .bind(record.id.to_string())
            .bind(data)
            .bind(expiry_ms(record.expiry_date))
            .bind(owner(record))
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        if updated.rows_affected() == 0 {
            tracing::debug!("a session ended while a request held it was not saved again");
            self.recent.remove(&record.id);
        } else {
            self.recent.insert(record.id, record.clone());
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let record = match self.recent.get(id) {
            Some(record) => Some(record),
            None => self.read(id).await?.inspect(|record| self.recent.insert(*id, record.clone())),
        };
        Ok(record.filter(|r| r.expiry_date > OffsetDateTime::now_utc()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let _turn = self.db.write_turn().await;
        sqlx::query("delete from sessions where id = $1")
            .bind(id.to_string())
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        self.recent.remove(id);
        Ok(())
    }
}

impl DbSessionStore {
    /// The unexpired sessions of one user, newest expiry first.
    pub async fn sessions_of(&self, user_id: i64) -> Result<Vec<StoredSession>, session_store::Error> {
        let rows: Vec<SessionRow> = sqlx::query_as(
            "select id, data, expires_at from sessions where user_id = $1 and expires_at > $2 \
             order by expires_at desc, id",
        )
        .bind(user_id)
        .bind(super::clock::now_ms())
        .fetch_all(self.db.pool())
        .await
        .map_err(backend)?;
        rows.into_iter()
            .filter_map(|row| {
                let id = row.id.parse::<Id>().ok()?;
                Some(decode(id, &row.data, row.expires_at).map(|record| StoredSession { id, record }))
            })
            .collect()
    }

    /// Ends every session of one user but `keep`; returns how many ended.
    pub async fn delete_sessions_of(&self, user_id: i64, keep: Option<Id>) -> Result<u64, session_store::Error> {
        let _turn = self.db.write_turn().await;
        let ended: Vec<(String,)> = sqlx::query_as("delete from sessions where user_id = $1 and id <> $2 returning id")
            .bind(user_id)
            .bind(keep.map(|id| id.to_string()).unwrap_or_default())
            .fetch_all(self.db.pool())
            .await
            .map_err(backend)?;
        for (id,) in &ended {
            if let Ok(id) = id.parse::<Id>() {
                self.recent.remove(&id);
            }
        }
        Ok(ended.len() as u64)
    }

    async fn read(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("select data, expires_at from sessions where id = $1 and expires_at > $2")
                .bind(id.to_string())
                .bind(super::clock::now_ms())
                .fetch_optional(self.db.pool())
                .await
                .map_err(backend)?;
        let Some((data, expires_at)) = row else { return Ok(None) };
        decode(*id, &data, expires_at).map(Some)
    }
}

fn decode(id: Id, data: &str, expires_at: i64) -> session_store::Result<Record> {
    let data = serde_json::from_str(data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
    let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(i128::from(expires_at) * 1_000_000)
        .map_err(|e| session_store::Error::Decode(e.to_string()))?;
    Ok(Record { id, data, expiry_date })
}

fn is_sqlite_pk(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation() && db.message().contains("sessions.id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_sessions_are_bounded() {
        let recent = recent_cache();
        assert_eq!(recent.max_entries(), RECENT_MAX);
        let expiry_date = OffsetDateTime::now_utc() + time::Duration::hours(1);
        for n in 0..(RECENT_MAX as i128 + 2_000) {
            let record = Record { id: Id(n), data: Default::default(), expiry_date };
            recent.insert(record.id, record);
        }
        assert!(recent.len() <= RECENT_MAX, "{} sessions kept", recent.len());
        assert!(recent.get(&Id(RECENT_MAX as i128 + 1_999)).is_some(), "the newest is kept");
    }
}
