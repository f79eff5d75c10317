//! Control characters (NUL above all, which PostgreSQL cannot store in text) are refused at the
//! edge on both backends alike: 422 naming the field, nothing changed. (Single items, and item
//! data kept as sent: `ingest::control_characters_in_text_fields_are_refused_alike_on_both_backends`.)

use crate::fixtures::{SLUG, invoice, person, submit, workflow};
use crate::helpers::{Backend, PASSWORD, TestApp, error_kind, spawn_app};
use crate::on_both_backends;
use gatehouse::domain::Role;
use serde_json::{Value, json};

on_both_backends!(
    a_batch_refuses_control_characters_by_item,
    addresses_with_control_characters_name_nothing,
    every_text_field_of_the_server_functions_refuses_control_characters,
    one_line_fields_refuse_line_breaks_and_notes_keep_them,
);

/// How many rows each table holds: what a refused request must leave as it was.
async fn row_counts(app: &TestApp) -> Vec<(String, i64)> {
    let mut counts = Vec::new();
    for table in [
        "users",
        "workflows",
        "workflow_members",
        "workflow_settings_history",
        "api_keys",
        "webhook_endpoints",
        "items",
        "decisions",
        "audit_events",
        "login_throttle",
    ] {
        let (n,): (i64,) =
            sqlx::query_as(&format!("select count(*) from {table}")).fetch_one(app.db.pool()).await.unwrap();
        counts.push((table.to_owned(), n));
    }
    counts
}

/// A batch refuses an item with a control character by its index, and stores none of the batch.
async fn a_batch_refuses_control_characters_by_item(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = workflow().create(&app).await;
    let mut bad = invoice("batch-bad", 0.5);
    bad["model_version"] = json!("v\u{1b}[2J");
    let response = app
        .client
        .post(app.url(&format!("/api/v1/workflows/{SLUG}/items:batch")))
        .bearer_auth(&created.key)
        .json(&json!({ "items": [invoice("batch-good", 0.5), bad] }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("/model_version"), "{body}");
    let (stored,): (i64,) = sqlx::query_as("select count(*) from items").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(stored, 0, "a batch is all or nothing");
}

async fn addresses_with_control_characters_name_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = workflow().create(&app).await;
    for path in [
        format!("/api/v1/workflows/{SLUG}/items/by-external-id/a%00b"),
        "/api/v1/workflows/inv%00oices/items/by-external-id/x".to_owned(),
        "/api/v1/items/1%0a".to_owned(),
    ] {
        let response = app.client.get(app.url(&path)).bearer_auth(&created.key).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{path}: {body}");
    }
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let page = admin.get(app.url("/workflows/inv%00oices")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 404);
    let call = admin.post(app.url("/api/review/queue%00")).form(&[("slug", SLUG)]).send().await.unwrap();
    assert_eq!(call.status(), 404);
}

/// Every text argument of every server function that takes one, with a value the function would
/// take; each in turn gets a NUL (and then an escape character), and must be refused by name.
fn server_function_forms(item: &str) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let s = |v: &str| v.to_owned();
    vec![
        ("auth/login", vec![("email", s("admin@example.com")), ("password", s(PASSWORD)), ("next", s("/queues"))]),
        (
            "setup/first-admin",
            vec![
                ("setup_token", s("token")),
                ("name", s("Ada")),
                ("email", s("ada@example.com")),
                ("password", s(PASSWORD)),
                ("password_confirm", s(PASSWORD)),
            ],
        ),
        (
            "users/add",
            vec![
                ("email", s("new@example.com")),
                ("name", s("New")),
                ("role", s("reviewer")),
                ("password", s(PASSWORD)),
            ],
        ),
        ("users/set-role", vec![("user_id", s("1")), ("role", s("lead"))]),
        ("users/reset-password", vec![("user_id", s("1")), ("new_password", s("another long password"))]),
        (
            "account/change-password",
            vec![
                ("current_password", s(PASSWORD)),
                ("new_password", s("another long password")),
                ("new_password_confirm", s("another long password")),
            ],
        ),
        ("account/end-session", vec![("handle", s("abc"))]),
        ("api-keys/create", vec![("name", s("robot")), ("workflows", s(SLUG))]),
        ("workflows/detail", vec![("slug", s(SLUG))]),
        (
            "workflows/save",
            vec![
                ("mode", s("update")),
                ("slug", s(SLUG)),
                ("name", s("Invoices")),
                ("description", s("Line one\nline two")),
                ("owner", s("admin@example.com")),
                ("members", s("admin@example.com")),
                ("payload_schema", s("{}")),
                ("prediction_schema", s("{}")),
                ("labels", s("")),
                ("reason_codes", s("")),
                ("auto_approve_at", s("0.9")),
                ("escalate_below", s("0.2")),
                ("audit_rate", s("0")),
                ("rollout_share", s("1")),
                ("target_error_rate", s("0.02")),
                ("review_sla_minutes", s("60")),
                ("escalation_sla_minutes", s("60")),
                ("lease_minutes", s("10")),
                ("reason", s("a change")),
            ],
        ),
        ("webhooks/add", vec![("slug", s(SLUG)), ("url", s("https://hooks.example.com/x"))]),
        ("review/queue", vec![("slug", s(SLUG))]),
        ("review/start", vec![("slug", s(SLUG))]),
        ("review/item", vec![("slug", s(SLUG)), ("item_id", s(item))]),
        ("review/renew", vec![("item_id", s(item)), ("lease_token", s("00"))]),
        ("review/approve", vec![("item_id", s(item)), ("lease_token", s("00"))]),
        (
            "review/reject",
            vec![("item_id", s(item)), ("lease_token", s("00")), ("reason_code", s("wrong")), ("note", s("a\nb"))],
        ),
        ("review/correct", vec![("item_id", s(item)), ("lease_token", s("00")), ("fields[/label]", s("receipt"))]),
        ("review/escalate", vec![("item_id", s(item)), ("lease_token", s("00")), ("note", s("unsure"))]),
        ("review/skip", vec![("item_id", s(item)), ("lease_token", s("00"))]),
        ("review/assign", vec![("item_id", s(item)), ("assignee", s("admin@example.com"))]),
    ]
}

async fn every_text_field_of_the_server_functions_refuses_control_characters(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, _) = app.signed_in("admin@example.com", Role::Admin).await;
    let created = workflow().with("members", json!(["admin@example.com"])).create(&app).await;
    let item: Value = submit(&app, &created.key, SLUG, &invoice("i-1", 0.5)).await.json().await.unwrap();
    let item = item["id"].to_string();
    let before = row_counts(&app).await;
    let mut checked = 0;
    for (endpoint, form) in server_function_forms(&item) {
        for (i, (field, _)) in form.iter().enumerate() {
            for bad in ["nul\u{0}inside", "escape\u{1b}[31m"] {
                let mut poisoned = form.clone();
                poisoned[i].1 = bad.to_owned();
                let pairs: Vec<(&str, &str)> = poisoned.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let (status, body) = error_kind(app.call_with(&admin, endpoint, &pairs).await).await;
                assert_eq!((status, body["field"].as_str()), (422, Some(*field)), "{endpoint} {field}: {body}");
                assert!(body["message"].as_str().unwrap().contains(field), "{body}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
    // The body is read as a form whatever its type claims, so it is checked as one too.
    let disguised = admin
        .post(app.url("/api/workflows/detail"))
        .header("content-type", "text/plain")
        .body("slug=inv%00oices")
        .send()
        .await
        .unwrap();
    let (status, body) = error_kind(disguised).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("slug")), "{body}");
    assert_eq!(row_counts(&app).await, before, "a refused call changes nothing");
    assert_eq!(app.me(&admin).await["email"], "admin@example.com", "and ends no session");
}

/// Names, codes and slugs are one line; notes and descriptions may span lines.
async fn one_line_fields_refuse_line_breaks_and_notes_keep_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = person(&app, "admin@example.com", Role::Admin).await;
    let created = workflow().members(&[&admin]).create(&app).await;
    let key = app.call_with(&admin.client, "api-keys/create", &[("name", "two\nlines"), ("workflows", SLUG)]).await;
    let (status, body) = error_kind(key).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("name")), "{body}");
    let user = app
        .call_with(
            &admin.client,
            "users/add",
            &[("email", "x@example.com"), ("name", "two\nlines"), ("role", "reviewer"), ("password", PASSWORD)],
        )
        .await;
    let (status, body) = error_kind(user).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("name")), "{body}");

    // The reason of a settings change is kept in the history, however the change is made.
    let spec = workflow().members(&[&admin]).spec();
    let applied =
        gatehouse::workflows::server::apply(&app.db, &gatehouse::storage::audit::Actor::Cli, spec, "why\u{0}").await;
    let Err(refused) = applied else { panic!("a reason with NUL was accepted") };
    assert_eq!(refused.field(), Some("reason"));

    // A reviewer's note keeps its lines; a free reason code (the workflow lists none) is one line.
    submit(&app, &created.key, SLUG, &invoice("i-1", 0.5)).await;
    let start = app.call_with(&admin.client, "review/start", &[("slug", SLUG)]).await;
    let item_id: Option<i64> = start.json().await.unwrap();
    let item_id = item_id.expect("an item to review").to_string();
    let leased: Value = app
        .call_with(&admin.client, "review/item", &[("slug", SLUG), ("item_id", item_id.as_str())])
        .await
        .json()
        .await
        .unwrap();
    let token = leased["lease_token"].as_str().expect("a lease token").to_owned();
    let reject = |code: &'static str| {
        let (item_id, token, client) = (item_id.clone(), token.clone(), admin.client.clone());
        let url = app.url("/api/review/reject");
        async move {
            client
                .post(url)
                .form(&[
                    ("item_id", item_id.as_str()),
                    ("lease_token", token.as_str()),
                    ("reason_code", code),
                    ("note", "first line\nsecond line"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let (status, body) = error_kind(reject("two\nlines").await).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("reason_code")), "{body}");
    assert_eq!(reject("wrong_total").await.status(), 200);
    let (note,): (String,) =
        sqlx::query_as("select note from decisions where kind = 'reject'").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(note, "first line\nsecond line");
}
