//! Reviewer queues over HTTP, by calling the server functions as the browser does, by topic:
//! claims under concurrency, leases (renewal, expiry, stale tokens), decisions (double submits,
//! the next item, each verdict's validation), who may act, and undo with the webhook a decision
//! schedules.

mod access;
mod claims;
mod counts;
mod decisions;
mod escalation_actions;
mod escalation_inbox;
mod escalation_levels;
mod escalation_triggers;
mod leases;
mod team_workload;
mod undo;

use crate::fixtures::{Person, SLUG, WorkflowFixture, invoice, person, submit_all, workflow};
use crate::helpers::{Backend, TestApp, spawn_app_with};
use gatehouse::config::ServeArgs;
use gatehouse::domain::Role;
use serde_json::{Value, json};

/// The workflow of these tests, with these members: predictions carry a label and fields (a
/// total of at least 0), with two labels and two reasons to reject.
fn reviewed(members: &[&Person]) -> WorkflowFixture {
    workflow()
        .members(members)
        .with(
            "prediction_schema",
            json!({
                "type": "object",
                "required": ["label", "fields"],
                "properties": {
                    "label": { "type": "string" },
                    "fields": {
                        "type": "object",
                        "properties": { "total": { "type": "number", "minimum": 0 } }
                    }
                }
            }),
        )
        .with("labels", json!(["invoice", "receipt"]))
        .with("reason_codes", json!(["blurry", "wrong_document"]))
}

/// The workflow with these members, and an API key for it.
async fn with_workflow(app: &TestApp, members: &[&Person]) -> (i64, String) {
    let created = reviewed(members).create(app).await;
    (created.id, created.key)
}

/// An item for review (its confidence in the review band).
fn item(external_id: &str) -> Value {
    invoice(external_id, 0.5)
}

/// Ingests `count` items for review; their ids, oldest first.
async fn ingest(app: &TestApp, key: &str, prefix: &str, count: usize) -> Vec<i64> {
    let items: Vec<Value> = (0..count).map(|i| item(&format!("{prefix}-{i}"))).collect();
    let stored = submit_all(app, key, SLUG, &items).await;
    for item in &stored {
        assert_eq!(item["state"], "queued", "{item}");
    }
    stored.iter().map(|item| item["id"].as_i64().unwrap()).collect()
}

/// Calls a server function; its status and JSON answer.
async fn call(app: &TestApp, who: &Person, endpoint: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app.call_with(&who.client, endpoint, form).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{endpoint} answered {status} non-JSON: {text}"));
    (status, body)
}

/// Calls a server function that must succeed; its JSON answer.
async fn ok(app: &TestApp, who: &Person, endpoint: &str, form: &[(&str, &str)]) -> Value {
    let (status, body) = call(app, who, endpoint, form).await;
    assert_eq!(status, 200, "{endpoint} {form:?}: {body}");
    body
}

async fn start(app: &TestApp, who: &Person) -> Option<i64> {
    ok(app, who, "review/start", &[("slug", SLUG)]).await.as_i64()
}

/// The lease token of an item leased to `who`.
async fn token(app: &TestApp, who: &Person, item_id: i64) -> String {
    let item = ok(app, who, "review/item", &[("slug", SLUG), ("item_id", &item_id.to_string())]).await;
    item["lease_token"].as_str().unwrap().to_owned()
}

async fn approve(app: &TestApp, who: &Person, item_id: i64, token: &str) -> (u16, Value) {
    call(app, who, "review/approve", &[("item_id", &item_id.to_string()), ("lease_token", token)]).await
}

/// (state, leased_by) of an item.
async fn item_state(app: &TestApp, item_id: i64) -> (String, Option<i64>) {
    sqlx::query_as("select state, leased_by from items where id = $1")
        .bind(item_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// (id, kind, actor_id) of each decision on an item, oldest first.
async fn decisions(app: &TestApp, item_id: i64) -> Vec<(i64, String, Option<i64>)> {
    sqlx::query_as("select id, kind, actor_id from decisions where item_id = $1 order by id")
        .bind(item_id)
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

fn kinds(decisions: &[(i64, String, Option<i64>)]) -> Vec<&str> {
    decisions.iter().map(|(_, kind, _)| kind.as_str()).collect()
}

/// The item as the REST API shows it.
async fn rest_item(app: &TestApp, key: &str, item_id: i64) -> Value {
    let url = app.url(&format!("/api/v1/items/{item_id}"));
    let response = app.client.get(url).bearer_auth(key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_as::<_, (i64,)>(sql).fetch_one(app.db.pool()).await.unwrap().0
}

/// Items leased to a user right now.
async fn held_by(app: &TestApp, user_id: i64) -> Vec<i64> {
    sqlx::query_as::<_, (i64,)>("select id from items where state = 'claimed' and leased_by = $1 order by id")
        .bind(user_id)
        .fetch_all(app.db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|(id,)| id)
        .collect()
}

fn message(body: &Value) -> String {
    body["message"].as_str().unwrap_or_default().to_lowercase()
}

async fn app_with(backend: Backend, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    spawn_app_with(backend, configure).await
}

/// Keeps the lease and escalation sweepers out of the way (an hour apart): the tests that use it
/// run them by hand, as of the time they choose.
fn without_sweepers(s: &mut ServeArgs) {
    s.lease_sweep_ms = 3_600_000;
    s.escalation_sweep_ms = 3_600_000;
}
