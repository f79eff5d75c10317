//! What the leads' console costs at scale: with `--escalations N` open escalations and
//! `--decisions N` decisions stored, a signed-in lead asks the inbox (unfiltered and filtered),
//! the team page, the navigation's counts, and loads `/escalations` and `/team` rendered on the
//! server, one request at a time; then the escalation sweeper's passes over N due items: opening
//! an escalation for each escalated item, climbing and flagging each (every one overdue), and
//! escalating N items waiting past the review SLA.
//!
//!   cargo bench --features ssr --bench escalations -- [--backend sqlite|postgres]
//!       [--escalations N] [--decisions N] [--requests N]
//!
//! PostgreSQL uses `BENCH_DATABASE_URL` (or `TEST_DATABASE_URL`) as an admin URL and creates a
//! fresh database.

mod common;

use common::{BenchDb, ms, percentile, timed};
use gatehouse::domain::Role;
use gatehouse::domain::workload::week_start;
use gatehouse::escalations::server::{Seen, escalate_overdue_reviews, keep_escalations, keep_since};
use gatehouse::storage::audit::Actor;
use gatehouse::storage::clock::now_ms;
use gatehouse::storage::db::Db;
use gatehouse::users::server::NewUser;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench-password-123";
const REVIEWERS: i64 = 20;
const HOUR_MS: i64 = 3_600_000;

struct Options {
    backend: String,
    escalations: u64,
    decisions: u64,
    requests: usize,
}

fn options() -> Options {
    let mut o = Options { backend: "sqlite".into(), escalations: 100_000, decisions: 1_000_000, requests: 300 };
    for (flag, value) in common::flags() {
        match flag.as_str() {
            "--backend" => o.backend = value,
            "--escalations" => o.escalations = common::number(&flag, &value),
            "--decisions" => o.decisions = common::number(&flag, &value),
            "--requests" => o.requests = common::number(&flag, &value),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

/// Runs `pass` until it reports nothing done; how long all passes took, and how many there were.
async fn until_done(mut pass: impl AsyncFnMut() -> usize) -> Pass {
    let (started, cpu) = (Instant::now(), common::cpu_time());
    let (mut passes, mut done) = (0, 0);
    loop {
        let n = pass().await;
        passes += 1;
        done += n;
        if n == 0 {
            return Pass { took: started.elapsed(), cpu: common::cpu_time().saturating_sub(cpu), passes, done };
        }
    }
}

/// What [`until_done`] measured: the time on the clock and the processor time of the whole
/// process (on SQLite the database's work included), the passes it took (the last
/// found nothing), and how many items or escalations they handled.
struct Pass {
    took: Duration,
    cpu: Duration,
    passes: usize,
    done: usize,
}

/// `count` decisions by the reviewers over the last 180 days, on the workflow's items in turn:
/// mostly approvals, some rejections, corrections and escalations, each with a time spent.
/// Whatever the day it runs, the current week (from Monday, UTC) holds a full week's share of
/// them, as on a Sunday evening, the team page's heaviest hour: they are spread from Monday's
/// midnight to now, and the rest go back from seven days ago.
async fn load_decisions(db: &Db, workflow_id: i64, count: u64) -> Duration {
    let started = Instant::now();
    let (first_reviewer,): (i64,) =
        sqlx::query_as("select min(id) from users where role = 'reviewer'").fetch_one(db.pool()).await.unwrap();
    let (first_item, items): (i64, i64) =
        sqlx::query_as("select min(id), count(*) from items").fetch_one(db.pool()).await.unwrap();
    let step = 180 * 24 * HOUR_MS / count.max(1) as i64;
    let now = now_ms();
    let this_week = (count * 7 / 180).max(1);
    let since_monday = (now - week_start(now)).max(1);
    let week_ago = now - 7 * 24 * HOUR_MS;
    let chunk = 100_000_u64;
    for start in (0..count).step_by(chunk as usize) {
        let end = (start + chunk).min(count);
        let sql = format!(
            "with recursive n(i) as (select cast({start} as bigint) union all select i + 1 from n where i + 1 < {end}), \
             timed(i, t) as (select i, case when i < {this_week} then {now} - i * {since_monday} / {this_week} \
             else {week_ago} - (i - {this_week}) * {step} end from n) \
             insert into decisions (item_id, workflow_id, actor_id, actor_label, kind, reason_code, time_spent_ms, \
             final, created_at, settles_at) \
             select {first_item} + i % {items}, {workflow_id}, {first_reviewer} + i % {REVIEWERS}, 'bench', \
             case i % 10 when 0 then 'reject' when 1 then 'escalate' when 2 then 'correct' else 'approve' end, \
             case i % 10 when 0 then 'blurry' else null end, 1000 + (i * 7919) % 60000, \
             case i % 10 when 1 then 0 else 1 end, t, t from timed"
        );
        sqlx::query(&sql).execute(db.pool()).await.unwrap();
    }
    started.elapsed()
}

async fn workflow_named(
    db: &Db,
    slug: &str,
    members: &[String],
    extra: Value,
) -> gatehouse::workflows::server::Workflow {
    let mut spec = json!({
        "slug": slug, "name": slug, "members": members,
        "auto_approve_at": 0.95, "escalate_below": 0.3, "audit_rate": 0.0,
        "escalation_sla_secs": 3600, "review_sla_secs": 86_400,
    });
    spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (workflow, _) =
        gatehouse::workflows::server::apply(db, &Actor::Cli, serde_json::from_value(spec).unwrap(), "bench")
            .await
            .unwrap();
    workflow
}

#[tokio::main]
async fn main() {
    let o = options();
    let bench_db = BenchDb::create(&o.backend, "escalations_bench").await;
    let db = bench_db.connect().await;
    let lead = "lead@bench.example";
    let user = NewUser::parse(lead, "Bench lead", Role::Lead, PASSWORD, "password").unwrap();
    gatehouse::users::server::create(&db, &Actor::Cli, user).await.unwrap();
    let mut members = vec![lead.to_owned()];
    for r in 0..REVIEWERS {
        let email = format!("reviewer-{r}@bench.example");
        let user = NewUser::parse(&email, &format!("Reviewer {r}"), Role::Reviewer, PASSWORD, "password").unwrap();
        gatehouse::users::server::create(&db, &Actor::Cli, user).await.unwrap();
        members.push(email);
    }
    let workflow = workflow_named(&db, "bench", &members, json!({})).await;
    let loaded = common::load_items(&db, &workflow, o.escalations, |i| {
        json!({ "external_id": format!("esc-{i}"), "payload": {}, "prediction": {"label": "x"}, "confidence": 0.1 })
    })
    .await;
    eprintln!("{} escalated items stored in {:.1} s", o.escalations, loaded.as_secs_f64());

    let now = now_ms();
    let open = until_done(async || keep_escalations(&db, now).await.unwrap().opened).await;
    assert_eq!(open.done as u64, o.escalations);
    let took = load_decisions(&db, workflow.id, o.decisions).await;
    eprintln!("{} decisions stored in {:.1} s", o.decisions, took.as_secs_f64());
    // A pass with nothing to do, with the decisions stored and no statistics gathered (as a
    // served instance has them): the first of a process looks at everything, the next ones
    // (every two seconds by default) only at what is newer than what they have seen.
    let first_look = timed(20, async || {
        assert_eq!(keep_escalations(&db, now).await.unwrap(), Default::default());
    })
    .await;
    let mut seen = Seen::default();
    keep_since(&db, now, &mut seen).await.unwrap();
    let idle = timed(20, async || {
        assert_eq!(keep_since(&db, now, &mut seen).await.unwrap(), Default::default());
    })
    .await;
    sqlx::query("analyze").execute(db.pool()).await.ok();
    if o.backend == "postgres" {
        sqlx::query("checkpoint").execute(db.pool()).await.ok();
    }

    // The benchmark's passes are the only sweeper: a served instance has one, and a second in
    // the same process would take turns with them on the write lock, each dropping the other's
    // page cache on SQLite. (The first tick of its interval still runs at start, before the
    // escalations are made due.)
    let base = common::serve_with(&db, |s| s.escalation_sweep_ms = 24 * 3_600_000).await;
    let client =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = client.post(format!("{base}/api/auth/login")).form(&[("email", lead), ("password", PASSWORD)]).send();
    assert!(login.await.unwrap().status().is_success(), "sign-in");
    let post = async |endpoint: &str, form: &[(&str, &str)]| -> Value {
        let response = client.post(format!("{base}/api/{endpoint}")).form(form).send().await.unwrap();
        assert!(response.status().is_success(), "{endpoint}: {}", response.status());
        response.json().await.unwrap()
    };
    let get = async |path: &str| {
        let response = client.get(format!("{base}{path}")).header("accept", "text/html").send().await.unwrap();
        assert!(response.status().is_success(), "{path}");
        response.text().await.unwrap();
    };
    let expected = o.escalations as i64;
    let n = o.requests;
    let inbox = timed(n, async || {
        let inbox = post("escalations/inbox", &[]).await;
        assert_eq!(inbox["total"].as_i64(), Some(expected));
    })
    .await;
    let filtered = timed(n, async || {
        post("escalations/inbox", &[("reason", "low_confidence"), ("level", "1"), ("assignee", "none")]).await;
    })
    .await;
    let second_page = {
        let first = post("escalations/inbox", &[]).await;
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        timed(n, async || {
            post("escalations/inbox", &[("cursor", cursor.as_str())]).await;
        })
        .await
    };
    let team = timed(n, async || {
        let team = post("team/overview", &[]).await;
        assert_eq!(team["members"].as_array().map(Vec::len), Some(REVIEWERS as usize + 1));
    })
    .await;
    let counts = timed(n, async || {
        let counts = post("escalations/counts", &[]).await;
        assert_eq!(counts["escalations"].as_i64(), Some(expected));
    })
    .await;
    let inbox_page = timed(n / 3, async || get("/escalations").await).await;
    let team_page = timed(n / 3, async || get("/team").await).await;

    println!("| request | backend | escalations | decisions | requests | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, latencies) in [
        ("escalations/inbox", &inbox),
        ("escalations/inbox, 3 filters", &filtered),
        ("escalations/inbox, page 2", &second_page),
        ("team/overview", &team),
        ("escalations/counts", &counts),
        ("/escalations page", &inbox_page),
        ("/team page", &team_page),
    ] {
        println!(
            "| {name} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
            o.backend,
            o.escalations,
            o.decisions,
            latencies.len(),
            ms(percentile(latencies, 0.5)),
            ms(percentile(latencies, 0.99)),
            ms(percentile(latencies, 1.0)),
        );
    }

    // Every open escalation overdue twice over: each climbs to the admins and is flagged.
    sqlx::query(
        "update escalations set opened_at = opened_at - $1, level_since = level_since - $1, due_at = due_at - $1",
    )
    .bind(3 * HOUR_MS)
    .execute(db.pool())
    .await
    .unwrap();
    let later = now_ms();
    let climb = until_done(async || {
        let kept = keep_escalations(&db, later).await.unwrap();
        kept.climbed.max(kept.flagged)
    })
    .await;
    let (flagged,): (i64,) = sqlx::query_as("select count(*) from escalations where flagged_at is not null")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(flagged, expected);

    // As many items waiting for review, all past the review SLA by the time the sweeper looks.
    let waiting = workflow_named(&db, "waiting", &members, json!({ "escalate_below": null })).await;
    common::load_items(&db, &waiting, o.escalations, |i| {
        json!({ "external_id": format!("wait-{i}"), "payload": {}, "prediction": {"label": "x"}, "confidence": 0.5 })
    })
    .await;
    let overdue_at = now_ms() + 86_400_000 + 1000;
    let sla = until_done(async || escalate_overdue_reviews(&db, overdue_at).await.unwrap()).await;
    assert_eq!(sla.done as u64, o.escalations);

    println!();
    println!("| sweeper pass | backend | due items | passes | total s | processor s |");
    println!("|---|---|---|---|---|---|");
    for (name, took, passes) in [
        ("a first pass with nothing due (median of 20)", percentile(&first_look, 0.5), 1),
        ("a later pass with nothing due (median of 20)", percentile(&idle, 0.5), 1),
    ] {
        println!("| {name} | {} | {} | {passes} | {:.2} | |", o.backend, o.escalations, took.as_secs_f64());
    }
    for (name, pass) in [
        ("open an escalation for each escalated item", open),
        ("climb and flag each overdue escalation", climb),
        ("escalate each item past the review SLA", sla),
    ] {
        // The last pass found nothing: it is counted, as the sweeper makes it too.
        println!(
            "| {name} | {} | {} | {} | {:.2} | {:.2} |",
            o.backend,
            o.escalations,
            pass.passes,
            pass.took.as_secs_f64(),
            pass.cpu.as_secs_f64()
        );
    }
    db.close().await;
    bench_db.remove().await;
}
