//! Memory and latency under sustained mixed load, measured from outside the server.
//!
//!   cargo bench --features ssr --bench soak -- [--backend sqlite|postgres] [--minutes N]
//!       [--preload N] [--reviewers N] [--rate X] [--batch N] [--out DIR] [--server PATH]
//!       [--rounds N] [--burst N]
//!
//! Stores `--preload` items (default 1,000,000) through the service layer, then starts the
//! release `gatehouse` binary as a child process on that database and drives it over HTTP for
//! `--minutes` (default 30), paced so that the load is the same in every minute:
//!
//! - `submit`: 4 clients sending single items, 25 a second each;
//! - `batch`: one client sending a batch of 100 items (`--batch N`) a second;
//! - `decide`: `--reviewers` (default 16) reviewers signed in with their own sessions, each
//!   approving (every tenth a reject with a reason code) with 100 ms of "reading" between
//!   decisions, as `benches/review.rs` does without the pause;
//! - `queues`: a reviewer's queue overview (`review/queues`) once a second;
//! - `feed`: a machine polling the decision feed with its cursor once a second;
//! - webhooks: every item and decision event delivered to a receiver in this process.
//!
//! `--server PATH` runs another build of the binary (say, one with another allocator) instead
//! of the one cargo built beside the benchmark. `--rate X` (default 1) multiplies every pace:
//! `--rate 3` sends three times as many items and leaves reviewers a third of the pause.
//!
//! Every 10 s it samples the server's memory (`RssAnon` and `VmRSS` from `/proc/<pid>/status`),
//! on SQLite the size of the write-ahead log and the frames in use in it, the machine's idle
//! processor time and the time its hypervisor took for other guests (steal, from `/proc/stat`:
//! on a shared machine it moves every latency), and each operation's
//! count, p50, p99 and errors into `DIR/soak-<backend>.csv` (default `target/soak`; the
//! server's log goes to `DIR/server-<backend>.log`), and at the end draws
//! `DIR/soak-<backend>.svg` (memory and p99 over time) and a text plot, and checks the targets:
//! after the warm-up (10 minutes, or a third of a shorter run) anonymous memory at most 150 MB
//! and, over the last 10 minutes (or third), within 10 % of its value at the end of the
//! warm-up; each operation's p99 over the last 5 minutes within 20 % of its p99 over the 5
//! minutes after the warm-up; no error. Exit status 1 when a target is missed. Beside the
//! targets it reports, not judged, the median of each operation's 10-second p99s in each 5
//! minutes after the warm-up (a climb shows in every one, one slow moment in none) and the
//! machine's average idle and stolen time.
//!
//! `--rounds N` runs bursts instead of the paced load, as in the report that started this
//! benchmark (rounds of 20,000 batched ingests and 20,000 decisions by 8 reviewers, after which
//! glibc's per-thread arenas had kept 441 MB): each round submits `--burst` items (default
//! 20,000) in batches of 1,000 from 4 clients at once, as fast as the server takes them, then has
//! the reviewers make as many decisions with no pause, then leaves the server idle for 5 s; the
//! server's memory after each round and its peak go into a table. `MALLOC_ARENA_MAX` in the
//! environment reaches the server (which then leaves glibc's arena count to it), so the same
//! binary runs with and without the server's own cap.
//!
//! PostgreSQL uses `BENCH_DATABASE_URL` (or `TEST_DATABASE_URL`) as an admin URL and creates a
//! fresh database. The load generator shares the machine with the server.
//!
//! One program of over 500 lines: the load, the sampling, the bursts, the targets' check and
//! the plots all work on the same options, recorder and samples, and the file reads top to
//! bottom as the procedure described above.

mod common;

use common::{BenchDb, Reviewer, ms, percentile};
use gatehouse::storage::audit::Actor;
use gatehouse::webhooks::destination::DestinationPolicy;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "soak-password-123";
const SLUG: &str = "soak";
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const OPS: [&str; 5] = ["submit", "batch", "decide", "queues", "feed"];
/// The targets (see the module's documentation).
const RSS_LIMIT_MB: f64 = 150.0;
const RSS_GROWTH: f64 = 0.10;
const P99_DRIFT: f64 = 0.20;

struct Options {
    backend: String,
    minutes: f64,
    preload: u64,
    reviewers: usize,
    rate: f64,
    batch: u64,
    rounds: u64,
    burst: u64,
    out: std::path::PathBuf,
    server: std::path::PathBuf,
}

fn options() -> Options {
    let mut o = Options {
        backend: "sqlite".into(),
        minutes: 30.0,
        preload: 1_000_000,
        reviewers: 16,
        rate: 1.0,
        batch: 100,
        rounds: 0,
        burst: 20_000,
        server: env!("CARGO_BIN_EXE_gatehouse").into(),
        out: "target/soak".into(),
    };
    for (flag, value) in common::flags() {
        match flag.as_str() {
            "--backend" => o.backend = value,
            "--minutes" => o.minutes = common::number(&flag, &value),
            "--preload" => o.preload = common::number(&flag, &value),
            "--reviewers" => o.reviewers = common::number(&flag, &value),
            "--rate" => o.rate = common::number(&flag, &value),
            "--batch" => o.batch = common::number(&flag, &value),
            "--rounds" => o.rounds = common::number(&flag, &value),
            "--burst" => o.burst = common::number(&flag, &value),
            "--out" => o.out = value.into(),
            "--server" => o.server = value.into(),
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn item(id: u64) -> Value {
    json!({
        "external_id": format!("soak-{id}"),
        "payload": { "invoice_number": format!("INV-{id}"), "vendor": "ACME GmbH", "total": 100 + id % 900 },
        "prediction": { "label": "invoice", "total": 100 + id % 900 },
        // Spread over every band: 5 % auto-approved, 5 % escalated, the rest to the queue.
        "confidence": (id % 100) as f64 / 100.0,
        "model_version": "v7",
    })
}

/// What one operation did since the last sample, and over the whole run.
#[derive(Default)]
struct Tally {
    window: Vec<Duration>,
    window_errors: u64,
    /// (seconds since the start, latency) of every call, for the drift check.
    all: Vec<(f64, Duration)>,
    errors: u64,
    first_error: Option<String>,
}

#[derive(Clone)]
struct Recorder {
    started: Instant,
    tallies: Arc<Vec<Mutex<Tally>>>,
}

impl Recorder {
    fn new() -> Self {
        Self { started: Instant::now(), tallies: Arc::new(OPS.iter().map(|_| Mutex::default()).collect()) }
    }

    fn op(name: &str) -> usize {
        OPS.iter().position(|o| *o == name).unwrap()
    }

    fn ok(&self, op: usize, latency: Duration) {
        let mut tally = self.tallies[op].lock().unwrap();
        tally.window.push(latency);
        tally.all.push((self.started.elapsed().as_secs_f64(), latency));
    }

    fn error(&self, op: usize, error: String) {
        let mut tally = self.tallies[op].lock().unwrap();
        tally.window_errors += 1;
        tally.errors += 1;
        if tally.first_error.is_none() {
            eprintln!("{}: first error: {error}", OPS[op]);
            tally.first_error = Some(error);
        }
    }

    /// Each operation's (count, p50, p99, errors) since the last call.
    fn drain(&self) -> Vec<(usize, Duration, Duration, u64)> {
        self.tallies
            .iter()
            .map(|tally| {
                let mut tally = tally.lock().unwrap();
                let mut window = std::mem::take(&mut tally.window);
                window.sort();
                let errors = std::mem::take(&mut tally.window_errors);
                (window.len(), percentile(&window, 0.5), percentile(&window, 0.99), errors)
            })
            .collect()
    }
}

/// Runs `call` every `every` until `deadline`, recording its latency or error as `op`; a call
/// that takes longer than `every` delays the next one (no burst to catch up).
async fn paced<F: AsyncFnMut() -> Result<(), String>>(
    recorder: Recorder,
    op: &str,
    every: Duration,
    deadline: Instant,
    mut call: F,
) {
    let op = Recorder::op(op);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < deadline {
        ticks.tick().await;
        let sent = Instant::now();
        match call().await {
            Ok(()) => recorder.ok(op, sent.elapsed()),
            Err(error) => recorder.error(op, error),
        }
    }
}

async fn post_items(client: &reqwest::Client, url: &str, key: &str, body: Value) -> Result<(), String> {
    let response = client.post(url).bearer_auth(key).json(&body).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() { Ok(()) } else { Err(format!("{status} {}", response.text().await.unwrap_or_default())) }
}

/// The size of SQLite's write-ahead log beside the database, in MB, and the frames in use in it
/// (the `mxFrame` of the log's index header, a native-endian 32-bit integer at byte 16 of the
/// `-shm` file): the file keeps its largest size, the frames say how far the log has grown since
/// it last started again. Empty on PostgreSQL.
fn wal(url: &str) -> (String, String) {
    let Some(path) = url.strip_prefix("sqlite://") else { return Default::default() };
    let size = std::fs::metadata(format!("{path}-wal"))
        .map_or_else(|_| String::new(), |m| format!("{:.1}", m.len() as f64 / 1e6));
    let frames = std::fs::read(format!("{path}-shm"))
        .ok()
        .and_then(|header| Some(u32::from_ne_bytes(header.get(16..20)?.try_into().ok()?).to_string()))
        .unwrap_or_default();
    (size, frames)
}

/// The server's resident memory in MB: (anonymous, total); zeros once it is gone.
fn memory_mb(pid: u32) -> (f64, f64) {
    let (resident, anonymous) = gatehouse::storage::metrics::process_memory(&pid.to_string()).unwrap_or_default();
    (anonymous / 1048576.0, resident / 1048576.0)
}

/// The machine's processor time so far (`/proc/stat`'s first line, in ticks): (all, idle and
/// waiting for the disk, stolen by the hypervisor for other guests).
fn cpu_ticks() -> (u64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    (fields.iter().take(8).sum(), field(3) + field(4), field(7))
}

/// The share of the machine's processor time between two [`cpu_ticks`] readings that was idle,
/// and that the hypervisor took (percent).
fn cpu_shares(before: (u64, u64, u64), after: (u64, u64, u64)) -> (f64, f64) {
    let all = after.0.saturating_sub(before.0).max(1) as f64;
    (100.0 * after.1.saturating_sub(before.1) as f64 / all, 100.0 * after.2.saturating_sub(before.2) as f64 / all)
}

/// A free port on the loopback address (the child binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A webhook receiver in this process: answers 204 to every delivery and counts them.
async fn receiver(delivered: Arc<AtomicU64>) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let delivered = delivered.clone();
            async move {
                delivered.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

struct Sample {
    at: f64,
    rss_anon: f64,
    rss: f64,
    ops: Vec<(usize, Duration, Duration, u64)>,
    delivered: u64,
    /// Percent of the machine's processor time idle, and taken by the hypervisor for other
    /// guests (steal), in the 10 s before.
    idle: f64,
    steal: f64,
}

#[tokio::main]
async fn main() {
    let o = options();
    let bench_db = BenchDb::create(&o.backend, "soak").await;
    let db = bench_db.connect().await;

    let emails = common::create_reviewers(&db, o.reviewers, "soak.example", PASSWORD).await;
    let spec = serde_json::from_value(json!({
        "slug": SLUG, "name": "Soak",
        "members": emails,
        "payload_schema": { "type": "object" },
        "prediction_schema": { "type": "object", "required": ["label"] },
        "labels": ["invoice", "receipt"],
        "reason_codes": ["wrong_label"],
        "auto_approve_at": 0.95, "escalate_below": 0.05, "audit_rate": 0.0,
    }))
    .unwrap();
    let (workflow, _) = gatehouse::workflows::server::apply(&db, &Actor::Cli, spec, "soak").await.unwrap();
    let key = gatehouse::api_keys::server::create(&db, &Actor::Cli, "soak", &[SLUG.into()], false).await.unwrap().token;
    let took = common::load_items(&db, &workflow, o.preload, item).await;
    eprintln!("{} items stored in {:.0} s", o.preload, took.as_secs_f64());
    // Subscribed after the preload: its items' events would otherwise wait in the outbox.
    let delivered = Arc::new(AtomicU64::new(0));
    let hook = receiver(delivered.clone()).await;
    let events: Vec<String> = gatehouse::webhooks::EVENT_TYPES.iter().map(|e| e.to_string()).collect();
    gatehouse::webhooks::endpoints::create(
        &db,
        &Actor::Cli,
        workflow.id,
        &hook,
        &events,
        DestinationPolicy { allow_private: true },
    )
    .await
    .unwrap();
    sqlx::query("analyze").execute(db.pool()).await.unwrap();
    if o.backend == "postgres" {
        sqlx::query("checkpoint").execute(db.pool()).await.ok();
        // Without autovacuum the counters updated by every write (the tuning evidence, the
        // hourly rollups, the queue's minutes) keep every dead version, and each update gets
        // slower: a run on such a server measures that, and says so.
        let (autovacuum,): (String,) = sqlx::query_as("show autovacuum").fetch_one(db.pool()).await.unwrap();
        if autovacuum != "on" {
            eprintln!("PostgreSQL runs with autovacuum {autovacuum}: dead rows will pile up in the counters");
        }
    }
    db.close().await;

    std::fs::create_dir_all(&o.out).unwrap();
    // The release binary, as deployed: its memory is the server's alone.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = tokio::process::Command::new(&o.server)
        .args(["--database-url", &bench_db.url, "--log-level", "warn", "serve", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--allow-private-webhooks")
        .kill_on_drop(true)
        // Its log (warnings and errors) beside the CSV: an error counted here is explained there.
        .stdout(std::fs::File::create(o.out.join(format!("server-{}.log", o.backend))).expect("the server's log"))
        .spawn()
        .expect("the gatehouse binary starts");
    let pid = server.id().unwrap();
    let http = reqwest::Client::builder().pool_max_idle_per_host(16).build().unwrap();
    let up = Instant::now();
    while http.get(format!("{base}/readyz")).send().await.map(|r| r.status().is_success()).ok() != Some(true) {
        assert!(up.elapsed() < Duration::from_secs(60), "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server's allocator, as its build says on /metrics.
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap_or_default();
    let allocator = metrics
        .lines()
        .find(|l| l.starts_with("gatehouse_build_info"))
        .and_then(|l| l.split("allocator=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("unknown")
        .to_owned();
    eprintln!("server pid {pid} ({allocator}) at {base}: {:.0} MB anonymous at start", memory_mb(pid).0);

    let mut reviewers = Vec::new();
    for email in &emails {
        reviewers.push(Reviewer::sign_in(&base, SLUG, email, PASSWORD).await);
    }
    let watcher = Reviewer::sign_in(&base, SLUG, &emails[0], PASSWORD).await;
    if o.rounds > 0 {
        let table = bursts(&o, &base, &key, pid, reviewers).await;
        assert!(server.try_wait().unwrap().is_none(), "the server died during the run");
        server.kill().await.ok();
        println!("{table}");
        bench_db.remove().await;
        return;
    }

    let recorder = Recorder::new();
    let run_for = Duration::from_secs_f64(o.minutes * 60.0);
    let deadline = Instant::now() + run_for;
    let next_id = Arc::new(AtomicU64::new(o.preload));
    let pace = |ms: f64| Duration::from_secs_f64(ms / 1000.0 / o.rate);
    let mut tasks = Vec::new();
    let items_url = format!("{base}/api/v1/workflows/{SLUG}/items");
    for _ in 0..4 {
        let (http, url, key, next_id) = (http.clone(), items_url.clone(), key.clone(), next_id.clone());
        tasks.push(tokio::spawn(paced(recorder.clone(), "submit", pace(40.0), deadline, async move || {
            post_items(&http, &url, &key, item(next_id.fetch_add(1, Ordering::Relaxed))).await
        })));
    }
    {
        let (http, url, key, next_id) = (http.clone(), format!("{items_url}:batch"), key.clone(), next_id.clone());
        let size = o.batch;
        tasks.push(tokio::spawn(paced(recorder.clone(), "batch", pace(1000.0), deadline, async move || {
            let first = next_id.fetch_add(size, Ordering::Relaxed);
            let batch: Vec<Value> = (first..first + size).map(item).collect();
            post_items(&http, &url, &key, json!({ "items": batch })).await
        })));
    }
    {
        let watcher = Arc::new(watcher);
        tasks.push(tokio::spawn(paced(
            recorder.clone(),
            "queues",
            Duration::from_secs(1),
            deadline,
            async move || watcher.call("review/queues", &[]).await.map(|_| ()),
        )));
    }
    {
        let (http, key) = (http.clone(), key.clone());
        let url = format!("{base}/api/v1/workflows/{SLUG}/decisions");
        let mut cursor: Option<String> = None;
        tasks.push(tokio::spawn(paced(recorder.clone(), "feed", Duration::from_secs(1), deadline, async move || {
            let mut request = http.get(&url).bearer_auth(&key).query(&[("limit", "500")]);
            if let Some(cursor) = &cursor {
                request = request.query(&[("since_cursor", cursor)]);
            }
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let page: Value = response.json().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("{status} {page}"));
            }
            if let Some(next) = page["next_cursor"].as_str() {
                cursor = Some(next.to_owned());
            }
            Ok(())
        })));
    }
    for (n, reviewer) in reviewers.into_iter().enumerate() {
        let recorder = recorder.clone();
        let pause = pace(100.0);
        tasks.push(tokio::spawn(async move {
            let op = Recorder::op("decide");
            let mut current = reviewer.first_item().await;
            let mut count = n;
            while Instant::now() < deadline {
                tokio::time::sleep(pause).await;
                let Some((item_id, token)) = current.take() else {
                    recorder.error(op, "the queue gave no item".into());
                    current = reviewer.first_item().await;
                    continue;
                };
                let id = item_id.to_string();
                count += 1;
                let sent = Instant::now();
                let answer = if count % 10 == 0 {
                    let form = [("item_id", id.as_str()), ("lease_token", &token), ("reason_code", "wrong_label")];
                    reviewer.call("review/reject", &form).await
                } else {
                    reviewer.call("review/approve", &[("item_id", &id), ("lease_token", &token)]).await
                };
                match answer {
                    Ok(receipt) => {
                        recorder.ok(op, sent.elapsed());
                        let next = &receipt["next"];
                        current = next["item_id"].as_i64().zip(next["lease_token"].as_str().map(str::to_owned));
                    }
                    Err(error) => {
                        recorder.error(op, error);
                        current = reviewer.first_item().await;
                    }
                }
            }
        }));
    }

    // Sample until the end.
    std::fs::create_dir_all(&o.out).unwrap();
    let csv_path = o.out.join(format!("soak-{}.csv", o.backend));
    let mut csv = String::from("seconds,rss_anon_mb,rss_mb,webhooks_delivered,wal_mb,wal_frames,idle_pct,steal_pct");
    for op in OPS {
        write!(csv, ",{op}_count,{op}_p50_ms,{op}_p99_ms,{op}_errors").unwrap();
    }
    csv.push('\n');
    let mut samples = Vec::new();
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.tick().await;
    let mut delivered_before = 0;
    let mut ticks_before = cpu_ticks();
    loop {
        ticks.tick().await;
        let at = recorder.started.elapsed().as_secs_f64();
        let (rss_anon, rss) = memory_mb(pid);
        let total_delivered = delivered.load(Ordering::Relaxed);
        let ticks_now = cpu_ticks();
        let (idle, steal) = cpu_shares(ticks_before, ticks_now);
        ticks_before = ticks_now;
        let ops = recorder.drain();
        let sample = Sample { at, rss_anon, rss, ops, delivered: total_delivered - delivered_before, idle, steal };
        delivered_before = total_delivered;
        let (wal, frames) = wal(&bench_db.url);
        write!(
            csv,
            "{:.0},{:.1},{:.1},{},{wal},{frames},{idle:.1},{steal:.1}",
            sample.at, sample.rss_anon, sample.rss, sample.delivered
        )
        .unwrap();
        for (count, p50, p99, errors) in &sample.ops {
            write!(csv, ",{count},{:.2},{:.2},{errors}", ms(*p50), ms(*p99)).unwrap();
        }
        csv.push('\n');
        std::fs::write(&csv_path, &csv).unwrap();
        let decide = &sample.ops[Recorder::op("decide")];
        eprintln!(
            "{:>5.0} s  anon {:>6.1} MB  rss {:>6.1} MB  decide {}/10s p99 {:.1} ms  webhooks {}  wal {wal} MB ({frames} frames)",
            at,
            rss_anon,
            rss,
            decide.0,
            ms(decide.2),
            sample.delivered
        );
        samples.push(sample);
        if Instant::now() >= deadline {
            break;
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    // The server exits now; a crash during the run would have shown as errors.
    assert!(server.try_wait().unwrap().is_none(), "the server died during the run");
    server.kill().await.ok();

    let report = judge(&o, &samples, &recorder);
    std::fs::write(o.out.join(format!("soak-{}.svg", o.backend)), svg(&samples, &o.backend, &allocator)).unwrap();
    println!("{}", text_plot(&samples));
    println!("{report}");
    eprintln!("CSV: {}", csv_path.display());
    bench_db.remove().await;
    if report.contains("MISSED") {
        std::process::exit(1);
    }
}

/// `--rounds` bursts (see the module's documentation): a table of the server's memory and the
/// throughput of each round.
async fn bursts(o: &Options, base: &str, key: &str, pid: u32, reviewers: Vec<Reviewer>) -> String {
    const BATCH: u64 = 1000;
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/workflows/{SLUG}/items:batch");
    let next_id = Arc::new(AtomicU64::new(o.preload));
    let reviewers: Vec<Arc<Reviewer>> = reviewers.into_iter().map(Arc::new).collect();
    let allocator = std::env::var("MALLOC_ARENA_MAX")
        .map_or("the server's own cap".to_owned(), |n| format!("MALLOC_ARENA_MAX={n}"));
    let mut out = format!(
        "Rounds of {} items in batches of {BATCH} (4 clients) then {} decisions ({} reviewers), {allocator}:\n\n\
         | round | items/s | decisions/s | errors | anon MB after the round | RSS MB |\n|---|---|---|---|---|---|\n",
        o.burst,
        o.burst,
        reviewers.len()
    );
    let (start_anon, _) = memory_mb(pid);
    writeln!(out, "| before | | | | {start_anon:.1} | |").unwrap();
    let mut peak: f64 = start_anon;
    for round in 1..=o.rounds {
        let errors = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let batches = Arc::new(AtomicU64::new(o.burst.div_ceil(BATCH)));
        let mut clients = Vec::new();
        for _ in 0..4 {
            let (http, url, key, next_id, batches, errors) =
                (http.clone(), url.clone(), key.to_owned(), next_id.clone(), batches.clone(), errors.clone());
            clients.push(tokio::spawn(async move {
                while batches.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                    let first = next_id.fetch_add(BATCH, Ordering::Relaxed);
                    let batch: Vec<Value> = (first..first + BATCH).map(item).collect();
                    if post_items(&http, &url, &key, json!({ "items": batch })).await.is_err() {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for client in clients {
            client.await.unwrap();
        }
        let ingest = started.elapsed();
        let (anon, _) = memory_mb(pid);
        peak = peak.max(anon);
        let started = Instant::now();
        let left = Arc::new(AtomicU64::new(o.burst));
        let mut deciding = Vec::new();
        for reviewer in &reviewers {
            let (reviewer, left, errors) = (reviewer.clone(), left.clone(), errors.clone());
            deciding.push(tokio::spawn(async move {
                let mut current = reviewer.first_item().await;
                while left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                    let Some((item_id, token)) = current.take() else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        current = reviewer.first_item().await;
                        continue;
                    };
                    let id = item_id.to_string();
                    match reviewer.call("review/approve", &[("item_id", &id), ("lease_token", &token)]).await {
                        Ok(receipt) => {
                            let next = &receipt["next"];
                            current = next["item_id"].as_i64().zip(next["lease_token"].as_str().map(str::to_owned));
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            current = reviewer.first_item().await;
                        }
                    }
                }
                // The item still leased goes back to the queue when its lease runs out.
            }));
        }
        for task in deciding {
            task.await.unwrap();
        }
        let decide = started.elapsed();
        let (anon, _) = memory_mb(pid);
        peak = peak.max(anon);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (anon, rss) = memory_mb(pid);
        peak = peak.max(anon);
        writeln!(
            out,
            "| {round} | {:.0} | {:.0} | {} | {anon:.1} | {rss:.1} |",
            o.burst as f64 / ingest.as_secs_f64(),
            o.burst as f64 / decide.as_secs_f64(),
            errors.load(Ordering::Relaxed)
        )
        .unwrap();
        eprintln!("round {round}: anon {anon:.1} MB (peak so far {peak:.1} MB)");
    }
    writeln!(out, "\npeak anonymous memory: {peak:.1} MB").unwrap();
    out
}

/// The targets, each with its figures and "met" or "MISSED".
fn judge(o: &Options, samples: &[Sample], recorder: &Recorder) -> String {
    let total = samples.last().map_or(0.0, |s| s.at);
    let warm = (total / 3.0).min(600.0);
    let tail = (total / 3.0).min(600.0);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let mut out = String::new();
    let at_warm = samples.iter().find(|s| s.at >= warm).map_or(0.0, |s| s.rss_anon);
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at >= warm).collect();
    let peak = after.iter().map(|s| s.rss_anon).fold(0.0, f64::max);
    let peak_rss = after.iter().map(|s| s.rss).fold(0.0, f64::max);
    let tail_max = samples.iter().filter(|s| s.at >= total - tail).map(|s| s.rss_anon).fold(0.0, f64::max);
    writeln!(
        out,
        "| backend | minutes | items at start | anon MB at {:.0} min | anon MB peak after | RSS MB peak after | last {:.0} min max |",
        warm / 60.0,
        tail / 60.0
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|").unwrap();
    writeln!(
        out,
        "| {} | {:.0} | {} | {at_warm:.1} | {peak:.1} | {peak_rss:.1} | {tail_max:.1} |\n",
        o.backend,
        total / 60.0,
        o.preload
    )
    .unwrap();
    writeln!(
        out,
        "- anonymous memory after warm-up ≤ {RSS_LIMIT_MB} MB: {peak:.1} MB, {}",
        verdict(peak <= RSS_LIMIT_MB)
    )
    .unwrap();
    let growth = if at_warm > 0.0 { tail_max / at_warm - 1.0 } else { f64::INFINITY };
    writeln!(
        out,
        "- last {:.0} min within {:.0} % of the {:.0}-min mark: {:+.1} %, {}",
        tail / 60.0,
        RSS_GROWTH * 100.0,
        warm / 60.0,
        growth * 100.0,
        verdict(growth <= RSS_GROWTH)
    )
    .unwrap();
    let phase = ((total - warm) / 2.0).min(300.0);
    writeln!(out, "\n| operation | calls | p50 ms | p99 ms after warm-up | p99 ms at the end | drift | errors |")
        .unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|").unwrap();
    let mut drift_ok = true;
    let mut errors = 0;
    for (op, tally) in OPS.iter().zip(recorder.tallies.iter()) {
        let tally = tally.lock().unwrap();
        let p99_between = |from: f64, to: f64| {
            let mut window: Vec<Duration> =
                tally.all.iter().filter(|(at, _)| *at >= from && *at < to).map(|(_, d)| *d).collect();
            window.sort();
            percentile(&window, 0.99)
        };
        let mut all: Vec<Duration> = tally.all.iter().map(|(_, d)| *d).collect();
        all.sort();
        let early = p99_between(warm, warm + phase);
        let late = p99_between(total - phase, total + 1.0);
        let drift = ms(late) / ms(early).max(0.001) - 1.0;
        drift_ok &= drift <= P99_DRIFT;
        errors += tally.errors;
        writeln!(
            out,
            "| {op} | {} | {:.1} | {:.1} | {:.1} | {:+.0} % | {} |",
            all.len(),
            ms(percentile(&all, 0.5)),
            ms(early),
            ms(late),
            drift * 100.0,
            tally.errors
        )
        .unwrap();
    }
    // Not targets: what tells a climb from one slow moment, and how busy the machine was.
    writeln!(out, "\nthe medians of the 10-second p99s (ms), each {phase:.0} s after the warm-up:").unwrap();
    for (i, op) in OPS.iter().enumerate() {
        let mut medians = Vec::new();
        let mut from = warm;
        while from + phase <= total + 1.0 {
            let mut p99s: Vec<Duration> = samples
                .iter()
                .filter(|s| s.at > from && s.at <= from + phase && s.ops[i].0 > 0)
                .map(|s| s.ops[i].2)
                .collect();
            p99s.sort();
            if !p99s.is_empty() {
                medians.push(format!("{:.1}", ms(percentile(&p99s, 0.5))));
            }
            from += phase;
        }
        writeln!(out, "- {op}: {}", medians.join(", ")).unwrap();
    }
    let mean = |f: fn(&Sample) -> f64| after.iter().map(|s| f(s)).sum::<f64>() / after.len().max(1) as f64;
    let most_stolen = after.iter().map(|s| s.steal).fold(0.0, f64::max);
    writeln!(
        out,
        "\nthe machine after the warm-up: {:.0} % idle, the hypervisor took {:.1} % for other guests \
         (at most {most_stolen:.1} % in 10 s)",
        mean(|s| s.idle),
        mean(|s| s.steal)
    )
    .unwrap();
    let delivered: u64 = samples.iter().map(|s| s.delivered).sum();
    writeln!(out, "\nwebhook deliveries received: {delivered}").unwrap();
    writeln!(out, "- p99 drift ≤ {:.0} % for every operation: {}", P99_DRIFT * 100.0, verdict(drift_ok)).unwrap();
    writeln!(out, "- no error: {errors}, {}", verdict(errors == 0)).unwrap();
    out
}

/// One line of block characters per series, scaled to its own maximum.
fn text_plot(samples: &[Sample]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let line = |name: &str, values: Vec<f64>, unit: &str| {
        let max = values.iter().copied().fold(0.0, f64::max);
        let bars: String =
            values.iter().map(|v| if max > 0.0 { BARS[((v / max) * 7.0).round() as usize] } else { BARS[0] }).collect();
        format!("{name:>12} {bars} max {max:.1} {unit}\n")
    };
    let mut out = line("anon MB", samples.iter().map(|s| s.rss_anon).collect(), "MB");
    for (i, op) in OPS.iter().enumerate() {
        out += &line(&format!("{op} p99"), samples.iter().map(|s| ms(s.ops[i].2)).collect(), "ms");
    }
    out
}

/// Two panels over the run's minutes: anonymous and total memory, and each operation's p99.
fn svg(samples: &[Sample], backend: &str, allocator: &str) -> String {
    let (w, h, left, top) = (720.0, 200.0, 60.0, 30.0);
    let total = samples.last().map_or(1.0, |s| s.at).max(1.0);
    let colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>Gatehouse soak, {backend}, {allocator}: memory and p99 over {:.0} minutes</title>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        w + left + 150.0,
        2.0 * (h + top) + 40.0,
        total / 60.0
    );
    let mut panel = |y0: f64, title: &str, unit: &str, series: Vec<(String, Vec<f64>)>| {
        let max = series.iter().flat_map(|(_, v)| v.iter().copied()).fold(1.0, f64::max) * 1.1;
        write!(
            out,
            "<text x=\"{left}\" y=\"{}\" font-weight=\"bold\">{title}</text>\n\
             <line x1=\"{left}\" y1=\"{}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>\n\
             <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max:.0} {unit}</text>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0} min</text>\n",
            y0 - 10.0,
            y0,
            y0 + h,
            y0 + h,
            left + w,
            y0 + h,
            left - 4.0,
            y0 + 10.0,
            left - 4.0,
            y0 + h,
            left + w,
            y0 + h + 14.0,
            total / 60.0
        )
        .unwrap();
        for (n, (name, values)) in series.iter().enumerate() {
            let points: Vec<String> = samples
                .iter()
                .zip(values)
                .map(|(s, v)| format!("{:.1},{:.1}", left + s.at / total * w, y0 + h - v / max * h))
                .collect();
            let colour = colours[n % colours.len()];
            write!(
                out,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\n\
                 <text x=\"{}\" y=\"{}\" fill=\"{colour}\">{name}</text>\n",
                points.join(" "),
                left + w + 10.0,
                y0 + 14.0 + 16.0 * n as f64
            )
            .unwrap();
        }
    };
    panel(
        top,
        "Server memory (MB)",
        "MB",
        vec![
            ("anonymous".into(), samples.iter().map(|s| s.rss_anon).collect()),
            ("resident".into(), samples.iter().map(|s| s.rss).collect()),
        ],
    );
    panel(
        2.0 * top + h + 20.0,
        "p99 latency per 10 s (ms)",
        "ms",
        OPS.iter()
            .enumerate()
            .map(|(i, op)| (op.to_string(), samples.iter().map(|s| ms(s.ops[i].2)).collect()))
            .collect(),
    );
    out.push_str("</svg>\n");
    out
}
