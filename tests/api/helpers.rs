use gatehouse::config::ServeArgs;
use gatehouse::domain::Role;
use gatehouse::startup::Application;
use gatehouse::storage::audit::Actor;
use gatehouse::storage::db::Db;
use gatehouse::users::server::{self as users, NewUser};
use reqwest::header::HeaderMap;
use serde_json::Value;
use sqlx::Connection;
use std::path::PathBuf;

pub const PASSWORD: &str = "correct horse battery";

/// Runs each named test once per backend: `sqlite::name` always, `postgres::name` when the tests
/// were built with `TEST_DATABASE_URL` set (see `build.rs`). Built without it, the PostgreSQL
/// variants are reported as ignored, with the reason, rather than passing without running.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::helpers::within_limit(super::$name($crate::helpers::Backend::Sqlite)).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(test_postgres), ignore = "set TEST_DATABASE_URL to run on PostgreSQL")]
                async fn $name() {
                    $crate::helpers::within_limit(super::$name($crate::helpers::Backend::postgres())).await
                }
            )*
        }
    };
}

/// Fails a test that hangs instead of hanging the whole suite.
pub async fn within_limit(test: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(std::time::Duration::from_secs(120), test).await.is_err() {
        panic!("test did not finish within 120 s");
    }
}

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres { admin_url: String },
}

impl Backend {
    /// PostgreSQL at `TEST_DATABASE_URL`. Only the PostgreSQL variants of the tests ask for it,
    /// and they run only when the tests were built with the variable set (or are run with
    /// `--include-ignored`): if it is missing now, the test fails rather than passing unrun.
    pub fn postgres() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Backend::Postgres { admin_url },
            _ => panic!(
                "TEST_DATABASE_URL is not set, so this PostgreSQL test cannot run: set it \
                 (e.g. postgres://postgres@127.0.0.1:5432/test), which also rebuilds the tests"
            ),
        }
    }
}

/// A fresh, empty database that is removed when dropped.
pub struct TestDb {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Database { admin_url: String, name: String },
}

impl TestDb {
    pub async fn new(backend: &Backend) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("gatehouse-test-{id}"));
                let url = format!("sqlite://{}/gatehouse.db", dir.display());
                Self { url, cleanup: Cleanup::Dir(dir) }
            }
            Backend::Postgres { admin_url } => {
                let name = format!("gh_test_{id}");
                let mut conn = sqlx::PgConnection::connect(admin_url).await.expect("connect to TEST_DATABASE_URL");
                sqlx::query(&format!("create database {name}")).execute(&mut conn).await.expect("create test database");
                conn.close().await.ok();
                let base = admin_url.rsplit_once('/').map(|(base, _)| base).expect("database URL with a path");
                Self {
                    url: format!("{base}/{name}"),
                    cleanup: Cleanup::Database { admin_url: admin_url.clone(), name },
                }
            }
        }
    }

    pub async fn connect(&self) -> Db {
        let db = Db::connect(&self.url).await.expect("connect");
        db.migrate().await.expect("migrate");
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                std::fs::remove_dir_all(dir).ok();
            }
            Cleanup::Database { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; use a runtime of our own on a thread.
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    // Bounded: a test database left behind is harmless, a hang here is not.
                    let drop_database = async {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                            sqlx::query("set lock_timeout = '5s'").execute(&mut conn).await.ok();
                            sqlx::query(&format!("drop database if exists {name} with (force)"))
                                .execute(&mut conn)
                                .await
                                .ok();
                        }
                    };
                    runtime.block_on(async {
                        tokio::time::timeout(std::time::Duration::from_secs(15), drop_database).await.ok()
                    });
                })
                .join()
                .ok();
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub db: Db,
    pub client: reqwest::Client,
    /// The instance's metrics registry, as its `/metrics` reads it.
    pub metrics: gatehouse::storage::metrics::Metrics,
    /// Kept so the database lives as long as the app (and any other instance on it).
    test_db: std::sync::Arc<TestDb>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let test_db = TestDb::new(&backend).await;
    let db = test_db.connect().await;
    let mut settings = ServeArgs { bind: "127.0.0.1:0".parse().unwrap(), ..ServeArgs::default() };
    configure(&mut settings);
    let app = Application::build_with_db(db.clone(), settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics = app.metrics().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp { address, db, client: client(), metrics, test_db: std::sync::Arc::new(test_db) }
}

/// A browser-like client that keeps cookies but sends no Origin (like curl).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

impl TestApp {
    /// A second server instance on the same database, with its own connection pool (as another
    /// process behind a load balancer would be).
    pub async fn another_instance(&self) -> TestApp {
        let db = Db::connect(&self.test_db.url).await.expect("connect");
        let settings = ServeArgs { bind: "127.0.0.1:0".parse().unwrap(), ..ServeArgs::default() };
        let app = Application::build_with_db(db.clone(), settings).await.expect("build app");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics = app.metrics().clone();
        tokio::spawn(app.run_until_stopped());
        TestApp { address, db, client: client(), metrics, test_db: self.test_db.clone() }
    }

    /// The database's URL, for a process of its own (the CLI) to open.
    pub fn test_db_url(&self) -> String {
        self.test_db.url.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Calls a server function as the hydrated browser does (form-encoded, JSON back).
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.call_with(&self.client, endpoint, form).await
    }

    pub async fn call_with(
        &self,
        client: &reqwest::Client,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        client.post(self.url(&format!("/api/{endpoint}"))).form(form).send().await.expect("request")
    }

    /// Adds a user directly through the service layer (as the CLI would).
    pub async fn add_user(&self, email: &str, role: Role) -> i64 {
        let new_user = NewUser::parse(email, "", role, PASSWORD, "password").unwrap();
        users::create(&self.db, &Actor::Cli, new_user).await.unwrap().id
    }

    /// A new client signed in as a new user with `role`.
    pub async fn signed_in(&self, email: &str, role: Role) -> (reqwest::Client, i64) {
        let id = self.add_user(email, role).await;
        let client = client();
        let response = self.call_with(&client, "auth/login", &[("email", email), ("password", PASSWORD)]).await;
        assert_eq!(response.status(), 200, "sign-in of {email} failed");
        (client, id)
    }

    pub async fn me(&self, client: &reqwest::Client) -> Value {
        let response = self.call_with(client, "auth/me", &[]).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn user_count(&self) -> i64 {
        users::count(&self.db).await.unwrap()
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        sqlx::query_as::<_, (String,)>("select action from audit_events order by id")
            .fetch_all(self.db.pool())
            .await
            .unwrap()
            .into_iter()
            .map(|(a,)| a)
            .collect()
    }
}

/// The session cookie's value in a `Set-Cookie` header, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|cookie| {
        cookie.strip_prefix("gatehouse_session=").map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
    })
}

pub async fn error_kind(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON error body");
    (status, body)
}

/// Waits until `check` holds, asking again every 10 ms; fails the test, naming `what`, if it
/// does not hold within `within`. For what happens in the background (a delivery, a sweep, a
/// server starting) instead of a sleep that merely hopes it has happened.
pub async fn wait_until(within: std::time::Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
