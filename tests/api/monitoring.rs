//! Monitoring over HTTP: the stats endpoint and the dashboard's server function against a fixture
//! whose every number is worked out by hand below, before and after the sweepers breach SLAs.

use crate::fixtures::{Person, SLUG, invoice, person, submit_all, workflow};
use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_both_backends;
use gatehouse::domain::Role;
use gatehouse::domain::routing::uniform;
use gatehouse::storage::audit::Actor;
use gatehouse::storage::clock::{now_ms, rfc3339};
use serde_json::{Value, json};

on_both_backends!(
    the_stats_count_routes_overrides_reviewers_and_breaches,
    the_stats_endpoint_checks_its_key_and_its_range,
    the_dashboard_is_for_the_leads_of_the_workflow,
);

struct Fixture {
    app: TestApp,
    admin_key: String,
    rita: Person,
    lee: Person,
}

async fn call(app: &TestApp, client: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app.call_with(client, endpoint, form).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// How a reviewer decides an item: by its external id, the verdict and the reason code.
type Plan = fn(&str) -> (&'static str, Option<&'static str>);

/// Claims the next item and decides it as `plan` says for its external id; the item's id.
async fn decide(app: &TestApp, who: &Person, plan: Plan) -> i64 {
    let (status, item_id) = call(app, &who.client, "review/start", &[("slug", SLUG)]).await;
    assert_eq!(status, 200, "{item_id}");
    let item_id = item_id.as_i64().expect("an item to claim").to_string();
    let (_, item) = call(app, &who.client, "review/item", &[("slug", SLUG), ("item_id", &item_id)]).await;
    let token = item["lease_token"].as_str().unwrap().to_owned();
    let (verdict, reason_code) = plan(item["external_id"].as_str().unwrap());
    let mut form = vec![("item_id", item_id.as_str()), ("lease_token", token.as_str())];
    if verdict == "correct" {
        form.push(("fields[/fields/total]", "99"));
    }
    if let Some(code) = reason_code {
        form.extend([("reason_code", code), ("note", "seen")]);
    }
    let (status, body) = call(app, &who.client, &format!("review/{verdict}"), &form).await;
    assert_eq!(status, 200, "{verdict}: {body}");
    item_id.parse().unwrap()
}

/// rita's verdicts: the first three audited items approved, the last rejected; of the reviewed
/// ones two approved, one corrected.
fn ritas(external_id: &str) -> (&'static str, Option<&'static str>) {
    match external_id {
        "low-2" => ("correct", None),
        id if id.starts_with("low-") => ("approve", None),
        id if id == ids("audit", 4, true)[3] => ("reject", Some("blurry")),
        _ => ("approve", None),
    }
}

/// sam's verdicts: v4's `new-2` and the reviewed `low-3` rejected, the rest approved.
fn sams(external_id: &str) -> (&'static str, Option<&'static str>) {
    match external_id {
        "new-2" => ("reject", Some("blurry")),
        "low-3" => ("reject", Some("wrong_total")),
        _ => ("approve", None),
    }
}

/// `n` external ids the audit sample takes (`audited`) or leaves (at audit rate 1/2).
fn ids(prefix: &str, n: usize, audited: bool) -> Vec<String> {
    (0..).map(|i| format!("{prefix}-{i}")).filter(|id| (uniform(SLUG, id, "audit") < 0.5) == audited).take(n).collect()
}

fn versioned(id: &str, confidence: f64, version: &str) -> Value {
    let mut item = invoice(id, confidence);
    item["model_version"] = json!(version);
    item
}

/// The workflow (auto-approve from 0.9, audit 1 in 2, escalate below 0.2, SLAs of a minute) and:
///
/// - 4 audited items (v3): rita approves 3 and rejects 1 (`blurry`);
/// - 5 reviewed items (v3): rita approves 2 and corrects 1; sam rejects 1 (`wrong_total`) and
///   approves 1;
/// - 3 reviewed items (v4): sam approves 2 and rejects 1 (`blurry`); his last decision he undoes
///   and makes again;
/// - 6 auto-approved items (v3) and 2 escalated ones (v3, confidence 0.1).
///
/// So: 20 items, 6 automated (30 %); reviewed items overridden 3 of 8 (correct, wrong_total,
/// blurry on v4), audited 1 of 4; rita 5 approvals, 1 rejection, 1 correction; sam 3 approvals
/// and 2 rejections (the undone one not counted); rejections blurry 2, wrong_total 1.
async fn fixture(backend: Backend) -> Fixture {
    let app = spawn_app_with(backend, |s| {
        s.lease_sweep_ms = 3_600_000;
        s.escalation_sweep_ms = 3_600_000;
    })
    .await;
    let rita = person(&app, "rita@example.com", Role::Reviewer).await;
    let sam = person(&app, "sam@example.com", Role::Reviewer).await;
    let lee = person(&app, "lee@example.com", Role::Lead).await;
    let created = workflow()
        .members(&[&rita, &sam, &lee])
        .with("audit_rate", json!(0.5))
        .with("reason_codes", json!(["blurry", "wrong_total"]))
        .with("review_sla_secs", json!(60))
        .with("escalation_sla_secs", json!(60))
        .create(&app)
        .await;
    let admin_key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "watcher", &[SLUG.into()], true).await.unwrap().token;
    // Each decision leases its reviewer the next item, so each reviewer works a batch of their own
    // to its end: rita the first, sam the second.
    let mut first: Vec<Value> = ids("audit", 4, true).iter().map(|id| invoice(id, 0.95)).collect();
    first.extend((0..3).map(|i| invoice(&format!("low-{i}"), 0.5)));
    let mut second: Vec<Value> = (0..3).map(|i| versioned(&format!("new-{i}"), 0.5, "v4")).collect();
    second.extend((3..5).map(|i| invoice(&format!("low-{i}"), 0.5)));
    second.extend(ids("auto", 6, false).iter().map(|id| invoice(id, 0.95)));
    second.extend((0..2).map(|i| invoice(&format!("unsure-{i}"), 0.1)));
    let stored = submit_all(&app, &created.key, SLUG, &first).await;
    let routes: Vec<&str> = stored.iter().map(|i| i["route"]["reason"].as_str().unwrap()).collect();
    assert_eq!(routes.iter().filter(|r| **r == "audit").count(), 4, "{routes:?}");
    for _ in 0..7 {
        decide(&app, &rita, ritas).await;
    }
    let stored = submit_all(&app, &created.key, SLUG, &second).await;
    let routes: Vec<&str> = stored.iter().map(|i| i["route"]["reason"].as_str().unwrap()).collect();
    assert_eq!(routes.iter().filter(|r| **r == "above_threshold").count(), 6, "{routes:?}");
    let mut last_item = 0;
    for _ in 0..5 {
        last_item = decide(&app, &sam, sams).await;
    }
    // sam takes back his last decision and makes it again: the undone one counts as nothing.
    let (last,): (i64,) = sqlx::query_as("select max(id) from decisions where item_id = $1")
        .bind(last_item)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let (status, body) = call(&app, &sam.client, "review/undo", &[("decision_id", &last.to_string())]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(decide(&app, &sam, sams).await, last_item, "the undone item is sam's again");
    // The sweeper opens the escalations of the two items escalated at ingest.
    gatehouse::escalations::server::keep_escalations(&app.db, now_ms()).await.unwrap();
    Fixture { app, admin_key, rita, lee }
}

async fn stats(app: &TestApp, key: &str, query: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/workflows/{SLUG}/stats{query}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn close(value: &Value, expected: f64) {
    let v = value.as_f64().unwrap_or_else(|| panic!("{value} is not a number"));
    assert!((v - expected).abs() < 5e-5, "{v} is not {expected}");
}

/// The range from an hour ago through tomorrow, as the endpoint's query.
fn around_now() -> String {
    let now = now_ms();
    format!("?from={}&to={}", rfc3339(now - 3_600_000), rfc3339(now + 86_400_000))
}

async fn the_stats_count_routes_overrides_reviewers_and_breaches(backend: Backend) {
    let Fixture { app, admin_key, .. } = fixture(backend).await;
    let (status, s) = stats(&app, &admin_key, &around_now()).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        s["volume"],
        json!({ "total": 20, "auto_approved": 6, "auto_rejected": 0, "reviewed": 8, "audit": 4, "rollout": 0,
                "escalated": 2 })
    );
    close(&s["automation_rate"], 0.3);
    let reviewed = &s["overrides"]["reviewed"];
    assert_eq!((reviewed["verdicts"].as_u64(), reviewed["overridden"].as_u64()), (Some(8), Some(3)));
    // Clopper-Pearson, 95 %, for 3 of 8 and for 1 of 4.
    close(&reviewed["rate"], 0.375);
    close(&reviewed["low"], 0.085_233);
    close(&reviewed["high"], 0.755_136);
    let audit = &s["overrides"]["audit"];
    assert_eq!((audit["verdicts"].as_u64(), audit["overridden"].as_u64()), (Some(4), Some(1)));
    close(&audit["low"], 1.0 - 0.975f64.powf(0.25));
    close(&audit["high"], 0.805_880);
    assert_eq!(s["overrides"]["escalated"]["verdicts"], 0);
    assert_eq!(
        s["reviewers"],
        json!([
            { "reviewer": "rita@example.com", "approve": 5, "reject": 1, "correct": 1, "escalate": 0, "total": 7 },
            { "reviewer": "sam@example.com", "approve": 3, "reject": 2, "correct": 0, "escalate": 0, "total": 5 },
        ])
    );
    assert_eq!(
        s["reject_reasons"],
        json!([{ "reason": "blurry", "count": 2 }, { "reason": "wrong_total", "count": 1 }])
    );
    assert_eq!(s["escalations_by_reason"], json!([{ "reason": "low_confidence", "count": 2 }]));
    assert_eq!(s["breaches"], json!({ "review_sla": 0, "escalation_sla": 0, "flagged": 0 }));
    assert_eq!(s["backlog"]["waiting"], 0);
    assert_eq!(
        (s["backlog"]["escalations_level_1"].as_i64(), s["backlog"]["escalations_level_2"].as_i64()),
        (Some(2), Some(0))
    );
    // The series (by hour over a range of 25 hours) adds up to the totals.
    assert_eq!(s["bucket"], "hour");
    let series = s["series"].as_array().unwrap();
    assert_eq!(series.len(), 26, "from the hour an hour ago through the hour of tomorrow's now");
    let sum = |f: &dyn Fn(&Value) -> u64| series.iter().map(f).sum::<u64>();
    assert_eq!(sum(&|p| p["volume"]["total"].as_u64().unwrap()), 20);
    assert_eq!(sum(&|p| p["verdicts"].as_u64().unwrap()), 12, "reviewed and audited verdicts");
    assert_eq!(sum(&|p| p["overridden"].as_u64().unwrap()), 4);
    assert_eq!(sum(&|p| p["rejects"]["blurry"].as_u64().unwrap_or(0)), 2);
    // Side by side: v3 has 17 items, 6 of them automated; v4's 3 were all reviewed, 1 overridden.
    let versions = s["model_versions"].as_array().unwrap();
    let version = |name: &str| versions.iter().find(|v| v["model_version"] == name).unwrap_or_else(|| panic!("{name}"));
    assert_eq!(versions.len(), 2);
    assert_eq!(version("v3")["volume"]["total"], 17);
    close(&version("v3")["automation_rate"], 6.0 / 17.0);
    assert_eq!(version("v3")["overrides"]["reviewed"]["overridden"], 2);
    assert_eq!(version("v3")["overrides"]["reviewed"]["verdicts"], 5);
    assert_eq!(version("v4")["volume"]["reviewed"], 3);
    assert_eq!(version("v4")["overrides"]["reviewed"]["overridden"], 1);
    close(&version("v4")["automation_rate"], 0.0);

    // One model version only: its items and verdicts, the comparison still all of them.
    let (status, v4) = stats(&app, &admin_key, &format!("{}&model_version=v4", around_now())).await;
    assert_eq!(status, 200, "{v4}");
    assert_eq!(v4["model_version"], "v4");
    assert_eq!(v4["volume"]["total"], 3);
    assert_eq!(v4["overrides"]["reviewed"]["verdicts"], 3);
    assert_eq!(v4["overrides"]["audit"]["verdicts"], 0);
    assert!(v4["overrides"]["audit"]["rate"].is_null());
    assert_eq!(v4["reject_reasons"], json!([{ "reason": "blurry", "count": 1 }]));
    assert_eq!(v4["model_versions"].as_array().unwrap().len(), 2);

    // A range in the past holds nothing.
    let (status, past) = stats(&app, &admin_key, "?from=2020-01-01T00:00:00Z&to=2020-01-08T00:00:00Z").await;
    assert_eq!(status, 200, "{past}");
    assert_eq!((past["volume"]["total"].as_u64(), past["bucket"].as_str()), (Some(0), Some("day")));
    assert_eq!(past["series"].as_array().unwrap().len(), 7);
    assert!(past["automation_rate"].is_null());

    // One more item waits; past its review SLA it is escalated (dated when it was due), and past
    // the escalation SLA all three escalations climb to the admins and are then flagged.
    submit_all(&app, &gatehouse_key(&app).await, SLUG, &[invoice("late", 0.5)]).await;
    let (_, waiting) = stats(&app, &admin_key, &around_now()).await;
    assert_eq!(waiting["backlog"]["waiting"], 1);
    assert!(waiting["backlog"]["oldest_age_secs"].as_i64().unwrap() < 60);
    let later = now_ms() + 61_000;
    assert_eq!(gatehouse::escalations::server::escalate_overdue_reviews(&app.db, later).await.unwrap(), 1);
    gatehouse::escalations::server::keep_escalations(&app.db, later + 10 * 60_000).await.unwrap();
    let (_, s) = stats(&app, &admin_key, &around_now()).await;
    assert_eq!(s["breaches"], json!({ "review_sla": 1, "escalation_sla": 3, "flagged": 3 }), "{s}");
    assert_eq!(
        s["escalations_by_reason"],
        json!([{ "reason": "low_confidence", "count": 2 }, { "reason": "review_sla", "count": 1 }])
    );
    assert_eq!(s["backlog"]["waiting"], 0);
    assert_eq!(
        (s["backlog"]["escalations_level_1"].as_i64(), s["backlog"]["escalations_level_2"].as_i64()),
        (Some(0), Some(3))
    );
}

/// A fresh ordinary key of the workflow.
async fn gatehouse_key(app: &TestApp) -> String {
    gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "submitter", &[SLUG.into()], false).await.unwrap().token
}

async fn the_stats_endpoint_checks_its_key_and_its_range(backend: Backend) {
    let Fixture { app, admin_key, .. } = fixture(backend).await;
    let ordinary = gatehouse_key(&app).await;
    let (status, body) = stats(&app, &ordinary, "").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("key_not_admin")), "{body}");
    let response = app.client.get(app.url(&format!("/api/v1/workflows/{SLUG}/stats"))).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let (status, _) = stats(&app, &admin_key, "").await;
    assert_eq!(status, 200, "the last 7 days by default");
    let other = workflow().with("slug", json!("receipts")).with("name", json!("Receipts")).create(&app).await;
    let response =
        app.client.get(app.url("/api/v1/workflows/receipts/stats")).bearer_auth(&admin_key).send().await.unwrap();
    assert_eq!(response.status(), 403, "a key scoped to another workflow");
    drop(other);
    for (query, field) in [
        ("?from=yesterday", "from"),
        ("?to=2026-13-01T00:00:00Z", "to"),
        ("?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "from"),
        ("?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("?model_version=v%00", "model_version"),
    ] {
        let (status, body) = stats(&app, &admin_key, query).await;
        assert_eq!((status, body["error"]["details"]["path"].as_str()), (422, Some(field)), "{query}: {body}");
    }
    let (status, _) = stats(&app, &admin_key, "?since=2026-01-01T00:00:00Z").await;
    assert_eq!(status, 400, "an unknown parameter");
}

async fn the_dashboard_is_for_the_leads_of_the_workflow(backend: Backend) {
    let Fixture { app, rita, lee, .. } = fixture(backend).await;
    let (status, page) = call(&app, &lee.client, "monitoring/dashboard", &[("range", "24h")]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["slug"], SLUG, "the first workflow the lead leads");
    assert_eq!(page["workflows"], json!([[SLUG, "Invoices"]]));
    let tile = |label: &str| {
        page["tiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["label"] == label)
            .cloned()
            .unwrap_or_else(|| panic!("{label}"))
    };
    assert_eq!(tile("Items")["value"], "20");
    assert_eq!(tile("Automation rate")["value"], "30 %");
    assert_eq!(tile("Overridden, reviewed items")["value"], "38 %");
    assert_eq!(tile("Overridden, audit sample")["value"], "25 %");
    assert!(tile("Overridden, audit sample")["note"].as_str().unwrap().contains("1 of 4 verdicts"));
    assert_eq!(tile("Open escalations")["value"], "2");
    let charts: Vec<&str> = page["charts"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(charts, ["volume", "overrides", "rejects", "versions"]);
    for chart in page["charts"].as_array().unwrap() {
        let svg = chart["svg"].as_str().unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<title") && svg.contains("<desc"), "{svg}");
    }
    let volume = &page["charts"][0]["table"];
    assert_eq!(volume["rows"].as_array().unwrap().len(), 24, "an hour a row");
    let versions: Vec<&str> =
        page["model_versions"].as_array().unwrap().iter().map(|v| v[0].as_str().unwrap()).collect();
    assert_eq!(versions, ["*", "v3", "v4"]);

    let (status, only) =
        call(&app, &lee.client, "monitoring/dashboard", &[("workflow", SLUG), ("model_version", "v4")]).await;
    assert_eq!(status, 200, "{only}");
    assert_eq!(only["tiles"][0]["value"], "3");

    let (status, _) = call(&app, &rita.client, "monitoring/dashboard", &[]).await;
    assert_eq!(status, 403, "reviewers have no dashboard");
    let outsider = person(&app, "olga@example.com", Role::Lead).await;
    let (status, page) = call(&app, &outsider.client, "monitoring/dashboard", &[]).await;
    assert_eq!((status, page["workflows"].as_array().map(Vec::len)), (200, Some(0)), "no workflow to show: {page}");
    let (status, _) = call(&app, &outsider.client, "monitoring/dashboard", &[("workflow", SLUG)]).await;
    assert_eq!(status, 403, "a workflow the lead does not lead");
    let (status, body) =
        call(&app, &lee.client, "monitoring/dashboard", &[("range", "custom"), ("from", "yesterday")]).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("from")), "{body}");
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    let (status, page) = call(&app, &admin.client, "monitoring/dashboard", &[("range", "30d")]).await;
    assert_eq!((status, page["slug"].as_str()), (200, Some(SLUG)), "admins see every workflow");
}
