//! `GET /metrics` over HTTP: the names, labels and values after known traffic, and the token.

use crate::fixtures::{SLUG, invoice, person, submit, submit_all, workflow};
use crate::helpers::{Backend, TestApp, spawn_app_with, wait_until};
use crate::on_both_backends;
use axum::http::StatusCode;
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use gatehouse::webhooks::destination::DestinationPolicy;
use gatehouse::webhooks::endpoints;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

on_both_backends!(
    the_metrics_count_requests_items_decisions_and_queues,
    the_metrics_show_deliveries_the_outbox_escalations_the_breaker_and_the_pool,
    a_metrics_token_guards_them,
    an_instance_nobody_scrapes_keeps_no_latencies,
);

async fn metrics(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        (metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse().ok())
            .flatten()
    })
}

async fn the_metrics_count_requests_items_decisions_and_queues(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let rita = person(&app, "rita@example.com", Role::Reviewer).await;
    let created = workflow().members(&[&rita]).create(&app).await;
    // Two auto-approved and two to review in a batch, one to review alone, one escalated.
    let batch = [invoice("a", 0.95), invoice("b", 0.97), invoice("c", 0.5), invoice("d", 0.6)];
    submit_all(&app, &created.key, SLUG, &batch).await;
    assert_eq!(submit(&app, &created.key, SLUG, &invoice("e", 0.4)).await.status(), 201);
    assert_eq!(submit(&app, &created.key, SLUG, &invoice("f", 0.1)).await.status(), 201);
    assert_eq!(submit(&app, &created.key, SLUG, &invoice("e", 0.4)).await.status(), 200, "a repeat stores nothing");
    // rita approves one.
    let response = app.call_with(&rita.client, "review/start", &[("slug", SLUG)]).await;
    let item_id: Value = response.json().await.unwrap();
    let item_id = item_id.as_i64().unwrap().to_string();
    let item: Value = app
        .call_with(&rita.client, "review/item", &[("slug", SLUG), ("item_id", &item_id)])
        .await
        .json()
        .await
        .unwrap();
    let token = item["lease_token"].as_str().unwrap().to_owned();
    let approved =
        app.call_with(&rita.client, "review/approve", &[("item_id", &item_id), ("lease_token", &token)]).await;
    assert_eq!(approved.status(), 200);

    let (status, text) = metrics(&app, None).await;
    assert_eq!(status, 200, "{text}");
    let wf = ("workflow", SLUG);
    assert_eq!(
        sample(&text, "gatehouse_items_ingested_total", &[wf, ("route", "above_threshold")]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(sample(&text, "gatehouse_items_ingested_total", &[wf, ("route", "below_threshold")]), Some(3.0));
    assert_eq!(sample(&text, "gatehouse_items_ingested_total", &[wf, ("route", "low_confidence")]), Some(1.0));
    assert_eq!(sample(&text, "gatehouse_decisions_total", &[("kind", "approve")]), Some(1.0));
    assert_eq!(
        sample(&text, "gatehouse_queue_depth", &[wf]),
        Some(1.0),
        "three to review: one decided, the next leased to rita, one waits"
    );
    assert_eq!(sample(&text, "gatehouse_queue_overdue", &[wf]), Some(0.0));
    assert!(sample(&text, "gatehouse_queue_oldest_age_seconds", &[wf]).is_some_and(|age| age < 60.0));
    assert_eq!(sample(&text, "gatehouse_breaker_open", &[wf]), Some(0.0));
    assert_eq!(sample(&text, "gatehouse_escalations_open", &[wf, ("level", "2")]), Some(0.0));
    assert!(sample(&text, "gatehouse_webhook_outbox", &[("status", "pending")]).is_some());
    assert!(sample(&text, "gatehouse_db_pool_connections", &[("state", "idle")]).is_some());
    let build = [("version", env!("CARGO_PKG_VERSION")), ("allocator", gatehouse::allocator::NAME)];
    assert_eq!(sample(&text, "gatehouse_build_info", &build), Some(1.0), "{text}");
    let resident = sample(&text, "gatehouse_process_resident_memory_bytes", &[]).unwrap_or(0.0);
    let anonymous = sample(&text, "gatehouse_process_anonymous_memory_bytes", &[]).unwrap_or(0.0);
    assert!(anonymous > 1e6 && resident > anonymous, "resident {resident}, anonymous {anonymous}");
    // Requests by the route's pattern, never the path as sent.
    let single = [("route", "/api/v1/workflows/{slug}/items"), ("method", "POST")];
    assert_eq!(sample(&text, "gatehouse_http_requests_total", &[single[0], single[1], ("status", "201")]), Some(2.0));
    assert_eq!(sample(&text, "gatehouse_http_requests_total", &[single[0], single[1], ("status", "200")]), Some(1.0));
    assert!(!text.contains("/api/v1/workflows/invoices/"), "no path as sent: {text}");
    assert_eq!(
        sample(&text, "gatehouse_http_requests_total", &[("route", "/api/review/approve"), ("status", "200")]),
        Some(1.0)
    );
    assert!(
        sample(&text, "gatehouse_http_request_duration_seconds_bucket", &[single[0], ("le", "+Inf")]) == Some(3.0),
        "a latency histogram with buckets: {text}"
    );
    assert!(text.contains("# TYPE gatehouse_http_request_duration_seconds histogram"));
    // Unknown paths are counted, not named.
    app.client.get(app.url("/api/v1/no/such/thing")).send().await.unwrap();
    app.client.get(app.url("/api/not-a-function-123")).send().await.unwrap();
    let (_, text) = metrics(&app, None).await;
    assert!(!text.contains("not-a-function-123") && !text.contains("no/such/thing"), "{text}");
}

/// A webhook receiver on a random port that answers 503 to its first request and 200 after;
/// the requests it had, and its address.
async fn receiver_failing_once() -> (Arc<AtomicUsize>, String) {
    async fn receive(axum::extract::State(requests): axum::extract::State<Arc<AtomicUsize>>) -> StatusCode {
        match requests.fetch_add(1, Ordering::SeqCst) {
            0 => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::OK,
        }
    }
    let requests = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(requests.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (requests, url)
}

/// After known webhook traffic, an escalation and a tripped breaker: deliveries by outcome, the
/// outbox by status, open escalations by level, the breaker, and the database pool.
async fn the_metrics_show_deliveries_the_outbox_escalations_the_breaker_and_the_pool(backend: Backend) {
    // Two attempts an event, 10 ms apart; the escalation sweeper and the breaker's watcher every
    // 20 ms; a decision's event waits out an undo window of an hour, so it stays pending.
    let app = spawn_app_with(backend, |s| {
        s.webhook_poll_ms = 10;
        s.webhook_base_delay_ms = 10;
        s.webhook_max_attempts = 2;
        s.allow_private_webhooks = true;
        s.escalation_sweep_ms = 20;
        s.undo_window_ms = 3_600_000;
    })
    .await;
    let rita = person(&app, "rita@example.com", Role::Reviewer).await;
    // Every would-be auto-approval is audited: a rejected audit trips the breaker.
    let created = workflow()
        .members(&[&rita])
        .with("auto_approve_at", json!(0.5))
        .with("audit_rate", json!(1.0))
        .with("reason_codes", json!(["blurry"]))
        .create(&app)
        .await;
    let local = DestinationPolicy { allow_private: true };
    let (requests, url) = receiver_failing_once().await;
    let events = ["item.escalated".to_owned(), "item.rejected".to_owned()];
    let (good, _) = endpoints::create(&app.db, &Actor::Cli, created.id, &url, &events, local).await.unwrap();
    // Nobody listens on this one: both its attempts fail.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed_url = format!("http://127.0.0.1:{closed}/hook");
    let escalated = ["item.escalated".to_owned()];
    let (dead, _) = endpoints::create(&app.db, &Actor::Cli, created.id, &closed_url, &escalated, local).await.unwrap();

    let stored = submit_all(&app, &created.key, SLUG, &[invoice("doubtful", 0.1), invoice("audited", 0.9)]).await;
    assert_eq!(stored[0]["state"], "escalated", "{}", stored[0]);
    assert_eq!(stored[1]["route"]["reason"], "audit", "{}", stored[1]);
    let started: Value = app.call_with(&rita.client, "review/start", &[("slug", SLUG)]).await.json().await.unwrap();
    let item_id = started.as_i64().expect("the audited item to review").to_string();
    let item: Value = app
        .call_with(&rita.client, "review/item", &[("slug", SLUG), ("item_id", &item_id)])
        .await
        .json()
        .await
        .unwrap();
    let token = item["lease_token"].as_str().unwrap().to_owned();
    let form = [("item_id", item_id.as_str()), ("lease_token", &token), ("reason_code", "blurry")];
    assert_eq!(app.call_with(&rita.client, "review/reject", &form).await.status(), 200);

    // Settled: the escalation delivered at the second try and dead-lettered after two, the
    // rejection waiting for its undo window, the escalation opened, the breaker open.
    let pool = app.db.pool();
    let expected = [
        (good.id, "item.escalated".to_owned(), "delivered".to_owned(), 2),
        (good.id, "item.rejected".to_owned(), "pending".to_owned(), 0),
        (dead.id, "item.escalated".to_owned(), "dead".to_owned(), 2),
    ];
    wait_until(Duration::from_secs(10), "the deliveries, the escalation and the breaker", async || {
        let outbox: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "select endpoint_id, event_type, status, attempts from webhook_outbox order by endpoint_id, id",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let (open,): (i64,) =
            sqlx::query_as("select count(*) from escalations where resolved_at is null and level = 1")
                .fetch_one(pool)
                .await
                .unwrap();
        let (breaker,): (i64,) = sqlx::query_as("select breaker_open from workflows").fetch_one(pool).await.unwrap();
        outbox == expected && open == 1 && breaker == 1
    })
    .await;
    assert_eq!(requests.load(Ordering::SeqCst), 2, "one refused, one accepted");

    let (status, text) = metrics(&app, None).await;
    assert_eq!(status, 200, "{text}");
    let deliveries = |outcome| sample(&text, "gatehouse_webhook_deliveries_total", &[("outcome", outcome)]);
    assert_eq!(deliveries("delivered"), Some(1.0), "{text}");
    assert_eq!(deliveries("failed"), Some(2.0), "the first attempt at each endpoint: {text}");
    assert_eq!(deliveries("dead"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "gatehouse_webhook_outbox", &[("status", "pending")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "gatehouse_webhook_outbox", &[("status", "dead")]), Some(1.0), "{text}");
    let wf = ("workflow", SLUG);
    assert_eq!(sample(&text, "gatehouse_escalations_open", &[wf, ("level", "1")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "gatehouse_escalations_open", &[wf, ("level", "2")]), Some(0.0), "{text}");
    assert_eq!(sample(&text, "gatehouse_breaker_open", &[wf]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "gatehouse_decisions_total", &[("kind", "reject")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "gatehouse_queue_depth", &[wf]), Some(0.0), "nothing waits: {text}");
    // The pool: whole connections, some open (the scrape used one), no more than its maximum.
    let idle = sample(&text, "gatehouse_db_pool_connections", &[("state", "idle")]).expect("idle connections");
    let in_use = sample(&text, "gatehouse_db_pool_connections", &[("state", "in_use")]).expect("connections in use");
    let max = f64::from(pool.options().get_max_connections());
    assert!(idle.fract() == 0.0 && in_use.fract() == 0.0 && idle >= 0.0 && in_use >= 0.0, "{idle}, {in_use}");
    assert!((1.0..=max).contains(&(idle + in_use)), "{idle} idle and {in_use} in use of at most {max}");
}

async fn a_metrics_token_guards_them(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.metrics_token = Some("s3cret-token".into())).await;
    let (status, _) = metrics(&app, None).await;
    assert_eq!(status, 401);
    let (status, _) = metrics(&app, Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, text) = metrics(&app, Some("s3cret-token")).await;
    assert_eq!(status, 200);
    assert!(text.contains("gatehouse_db_pool_connections"), "{text}");
}

/// Every request's latency is a histogram observation, held raw until the exporter folds it into
/// its buckets. The server folds them every few seconds by itself: an instance whose `/metrics`
/// nobody scrapes does not keep every latency it ever measured.
async fn an_instance_nobody_scrapes_keeps_no_latencies(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    for _ in 0..50 {
        let response = app.client.get(app.url("/login")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let within = gatehouse::storage::metrics::UPKEEP_EVERY * 3;
    wait_until(within, "the latencies folded without a scrape", async || app.metrics.unfolded() == 0).await;
    let (status, text) = metrics(&app, None).await;
    assert_eq!(status, 200);
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_http_request_duration_seconds_count{route=\"/login\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(count, Some(50), "folded, none lost:\n{text}");
}
