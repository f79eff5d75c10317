//! Builders the HTTP tests share: a workflow with its API key, signed-in people, items and their
//! submission. Each test states only what it needs to differ.

use crate::helpers::TestApp;
use gatehouse::domain::Role;
use gatehouse::domain::workflow::WorkflowSpec;
use gatehouse::storage::audit::Actor;
use gatehouse::storage::db::Db;
use serde_json::{Value, json};

/// The slug of the workflow [`workflow`] builds unless told otherwise.
pub const SLUG: &str = "invoices";

/// A signed-in user and their browser.
pub struct Person {
    pub client: reqwest::Client,
    pub id: i64,
    pub email: String,
}

/// A new user with `role`, signed in with a client of their own.
pub async fn person(app: &TestApp, email: &str, role: Role) -> Person {
    let (client, id) = app.signed_in(email, role).await;
    Person { client, id, email: email.to_owned() }
}

/// A workflow to create: `invoices` ("Invoices"), auto-approved from 0.9, escalated below 0.2,
/// no audit sample, no contract; each test adds what it needs.
pub struct WorkflowFixture {
    spec: Value,
}

pub fn workflow() -> WorkflowFixture {
    WorkflowFixture {
        spec: json!({
            "slug": SLUG,
            "name": "Invoices",
            "auto_approve_at": 0.9,
            "escalate_below": 0.2,
            "audit_rate": 0.0,
        }),
    }
}

/// A created workflow and an API key scoped to it.
pub struct Created {
    pub id: i64,
    pub key: String,
}

impl WorkflowFixture {
    /// Sets one field of the spec (as in a `gatehouse workflow apply` file).
    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.spec[field] = value;
        self
    }

    /// The invoice contract: a payload with an invoice number and a total, a prediction with a
    /// label (invoice or receipt).
    pub fn invoice_contract(self) -> Self {
        self.with(
            "payload_schema",
            json!({
                "type": "object",
                "required": ["invoice_number", "total"],
                "properties": { "invoice_number": { "type": "string" }, "total": { "type": "number" } }
            }),
        )
        .with("prediction_schema", json!({ "type": "object", "required": ["label"] }))
        .with("labels", json!(["invoice", "receipt"]))
    }

    pub fn members(self, people: &[&Person]) -> Self {
        let emails: Vec<&str> = people.iter().map(|p| p.email.as_str()).collect();
        self.with("members", json!(emails))
    }

    pub fn spec(&self) -> WorkflowSpec {
        serde_json::from_value(self.spec.clone()).expect("a valid workflow spec")
    }

    /// Creates it (as `gatehouse workflow apply` would) with a key for it.
    pub async fn create(self, app: &TestApp) -> Created {
        self.create_in(&app.db).await
    }

    /// [`Self::create`] on a database without a running app.
    pub async fn create_in(self, db: &Db) -> Created {
        let spec = self.spec();
        let slug = spec.slug.to_string();
        let (workflow, _) = gatehouse::workflows::server::apply(db, &Actor::Cli, spec, "test").await.unwrap();
        let key = gatehouse::api_keys::server::create(db, &Actor::Cli, "test", &[slug], false).await.unwrap().token;
        Created { id: workflow.id, key }
    }
}

/// An invoice extraction as an automation submits it.
pub fn invoice(external_id: &str, confidence: f64) -> Value {
    json!({
        "external_id": external_id,
        "payload": { "invoice_number": format!("INV-{external_id}"), "total": 120.5 },
        "prediction": { "label": "invoice", "fields": { "total": 120.5 } },
        "confidence": confidence,
        "model_version": "v3",
    })
}

/// Submits one item to the workflow `slug` with the API key.
pub async fn submit(app: &TestApp, key: &str, slug: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/workflows/{slug}/items")))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Submits `items` to the workflow `slug` in batches, each of which must be stored; the stored
/// items, in order.
pub async fn submit_all(app: &TestApp, key: &str, slug: &str, items: &[Value]) -> Vec<Value> {
    let mut stored = Vec::with_capacity(items.len());
    for chunk in items.chunks(gatehouse::items::ingest::MAX_BATCH) {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/workflows/{slug}/items:batch")))
            .bearer_auth(key)
            .json(&json!({ "items": chunk }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        stored.extend(body["items"].as_array().unwrap().iter().map(|entry| entry["item"].clone()));
    }
    stored
}
