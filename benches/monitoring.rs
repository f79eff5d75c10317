//! What monitoring costs at scale: `--items N` items (default 10,000,000) over 60 days, their
//! routes drawn from a confidence spread (auto-approved above 0.9 but for a 5 % audit sample,
//! escalated below 0.1, reviewed between), two model versions (v3 for the last 20 days), and a
//! person's decision on every reviewed item by one of 16 reviewers, written straight into the
//! tables in chunks (the triggers keep the rollups as they do for live writes; their load time
//! is the first figure). Then, with all of it stored: `GET /workflows/{slug}/stats` for the last
//! 24 hours, 7 and 30 days and one model version, the dashboard page as the server renders it,
//! `/metrics`, and an export of `--export N` items (default 1,000,000) as CSV with the process's
//! peak memory before and after.
//!
//!   cargo bench --features ssr --bench monitoring -- [--backend sqlite|postgres] [--items N]
//!       [--export N] [--requests N]
//!
//! PostgreSQL uses `BENCH_DATABASE_URL` (or `TEST_DATABASE_URL`) as an admin URL and creates a
//! fresh database.

mod common;

use common::{BenchDb, ms, percentile, timed};
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use gatehouse::storage::clock::{now_ms, rfc3339};
use gatehouse::storage::db::Backend;
use gatehouse::users::server::NewUser;
use serde_json::json;
use std::time::Instant;

const PASSWORD: &str = "bench-password-123";
const DAY_MS: i64 = 86_400_000;
const CHUNK: i64 = 250_000;

struct Options {
    backend: String,
    items: i64,
    export: i64,
    requests: usize,
}

fn options() -> Options {
    let mut o = Options { backend: "sqlite".into(), items: 10_000_000, export: 1_000_000, requests: 200 };
    for (flag, value) in common::flags() {
        match flag.as_str() {
            "--backend" => o.backend = value,
            "--items" => o.items = common::number(&flag, &value),
            "--export" => o.export = common::number(&flag, &value),
            "--requests" => o.requests = common::number(&flag, &value),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

/// The process's peak resident memory so far (VmHWM), in MB.
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Items `first..last`: item i arrives at `start + i * span / n`; its confidence is spread
/// evenly over [0, 1) by a multiplicative hash; the newest 2,000 still wait for review.
fn items_sql(backend: Backend) -> String {
    let numbers = match backend {
        Backend::Sqlite => "with recursive n(i) as (select $1 union all select i + 1 from n where i + 1 < $2) \
                            select i, (i * 2654435761 % 1000003) / 1000003.0 as c from n"
            .to_owned(),
        Backend::Postgres => "select i, (i * 2654435761 % 1000003) / 1000003.0 as c \
                              from generate_series($1::bigint, $2::bigint - 1) as i"
            .to_owned(),
    };
    format!(
        "insert into items (workflow_id, external_id, request_hash, payload, prediction, confidence, model_version, \
           state, route_reason, review_probability, routing, settings_version, outcome, final_output, created_at, \
           updated_at, decided_at) \
         select $3, 'item-' || i, '', '{{\"invoice\":' || i || '}}', '{{\"label\":\"invoice\"}}', c, \
           case when i >= $6 then 'v3' else 'v2' end, \
           case when c >= 0.9 and i % 20 <> 0 then 'auto_approved' \
                when i >= $7 then 'queued' \
                when i % 10 < 2 then 'rejected' when i % 10 = 2 then 'corrected' else 'approved' end, \
           case when c >= 0.9 and i % 20 <> 0 then 'above_threshold' when c >= 0.9 then 'audit' \
                when c < 0.1 then 'low_confidence' else 'below_threshold' end, \
           case when c >= 0.9 then 0.05 else 1.0 end, '{{}}', 1, \
           case when c >= 0.9 and i % 20 <> 0 then 'auto_approved' when i >= $7 then null \
                when i % 10 < 2 then 'rejected' when i % 10 = 2 then 'corrected' else 'approved' end, \
           case when i % 10 = 2 and not (c >= 0.9 and i % 20 <> 0) and i < $7 then '{{\"label\":\"receipt\"}}' end, \
           $4 + i * $5, $4 + i * $5, \
           case when (c >= 0.9 and i % 20 <> 0) then $4 + i * $5 when i < $7 then $4 + i * $5 + 600000 end \
         from ({numbers}) s"
    )
}

#[tokio::main]
async fn main() {
    let o = options();
    let db = BenchDb::create(&o.backend, "gatehouse_bench_monitoring").await;
    let conn = db.connect().await;
    let spec = serde_json::from_value(json!({
        "slug": "invoices", "name": "Invoices", "auto_approve_at": 0.9, "escalate_below": 0.1, "audit_rate": 0.05,
        "reason_codes": ["blurry", "wrong_total", "duplicate"],
    }))
    .unwrap();
    let (workflow, _) = gatehouse::workflows::server::apply(&conn, &Actor::Cli, spec, "bench").await.unwrap();
    let key = gatehouse::api_keys::server::create(&conn, &Actor::Cli, "bench", &["invoices".into()], true)
        .await
        .unwrap()
        .token;
    let admin = NewUser::parse("admin@example.com", "Admin", Role::Admin, PASSWORD, "password").unwrap();
    gatehouse::users::server::create(&conn, &Actor::Cli, admin).await.unwrap();
    let mut reviewers = Vec::new();
    for r in 0..16 {
        let user =
            NewUser::parse(&format!("reviewer{r}@example.com"), "", Role::Reviewer, PASSWORD, "password").unwrap();
        reviewers.push(gatehouse::users::server::create(&conn, &Actor::Cli, user).await.unwrap().id);
    }
    let first_reviewer = reviewers[0];

    // Loading: items, then a person's decision on each reviewed one, a chunk per transaction.
    let now = now_ms();
    let start = now - 60 * DAY_MS;
    let step = (60 * DAY_MS) / o.items.max(1);
    let v3_from = o.items * 2 / 3;
    let waiting_from = o.items - 2_000;
    println!("loading {} items over 60 days ({})", o.items, o.backend);
    let started = Instant::now();
    let insert_items = items_sql(conn.backend());
    let mut first = 0;
    while first < o.items {
        let last = (first + CHUNK).min(o.items);
        let mut tx = conn.begin_write().await.unwrap();
        sqlx::query(&insert_items)
            .bind(first)
            .bind(last)
            .bind(workflow.id)
            .bind(start)
            .bind(step)
            .bind(v3_from)
            .bind(waiting_from)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        first = last;
    }
    let items_loaded = started.elapsed();
    let (max_id,): (i64,) = sqlx::query_as("select max(id) from items").fetch_one(conn.pool()).await.unwrap();
    let decide = format!(
        "insert into decisions (item_id, workflow_id, actor_id, actor_label, kind, reason_code, final, created_at) \
         select id, workflow_id, {first_reviewer} + id % 16, 'reviewer', \
           case state when 'approved' then 'approve' when 'rejected' then 'reject' else 'correct' end, \
           case when state = 'rejected' then case id % 3 when 0 then 'blurry' when 1 then 'wrong_total' else 'duplicate' end end, \
           1, decided_at \
         from items where id >= $1 and id < $2 and state in ('approved', 'rejected', 'corrected')"
    );
    let mut first = 0;
    while first <= max_id {
        let last = first + CHUNK;
        let mut tx = conn.begin_write().await.unwrap();
        sqlx::query(&decide).bind(first).bind(last).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        first = last;
    }
    let loaded = started.elapsed();
    let (decisions,): (i64,) = sqlx::query_as("select count(*) from decisions").fetch_one(conn.pool()).await.unwrap();
    let (hours,): (i64,) = sqlx::query_as("select count(*) from item_hours").fetch_one(conn.pool()).await.unwrap();
    let (decision_rows,): (i64,) =
        sqlx::query_as("select count(*) from decision_hours").fetch_one(conn.pool()).await.unwrap();
    println!(
        "load: {} items in {:.1} s, {decisions} decisions, {:.1} s in all ({:.0} rows/s); rollups: {hours} item hours, \
         {decision_rows} decision cells",
        o.items,
        items_loaded.as_secs_f64(),
        loaded.as_secs_f64(),
        (o.items + decisions) as f64 / loaded.as_secs_f64()
    );
    if conn.backend() == Backend::Postgres {
        sqlx::query("analyze").execute(conn.pool()).await.unwrap();
    }

    let base = common::serve(&conn).await;
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let to = rfc3339(now + 3_600_000);
    for (name, days, version) in [("24 h", 1, None), ("7 d", 7, None), ("30 d", 30, None), ("30 d, v3", 30, Some("v3"))]
    {
        let from = rfc3339(now - days * DAY_MS);
        let url = format!(
            "{base}/api/v1/workflows/invoices/stats?from={from}&to={to}{}",
            version.map(|v| format!("&model_version={v}")).unwrap_or_default()
        );
        let mut total = 0;
        let latencies = timed(o.requests, async || {
            let response = client.get(&url).bearer_auth(&key).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let stats: serde_json::Value = response.json().await.unwrap();
            total = stats["volume"]["total"].as_u64().unwrap_or_default();
        })
        .await;
        println!(
            "GET /stats {name} ({total} items): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99)),
            ms(percentile(&latencies, 1.0))
        );
    }

    let login =
        client.post(format!("{base}/api/auth/login")).form(&[("email", "admin@example.com"), ("password", PASSWORD)]);
    assert!(login.send().await.unwrap().status().is_success(), "sign-in");
    for range in ["24h", "7d", "30d"] {
        let url = format!("{base}/dashboard?range={range}");
        let page = timed(o.requests, async || {
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let html = response.text().await.unwrap();
            assert!(html.contains("Volume by route"), "the page rendered");
        })
        .await;
        println!(
            "dashboard page, {range}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(percentile(&page, 0.5)),
            ms(percentile(&page, 0.99)),
            ms(percentile(&page, 1.0))
        );
    }
    let scrape = timed(o.requests.min(50), async || {
        let response = client.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap();
    })
    .await;
    println!("/metrics: p50 {:.1} ms, p99 {:.1} ms", ms(percentile(&scrape, 0.5)), ms(percentile(&scrape, 0.99)));

    // The export: the newest `export` items' span, most of them decided.
    let from = rfc3339(start + (o.items - o.export.min(o.items)) * step);
    let before = peak_mb();
    let sent = Instant::now();
    let mut response = client
        .get(format!("{base}/api/v1/workflows/invoices/export?format=csv&from={from}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (mut bytes, mut lines) = (0usize, 0usize);
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let took = sent.elapsed();
    println!(
        "export CSV: {} rows ({:.0} MB) in {:.1} s, {:.0} rows/s; peak memory {before:.0} MB before, {:.0} MB after",
        lines - 1,
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        (lines - 1) as f64 / took.as_secs_f64(),
        peak_mb()
    );
    conn.close().await;
    db.remove().await;
}
