//! The storage layer on each backend: migrations, sessions, constraints.

use crate::helpers::{Backend, PASSWORD, TestDb};
use crate::on_both_backends;
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use gatehouse::storage::session_store::DbSessionStore;
use gatehouse::users::server::{self as users, NewUser};
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

on_both_backends!(
    migrations_are_idempotent,
    session_records_round_trip_and_expire,
    emails_are_unique_and_mapped_to_a_field_error
);

async fn migrations_are_idempotent(backend: Backend) {
    let test_db = TestDb::new(&backend).await;
    let db = test_db.connect().await;
    db.migrate().await.expect("second migration run is a no-op");
    let (count,): (i64,) = sqlx::query_as("select count(*) from users").fetch_one(db.pool()).await.unwrap();
    assert_eq!(count, 0);
    assert!(db.ping().await);
}

async fn session_records_round_trip_and_expire(backend: Backend) {
    let test_db = TestDb::new(&backend).await;
    let store = DbSessionStore::new(test_db.connect().await);
    let in_an_hour = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let mut record = Record { id: Id::default(), data: Default::default(), expiry_date: in_an_hour };
    record.data.insert("user_id".into(), serde_json::json!(7));
    store.create(&mut record).await.unwrap();
    let loaded = store.load(&record.id).await.unwrap().expect("stored");
    assert_eq!(loaded.data["user_id"], 7);
    assert_eq!(loaded.expiry_date.unix_timestamp(), in_an_hour.unix_timestamp());

    record.data.insert("user_id".into(), serde_json::json!(8));
    store.save(&record).await.unwrap();
    assert_eq!(store.load(&record.id).await.unwrap().unwrap().data["user_id"], 8);

    let mut expired = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
    };
    store.create(&mut expired).await.unwrap();
    assert!(store.load(&expired.id).await.unwrap().is_none(), "expired sessions do not load");
    assert_eq!(store.delete_expired().await.unwrap(), 1);

    store.delete(&record.id).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_none());
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
