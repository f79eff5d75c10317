//! `GET /metrics` over HTTP: the names, labels and values after known traffic, and the token.

use crate::fixtures::{SLUG, invoice, person, submit, submit_all, workflow};
use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_both_backends;
use gatehouse::domain::Role;
use serde_json::Value;

on_both_backends!(the_metrics_count_requests_items_decisions_and_queues, a_metrics_token_guards_them);

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
