//! The storage layer on each backend: migrations, sessions, constraints; on SQLite, the write turn
//! and the checkpointer.

use crate::helpers::{Backend, PASSWORD, TestDb, wait_until, within_limit};
use crate::on_both_backends;
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use gatehouse::storage::db::Db;
use gatehouse::storage::session_store::DbSessionStore;
use gatehouse::users::server::{self as users, NewUser};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

on_both_backends!(
    migrations_are_idempotent,
    session_records_round_trip_and_expire,
    emails_are_unique_and_mapped_to_a_field_error
);

/// Each table's columns in order, with whether each may be null; and the indexes the migrations
/// create (not those a key or unique constraint brings).
#[derive(Debug, PartialEq)]
struct Schema {
    tables: BTreeMap<String, Vec<(String, bool)>>,
    indexes: BTreeSet<String>,
}

async fn sqlite_schema(db: &Db) -> Schema {
    let names: Vec<(String,)> = sqlx::query_as(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' \
         and name <> '_sqlx_migrations' order by name",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut tables = BTreeMap::new();
    for (table,) in names {
        let columns: Vec<(String, i64, i64)> =
            sqlx::query_as(&format!("select name, \"notnull\", pk from pragma_table_info('{table}') order by cid"))
                .fetch_all(db.pool())
                .await
                .unwrap();
        // A primary key column is never null, whatever SQLite's table says.
        let columns = columns.into_iter().map(|(name, not_null, pk)| (name, not_null == 0 && pk == 0)).collect();
        tables.insert(table, columns);
    }
    let indexes: Vec<(String,)> =
        sqlx::query_as("select name from sqlite_master where type = 'index' and sql is not null")
            .fetch_all(db.pool())
            .await
            .unwrap();
    Schema { tables, indexes: indexes.into_iter().map(|(name,)| name).collect() }
}

async fn postgres_schema(db: &Db) -> Schema {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text, is_nullable::text from information_schema.columns \
         where table_schema = 'public' and table_name <> '_sqlx_migrations' order by table_name, ordinal_position",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut tables: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for (table, column, nullable) in columns {
        tables.entry(table).or_default().push((column, nullable == "YES"));
    }
    let indexes: Vec<(String,)> = sqlx::query_as(
        "select indexname::text from pg_indexes i where schemaname = 'public' \
         and not exists (select 1 from pg_constraint c where c.conname = i.indexname)",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    Schema { tables, indexes: indexes.into_iter().map(|(name,)| name).collect() }
}

/// `migrations/sqlite` and `migrations/postgres` are written twice by hand: after both have run,
/// every table has the same columns, in the same order, null where the other allows null, and
/// the same indexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(test_postgres), ignore = "set TEST_DATABASE_URL to run on PostgreSQL")]
async fn both_backends_migrate_to_the_same_columns_and_indexes() {
    let postgres = Backend::postgres();
    within_limit(async {
        let (sqlite_db, postgres_db) = (TestDb::new(&Backend::Sqlite).await, TestDb::new(&postgres).await);
        let sqlite = sqlite_schema(&sqlite_db.connect().await).await;
        let postgres = postgres_schema(&postgres_db.connect().await).await;
        assert!(sqlite.tables.len() >= 10 && sqlite.indexes.len() >= 10, "{sqlite:?}");
        assert_eq!(
            sqlite.tables.keys().collect::<Vec<_>>(),
            postgres.tables.keys().collect::<Vec<_>>(),
            "the same tables"
        );
        for (table, columns) in &sqlite.tables {
            assert_eq!(
                columns, &postgres.tables[table],
                "columns of {table} (name, nullable): SQLite, then PostgreSQL"
            );
        }
        assert_eq!(sqlite.indexes, postgres.indexes, "the same indexes");
    })
    .await;
}

/// PostgreSQL only: the items table is vacuumed every 20,000 dead row versions, its indexes
/// always included (migration 0022), so that claim-next's walk past the entries of items already
/// claimed stays short whatever the table's size. (A test server may run without autovacuum, so
/// the settings are what can be checked here; the soak, with `scripts/soak-postgres-watch`
/// beside it, measures what they do.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(test_postgres), ignore = "set TEST_DATABASE_URL to run on PostgreSQL")]
async fn postgres_vacuums_items_after_a_fixed_number_of_dead_rows() {
    let postgres = Backend::postgres();
    within_limit(async {
        let test_db = TestDb::new(&postgres).await;
        let db = test_db.connect().await;
        let options: Vec<String> =
            sqlx::query_scalar("select unnest(reloptions) from pg_class where oid = 'items'::regclass order by 1")
                .fetch_all(db.pool())
                .await
                .unwrap();
        assert_eq!(
            options,
            ["autovacuum_vacuum_scale_factor=0", "autovacuum_vacuum_threshold=20000", "vacuum_index_cleanup=on"]
        );
    })
    .await;
}

async fn migrations_are_idempotent(backend: Backend) {
    let test_db = TestDb::new(&backend).await;
    let db = test_db.connect().await;
    db.migrate().await.expect("second migration run is a no-op");
    let (count,): (i64,) = sqlx::query_as("select count(*) from users").fetch_one(db.pool()).await.unwrap();
    assert_eq!(count, 0);
    assert!(db.ping().await);
}

/// Sessions are written to the database: every read below goes through a fresh store on the
/// same database (a store keeps what it read or wrote for a second, which would answer
/// without asking the database), and the first read also looks at the row itself.
async fn session_records_round_trip_and_expire(backend: Backend) {
    let test_db = TestDb::new(&backend).await;
    let db = test_db.connect().await;
    let person = |email: &str| NewUser::parse(email, "", Role::Reviewer, PASSWORD, "password").unwrap();
    let first = users::create(&db, &Actor::Cli, person("a@example.com")).await.unwrap().id;
    let second = users::create(&db, &Actor::Cli, person("b@example.com")).await.unwrap().id;
    let store = DbSessionStore::new(db.clone());
    // A store that has read and written nothing yet: what it loads comes from the database.
    let fresh = || DbSessionStore::new(db.clone());
    let in_an_hour = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let mut record = Record { id: Id::default(), data: Default::default(), expiry_date: in_an_hour };
    record.data.insert("user_id".into(), serde_json::json!(first));
    store.create(&mut record).await.unwrap();
    let (data, expires_at, owner): (String, i64, Option<i64>) =
        sqlx::query_as("select data, expires_at, user_id from sessions where id = $1")
            .bind(record.id.to_string())
            .fetch_one(db.pool())
            .await
            .expect("the session's row");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&data).unwrap()["user_id"], first);
    assert_eq!(expires_at / 1000, in_an_hour.unix_timestamp());
    assert_eq!(owner, Some(first));
    let loaded = fresh().load(&record.id).await.unwrap().expect("stored");
    assert_eq!(loaded.data["user_id"], first);
    assert_eq!(loaded.expiry_date.unix_timestamp(), in_an_hour.unix_timestamp());
    let owned = |sessions: Vec<gatehouse::storage::session_store::StoredSession>| {
        sessions.into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    assert_eq!(owned(fresh().sessions_of(first).await.unwrap()), vec![record.id], "the owner is kept in its column");

    // The owner follows the data when a session is saved.
    record.data.insert("user_id".into(), serde_json::json!(second));
    store.save(&record).await.unwrap();
    assert_eq!(fresh().load(&record.id).await.unwrap().unwrap().data["user_id"], second);
    assert!(fresh().sessions_of(first).await.unwrap().is_empty());
    let mut another = Record { id: Id::default(), data: record.data.clone(), expiry_date: in_an_hour };
    store.create(&mut another).await.unwrap();
    assert_eq!(fresh().sessions_of(second).await.unwrap().len(), 2);
    assert_eq!(store.delete_sessions_of(second, Some(record.id)).await.unwrap(), 1, "all but the one kept");
    assert_eq!(owned(fresh().sessions_of(second).await.unwrap()), vec![record.id]);
    assert!(fresh().load(&another.id).await.unwrap().is_none(), "an ended session does not load");
    assert!(store.load(&another.id).await.unwrap().is_none(), "nor from the store that ended it");

    let mut expired = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
    };
    store.create(&mut expired).await.unwrap();
    assert!(fresh().load(&expired.id).await.unwrap().is_none(), "expired sessions do not load");
    assert!(store.load(&expired.id).await.unwrap().is_none(), "not even from the store that wrote them");
    assert_eq!(store.delete_expired().await.unwrap(), 1);

    store.delete(&record.id).await.unwrap();
    assert!(fresh().load(&record.id).await.unwrap().is_none());
    let (left,): (i64,) = sqlx::query_as("select count(*) from sessions").fetch_one(db.pool()).await.unwrap();
    assert_eq!(left, 0, "every session ended, expired or deleted is gone from the table");
}

async fn emails_are_unique_and_mapped_to_a_field_error(backend: Backend) {
    let test_db = TestDb::new(&backend).await;
    let db = test_db.connect().await;
    let new = || NewUser::parse("a@example.com", "A", Role::Reviewer, PASSWORD, "password").unwrap();
    users::create(&db, &Actor::Cli, new()).await.unwrap();
    let error = users::create(&db, &Actor::Cli, new()).await.unwrap_err();
    assert_eq!(error.field(), Some("email"));
    assert_eq!(error.status(), 422);
    assert_eq!(users::count(&db).await.unwrap(), 1);
}

/// SQLite's write-ahead log reaches the database file through the checkpointer's task, not
/// through the commits: a connection of the pool checkpoints only past the backstop, and a
/// write far below it is in the file shortly after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_logs_are_copied_back_by_their_own_task() {
    within_limit(async {
        let test_db = TestDb::new(&Backend::Sqlite).await;
        let db = test_db.connect().await;
        let (pages,): (i64,) = sqlx::query_as("pragma wal_autocheckpoint").fetch_one(db.pool()).await.unwrap();
        assert_eq!(pages, i64::from(gatehouse::storage::checkpoint::BACKSTOP_PAGES));
        let file = test_db.url.trim_start_matches("sqlite://").to_owned();
        let size = || std::fs::metadata(&file).unwrap().len();
        let before = size();
        // About 2 MB in one commit: some 500 pages, under SQLite's own default of 1,000 too, so
        // no commit copies them back on its own.
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("create table filler (bytes blob)").execute(&mut *tx).await.unwrap();
        for _ in 0..500 {
            sqlx::query("insert into filler values (randomblob(4000))").execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
        wait_until(Duration::from_secs(5), "the log copied into the database file", async || {
            size() >= before + 2_000_000
        })
        .await;
    })
    .await;
}

/// Every write of the process waits for SQLite's write turn, those outside a transaction too:
/// while something holds the turn, a transaction does not begin and a session is not written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_wait_for_the_write_turn() {
    within_limit(async {
        let test_db = TestDb::new(&Backend::Sqlite).await;
        let db = test_db.connect().await;
        let turn = db.write_turn().await.expect("SQLite has a write turn");
        let transaction = tokio::spawn({
            let db = db.clone();
            async move {
                let mut tx = db.begin_write().await.unwrap();
                sqlx::query("create table written (x integer)").execute(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
            }
        });
        let session = tokio::spawn({
            let store = DbSessionStore::new(db.clone());
            async move {
                let expiry_date = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
                let mut record = Record { id: Id::default(), data: Default::default(), expiry_date };
                store.create(&mut record).await.unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!transaction.is_finished(), "a transaction began while another writer had the turn");
        assert!(!session.is_finished(), "a session was written while another writer had the turn");
        drop(turn);
        transaction.await.unwrap();
        session.await.unwrap();
        let (sessions,): (i64,) = sqlx::query_as("select count(*) from sessions").fetch_one(db.pool()).await.unwrap();
        assert_eq!(sessions, 1);
    })
    .await;
}
