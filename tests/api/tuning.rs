//! Threshold tuning over HTTP: history import (line-numbered refusals, atomicity, idempotency,
//! key scope), the tuning report, and applying a threshold from the tuning page's server
//! functions (admin only, versioned with its evidence, the rollout widened step by step), and the
//! breaker; by topic, with the helpers they share here.

mod apply;
mod breaker;
mod evidence;
mod history;

use crate::fixtures::{SLUG, person, workflow};
use crate::helpers::{Backend, TestApp, spawn_app};
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use serde_json::{Value, json};

/// The workflow (auto-approving from 0.9, no audit) with an admin-scoped key and an ordinary one.
async fn setup(backend: Backend) -> (TestApp, String, String) {
    let app = spawn_app(backend).await;
    let created = workflow().with("reason_codes", json!(["blurry"])).create(&app).await;
    let admin_key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "tuner", &[SLUG.into()], true).await.unwrap().token;
    (app, admin_key, created.key)
}

/// Imports `body`; on a client of its own, as a refusal before the body is read closes the
/// connection.
async fn import(app: &TestApp, key: &str, body: String) -> (u16, Value) {
    let response = crate::helpers::client()
        .post(app.url(&format!("/api/v1/workflows/{SLUG}/history")))
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn tuning(app: &TestApp, key: &str, query: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/workflows/{SLUG}/tuning{query}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn line(id: &str, confidence: f64, verdict: Option<&str>, p: f64) -> String {
    json!({ "external_id": id, "confidence": confidence, "model_version": "v3", "verdict": verdict,
            "review_probability": p })
    .to_string()
}

/// 400 reviewed at 0.96 (none wrong), 300 at 0.85 (3 wrong), 300 at 0.5 (90 wrong), and
/// 1,000 unreviewed at 0.97 sampled at 1 in 2.
fn history() -> String {
    let mut lines = Vec::new();
    for i in 0..400 {
        lines.push(line(&format!("a{i}"), 0.96, Some("right"), 1.0));
    }
    for i in 0..300 {
        lines.push(line(&format!("b{i}"), 0.85, Some(if i < 3 { "wrong" } else { "right" }), 1.0));
    }
    for i in 0..300 {
        lines.push(line(&format!("c{i}"), 0.5, Some(if i < 90 { "wrong" } else { "right" }), 1.0));
    }
    lines.join("\n")
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_as::<_, (i64,)>(sql).fetch_one(app.db.pool()).await.unwrap().0
}

/// (volume, reviewed, wrong) of the evidence of model v3.
async fn evidence(app: &TestApp) -> (i64, i64, i64) {
    sqlx::query_as(
        "select cast(coalesce(sum(volume), 0) as bigint), cast(coalesce(sum(reviewed), 0) as bigint), \
         cast(coalesce(sum(wrong), 0) as bigint) from tuning_evidence where model_version = 'v3'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap()
}

/// Calls a server function as `client`; its status and answer (JSON or text).
async fn call(app: &TestApp, client: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app.call_with(client, endpoint, form).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Decides the next item `reviewer` is given: `approve`, or `reject` for a reason.
async fn decide_next(app: &TestApp, reviewer: &crate::fixtures::Person, verdict: &str) {
    let (_, item_id) = call(app, &reviewer.client, "review/start", &[("slug", SLUG)]).await;
    let item_id = item_id.as_i64().expect("an item to review").to_string();
    let (_, item) = call(app, &reviewer.client, "review/item", &[("slug", SLUG), ("item_id", &item_id)]).await;
    let token = item["lease_token"].as_str().unwrap().to_owned();
    let mut form = vec![("item_id", item_id.as_str()), ("lease_token", token.as_str())];
    if verdict == "reject" {
        form.extend([("reason_code", "blurry"), ("note", "unreadable")]);
    }
    let (status, body) = call(app, &reviewer.client, &format!("review/{verdict}"), &form).await;
    assert_eq!(status, 200, "{verdict}: {body}");
}

/// An ordinary key of the workflow, for submitting items.
async fn key_for_items(app: &TestApp) -> String {
    gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "items", &[SLUG.into()], false).await.unwrap().token
}
