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
        Self { db, recent: TtlCache::new(RECENT_FOR) }
    }

    /// Removes expired sessions; run periodically.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let now = super::clock::now_ms();
        let done = sqlx::query("delete from sessions where expires_at <= $1").bind(now).execute(self.db.pool()).await?;
        Ok(done.rows_affected())
    }
}

fn backend(error: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

fn expiry_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        loop {
            let inserted = sqlx::query("insert into sessions (id, data, expires_at) values ($1, $2, $3)")
                .bind(record.id.to_string())
                .bind(&data)
                .bind(expiry_ms(record.expiry_date))
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

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        sqlx::query(
            "insert into sessions (id, data, expires_at) values ($1, $2, $3) \
             on conflict (id) do update set data = excluded.data, expires_at = excluded.expires_at",
        )
        .bind(record.id.to_string())
        .bind(data)
        .bind(expiry_ms(record.expiry_date))
        .execute(self.db.pool())
        .await
        .map_err(backend)?;
        self.recent.insert(record.id, record.clone());
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
    async fn read(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("select data, expires_at from sessions where id = $1 and expires_at > $2")
                .bind(id.to_string())
                .bind(super::clock::now_ms())
                .fetch_optional(self.db.pool())
                .await
                .map_err(backend)?;
        let Some((data, expires_at)) = row else { return Ok(None) };
        let data = serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(i128::from(expires_at) * 1_000_000)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record { id: *id, data, expiry_date }))
    }
}

fn is_sqlite_pk(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation() && db.message().contains("sessions.id"))
}
