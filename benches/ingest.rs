//! Ingest throughput and latency through the real HTTP API.
//!
//!   cargo bench --features ssr --bench ingest -- [--backend sqlite|postgres] [--seconds N]
//!       [--clients N] [--batch-clients N] [--batch N] [--preload N]
//!
//! `--preload N` stores N items first (through the service layer, in batches of 1,000), to
//! measure ingest with a full database.
//!
//! PostgreSQL uses `BENCH_DATABASE_URL` (or `TEST_DATABASE_URL`) as an admin URL and creates a
//! fresh database. The server runs in this process on a random port; the clients share the same
//! machine, so the figures are for the whole box (server + load generator).
//!
//! An answer is not a stored item: after the runs the bench counts the items in the database,
//! and fails (exit status 1) when fewer are there than were acknowledged, or more than the
//! acknowledged ones and those of failed requests (which may have been stored unanswered).

mod common;

use common::{BenchDb, ms, percentile};
use gatehouse::storage::audit::Actor;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Options {
    backend: String,
    seconds: u64,
    clients: usize,
    batch_clients: usize,
    batch: usize,
    preload: u64,
}

fn options() -> Options {
    let mut o =
        Options { backend: "sqlite".into(), seconds: 10, clients: 64, batch_clients: 4, batch: 500, preload: 0 };
    for (flag, value) in common::flags() {
        match flag.as_str() {
            "--backend" => o.backend = value,
            "--seconds" => o.seconds = common::number(&flag, &value),
            "--clients" => o.clients = common::number(&flag, &value),
            "--batch-clients" => o.batch_clients = common::number(&flag, &value),
            "--batch" => o.batch = common::number(&flag, &value),
            "--preload" => o.preload = common::number(&flag, &value),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn item(id: u64) -> Value {
    json!({
        "external_id": format!("bench-{id}"),
        "payload": { "invoice_number": format!("INV-{id}"), "total": 100.0 + (id % 1000) as f64, "vendor": "ACME GmbH" },
        "prediction": { "label": "invoice", "fields": { "total": 100.0 } },
        // Spread over every band.
        "confidence": (id % 100) as f64 / 100.0,
        "model_version": "v7",
    })
}

struct Run {
    items: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    errors: u64,
}

async fn load(url: String, key: String, clients: usize, batch: usize, seconds: u64, next: Arc<AtomicU64>) -> Run {
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, key, next) = (client.clone(), url.clone(), key.clone(), next.clone());
            tokio::spawn(async move {
                let (mut latencies, mut items, mut errors) = (Vec::new(), 0u64, 0u64);
                while Instant::now() < deadline {
                    let body = if batch == 0 {
                        item(next.fetch_add(1, Ordering::Relaxed))
                    } else {
                        let first = next.fetch_add(batch as u64, Ordering::Relaxed);
                        json!({ "items": (first..first + batch as u64).map(item).collect::<Vec<_>>() })
                    };
                    let sent = Instant::now();
                    let response = client.post(&url).bearer_auth(&key).json(&body).send().await;
                    match response {
                        Ok(r) if r.status().is_success() => {
                            latencies.push(sent.elapsed());
                            items += batch.max(1) as u64;
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, items, errors)
            })
        })
        .collect();
    let mut run = Run { items: 0, elapsed: Duration::ZERO, latencies: Vec::new(), errors: 0 };
    for task in tasks {
        let (latencies, items, errors) = task.await.unwrap();
        run.latencies.extend(latencies);
        run.items += items;
        run.errors += errors;
    }
    run.elapsed = start.elapsed();
    run.latencies.sort();
    run
}

fn report(label: &str, backend: &str, clients: usize, run: &Run) {
    let rate = run.items as f64 / run.elapsed.as_secs_f64();
    println!(
        "| {label} | {backend} | {clients} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
        run.items,
        rate,
        ms(percentile(&run.latencies, 0.50)),
        ms(percentile(&run.latencies, 0.99)),
        ms(percentile(&run.latencies, 1.0)),
        run.errors,
    );
}

#[tokio::main]
async fn main() {
    let o = options();
    let bench_db = BenchDb::create(&o.backend, "ingest_bench").await;
    let db = bench_db.connect().await;
    let spec = serde_json::from_value(json!({
        "slug": "invoices", "name": "Invoices",
        "payload_schema": { "type": "object", "required": ["invoice_number", "total"],
            "properties": { "invoice_number": { "type": "string" }, "total": { "type": "number" } } },
        "labels": ["invoice", "receipt"],
        "auto_approve_at": 0.9, "escalate_below": 0.2, "audit_rate": 0.05,
    }))
    .unwrap();
    let (workflow, _) = gatehouse::workflows::server::apply(&db, &Actor::Cli, spec, "bench").await.unwrap();
    let key = gatehouse::api_keys::server::create(&db, &Actor::Cli, "bench", &["invoices".into()], false)
        .await
        .unwrap()
        .token;
    if o.preload > 0 {
        let took = common::load_items(&db, &workflow, o.preload, |i| {
            let mut body = item(i);
            body["external_id"] = json!(format!("pre-{i}"));
            body
        })
        .await;
        eprintln!("preloaded {} items in {:.0} s", o.preload, took.as_secs_f64());
    }
    let base = format!("{}/api/v1/workflows/invoices", common::serve(&db).await);

    let next = Arc::new(AtomicU64::new(0));
    println!("| mode | backend | clients | items | items/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let single = load(format!("{base}/items"), key.clone(), o.clients, 0, o.seconds, next.clone()).await;
    let stored = if o.preload > 0 { format!(" ({} stored)", o.preload) } else { String::new() };
    report(&format!("single{stored}"), &o.backend, o.clients, &single);
    let batch =
        load(format!("{base}/items:batch"), key.clone(), o.batch_clients, o.batch, o.seconds, next.clone()).await;
    report(&format!("batch of {}{stored}", o.batch), &o.backend, o.batch_clients, &batch);

    let acknowledged = single.items + batch.items;
    let (rows,): (i64,) =
        sqlx::query_as("select count(*) from items where workflow_id = $1 and external_id like 'bench-%'")
            .bind(workflow.id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    let rows = u64::try_from(rows).unwrap();
    // A request that failed (a timeout, a dropped connection) may have been stored all the same.
    let unanswered = single.errors + batch.errors * o.batch as u64;
    println!();
    println!(
        "stored: {rows} items in the database, {acknowledged} acknowledged, up to {unanswered} more from {} failed requests",
        single.errors + batch.errors
    );
    let problem = if rows < acknowledged {
        Some(format!("{} acknowledged items are not in the database", acknowledged - rows))
    } else if rows > acknowledged + unanswered {
        Some(format!("{} more items are stored than were sent", rows - acknowledged - unanswered))
    } else {
        None
    };

    db.close().await;
    bench_db.remove().await;
    if let Some(problem) = problem {
        eprintln!("FAILED: {problem}");
        std::process::exit(1);
    }
}
