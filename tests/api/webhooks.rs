//! Webhooks against a real local receiver: signatures, retries, dead letters, replay, no double
//! delivery with two workers on one database, one endpoint never holding up another, the record
//! of attempts, test events, secret rotation, private destinations and retention.
//!
//! A little over 500 lines as one file: every test here uses the receiver, the outbox helpers
//! and the signature check at its top, and none is large enough for a file of its own.

use crate::fixtures::{SLUG, person, submit as submit_item, submit_all, workflow};
use crate::helpers::{Backend, TestApp, spawn_app_with, wait_until};
use crate::on_both_backends;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use gatehouse::webhooks::delivery::{self, Deliverer, DeliverySettings};
use gatehouse::webhooks::destination::DestinationPolicy;
use gatehouse::webhooks::{endpoints, outbox};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both_backends!(
    deliveries_are_signed_and_retried_until_they_succeed,
    exhausted_events_are_dead_lettered_and_replayable,
    two_workers_never_deliver_one_event_twice,
    a_receiver_that_never_answers_holds_up_only_its_own_events,
    attempts_are_shown_and_a_test_event_is_sent_once,
    attempts_recorded_together_keep_each_outcome_and_their_order,
    a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends,
    private_destinations_are_refused_unless_allowed,
    delivered_events_are_purged_after_their_retention,
);

/// A webhook receiver on a random port that fails the first `fail_first` requests.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<(HeaderMap, String, u16)>>>,
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Self, String) {
        let receiver = Receiver { fail_first: Arc::new(AtomicUsize::new(fail_first)), ..Default::default() };
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn successes(&self) -> Vec<(HeaderMap, String)> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, s)| *s == 200)
            .map(|(h, b, _)| (h.clone(), b.clone()))
            .collect()
    }

    /// The external ids of the items whose events it accepted, in the order they came.
    fn accepted_ids(&self) -> Vec<String> {
        self.successes()
            .iter()
            .map(|(_, body)| {
                serde_json::from_str::<Value>(body).unwrap()["data"]["external_id"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    fn attempts(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let failing = receiver.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let status = if failing { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    receiver.received.lock().unwrap().push((headers, body, status.as_u16()));
    status
}

/// The receivers of these tests listen on 127.0.0.1.
const LOCAL: DestinationPolicy = DestinationPolicy { allow_private: true };

async fn quick_app(backend: Backend, max_attempts: u32) -> TestApp {
    spawn_app_with(backend, |s| {
        s.webhook_base_delay_ms = 10;
        s.webhook_poll_ms = 10;
        s.webhook_max_attempts = max_attempts;
        s.allow_private_webhooks = true;
    })
    .await
}

async fn hook(app: &TestApp, workflow_id: i64, url: &str) -> (i64, String) {
    let events = vec!["item.auto_approved".to_owned(), "item.escalated".to_owned()];
    let (endpoint, secret) = endpoints::create(&app.db, &Actor::Cli, workflow_id, url, &events, LOCAL).await.unwrap();
    (endpoint.id, secret)
}

async fn app_with_hook(backend: Backend, max_attempts: u32, url: &str) -> (TestApp, String, String) {
    let app = quick_app(backend, max_attempts).await;
    let workflow = workflow().create(&app).await;
    let (_, secret) = hook(&app, workflow.id, url).await;
    (app, workflow.key, secret)
}

async fn submit(app: &TestApp, key: &str, external_id: &str, confidence: f64) {
    let body = json!({ "external_id": external_id, "payload": {}, "prediction": {"v": 1}, "confidence": confidence });
    assert_eq!(submit_item(app, key, SLUG, &body).await.status(), 201);
}

/// How long these tests wait for the delivery worker (it polls every 10 ms here).
const WITHIN: Duration = Duration::from_secs(10);

/// Waits until a check on the receiver holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    wait_until(WITHIN, what, async || check()).await;
}

async fn outbox(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::query_as("select status, attempts from webhook_outbox order by id").fetch_all(app.db.pool()).await.unwrap()
}

/// Waits until there are `count` events in the outbox and none is pending any more (each is
/// delivered or dead, its attempt recorded in the same transaction).
async fn settled(app: &TestApp, count: usize) {
    wait_until(WITHIN, &format!("{count} settled events"), async || {
        let rows = outbox(app).await;
        rows.len() == count && rows.iter().all(|(status, _)| status != "pending")
    })
    .await;
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_as::<_, (i64,)>(sql).fetch_one(app.db.pool()).await.unwrap().0
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, String> {
    headers.get(name).ok_or(format!("no {name} header"))?.to_str().map_err(|e| format!("{name}: {e}"))
}

/// Checks a delivery as a receiver would (Standard Webhooks), independently of the sending
/// code: the timestamp is within five minutes of now, and one of the signatures in
/// `webhook-signature` is `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed
/// with the base64-decoded secret after its `whsec_` prefix.
fn verify(secret: &str, headers: &HeaderMap, body: &str) -> Result<(), String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};
    let id = header(headers, "webhook-id")?;
    let timestamp: i64 = header(headers, "webhook-timestamp")?.parse().map_err(|e| format!("timestamp: {e}"))?;
    let now = gatehouse::storage::clock::now_ms() / 1000;
    if (now - timestamp).abs() > 300 {
        return Err(format!("timestamp {timestamp} is too far from now ({now})"));
    }
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("a secret starts with whsec_")?)
        .map_err(|e| e.to_string())?;
    let signed = format!("{id}.{timestamp}.{body}");
    for signature in header(headers, "webhook-signature")?.split(' ') {
        let Some(("v1", encoded)) = signature.split_once(',') else { continue };
        let Ok(mac_bytes) = STANDARD.decode(encoded) else { continue };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
        mac.update(signed.as_bytes());
        if mac.verify_slice(&mac_bytes).is_ok() {
            return Ok(());
        }
    }
    Err("no signature matches".to_owned())
}

async fn deliveries_are_signed_and_retried_until_they_succeed(backend: Backend) {
    let (receiver, url) = Receiver::start(2).await;
    let (app, key, secret) = app_with_hook(backend, 11, &url).await;
    submit(&app, &key, "inv-1", 0.95).await;
    submit(&app, &key, "inv-2", 0.5).await; // reviewed: no event
    eventually("the delivery", || !receiver.successes().is_empty()).await;

    let (headers, body) = receiver.successes().remove(0);
    assert_eq!(receiver.attempts(), 3, "two failures, then success");
    let ids: Vec<String> = receiver
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(h, _, _)| h["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "retries keep the message id");
    let timestamp: i64 = headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    let expected = delivery::sign(&secret, &ids[0], timestamp, &body).unwrap();
    assert_eq!(headers["webhook-signature"].to_str().unwrap(), expected);
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "item.auto_approved");
    assert_eq!(event["data"]["external_id"], "inv-1");
    assert_eq!(event["data"]["decisions"][0]["kind"], "auto_approve");

    // The outbox row was written with the item and is now delivered.
    settled(&app, 1).await;
    assert_eq!(outbox(&app).await, vec![("delivered".to_owned(), 3)]);
}

async fn exhausted_events_are_dead_lettered_and_replayable(backend: Backend) {
    let (receiver, url) = Receiver::start(usize::MAX).await;
    let (app, key, secret) = app_with_hook(backend, 3, &url).await;
    submit(&app, &key, "low-1", 0.1).await;
    settled(&app, 1).await;
    assert_eq!(outbox(&app).await, vec![("dead".to_owned(), 3)]);
    assert_eq!(receiver.attempts(), 3);
    let failed = receiver.received.lock().unwrap().clone();
    assert!(failed.iter().all(|(_, _, status)| *status == 503));
    let (first_headers, first_body, _) = failed[0].clone();
    let event_id = header(&first_headers, "webhook-id").unwrap().to_owned();
    let last_sent: i64 =
        failed.iter().map(|(h, _, _)| header(h, "webhook-timestamp").unwrap().parse::<i64>().unwrap()).max().unwrap();
    let workflow = gatehouse::workflows::server::find_by_slug(&app.db, "invoices").await.unwrap().unwrap();
    let letters = outbox::dead_letters(&app.db, workflow.id).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event_type, "item.escalated");
    assert!(letters[0].last_error.as_deref().unwrap().contains("503"), "{:?}", letters[0].last_error);
    let endpoints = endpoints::list(&app.db, workflow.id).await.unwrap();
    assert!(endpoints[0].failing_since_ms.is_some(), "the endpoint is marked failing");

    // Timestamps are in whole seconds: let the clock reach the next one, so that a replay that
    // resent the old timestamp would show.
    wait_until(Duration::from_secs(2), "the next second", async || {
        gatehouse::storage::clock::now_ms() / 1000 > last_sent
    })
    .await;
    receiver.fail_first.store(0, Ordering::SeqCst);
    outbox::replay(&app.db, &Actor::Cli, letters[0].id).await.unwrap();
    eventually("the replayed delivery", || receiver.successes().len() == 1).await;
    assert_eq!(receiver.attempts(), 4, "one more request");
    let (headers, body) = receiver.successes().remove(0);
    assert_eq!(header(&headers, "webhook-id").unwrap(), event_id, "the same event id, so a receiver can tell");
    assert_eq!(body, first_body, "the same event");
    let sent: i64 = header(&headers, "webhook-timestamp").unwrap().parse().unwrap();
    assert!(sent > last_sent, "a new timestamp: {sent} after {last_sent}");
    assert_eq!(verify(&secret, &headers, &body), Ok(()), "signed with the endpoint's secret: {headers:?}");
    // The check can fail: not under another secret, nor for another body.
    let other_secret = format!("whsec_{}", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==");
    assert!(verify(&other_secret, &headers, &body).is_err());
    assert!(verify(&secret, &headers, &body.replace("low-1", "low-2")).is_err());
    settled(&app, 1).await;
    assert_eq!(outbox(&app).await, vec![("delivered".to_owned(), 1)], "attempted once since the replay");
    assert!(endpoints::list(&app.db, workflow.id).await.unwrap()[0].failing_since_ms.is_none());
    assert!(outbox::replay(&app.db, &Actor::Cli, letters[0].id).await.is_err(), "only dead events replay");
}

async fn two_workers_never_deliver_one_event_twice(backend: Backend) {
    let (receiver, url) = Receiver::start(0).await;
    // The app's own worker and two more race for the same events.
    let (app, key, _) = app_with_hook(backend, 11, &url).await;
    for i in 0..40 {
        submit(&app, &key, &format!("x-{i}"), 0.95).await;
    }
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let settings = DeliverySettings {
                base_delay_ms: 10,
                max_attempts: 11,
                poll: Duration::from_millis(5),
                max_endpoints: 16,
                destinations: LOCAL,
            };
            let worker = Deliverer::new(app.db.clone(), settings);
            tokio::spawn(async move {
                for _ in 0..50 {
                    worker.deliver_due().await.unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    eventually("all deliveries", || receiver.successes().len() >= 40).await;
    // Quiet: every event delivered, the endpoint given back (no worker is sending to it), and
    // every request the receiver saw recorded as an attempt (a send is recorded after its answer).
    wait_until(WITHIN, "the deliveries to settle", async || {
        let held = count(&app, "select count(*) from webhook_endpoints where delivery_token is not null").await;
        let recorded = count(&app, "select count(*) from webhook_attempts").await;
        let rows = outbox(&app).await;
        rows.len() == 40
            && rows.iter().all(|(status, _)| status == "delivered")
            && held == 0
            && usize::try_from(recorded).unwrap() == receiver.attempts()
    })
    .await;
    assert_eq!(receiver.attempts(), 40, "no request beyond the forty deliveries");
    let mut ids: Vec<String> =
        receiver.successes().iter().map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned()).collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!((total, ids.len()), (40, 40), "each event delivered exactly once");
}

/// A receiver that accepts the connection and never answers; how many requests it has had.
async fn silent_receiver() -> (Arc<AtomicUsize>, String) {
    async fn hang(State(requests): State<Arc<AtomicUsize>>) -> StatusCode {
        requests.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
        StatusCode::OK
    }
    let requests = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route("/hook", axum::routing::post(hang)).with_state(requests.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (requests, url)
}

/// (status code, latency, error) of an endpoint's attempts, newest first.
async fn attempts_of(app: &TestApp, endpoint_id: i64) -> Vec<(Option<i64>, i64, Option<String>)> {
    endpoints::attempts(&app.db, endpoint_id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.status, a.latency_ms, a.error))
        .collect()
}

/// Each endpoint is delivered to on its own: one that never answers (its sends time out after
/// 10 s) does not delay the events of another.
async fn a_receiver_that_never_answers_holds_up_only_its_own_events(backend: Backend) {
    let (healthy, healthy_url) = Receiver::start(0).await;
    let app = quick_app(backend, 11).await;
    let workflow = workflow().create(&app).await;
    let (silent_requests, silent_url) = silent_receiver().await;
    let (silent, _) = hook(&app, workflow.id, &silent_url).await;
    hook(&app, workflow.id, &healthy_url).await;
    // The first event is being sent to both, the silent one's send hanging, when the rest come.
    submit(&app, &workflow.key, "a-0", 0.95).await;
    eventually("the first event", || healthy.successes().len() == 1).await;
    eventually("the silent receiver's first request", || silent_requests.load(Ordering::SeqCst) >= 1).await;
    let sent = std::time::Instant::now();
    for i in 1..5 {
        submit(&app, &workflow.key, &format!("a-{i}"), 0.95).await;
    }
    eventually("the healthy endpoint's events", || healthy.successes().len() == 5).await;
    assert!(sent.elapsed() < Duration::from_secs(1), "took {:?} beside a receiver that never answers", sent.elapsed());
    // In order, as they were written.
    let received = healthy.accepted_ids();
    assert_eq!(received, ["a-0", "a-1", "a-2", "a-3", "a-4"]);
    // The silent one's first attempt ends with the send timeout, recorded as no answer.
    wait_until(Duration::from_secs(15), "the silent endpoint's first attempt", async || {
        !attempts_of(&app, silent).await.is_empty()
    })
    .await;
    let (status, latency, error) = attempts_of(&app, silent).await.last().cloned().unwrap();
    assert_eq!(status, None);
    assert!(latency >= 9_000, "{latency} ms");
    assert!(error.unwrap().contains("request failed"));
}

/// Every attempt is recorded (status, latency, error) for the endpoint's page; a test event is
/// sent at once, and when it fails it is neither retried nor a dead letter.
async fn attempts_are_shown_and_a_test_event_is_sent_once(backend: Backend) {
    let (receiver, url) = Receiver::start(1).await;
    let app = quick_app(backend, 11).await;
    let admin = person(&app, "admin@example.com", Role::Admin).await;
    let workflow = workflow().create(&app).await;
    let (endpoint, _) = hook(&app, workflow.id, &url).await;
    submit(&app, &workflow.key, "a-1", 0.95).await;
    eventually("the delivery after one failure", || receiver.successes().len() == 1).await;
    settled(&app, 1).await;
    let shown = attempts_of(&app, endpoint).await;
    assert_eq!(shown.iter().map(|(s, ..)| *s).collect::<Vec<_>>(), [Some(200), Some(503)], "newest first");
    assert_eq!(shown[1].2.as_deref(), Some("answered 503 Service Unavailable"));

    // The test event, refused by the receiver: one attempt, and gone from the pending events.
    receiver.fail_first.store(1, Ordering::SeqCst);
    let id = endpoint.to_string();
    let response = app.call_with(&admin.client, "webhooks/test", &[("endpoint_id", &id)]).await;
    assert_eq!(response.status(), 200);
    eventually("the test event's attempt", || receiver.attempts() == 3).await;
    // Once its one attempt is recorded, nothing is pending: there is nothing left to retry.
    settled(&app, 2).await;
    let test_event: (String, i64) = sqlx::query_as("select status, attempts from webhook_outbox where event_type = $1")
        .bind(gatehouse::webhooks::TEST_EVENT)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(test_event, ("dead".to_owned(), 1), "not retried");
    assert_eq!(receiver.attempts(), 3, "not retried");
    assert_eq!(attempts_of(&app, endpoint).await.len(), 3, "its attempt is shown");
    let (_, body, status) = receiver.received.lock().unwrap().last().cloned().unwrap();
    assert_eq!((serde_json::from_str::<Value>(&body).unwrap()["type"].clone(), status), (json!("webhook.test"), 503));
    assert!(outbox::dead_letters(&app.db, workflow.id).await.unwrap().is_empty(), "a test event is no dead letter");
    assert!(endpoints::list(&app.db, workflow.id).await.unwrap()[0].failing_since_ms.is_none());
    // Not for reviewers, nor for an endpoint that does not exist.
    let reviewer = person(&app, "r@example.com", Role::Reviewer).await;
    assert_eq!(app.call_with(&reviewer.client, "webhooks/test", &[("endpoint_id", &id)]).await.status(), 403);
    assert_eq!(app.call_with(&admin.client, "webhooks/test", &[("endpoint_id", "999")]).await.status(), 404);
}

/// The attempts of a read of events are recorded together, in one transaction: with 45 events
/// waiting at once (three reads) and the receiver refusing the first five, every attempt is
/// recorded in the order it was made with its own outcome, the refused ones are retried and
/// delivered once, and no event is delivered twice.
async fn attempts_recorded_together_keep_each_outcome_and_their_order(backend: Backend) {
    let (receiver, url) = Receiver::start(5).await;
    let app = quick_app(backend, 11).await;
    let workflow = workflow().create(&app).await;
    let (endpoint, _) = hook(&app, workflow.id, &url).await;
    let items: Vec<Value> = (0..45)
        .map(|i| json!({ "external_id": format!("b-{i:02}"), "payload": {}, "prediction": {"v": 1}, "confidence": 0.99 }))
        .collect();
    submit_all(&app, &workflow.key, SLUG, &items).await;
    settled(&app, 45).await;
    let outcomes: Vec<(String, i64)> = outbox(&app).await;
    assert!(outcomes.iter().all(|(status, _)| status == "delivered"), "{outcomes:?}");
    // The first five were refused once each, then delivered; the others at the first attempt.
    let attempts: Vec<i64> = outcomes.iter().map(|(_, n)| *n).collect();
    assert_eq!(attempts, [vec![2; 5], vec![1; 40]].concat());
    // 50 attempts, in the order they were made (the record keeps each one's own time).
    let recorded: Vec<(i64, Option<i64>, i64, Option<String>)> = sqlx::query_as(
        "select outbox_id, status_code, attempted_at, error from webhook_attempts where endpoint_id = $1 order by id",
    )
    .bind(endpoint)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(recorded.len(), 50);
    assert!(recorded.windows(2).all(|w| w[0].2 <= w[1].2), "recorded in the order made");
    let refused: Vec<&(i64, Option<i64>, i64, Option<String>)> =
        recorded.iter().filter(|(_, status, ..)| *status == Some(503)).collect();
    assert_eq!(refused.len(), 5);
    assert!(refused.iter().all(|(.., error)| error.as_deref() == Some("answered 503 Service Unavailable")));
    let delivered: std::collections::BTreeSet<i64> =
        recorded.iter().filter(|(_, status, ..)| *status == Some(200)).map(|(id, ..)| *id).collect();
    assert_eq!(delivered.len(), 45, "each event delivered once");
    // The receiver saw the same: 50 requests, 45 distinct messages accepted, in the items' order
    // apart from the five retried.
    assert_eq!(receiver.attempts(), 50);
    let accepted = receiver.accepted_ids();
    let mut unique = accepted.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 45);
    let first_time: Vec<&String> = accepted.iter().filter(|id| id.as_str() >= "b-05").collect();
    assert!(first_time.windows(2).all(|w| w[0] < w[1]), "in order: {first_time:?}");
}

/// A rotation returns a new secret; until the overlap ends, each delivery is signed with both.
async fn a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends(backend: Backend) {
    let (receiver, url) = Receiver::start(0).await;
    let app = quick_app(backend, 11).await;
    let admin = person(&app, "admin@example.com", Role::Admin).await;
    let workflow = workflow().create(&app).await;
    let (endpoint, old) = hook(&app, workflow.id, &url).await;
    let response =
        app.call_with(&admin.client, "webhooks/rotate-secret", &[("endpoint_id", &endpoint.to_string())]).await;
    assert_eq!(response.status(), 200);
    let new: String = response.json().await.unwrap();
    assert!(new.starts_with("whsec_") && new != old);

    submit(&app, &workflow.key, "r-1", 0.95).await;
    eventually("a delivery", || receiver.successes().len() == 1).await;
    let signed = |n: usize| {
        let (headers, body) = receiver.successes()[n].clone();
        let id = headers["webhook-id"].to_str().unwrap().to_owned();
        let at: i64 = headers["webhook-timestamp"].to_str().unwrap().parse().unwrap();
        (headers["webhook-signature"].to_str().unwrap().to_owned(), id, at, body)
    };
    let (signature, id, at, body) = signed(0);
    let expected = [delivery::sign(&new, &id, at, &body).unwrap(), delivery::sign(&old, &id, at, &body).unwrap()];
    assert_eq!(signature, expected.join(" "), "the new secret's signature, then the old one's");

    // Once the overlap is over, only the new one.
    sqlx::query("update webhook_endpoints set previous_secret_until = 1 where id = $1")
        .bind(endpoint)
        .execute(app.db.pool())
        .await
        .unwrap();
    submit(&app, &workflow.key, "r-2", 0.95).await;
    eventually("a second delivery", || receiver.successes().len() == 2).await;
    let (signature, id, at, body) = signed(1);
    assert_eq!(signature, delivery::sign(&new, &id, at, &body).unwrap());
}

/// Without --allow-private-webhooks an endpoint on a private address is refused when added, and
/// one that is there already (added while it was allowed) is never called.
async fn private_destinations_are_refused_unless_allowed(backend: Backend) {
    let (receiver, url) = Receiver::start(0).await;
    let app = spawn_app_with(backend, |s| s.webhook_poll_ms = 10).await;
    let admin = person(&app, "admin@example.com", Role::Admin).await;
    let workflow = workflow().create(&app).await;
    for refused in [url.as_str(), "http://localhost:9/hook", "http://[::1]:9/hook", "http://169.254.169.254/latest"] {
        let form = [("slug", SLUG), ("url", refused), ("events[item.auto_approved]", "on")];
        let response = app.call_with(&admin.client, "webhooks/add", &form).await;
        let (status, body) = (response.status().as_u16(), response.json::<Value>().await.unwrap());
        assert_eq!((status, body["field"].as_str()), (422, Some("url")), "{refused}: {body}");
        assert!(body["message"].as_str().unwrap().contains("--allow-private-webhooks"), "{body}");
    }
    assert!(endpoints::list(&app.db, workflow.id).await.unwrap().is_empty());
    let page = admin.client.get(app.url(&format!("/settings/workflows/{SLUG}"))).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("this server runs without --allow-private-webhooks"));

    let (endpoint, _) = hook(&app, workflow.id, &url).await;
    submit(&app, &workflow.key, "p-1", 0.95).await;
    wait_until(WITHIN, "the refused attempt", async || !attempts_of(&app, endpoint).await.is_empty()).await;
    let shown = attempts_of(&app, endpoint).await;
    assert!(shown[0].2.as_deref().unwrap().contains("private address"), "{shown:?}");
    assert_eq!(receiver.attempts(), 0, "nothing was sent");
}

/// Delivered events (and attempts) older than the retention are purged, in batches; pending and
/// newer ones stay.
async fn delivered_events_are_purged_after_their_retention(backend: Backend) {
    let (receiver, url) = Receiver::start(0).await;
    let app = spawn_app_with(backend, |s| {
        s.webhook_base_delay_ms = 10;
        s.webhook_poll_ms = 10;
        s.allow_private_webhooks = true;
        // The server's own purge (once at start, whenever its task first runs, then every ten
        // minutes) must not take what this test backdates: under a loaded suite it first ran
        // after the backdating.
        s.webhook_retention_days = 100_000;
    })
    .await;
    let created = workflow().create(&app).await;
    hook(&app, created.id, &url).await;
    let key = created.key;
    for i in 0..5 {
        submit(&app, &key, &format!("old-{i}"), 0.95).await;
    }
    eventually("five deliveries", || receiver.successes().len() == 5).await;
    settled(&app, 5).await;
    sqlx::query("update webhook_outbox set delivered_at = 1000").execute(app.db.pool()).await.unwrap();
    sqlx::query("update webhook_attempts set attempted_at = 1000").execute(app.db.pool()).await.unwrap();
    submit(&app, &key, "new-1", 0.95).await;
    eventually("the sixth delivery", || receiver.successes().len() == 6).await;
    settled(&app, 6).await;

    assert_eq!(outbox::purge(&app.db, 2000, 2).await.unwrap(), 5, "in batches of two");
    assert_eq!(outbox(&app).await, vec![("delivered".to_owned(), 1)]);
    let (attempts,): (i64,) =
        sqlx::query_as("select count(*) from webhook_attempts").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(attempts, 1);
    assert_eq!(outbox::purge(&app.db, 2000, 2).await.unwrap(), 0);
}
