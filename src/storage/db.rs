//! One storage handle for both backends.
//!
//! Queries go through sqlx's `Any` driver with `$1` placeholders, which SQLite and PostgreSQL
//! both accept. The `Any` driver maps only basic types, so times are stored as Unix milliseconds
//! and structured values as JSON text. Where SQL must differ, code asks [`Db::backend`] for it
//! (see [`super::dialect`]).

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::checkpoint::{BACKSTOP_PAGES, Checkpointer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// See [`Db::write_turn`].
    write_turn: Arc<tokio::sync::Mutex<()>>,
    /// SQLite's log checkpoints, off the writers' path (see [`super::checkpoint`]).
    checkpointer: Option<Arc<Checkpointer>>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Connects to `url`. A SQLite file and its folder are created when missing.
    #[tracing::instrument(skip_all, fields(backend))]
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL: use sqlite://PATH or postgres://...");
        };
        tracing::Span::current().record("backend", tracing::field::debug(backend));
        let pool = match backend {
            Backend::Sqlite => {
                let url = prepare_sqlite_url(url)?;
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL with synchronous=NORMAL: a committed transaction survives a
                            // crash or kill of the process (not necessarily a power loss).
                            // Checkpoints are the checkpointer's, below.
                            conn.execute(
                                format!(
                                    "pragma journal_mode = wal; pragma synchronous = normal; \
                                     pragma foreign_keys = on; pragma busy_timeout = 5000; \
                                     pragma wal_autocheckpoint = {BACKSTOP_PAGES};"
                                )
                                .as_str(),
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
                    .with_context(|| "could not open the SQLite database")?
            }
            // No ping before each acquire: sqlx already pings a connection when it comes back
            // to the pool and drops it if broken, and the ping cost a round trip per statement.
            // Eight connections: on two cores, sixteen did no more work, only more switching
            // (alternated runs: review loop +13 % with 8, ingest −1 to −10 %), and an instance
            // leaves room for more instances under PostgreSQL's default 100 connections.
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .test_before_acquire(false)
                .connect(url)
                .await
                .context("could not connect to PostgreSQL")?,
        };
        let write_turn: Arc<tokio::sync::Mutex<()>> = Arc::default();
        let checkpointer = match backend {
            // A connection of its own, taken out of the pool (which opens another in its place).
            Backend::Sqlite => {
                let conn = pool.acquire().await.context("could not open the SQLite database")?.detach();
                Some(Arc::new(Checkpointer::start(conn, write_turn.clone())))
            }
            Backend::Postgres => None,
        };
        Ok(Self { pool, backend, write_turn, checkpointer })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations of this backend.
    #[tracing::instrument(skip_all)]
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.context("database migration failed")?;
        Ok(())
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("select 1").execute(&self.pool).await.is_ok()
    }

    /// Begins a transaction that will write, in this process's turn ([`Db::write_turn`], held
    /// until it commits or rolls back). On SQLite it then takes the write lock up front (`BEGIN
    /// IMMEDIATE`), so concurrent writers queue on the turn instead of failing when a read lock
    /// cannot be upgraded.
    pub async fn begin_write(&self) -> Result<WriteTransaction<'static>, sqlx::Error> {
        let turn = self.write_turn().await;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("begin immediate").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTransaction { tx, _turn: turn })
    }

    /// [`Db::begin_write`] on a connection the caller holds, for a bulk writer that runs one
    /// transaction after another (a sweeper's chunks). In WAL mode a SQLite connection drops its
    /// whole page cache when it begins a transaction after another connection wrote, and the
    /// pool hands its idle connections out in turn: chunk after chunk would start on a cold
    /// cache and read every page again from the file. On one connection that only wrote itself
    /// since, the cache stays. In the write turn, as [`Db::begin_write`].
    pub async fn begin_write_on<'c>(
        &self,
        conn: &'c mut sqlx::AnyConnection,
    ) -> Result<WriteTransaction<'c>, sqlx::Error> {
        let turn = self.write_turn().await;
        let tx = match self.backend {
            Backend::Sqlite => sqlx::Connection::begin_with(conn, "begin immediate").await?,
            Backend::Postgres => sqlx::Connection::begin(conn).await?,
        };
        Ok(WriteTransaction { tx, _turn: turn })
    }

    /// Tops `conns` up to the connections one pass of a sweeper works with at once, each
    /// taking its own chunks, one transaction after another (see [`Db::begin_write_on`]): three
    /// on PostgreSQL, where SKIP LOCKED keeps their chunks apart and the database's time, most of
    /// a chunk's, then runs on every core, with a third to work while the others wait on their
    /// commit (docs/BENCHMARKS.md, Escalations at scale); one on SQLite, whose writers take
    /// turns. A pass looks for work on one connection first and takes the others only when it
    /// has some: an idle pass holds one of the pool's connections, not three.
    pub async fn sweep_connections(&self, conns: &mut Vec<PoolConnection<Any>>) -> Result<(), sqlx::Error> {
        let workers = match self.backend {
            Backend::Postgres => 3,
            Backend::Sqlite => 1,
        };
        while conns.len() < workers {
            conns.push(self.pool.acquire().await?);
        }
        Ok(())
    }

    /// On SQLite, a turn to write among this process's writers, taken in arrival order. SQLite
    /// has one write lock per database; a writer that finds it taken waits in the busy handler,
    /// which sleeps 1, 2, 5, 10, 15, 20, 25 ms and so on between tries: with the turn held, it
    /// holds up every writer queued behind it, and late comers overtake. So every write of this
    /// process takes the turn: [`Db::begin_write`] and [`Db::begin_write_on`] do, and a single
    /// statement that writes outside a transaction takes it itself. Other processes still meet on
    /// the busy timeout. `None` on PostgreSQL, whose writers do not exclude each other.
    pub async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_turn.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }

    pub async fn close(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop();
        }
        self.pool.close().await;
    }
}

/// A transaction begun by [`Db::begin_write`] or [`Db::begin_write_on`]: the connection's
/// statements through it, and the write turn until it ends.
#[derive(Debug)]
pub struct WriteTransaction<'c> {
    tx: sqlx::Transaction<'c, Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTransaction<'_> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTransaction<'_> {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTransaction<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Makes sure the folder of a SQLite file exists and asks sqlx to create the file.
fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!("an in-memory SQLite database would lose every write: give a file path");
    }
    if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("could not create the database folder {}", parent.display()))?;
    }
    let mut url = format!("sqlite://{path}");
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    url.push('?');
    url.push_str(&query);
    // Validate early so that a typo fails with a clear message.
    sqlx::sqlite::SqliteConnectOptions::from_str(&url).context("invalid SQLite URL")?;
    Ok(url)
}

/// Whether an error is a unique-constraint violation on `constraint`.
pub fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            // PostgreSQL names the constraint; SQLite names the columns in its message.
            db.constraint().map_or_else(
                || {
                    let column = constraint.trim_end_matches("_key").replacen('_', ".", 1);
                    db.message().contains(&column)
                },
                |name| name == constraint,
            )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_are_prepared() {
        let dir = std::env::temp_dir().join(format!("gh-url-{}", std::process::id()));
        let url = format!("sqlite://{}/x/db.sqlite", dir.display());
        let prepared = prepare_sqlite_url(&url).unwrap();
        assert!(prepared.ends_with("db.sqlite?mode=rwc"), "{prepared}");
        assert!(dir.join("x").is_dir());
        assert!(prepare_sqlite_url("sqlite::memory:").is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
