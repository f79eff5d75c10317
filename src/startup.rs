//! Builds the application: database, session layer, routes, middleware; binds the listener.

use crate::app::{App, shell};
use crate::config::ServeArgs;
use crate::state::AppState;
use crate::storage::db::Db;
use crate::storage::metrics::Metrics;
use crate::storage::session_store::DbSessionStore;
use crate::web::security::{self, AllowedOrigins};
use crate::webhooks::delivery::{Deliverer, DeliverySettings};
use crate::webhooks::outbox::purge_every;
use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha512};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer};
use tracing::field::Empty;

pub struct Application {
    listener: TcpListener,
    router: Router,
    db: Db,
    deliverer: Deliverer,
    metrics: Metrics,
    lease_sweep: Duration,
    escalation_sweep: Duration,
    retention: Duration,
    setup_token: Option<String>,
}

impl Application {
    /// Connects to the database, runs migrations, and binds `settings.bind` (port 0 picks a free
    /// port, which tests use).
    pub async fn build(database_url: &str, settings: ServeArgs) -> anyhow::Result<Self> {
        let db = Db::connect(database_url).await?;
        db.migrate().await?;
        Self::build_with_db(db, settings).await
    }

    pub async fn build_with_db(db: Db, settings: ServeArgs) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(settings.bind).await.with_context(|| format!("could not listen on {}", settings.bind))?;
        let key = session_key(&db, &settings).await?;
        let setup_token = crate::auth::setup_token::issue(&db).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let metrics = Metrics::default();
        let deliverer = Deliverer::new(
            db.clone(),
            DeliverySettings {
                base_delay_ms: settings.webhook_base_delay_ms,
                max_attempts: settings.webhook_max_attempts,
                poll: Duration::from_millis(settings.webhook_poll_ms.max(10)),
                max_endpoints: settings.webhook_concurrency,
                destinations: settings.webhook_destinations(),
            },
        )
        .with_metrics(metrics.clone());
        let retention = Duration::from_secs(u64::from(settings.webhook_retention_days) * 86_400);
        let lease_sweep = Duration::from_millis(settings.lease_sweep_ms.max(10));
        let escalation_sweep = Duration::from_millis(settings.escalation_sweep_ms.max(10));
        let router = router(db.clone(), settings, key, metrics.clone());
        Ok(Self { listener, router, db, deliverer, metrics, lease_sweep, escalation_sweep, retention, setup_token })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// This instance's metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The first-run setup token, while the instance has no user (see
    /// [`crate::auth::setup_token`]).
    pub fn setup_token(&self) -> Option<&str> {
        self.setup_token.as_deref()
    }

    /// Serves until SIGINT or SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let cleanup = tokio::spawn(housekeeping(self.db.clone()));
        let webhooks = tokio::spawn(self.deliverer.run());
        let leases = tokio::spawn(crate::review::lease::sweep_leases(self.db.clone(), self.lease_sweep));
        let overdue = tokio::spawn(crate::escalations::server::sweep(self.db.clone(), self.escalation_sweep));
        let breaker = tokio::spawn(crate::tuning::breaker::watch(self.db.clone(), self.escalation_sweep));
        let purge = tokio::spawn(purge_every(self.db.clone(), self.retention, Duration::from_secs(600)));
        let upkeep = tokio::spawn(self.metrics.clone().keep_up(crate::storage::metrics::UPKEEP_EVERY));
        // No Nagle: a response written in more than one piece (headers, then a page) would
        // otherwise wait for the client's delayed ACK, 40 ms now and then.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        let served = axum::serve(listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await;
        cleanup.abort();
        webhooks.abort();
        leases.abort();
        overdue.abort();
        breaker.abort();
        purge.abort();
        upkeep.abort();
        self.db.close().await;
        served
    }
}

/// The page routes, generated once per process. Generating them renders the app with resource
/// loading suppressed by a process-wide flag, and a resource first polled while the flag is up
/// never loads (leptos-rs/leptos#4773): a second instance built in the same process, as the
/// tests and `Application::another_instance` do, would otherwise hang pages being rendered by
/// the first.
static PAGE_ROUTES: LazyLock<Vec<AxumRouteListing>> = LazyLock::new(|| generate_route_list(App));

fn router(db: Db, settings: ServeArgs, key: Key, metrics: Metrics) -> Router {
    // Pages load the front end from a folder named by its content (see `web::assets`).
    let fingerprint = crate::web::assets::fingerprint(&settings.site_root);
    let assets = crate::web::assets::router(&settings.site_root, &fingerprint);
    let page_chunks = crate::web::assets::PageChunks::read(&settings.site_root, &fingerprint);
    let leptos_options = LeptosOptions::builder()
        .output_name("gatehouse")
        .site_root(settings.site_root.to_string_lossy().to_string())
        .site_pkg_dir(crate::web::assets::pkg_dir(&fingerprint))
        .site_addr(settings.bind)
        .build();
    let sessions = DbSessionStore::new(db.clone());
    let session_layer = SessionManagerLayer::new(sessions.clone())
        .with_name("gatehouse_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.secure_cookies())
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(i64::from(settings.session_idle_hours.max(1)))))
        .with_signed(key);
    let allowed_origins = Arc::new(AllowedOrigins::new(settings.public_url.as_deref()));
    let max_body = settings.max_body_bytes;
    let https = settings.secure_cookies();
    let request_timeout = Duration::from_secs(settings.request_timeout_secs.max(1));
    let api = crate::web::machine_api::router(settings.max_body_bytes, settings.max_batch_body_bytes);
    let ingestor = crate::items::writer::Ingestor::start(db.clone());
    let decider = crate::review::writer::Decider::start(db.clone());
    let state = AppState {
        leptos_options,
        ingestor,
        decider,
        db,
        sessions,
        settings: Arc::new(settings),
        contracts: Default::default(),
        api_caches: Default::default(),
        metrics,
    };

    let routes = PAGE_ROUTES.clone();
    let context_state = state.clone();
    // The site: pages and server functions, with cookies, CSRF checks and the body limit.
    let site = Router::new()
        .merge(assets)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/settings/workflows/{slug}/export", get(crate::items::rest::download_for_session))
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(context_state.clone());
                if let Some(chunks) = &page_chunks {
                    provide_context(chunks.clone());
                }
            },
            {
                let options = state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(security::server_fn_status))
        .layer(axum::middleware::from_fn(crate::auth::context::with_flash_memo))
        .layer(session_layer)
        .layer(axum::middleware::from_fn_with_state(max_body, crate::web::control_chars::refuse_in_form))
        .layer(axum::middleware::from_fn_with_state(allowed_origins, security::same_origin))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(crate::web::compression::pages());
    // The machine API authenticates with bearer keys and has limits of its own per route.
    Router::new()
        .nest("/api/v1", api)
        .merge(site)
        .route("/metrics", get(crate::web::metrics::scrape))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::web::metrics::track))
        .layer(axum::middleware::from_fn(crate::web::control_chars::refuse_in_address))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        .layer(axum::middleware::from_fn_with_state(https, security::headers))
        .layer(
            // One span per request: method, path, status, latency, and the user id once the
            // guard has identified them.
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<axum::body::Body>| {
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        status = Empty,
                        latency_ms = Empty,
                        user_id = Empty,
                    )
                })
                .on_response(|response: &axum::response::Response, latency: Duration, span: &tracing::Span| {
                    span.record("status", response.status().as_u16());
                    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
                    tracing::info!("response");
                }),
        )
        .with_state(state)
}

async fn readyz(State(db): State<Db>) -> (StatusCode, &'static str) {
    if db.ping().await { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "database unreachable") }
}

/// The key that signs session cookies: from the configured secret, or generated once and kept
/// in the database so that every instance agrees.
async fn session_key(db: &Db, settings: &ServeArgs) -> anyhow::Result<Key> {
    let secret: String = if let Some(secret) = &settings.session_secret {
        secret.expose_secret().to_owned()
    } else if let Some(path) = &settings.session_key_file {
        std::fs::read_to_string(path)
            .with_context(|| format!("could not read the session key file {}", path.display()))?
            .trim()
            .to_owned()
    } else {
        crate::storage::instance_secrets::get_or_create(db, "session_key")
            .await
            .context("could not store or read the instance's session key")?
    };
    anyhow::ensure!(secret.len() >= 32, "the session secret must be at least 32 characters long");
    Ok(Key::from(&Sha512::digest(secret.as_bytes())))
}

/// Every ten minutes: expired sessions removed, sign-in throttles quiet for a day forgotten, and
/// the queue minutes nothing waits in.
async fn housekeeping(db: Db) {
    let store = DbSessionStore::new(db.clone());
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        match store.delete_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "expired sessions removed"),
            Err(error) => tracing::warn!(%error, "could not remove expired sessions"),
        }
        if let Err(error) = crate::auth::throttle::forget_quiet(&db, crate::storage::clock::now_ms()).await {
            tracing::warn!(%error, "could not forget quiet sign-in throttles");
        }
        if let Err(error) = crate::review::queues::forget_empty_minutes(&db).await {
            tracing::warn!(%error, "could not forget empty queue minutes");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
