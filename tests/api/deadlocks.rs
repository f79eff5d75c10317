//! PostgreSQL only: writers that PostgreSQL rolls back to break a deadlock. Two transactions on
//! the same counter shard can wait on each other's rows; the database then rolls one back, and
//! the writer must write it again rather than answer 500.

use crate::fixtures::{invoice, submit, workflow};
use crate::helpers::{Backend, spawn_app, wait_until, within_limit};
use gatehouse::error::AppError;
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::Duration;

/// The database's count of deadlocks it broke (its statistics lag by up to a second).
async fn deadlocks(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar("select deadlocks from pg_stat_database where datname = current_database()")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Deterministic: a second transaction holds the tuning counter of one confidence bin in every
/// shard, the batch takes the other bin's counter (first in key order) and waits for the held
/// one, and the other transaction then asks for the batch's, against the order every writer of
/// the application keeps. PostgreSQL rolls the batch back (its wait began first); written again,
/// it is stored once, counters included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(test_postgres), ignore = "set TEST_DATABASE_URL to run on PostgreSQL")]
async fn a_batch_rolled_back_to_break_a_deadlock_is_written_again() {
    let backend = Backend::postgres();
    within_limit(async {
        let app = spawn_app(backend).await;
        let key = workflow().with("slug", json!("invoices")).invoice_contract().create(&app).await.key;
        // An item of the second bin, whose counter cell the other transaction then holds.
        assert_eq!(submit(&app, &key, "invoices", &invoice("cell", 0.6)).await.status(), 201);

        let mut other = sqlx::PgConnection::connect(&app.test_db_url()).await.unwrap();
        let mut watcher = sqlx::PgConnection::connect(&app.test_db_url()).await.unwrap();
        let before = deadlocks(&mut watcher).await;
        // The other side never detects the deadlock itself: the batch is the one rolled back.
        sqlx::query("set deadlock_timeout = '60s'").execute(&mut other).await.unwrap();
        let other_pid: i32 = sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut other).await.unwrap();
        sqlx::query("begin").execute(&mut other).await.unwrap();
        let hold = |confidence: &'static str| {
            format!(
                "insert into tuning_evidence (workflow_id, model_version, bin, stratum, shard, volume) \
                 select i.workflow_id, coalesce(i.model_version, ''), evidence_bin({confidence}), \
                        evidence_stratum(i.review_probability), s, 0 \
                 from items i cross join generate_series(0, 7) s where i.external_id = 'cell' \
                 on conflict (workflow_id, model_version, bin, stratum, shard) \
                 do update set volume = tuning_evidence.volume"
            )
        };
        assert_eq!(sqlx::query(&hold("i.confidence")).execute(&mut other).await.unwrap().rows_affected(), 8);

        // The batch's counters are taken in key order: the 0.5 bin's, then (waiting) the 0.6 bin's.
        let items: Vec<Value> = [("a-1", 0.5), ("a-2", 0.5), ("b-1", 0.6)].map(|(id, c)| invoice(id, c)).to_vec();
        let batch = tokio::spawn({
            let (client, url, key) =
                (app.client.clone(), app.url("/api/v1/workflows/invoices/items:batch"), key.clone());
            async move { client.post(url).bearer_auth(key).json(&json!({ "items": items })).send().await.unwrap() }
        });
        wait_until(Duration::from_secs(10), "the batch waits for the held counter", async || {
            let waiting: i64 =
                sqlx::query_scalar("select count(*) from pg_stat_activity where $1 = any(pg_blocking_pids(pid))")
                    .bind(other_pid)
                    .fetch_one(&mut watcher)
                    .await
                    .unwrap();
            waiting > 0
        })
        .await;
        // Now each waits for the other; this statement goes through once the batch is rolled back.
        sqlx::query(&hold("0.5")).execute(&mut other).await.expect("the batch, not this side, is rolled back");
        sqlx::query("commit").execute(&mut other).await.unwrap();

        let answer = batch.await.unwrap();
        assert_eq!(answer.status(), 200, "the batch was written again");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["created"], 3);
        wait_until(Duration::from_secs(10), "the database counts the deadlock it broke", async || {
            deadlocks(&mut watcher).await > before
        })
        .await;
        // Stored once: the items, and the counters their rolled back first try had added to.
        let stored: i64 = sqlx::query_scalar("select count(*) from items").fetch_one(app.db.pool()).await.unwrap();
        assert_eq!(stored, 4);
        let volumes: Vec<(i64, i64)> = sqlx::query_as(
            "select bin, sum(volume)::bigint from tuning_evidence where volume <> 0 group by bin order by bin",
        )
        .fetch_all(app.db.pool())
        .await
        .unwrap();
        assert_eq!(volumes, [(100, 2), (120, 2)], "0.5 and 0.6 fall in bins 100 and 120 of 200");
    })
    .await
}

/// A deadlock's victim, as every writer meets it: the database rolled its transaction back and
/// the same transaction goes through when tried again, so it is `Busy` (503 with `Retry-After`,
/// which the retrying writers try again), where any other refusal of the database stays
/// internal. A real deadlock between two connections on a table of the test's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(test_postgres), ignore = "set TEST_DATABASE_URL to run on PostgreSQL")]
async fn a_deadlock_victim_is_busy_and_other_database_errors_stay_internal() {
    let backend = Backend::postgres();
    within_limit(async {
        let app = spawn_app(backend).await;
        let connect = async || sqlx::PgConnection::connect(&app.test_db_url()).await.unwrap();
        let (mut victim, mut other, mut watcher) = (connect().await, connect().await, connect().await);
        sqlx::query("create table deadlock_cells (id int primary key, n int not null)")
            .execute(&mut other)
            .await
            .unwrap();
        sqlx::query("insert into deadlock_cells values (1, 0), (2, 0)").execute(&mut other).await.unwrap();
        // The other side never looks for the deadlock itself: the victim is the one rolled back.
        sqlx::query("set deadlock_timeout = '60s'").execute(&mut other).await.unwrap();
        let victim_pid: i32 = sqlx::query_scalar("select pg_backend_pid()").fetch_one(&mut victim).await.unwrap();
        let take = |id: i32| format!("update deadlock_cells set n = n + 1 where id = {id}");
        sqlx::query("begin").execute(&mut victim).await.unwrap();
        sqlx::query(&take(1)).execute(&mut victim).await.unwrap();
        sqlx::query("begin").execute(&mut other).await.unwrap();
        sqlx::query(&take(2)).execute(&mut other).await.unwrap();
        let waiting = tokio::spawn(async move { sqlx::query(&take(2)).execute(&mut victim).await.map(|_| ()) });
        wait_until(Duration::from_secs(10), "the victim waits for the other's row", async || {
            let blocked: Vec<i32> = sqlx::query_scalar("select unnest(pg_blocking_pids($1))")
                .bind(victim_pid)
                .fetch_all(&mut watcher)
                .await
                .unwrap();
            !blocked.is_empty()
        })
        .await;
        // Each now waits for the other; this goes through once the victim is rolled back.
        sqlx::query("update deadlock_cells set n = n + 1 where id = 1").execute(&mut other).await.unwrap();
        sqlx::query("commit").execute(&mut other).await.unwrap();

        let refused = waiting.await.unwrap().expect_err("the victim was rolled back");
        let sqlstate = refused.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
        assert_eq!(sqlstate.as_deref(), Some("40P01"), "a deadlock, as PostgreSQL names it: {refused}");
        let error = AppError::from(refused);
        assert_eq!(error, AppError::Busy { retry_after_secs: 1 });
        assert_eq!((error.status(), error.retry_after_secs()), (503, Some(1)));
        assert!(error.may_succeed_again());

        // Any other refusal stays internal (and is logged as an error where it happens).
        let duplicate = sqlx::query("insert into deadlock_cells values (1, 0)").execute(&mut other).await.unwrap_err();
        assert_eq!(AppError::from(duplicate), AppError::Internal);
    })
    .await
}
