//! Webhooks against a real local receiver: signatures, retries, dead letters, replay, and no
//! double delivery with two workers on one database.

use crate::fixtures::{SLUG, submit as submit_item, workflow};
use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_both_backends;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use gatehouse::storage::audit::Actor;
use gatehouse::webhooks::delivery::{self, Deliverer};
use gatehouse::webhooks::{endpoints, outbox};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both_backends!(
    deliveries_are_signed_and_retried_until_they_succeed,
    exhausted_events_are_dead_lettered_and_replayable,
    two_workers_never_deliver_one_event_twice,
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

async fn app_with_hook(backend: Backend, max_attempts: u32, url: &str) -> (TestApp, String, String) {
    let app = spawn_app_with(backend, |s| {
        s.webhook_base_delay_ms = 10;
        s.webhook_poll_ms = 10;
        s.webhook_max_attempts = max_attempts;
    })
    .await;
    let workflow = workflow().create(&app).await;
    let events = vec!["item.auto_approved".to_owned(), "item.escalated".to_owned()];
    let (_, secret) = endpoints::create(&app.db, &Actor::Cli, workflow.id, url, &events).await.unwrap();
    (app, workflow.key, secret)
}

async fn submit(app: &TestApp, key: &str, external_id: &str, confidence: f64) {
    let body = json!({ "external_id": external_id, "payload": {}, "prediction": {"v": 1}, "confidence": confidence });
    assert_eq!(submit_item(app, key, SLUG, &body).await.status(), 201);
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn outbox(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::query_as("select status, attempts from webhook_outbox order by id").fetch_all(app.db.pool()).await.unwrap()
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
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(outbox(&app).await, vec![("delivered".to_owned(), 3)]);
}

async fn exhausted_events_are_dead_lettered_and_replayable(backend: Backend) {
    let (receiver, url) = Receiver::start(usize::MAX).await;
    let (app, key, _) = app_with_hook(backend, 3, &url).await;
    submit(&app, &key, "low-1", 0.1).await;
    let mut dead = Vec::new();
    for _ in 0..500 {
        dead = outbox(&app).await;
        if dead.first().is_some_and(|(status, _)| status == "dead") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dead, vec![("dead".to_owned(), 3)]);
    assert_eq!(receiver.attempts(), 3);
    let workflow = gatehouse::workflows::server::find_by_slug(&app.db, "invoices").await.unwrap().unwrap();
    let letters = outbox::dead_letters(&app.db, workflow.id).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event_type, "item.escalated");
    assert!(letters[0].last_error.as_deref().unwrap().contains("503"), "{:?}", letters[0].last_error);
    let endpoints = endpoints::list(&app.db, workflow.id).await.unwrap();
    assert!(endpoints[0].failing_since_ms.is_some(), "the endpoint is marked failing");

    receiver.fail_first.store(0, Ordering::SeqCst);
    outbox::replay(&app.db, &Actor::Cli, letters[0].id).await.unwrap();
    eventually("the replayed delivery", || receiver.successes().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(outbox(&app).await[0].0, "delivered");
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
            let worker = Deliverer::new(app.db.clone(), 10, 11, Duration::from_millis(5));
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut ids: Vec<String> =
        receiver.successes().iter().map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned()).collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!((total, ids.len()), (40, 40), "each event delivered exactly once");
}
