//! What an open queues page costs with a large backlog: a signed-in reviewer asks
//! `review/queues` (the page's 5-second poll) and loads `/queues` (the page itself, rendered on
//! the server) over and over, with `--waiting N` items waiting in their workflow.
//!
//!   cargo bench --features ssr --bench queues -- [--backend sqlite|postgres] [--waiting N]
//!       [--requests N]
//!
//! PostgreSQL uses `BENCH_DATABASE_URL` (or `TEST_DATABASE_URL`) as an admin URL and creates a
//! fresh database. Requests go one at a time (latency, not throughput).

mod common;

use common::{BenchDb, ms, percentile, timed};
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use gatehouse::users::server::NewUser;
use serde_json::json;

const PASSWORD: &str = "bench-password-123";

struct Options {
    backend: String,
    waiting: u64,
    requests: usize,
}

fn options() -> Options {
    let mut o = Options { backend: "sqlite".into(), waiting: 10_000, requests: 500 };
    for (flag, value) in common::flags() {
        match flag.as_str() {
            "--backend" => o.backend = value,
            "--waiting" => o.waiting = common::number(&flag, &value),
            "--requests" => o.requests = common::number(&flag, &value),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

#[tokio::main]
async fn main() {
    let o = options();
    let bench_db = BenchDb::create(&o.backend, "queues_bench").await;
    let db = bench_db.connect().await;
    let email = "reviewer@bench.example";
    let user = NewUser::parse(email, "Bench reviewer", Role::Reviewer, PASSWORD, "password").unwrap();
    gatehouse::users::server::create(&db, &Actor::Cli, user).await.unwrap();
    let spec = serde_json::from_value(json!({
        "slug": "bench", "name": "Bench", "members": [email],
        "auto_approve_at": 0.95, "escalate_below": 0.05, "audit_rate": 0.0,
    }))
    .unwrap();
    let (workflow, _) = gatehouse::workflows::server::apply(&db, &Actor::Cli, spec, "bench").await.unwrap();
    let took = common::load_items(
        &db,
        &workflow,
        o.waiting,
        |i| json!({ "external_id": format!("item-{i}"), "payload": {}, "prediction": {}, "confidence": 0.5 }),
    )
    .await;
    eprintln!("{} items waiting after {:.0} s", o.waiting, took.as_secs_f64());
    sqlx::query("analyze").execute(db.pool()).await.ok();
    if o.backend == "postgres" {
        sqlx::query("checkpoint").execute(db.pool()).await.ok();
    }
    let base = common::serve(&db).await;
    let client =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = client.post(format!("{base}/api/auth/login")).form(&[("email", email), ("password", PASSWORD)]).send();
    assert!(login.await.unwrap().status().is_success(), "sign-in");

    let poll = timed(o.requests, async || {
        let response = client.post(format!("{base}/api/review/queues")).send().await.unwrap();
        assert!(response.status().is_success());
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["queues"][0]["waiting"].as_u64(), Some(o.waiting));
    })
    .await;
    let page = timed(o.requests / 5, async || {
        let response = client.get(format!("{base}/queues")).header("accept", "text/html").send().await.unwrap();
        assert!(response.status().is_success());
        response.text().await.unwrap();
    })
    .await;

    println!("| request | backend | waiting | requests | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    for (name, latencies) in [("review/queues poll", &poll), ("/queues page", &page)] {
        println!(
            "| {name} | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
            o.backend,
            o.waiting,
            latencies.len(),
            ms(percentile(latencies, 0.5)),
            ms(percentile(latencies, 0.99)),
            ms(percentile(latencies, 1.0)),
        );
    }
    db.close().await;
    bench_db.remove().await;
}
