//! The audit log over HTTP: the admin's page function and `GET /api/v1/audit`, their filters,
//! cursor pages, the key's scope, refusals, and that nothing can change the log.

use crate::fixtures::{SLUG, person, workflow};
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use serde_json::{Value, json};

on_both_backends!(
    admins_read_the_whole_log_filtered,
    an_admin_key_reads_its_workflows_events_a_page_at_a_time,
    the_log_cannot_be_changed_and_bad_filters_are_refused,
);

async fn call(app: &TestApp, client: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app.call_with(client, endpoint, form).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Two workflows (invoices changed three times after it was created), a key for each, and an
/// admin key for invoices; then an admin and a lead sign in (two users created).
async fn setup(backend: Backend) -> (TestApp, String) {
    let app = spawn_app(backend).await;
    let created = workflow();
    let mut spec = created.spec();
    created.create(&app).await;
    workflow().with("slug", json!("receipts")).with("name", json!("Receipts")).create(&app).await;
    for rate in [0.1, 0.2, 0.3] {
        spec.audit_rate = rate;
        gatehouse::workflows::server::apply(&app.db, &Actor::Cli, spec.clone(), "more audit").await.unwrap();
    }
    let key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "auditor", &[SLUG.into()], true).await.unwrap().token;
    (app, key)
}

fn actions(page: &Value) -> Vec<String> {
    page["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}

async fn admins_read_the_whole_log_filtered(backend: Backend) {
    let (app, _) = setup(backend).await;
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    let lead = person(&app, "lee@example.com", Role::Lead).await;
    let (status, view) = call(&app, &admin.client, "audit/list", &[]).await;
    assert_eq!(status, 200, "{view}");
    let page = &view["page"];
    assert_eq!(
        actions(page),
        [
            "user.create",
            "user.create",
            "api_key.create",
            "workflow.update",
            "workflow.update",
            "workflow.update",
            "api_key.create",
            "workflow.create",
            "api_key.create",
            "workflow.create",
        ],
        "everything, newest first"
    );
    assert!(page["next_cursor"].is_null());
    let newest = &page["events"][0];
    assert_eq!((newest["actor"].as_str(), newest["subject"].as_str()), (Some("cli"), Some("lee@example.com")));
    assert!(newest["workflow"].is_null(), "a user concerns no workflow");
    let update = &page["events"][3];
    assert_eq!((update["workflow"].as_str(), update["detail"]["version"].as_i64()), (Some(SLUG), Some(4)));
    assert_eq!(update["detail"]["reason"], "more audit");
    assert_eq!(view["workflows"], json!([["invoices", "Invoices"], ["receipts", "Receipts"]]));

    let (_, only) = call(&app, &admin.client, "audit/list", &[("workflow", "receipts")]).await;
    assert_eq!(actions(&only["page"]), ["workflow.create"]);
    let (_, only) = call(&app, &admin.client, "audit/list", &[("action", "workflow.update"), ("workflow", SLUG)]).await;
    assert_eq!(actions(&only["page"]).len(), 3);
    let (_, only) = call(&app, &admin.client, "audit/list", &[("actor", "cli"), ("action", "user.create")]).await;
    assert_eq!(actions(&only["page"]).len(), 2);
    let (_, none) = call(&app, &admin.client, "audit/list", &[("actor", "nobody@example.com")]).await;
    assert_eq!(actions(&none["page"]).len(), 0);
    let (_, none) = call(&app, &admin.client, "audit/list", &[("workflow", "no-such-workflow")]).await;
    assert_eq!(actions(&none["page"]).len(), 0, "an unknown workflow matches nothing");
    // Days as the page's date fields give them: before 2000 there is nothing; from then, all.
    let (_, none) = call(&app, &admin.client, "audit/list", &[("to", "2000-01-01")]).await;
    assert_eq!(actions(&none["page"]).len(), 0);
    let (_, all) = call(&app, &admin.client, "audit/list", &[("from", "2000-01-01")]).await;
    assert_eq!(actions(&all["page"]).len(), 10);

    let (status, _) = call(&app, &lead.client, "audit/list", &[]).await;
    assert_eq!(status, 403, "leads do not read the audit log");
}

async fn audit(app: &TestApp, key: &str, query: &str) -> (u16, Value) {
    let response = app.client.get(app.url(&format!("/api/v1/audit{query}"))).bearer_auth(key).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn an_admin_key_reads_its_workflows_events_a_page_at_a_time(backend: Backend) {
    let (app, key) = setup(backend).await;
    let (status, first) = audit(&app, &key, "?limit=2").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(actions(&first), ["workflow.update", "workflow.update"]);
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, second) = audit(&app, &key, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(actions(&second), ["workflow.update", "workflow.create"], "only the key's workflow's events");
    assert!(second["next_cursor"].is_null(), "{second}");
    assert!(second["events"].as_array().unwrap().iter().all(|e| e["workflow"] == SLUG));
    let (_, other) = audit(&app, &key, "?workflow=receipts").await;
    assert_eq!(actions(&other).len(), 0, "another workflow's events are not the key's");
    let (_, dated) = audit(&app, &key, "?from=2000-01-01T00:00:00Z&action=workflow.create").await;
    assert_eq!(actions(&dated), ["workflow.create"]);
}

async fn the_log_cannot_be_changed_and_bad_filters_are_refused(backend: Backend) {
    let (app, key) = setup(backend).await;
    let ordinary =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "plain", &[SLUG.into()], false).await.unwrap().token;
    let (status, body) = audit(&app, &ordinary, "").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("key_not_admin")), "{body}");
    let response = app.client.get(app.url("/api/v1/audit")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?cursor=abc", "cursor"),
        ("?from=today", "from"),
        ("?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
        ("?actor=a%00b", "actor"),
        ("?action=x%07", "action"),
        ("?workflow=%00", "workflow"),
    ] {
        let (status, body) = audit(&app, &key, query).await;
        assert_eq!((status, body["error"]["details"]["path"].as_str()), (422, Some(field)), "{query}: {body}");
    }
    let (status, _) = audit(&app, &key, "?who=me").await;
    assert_eq!(status, 400, "an unknown parameter");
    let before = app.audit_actions().await;
    for method in [reqwest::Method::POST, reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::PATCH] {
        let response =
            app.client.request(method.clone(), app.url("/api/v1/audit")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(response.status(), 405, "{method}");
    }
    assert_eq!(app.audit_actions().await, before, "nothing changed the log");
}
