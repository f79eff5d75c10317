//! Exporting decided items over HTTP: JSON lines and CSV (formulas neutralised), the range, the
//! key's scope, and the workflow page's download for a signed-in admin or lead.

use crate::fixtures::{Person, SLUG, invoice, person, submit_all, workflow};
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use serde_json::{Value, json};

on_both_backends!(
    decided_items_export_as_json_lines_and_csv,
    the_export_checks_its_key_its_format_and_its_range,
    the_workflow_page_downloads_it_for_its_leads,
);

async fn call(app: &TestApp, client: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app.call_with(client, endpoint, form).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The reviewer and the lead of [`setup`]'s workflow.
struct People {
    rita: Person,
    lee: Person,
}

/// Two auto-approved items, three reviewed by rita (approved; rejected `blurry` with a note that
/// looks like a formula; corrected to a total of 99) and one still waiting.
async fn setup(backend: Backend) -> (TestApp, String, People) {
    let app = spawn_app(backend).await;
    let rita = person(&app, "rita@example.com", Role::Reviewer).await;
    let lee = person(&app, "lee@example.com", Role::Lead).await;
    let created = workflow().members(&[&rita, &lee]).with("reason_codes", json!(["blurry"])).create(&app).await;
    let items: Vec<Value> = ["auto-0", "auto-1"]
        .iter()
        .map(|id| invoice(id, 0.95))
        .chain(["r-approve", "r-reject", "r-correct", "waiting"].iter().map(|id| invoice(id, 0.5)))
        .collect();
    submit_all(&app, &created.key, SLUG, &items).await;
    // The queue hands items out in its own order: each is decided as its id says.
    for _ in 0..3 {
        let (_, item_id) = call(&app, &rita.client, "review/start", &[("slug", SLUG)]).await;
        let item_id = item_id.as_i64().unwrap().to_string();
        let (_, item) = call(&app, &rita.client, "review/item", &[("slug", SLUG), ("item_id", &item_id)]).await;
        let token = item["lease_token"].as_str().unwrap().to_owned();
        let verdict = match item["external_id"].as_str().unwrap() {
            "r-reject" => "reject",
            "r-correct" => "correct",
            "r-approve" => "approve",
            other => panic!("{other} should not be waiting first"),
        };
        let mut form = vec![("item_id", item_id.as_str()), ("lease_token", token.as_str())];
        match verdict {
            "reject" => form.extend([("reason_code", "blurry"), ("note", "=HYPERLINK(\"http://x\")")]),
            "correct" => form.push(("fields[/fields/total]", "99")),
            _ => {}
        }
        let (status, body) = call(&app, &rita.client, &format!("review/{verdict}"), &form).await;
        assert_eq!(status, 200, "{verdict}: {body}");
    }
    let key = gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "exporter", &[SLUG.into()], true)
        .await
        .unwrap()
        .token;
    (app, key, People { rita, lee })
}

async fn export(app: &TestApp, key: &str, query: &str) -> reqwest::Response {
    app.client.get(app.url(&format!("/api/v1/workflows/{SLUG}/export{query}"))).bearer_auth(key).send().await.unwrap()
}

async fn decided_items_export_as_json_lines_and_csv(backend: Backend) {
    let (app, key, _) = setup(backend).await;
    let response = export(&app, &key, "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("invoices-decisions.jsonl"));
    let text = response.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut ids: Vec<&str> = lines.iter().map(|l| l["external_id"].as_str().unwrap()).collect();
    let order: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in the order they were stored: {order:?}");
    ids.sort_unstable();
    assert_eq!(ids, ["auto-0", "auto-1", "r-approve", "r-correct", "r-reject"], "decided items only");
    let by = |id: &str| lines.iter().find(|l| l["external_id"] == id).unwrap();
    assert_eq!(
        (by("auto-0")["outcome"].as_str(), by("auto-0")["decided_by"].as_str()),
        (Some("auto_approved"), Some("system"))
    );
    assert_eq!(by("r-reject")["outcome"], "rejected");
    assert_eq!(by("r-reject")["reason_code"], "blurry");
    assert_eq!(by("r-reject")["decided_by"], "rita@example.com");
    assert_eq!(by("r-correct")["outcome"], "corrected");
    assert_eq!(by("r-correct")["final_output"]["fields"]["total"], 99.0, "the corrected output");
    assert_eq!(by("r-correct")["prediction"]["fields"]["total"], 120.5, "beside the model's");
    assert_eq!(by("r-approve")["payload"]["invoice_number"], "INV-r-approve");
    assert_eq!(by("r-approve")["model_version"], "v3");

    let response = export(&app, &key, "?format=csv").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = response.text().await.unwrap();
    let rows: Vec<&str> = csv.split("\r\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len(), 1 + 5, "a header and five items");
    assert_eq!(rows[0], gatehouse::items::export::CSV_COLUMNS.join(","));
    let rejected = rows.iter().find(|r| r.contains("r-reject")).unwrap();
    assert!(rejected.contains(r#""'=HYPERLINK(""http://x"")""#), "the formula is neutralised: {rejected}");
    assert!(!rejected.contains(",=HYPERLINK"), "{rejected}");
    assert!(rejected.contains(",blurry,"), "{rejected}");
}

async fn the_export_checks_its_key_its_format_and_its_range(backend: Backend) {
    let (app, key, _) = setup(backend).await;
    let ordinary =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "plain", &[SLUG.into()], false).await.unwrap().token;
    assert_eq!(export(&app, &ordinary, "").await.status(), 403, "reviewers' names and notes: admin keys only");
    let unauthenticated = app.client.get(app.url(&format!("/api/v1/workflows/{SLUG}/export"))).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    for (query, field) in [
        ("?format=xlsx", "format"),
        ("?from=soon", "from"),
        ("?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
    ] {
        let response = export(&app, &key, query).await;
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["details"]["path"], field, "{query}: {body}");
    }
    let text = export(&app, &key, "?to=2000-01-01T00:00:00Z").await.text().await.unwrap();
    assert_eq!(text, "", "nothing arrived before 2000");
    let text = export(&app, &key, "?from=2000-01-01").await.text().await.unwrap();
    assert_eq!(text.lines().count(), 5, "a day is its midnight");
}

async fn the_workflow_page_downloads_it_for_its_leads(backend: Backend) {
    let (app, _, people) = setup(backend).await;
    let path = app.url(&format!("/settings/workflows/{SLUG}/export?format=csv"));
    let response = people.lee.client.get(&path).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("invoices-decisions.csv"));
    assert_eq!(response.text().await.unwrap().split("\r\n").filter(|r| !r.is_empty()).count(), 6);
    assert_eq!(people.rita.client.get(&path).send().await.unwrap().status(), 403, "reviewers do not export");
    let outsider = person(&app, "olga@example.com", Role::Lead).await;
    assert_eq!(outsider.client.get(&path).send().await.unwrap().status(), 403, "nor a lead of another workflow");
    assert_eq!(crate::helpers::client().get(&path).send().await.unwrap().status(), 401);
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    let bad = admin.client.get(app.url(&format!("/settings/workflows/{SLUG}/export?format=xml"))).send().await.unwrap();
    assert_eq!(bad.status(), 422);
    let missing = admin.client.get(app.url("/settings/workflows/nope/export")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}
