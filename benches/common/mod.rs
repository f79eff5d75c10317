//! What the benchmarks share: their flags, a fresh database on either backend, the server on a
//! random port, loading items through the service layer, and percentiles.

use gatehouse::config::ServeArgs;
use gatehouse::domain::Role;
use gatehouse::startup::Application;
use gatehouse::storage::audit::Actor;
use gatehouse::storage::db::Db;
use gatehouse::users::server::NewUser;
use gatehouse::workflows::contract::ContractCache;
use gatehouse::workflows::server::Workflow;
use serde_json::Value;
use sqlx::Connection;
use std::time::{Duration, Instant};

/// The command line's `--flag value` pairs, after cargo's own `--bench`.
pub fn flags() -> Vec<(String, String)> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mut pairs = Vec::new();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        pairs.push((flag, value));
    }
    pairs
}

/// A number given to `flag`, or a clear panic.
pub fn number<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value.parse().unwrap_or_else(|_| panic!("{flag} takes a number, not '{value}'"))
}

/// A fresh database for one run: a SQLite file in a folder of its own, or a new PostgreSQL
/// database made with `BENCH_DATABASE_URL` (or `TEST_DATABASE_URL`) as the admin URL. Removed
/// by [`BenchDb::remove`].
pub struct BenchDb {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Database { admin: String, name: String },
}

impl BenchDb {
    pub async fn create(backend: &str, name: &str) -> Self {
        let id = format!("{name}_{}", std::process::id());
        let (url, cleanup) = match backend {
            "sqlite" => {
                let dir = std::env::temp_dir().join(format!("gatehouse-{id}"));
                std::fs::create_dir_all(&dir).unwrap();
                (format!("sqlite://{}/bench.db", dir.display()), Cleanup::Dir(dir))
            }
            "postgres" => {
                let admin = std::env::var("BENCH_DATABASE_URL")
                    .or_else(|_| std::env::var("TEST_DATABASE_URL"))
                    .expect("set BENCH_DATABASE_URL=postgres://...");
                let name = format!("gh_{id}");
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::query(&format!("create database {name}")).execute(&mut conn).await.unwrap();
                let base = admin.rsplit_once('/').unwrap().0.to_owned();
                (format!("{base}/{name}"), Cleanup::Database { admin, name })
            }
            other => panic!("unknown backend {other}: use sqlite or postgres"),
        };
        Self { url, cleanup }
    }

    /// The database, migrated.
    pub async fn connect(&self) -> Db {
        let db = Db::connect(&self.url).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    pub async fn remove(self) {
        match self.cleanup {
            Cleanup::Dir(dir) => {
                std::fs::remove_dir_all(dir).ok();
            }
            Cleanup::Database { admin, name } => {
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::query(&format!("drop database if exists {name} with (force)")).execute(&mut conn).await.ok();
            }
        }
    }
}

/// Creates `count` reviewers (`reviewer<N>@<domain>`, all with `password`); their emails.
/// (Only the review and soak benchmarks have people.)
#[allow(dead_code)]
pub async fn create_reviewers(db: &Db, count: usize, domain: &str, password: &str) -> Vec<String> {
    let emails: Vec<String> = (0..count).map(|i| format!("reviewer{i}@{domain}")).collect();
    for email in &emails {
        let user = NewUser::parse(email, "Bench reviewer", Role::Reviewer, password, "password").unwrap();
        gatehouse::users::server::create(db, &Actor::Cli, user).await.unwrap();
    }
    emails
}

/// A signed-in person calling the server functions the browser calls, as JSON, on one
/// workflow's queue. (The ingest, queues, escalations, tuning and monitoring benchmarks have no
/// use for it.)
#[allow(dead_code)]
pub struct Reviewer {
    pub client: reqwest::Client,
    pub base: String,
    pub slug: String,
}

#[allow(dead_code)]
impl Reviewer {
    /// A client with its own cookie jar, signed in as `email`.
    pub async fn sign_in(base: &str, slug: &str, email: &str, password: &str) -> Self {
        let client =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let reviewer = Self { client, base: base.to_owned(), slug: slug.to_owned() };
        reviewer.call("auth/login", &[("email", email), ("password", password)]).await.expect("sign-in");
        reviewer
    }

    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Result<Value, String> {
        let response = self
            .client
            .post(format!("{}/api/{endpoint}", self.base))
            .form(form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.text().await.map_err(|e| e.to_string())?;
        if status.is_success() || status.is_redirection() {
            serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
        } else {
            Err(format!("{endpoint}: {status} {body}"))
        }
    }

    /// "Start reviewing", then the leased item's page: the item and its lease token.
    pub async fn first_item(&self) -> Option<(i64, String)> {
        let item_id = self.call("review/start", &[("slug", &self.slug)]).await.ok()?.as_i64()?;
        Some((item_id, self.token(item_id).await.ok()?))
    }

    /// The lease token of an item, as the review page loads it.
    pub async fn token(&self, item_id: i64) -> Result<String, String> {
        let id = item_id.to_string();
        let item = self.call("review/item", &[("slug", &self.slug), ("item_id", &id)]).await?;
        Ok(item["lease_token"].as_str().unwrap_or_default().to_owned())
    }
}

/// Starts the server on `db` on a random port; its address. (The soak benchmark runs the
/// binary instead.)
#[allow(dead_code)]
pub async fn serve(db: &Db) -> String {
    serve_with(db, |_| {}).await
}

/// [`serve`] with some settings changed.
#[allow(dead_code)]
pub async fn serve_with(db: &Db, change: impl FnOnce(&mut ServeArgs)) -> String {
    let mut settings = ServeArgs { bind: "127.0.0.1:0".parse().unwrap(), ..ServeArgs::default() };
    change(&mut settings);
    let app = Application::build_with_db(db.clone(), settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

/// Stores `count` items made by `item` in batches of 1,000 through the service layer (as a
/// batch submit would, without HTTP); how long it took. (The tuning benchmark imports history
/// instead and has no use for it.)
#[allow(dead_code)]
pub async fn load_items(db: &Db, workflow: &Workflow, count: u64, item: impl Fn(u64) -> Value) -> Duration {
    let started = Instant::now();
    let contracts = ContractCache::default();
    for first in (0..count).step_by(1000) {
        let subs = (first..(first + 1000).min(count)).map(|i| serde_json::from_value(item(i)).unwrap()).collect();
        if gatehouse::items::ingest::ingest_batch(db, &contracts, workflow, subs).await.is_err() {
            panic!("loading items failed at {first}");
        }
    }
    started.elapsed()
}

/// Calls `call` `requests` times, one after another; the latencies, sorted. (The ingest
/// benchmark sends in parallel and has no use for it.)
#[allow(dead_code)]
pub async fn timed(requests: usize, mut call: impl AsyncFnMut()) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(requests);
    for _ in 0..requests {
        let sent = Instant::now();
        call().await;
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    latencies
}

/// The `p` quantile of sorted durations (0 when there are none).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The processor time this process has used so far (user and system, all threads), from
/// `/proc/self/stat` in clock ticks of 10 ms: on a shared machine it moves less with the
/// neighbours' load than the time on the clock does.
#[allow(dead_code)]
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's name (in parentheses, which may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are the 14th and 15th fields, the 12th and 13th after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
