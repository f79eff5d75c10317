//! The review loop under load: N reviewers, each signed in with its own session, call the server
//! functions the browser calls: `review/start` and `review/item` (the first item's page) once,
//! then `review/approve` over and over. Each decision is one call, claim plus decide: it leases
//! the reviewer's next item in the same transaction and answers with that item as the review
//! page shows it, lease token included, as the browser's script uses it.
//!
//!   cargo bench --features ssr --bench review -- [--backend sqlite|postgres] [--reviewers N]
//!       [--waiting N] [--seconds N]
//!
//! `--waiting N` (default 10,000) items wait in the queue before the clock starts. A run stops
//! after `--seconds` or once 90 % of the waiting items are decided, so the queue never runs dry.
//! PostgreSQL uses `BENCH_DATABASE_URL` (or `TEST_DATABASE_URL`) as an admin URL and creates a
//! fresh database. Server and reviewers share this machine, so the figures are for the whole box.

mod common;

use common::{BenchDb, Reviewer, ms, percentile};
use gatehouse::storage::audit::Actor;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench-password-123";

struct Options {
    backend: String,
    reviewers: usize,
    waiting: u64,
    seconds: u64,
}

fn options() -> Options {
    let mut o = Options { backend: "sqlite".into(), reviewers: 32, waiting: 10_000, seconds: 10 };
    for (flag, value) in common::flags() {
        match flag.as_str() {
            "--backend" => o.backend = value,
            "--reviewers" => o.reviewers = common::number(&flag, &value),
            "--waiting" => o.waiting = common::number(&flag, &value),
            "--seconds" => o.seconds = common::number(&flag, &value),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

#[tokio::main]
async fn main() {
    let o = options();
    let bench_db = BenchDb::create(&o.backend, "review_bench").await;
    let db = bench_db.connect().await;
    let emails = common::create_reviewers(&db, o.reviewers, "bench.example", PASSWORD).await;
    let spec = serde_json::from_value(json!({
        "slug": "bench", "name": "Bench",
        "members": emails,
        "payload_schema": { "type": "object" },
        "prediction_schema": { "type": "object", "required": ["label"] },
        "labels": ["invoice", "receipt"],
        "auto_approve_at": 0.95, "escalate_below": 0.05, "audit_rate": 0.0,
    }))
    .unwrap();
    let (workflow, _) = gatehouse::workflows::server::apply(&db, &Actor::Cli, spec, "bench").await.unwrap();
    let took = common::load_items(&db, &workflow, o.waiting, |i| {
        json!({
            "external_id": format!("item-{i}"),
            "payload": { "invoice_number": format!("INV-{i}"), "vendor": "ACME GmbH", "total": 100 + i % 900 },
            "prediction": { "label": "invoice", "total": 100 + i % 900 },
            "confidence": 0.5,
            "priority": (i % 3) as i32,
        })
    })
    .await;
    eprintln!("{} items waiting after {:.0} s", o.waiting, took.as_secs_f64());
    // Fresh statistics for the loaded items, as autovacuum would have them a minute after a bulk
    // load (PostgreSQL). Not for the empty decisions table: statistics saying "empty" would plan
    // its lookups as scans, which a live database, whose statistics follow its growth, never
    // keeps for long.
    sqlx::query("analyze items").execute(db.pool()).await.unwrap();
    // And the load's WAL checkpointed, as it would be minutes after the load: otherwise a large
    // load's checkpoint lands in the measured seconds. Needs a superuser; skipped without one.
    if o.backend == "postgres" {
        sqlx::query("checkpoint").execute(db.pool()).await.ok();
    }

    let base = common::serve(&db).await;

    let mut reviewers = Vec::new();
    for email in &emails {
        reviewers.push(Reviewer::sign_in(&base, "bench", email, PASSWORD).await);
    }

    let budget = o.waiting * 9 / 10;
    let decided = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let clock = Instant::now();
    let tasks: Vec<_> = reviewers
        .into_iter()
        .map(|reviewer| {
            let decided = decided.clone();
            tokio::spawn(async move {
                let (mut loop_lat, mut errors) = (Vec::new(), 0u64);
                // As the browser: "Start reviewing", the first item's page, then decisions, each
                // answered with the next item (and its lease token) already leased.
                let mut current = reviewer.first_item().await;
                while let Some((item_id, token)) = current.take() {
                    if Instant::now() >= deadline || decided.load(Ordering::Relaxed) >= budget {
                        break;
                    }
                    let id = item_id.to_string();
                    let sent = Instant::now();
                    match reviewer.call("review/approve", &[("item_id", &id), ("lease_token", &token)]).await {
                        Ok(receipt) => {
                            loop_lat.push(sent.elapsed());
                            decided.fetch_add(1, Ordering::Relaxed);
                            let next = &receipt["next"];
                            current = next["item_id"].as_i64().zip(next["lease_token"].as_str().map(str::to_owned));
                            if current.is_none() && receipt["next_item"].is_i64() {
                                errors += 1; // leased but not brought along
                            }
                        }
                        Err(error) => {
                            if errors == 0 {
                                eprintln!("first error: {error}");
                            }
                            errors += 1;
                            current = reviewer.first_item().await;
                        }
                    }
                }
                (loop_lat, errors)
            })
        })
        .collect();
    let (mut loop_lat, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (l, e) = task.await.unwrap();
        loop_lat.extend(l);
        errors += e;
    }
    let elapsed = clock.elapsed();
    loop_lat.sort();
    let count = loop_lat.len();

    // Every decided item has exactly one final decision.
    let (finals, items): (i64, i64) = sqlx::query_as(
        "select (select count(*) from decisions where final = 1 and kind = 'approve'), \
         (select count(*) from items where state = 'approved')",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(finals, items, "an item was decided twice");
    assert_eq!(finals as usize, count, "every acknowledged decision is stored once");

    println!(
        "| reviewers | backend | waiting | decisions | decisions/s | loop p50 ms | loop p99 ms | loop max ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
        o.reviewers,
        o.backend,
        o.waiting,
        count,
        count as f64 / elapsed.as_secs_f64(),
        ms(percentile(&loop_lat, 0.5)),
        ms(percentile(&loop_lat, 0.99)),
        ms(percentile(&loop_lat, 1.0)),
        errors,
    );

    db.close().await;
    bench_db.remove().await;
}
