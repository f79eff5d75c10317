//! What threshold tuning costs at scale: `--decisions N` past verdicts are imported through
//! `POST /workflows/{slug}/history` in requests of `--lines N` JSON lines each (the import's
//! speed, lines per second, is the first figure); then, with all of them stored, an admin key
//! asks `GET /workflows/{slug}/tuning` and a signed-in admin loads the tuning page rendered on the
//! server, one request at a time.
//!
//!   cargo bench --features ssr --bench tuning -- [--backend sqlite|postgres] [--decisions N]
//!       [--lines N] [--requests N]
//!
//! PostgreSQL uses `BENCH_DATABASE_URL` (or `TEST_DATABASE_URL`) as an admin URL and creates a
//! fresh database.

mod common;

use common::{BenchDb, ms, percentile, timed};
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use gatehouse::users::server::NewUser;
use serde_json::{Value, json};
use std::fmt::Write;
use std::time::Instant;

const PASSWORD: &str = "bench-password-123";

struct Options {
    backend: String,
    decisions: u64,
    lines: u64,
    requests: usize,
}

fn options() -> Options {
    let mut o = Options { backend: "sqlite".into(), decisions: 10_000_000, lines: 1_000_000, requests: 200 };
    for (flag, value) in common::flags() {
        match flag.as_str() {
            "--backend" => o.backend = value,
            "--decisions" => o.decisions = common::number(&flag, &value),
            "--lines" => o.lines = common::number(&flag, &value),
            "--requests" => o.requests = common::number(&flag, &value),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

/// Past item `i`: confidence spread over [0.3, 1), wrong more often the less confident (about
/// 20 % at 0.3, none at 1), one in twenty above 0.9 never reviewed (audited at 1 in 20), two
/// model versions.
fn line(out: &mut String, i: u64) {
    let confidence = 0.3 + 0.7 * ((i.wrapping_mul(2_654_435_761) % 1_000_003) as f64 / 1_000_003.0);
    let error = 0.2 * ((1.0 - confidence) / 0.7).powi(2);
    let draw = (i.wrapping_mul(40_503) % 10_007) as f64 / 10_007.0;
    let (verdict, p) = if confidence >= 0.9 {
        if (i / 3) % 20 == 1 { (Some(draw < error), 0.05) } else { (None, 0.05) }
    } else {
        (Some(draw < error), 1.0)
    };
    let verdict = match verdict {
        Some(true) => "\"wrong\"",
        Some(false) => "\"right\"",
        None => "null",
    };
    let version = if i.is_multiple_of(10) { "v2" } else { "v3" };
    let _ = writeln!(
        out,
        r#"{{"external_id":"past-{i}","confidence":{confidence:.4},"model_version":"{version}","verdict":{verdict},"review_probability":{p}}}"#
    );
}

#[tokio::main]
async fn main() {
    let o = options();
    let db = BenchDb::create(&o.backend, "gatehouse_bench_tuning").await;
    let conn = db.connect().await;
    let spec = serde_json::from_value(json!({
        "slug": "invoices", "name": "Invoices", "auto_approve_at": 0.9, "escalate_below": 0.1, "audit_rate": 0.05
    }))
    .unwrap();
    gatehouse::workflows::server::apply(&conn, &Actor::Cli, spec, "bench").await.unwrap();
    let key = gatehouse::api_keys::server::create(&conn, &Actor::Cli, "bench", &["invoices".into()], true)
        .await
        .unwrap()
        .token;
    let admin = NewUser::parse("admin@example.com", "Admin", Role::Admin, PASSWORD, "password").unwrap();
    gatehouse::users::server::create(&conn, &Actor::Cli, admin).await.unwrap();
    let base = common::serve(&conn).await;
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();

    // The import, a request of `lines` lines at a time.
    println!("importing {} past decisions in requests of {} lines ({})", o.decisions, o.lines, o.backend);
    let started = Instant::now();
    let mut first = 0;
    let mut slowest = 0.0f64;
    while first < o.decisions {
        let last = (first + o.lines).min(o.decisions);
        let mut body = String::with_capacity(((last - first) * 120) as usize);
        for i in first..last {
            line(&mut body, i);
        }
        let sent = Instant::now();
        let response = client
            .post(format!("{base}/api/v1/workflows/invoices/history"))
            .bearer_auth(&key)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let rate = (last - first) as f64 / sent.elapsed().as_secs_f64();
        slowest = if slowest == 0.0 { rate } else { slowest.min(rate) };
        println!("  lines {first}..{last}: {rate:.0} lines/s");
        first = last;
    }
    let total = started.elapsed();
    println!(
        "import: {} lines in {:.1} s, {:.0} lines/s overall (slowest request {slowest:.0} lines/s)",
        o.decisions,
        total.as_secs_f64(),
        o.decisions as f64 / total.as_secs_f64()
    );

    // The recommendation over everything stored.
    let mut report = Value::Null;
    let api = timed(o.requests, async || {
        let response =
            client.get(format!("{base}/api/v1/workflows/invoices/tuning")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(response.status(), 200);
        report = response.json().await.unwrap();
    })
    .await;
    println!(
        "GET /tuning ({} verdicts of v3): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; recommendation {}",
        report["evidence"]["reviewed"],
        ms(percentile(&api, 0.5)),
        ms(percentile(&api, 0.99)),
        ms(percentile(&api, 1.0)),
        report["recommendation"]["threshold"]
    );

    let login =
        client.post(format!("{base}/api/auth/login")).form(&[("email", "admin@example.com"), ("password", PASSWORD)]);
    assert!(login.send().await.unwrap().status().is_success(), "sign-in");
    let page = timed(o.requests, async || {
        let response = client.get(format!("{base}/settings/workflows/invoices/tuning")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let html = response.text().await.unwrap();
        assert!(html.contains("Threshold tuning"), "the page rendered");
    })
    .await;
    println!(
        "tuning page: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&page, 0.5)),
        ms(percentile(&page, 0.99)),
        ms(percentile(&page, 1.0))
    );
    conn.close().await;
    db.remove().await;
}
