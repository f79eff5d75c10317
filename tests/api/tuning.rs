//! Threshold tuning over HTTP: history import (line-numbered refusals, atomicity, idempotency,
//! key scope), the tuning report, and applying a threshold from the tuning page's server
//! functions (admin only, versioned with its evidence, the rollout widened step by step).

use crate::fixtures::{SLUG, person, workflow};
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;
use gatehouse::domain::Role;
use gatehouse::storage::audit::Actor;
use serde_json::{Value, json};

on_both_backends!(
    history_import_refuses_bad_lines_by_number_and_stores_nothing,
    history_import_is_idempotent_and_counts_as_evidence,
    history_and_tuning_need_an_admin_scoped_key,
    the_tuning_report_recommends_from_the_evidence,
    live_verdicts_count_as_evidence_and_undone_ones_do_not,
    applying_a_threshold_is_confirmed_versioned_and_keeps_its_evidence,
    the_breaker_opens_when_the_audit_sample_drifts_and_an_admin_closes_it,
    the_auto_reject_band_is_recommended_applied_and_routed,
    the_rollout_reports_the_held_out_error_across_widenings,
    an_escalated_item_counts_by_its_final_decision_and_model_versions_stay_apart,
    the_target_and_confidence_are_settings_of_the_file_and_the_page,
);

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

async fn history_import_refuses_bad_lines_by_number_and_stores_nothing(backend: Backend) {
    let (app, key, _) = setup(backend).await;
    let body = [
        line("ok-1", 0.9, Some("right"), 1.0),
        line("ok-2", 1.5, Some("right"), 1.0),
        String::new(),
        "{not json".into(),
        line("ok-3", 0.9, Some("maybe"), 1.0),
        json!({ "external_id": "x", "confidence": 0.5, "review_probability": 1, "extra": 1 }).to_string(),
        line("ok-4", 0.9, Some("wrong"), 0.0),
        line("ok-\u{0007}", 0.9, None, 1.0),
        line("ok-5", 0.9, None, 1.0),
    ]
    .join("\n");
    let (status, body) = import(&app, &key, body).await;
    assert_eq!(status, 422, "{body}");
    let lines: Vec<i64> =
        body["error"]["details"]["lines"].as_array().unwrap().iter().map(|l| l["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, [2, 4, 5, 6, 7, 8], "{body}");
    assert_eq!(body["error"]["details"]["count"], 6);
    assert!(body["error"]["details"]["lines"][0]["message"].as_str().unwrap().contains("confidence"), "{body}");
    assert_eq!(count(&app, "select count(*) from history_items").await, 0, "nothing imported");
    assert_eq!(evidence(&app).await, (0, 0, 0));

    // A bad line after a thousand good ones (a batch already written) still rolls all back.
    let mut many: Vec<String> = (0..1500).map(|i| line(&format!("g{i}"), 0.9, Some("right"), 1.0)).collect();
    many.push(line("late", -0.1, None, 1.0));
    let (status, body) = import(&app, &key, many.join("\n")).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"]["lines"][0]["line"], 1501);
    assert_eq!(count(&app, "select count(*) from history_items").await, 0);

    let response = app
        .client
        .post(app.url(&format!("/api/v1/workflows/{SLUG}/history")))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415, "JSON lines only");
}

async fn history_import_is_idempotent_and_counts_as_evidence(backend: Backend) {
    let (app, key, _) = setup(backend).await;
    let (status, body) = import(&app, &key, history()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["lines"].as_i64(), body["imported"].as_i64()), (Some(1000), Some(1000)));
    assert_eq!(evidence(&app).await, (1000, 1000, 93));
    // Again, with a few new lines, and a trailing newline: only the new ones count.
    let again = format!("{}\n{}\n{}\n", history(), line("new-1", 0.97, None, 0.5), line("new-2", 0.97, None, 0.5));
    let (status, body) = import(&app, &key, again).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["imported"].as_i64(), body["already_present"].as_i64()), (Some(2), Some(1000)));
    assert_eq!(evidence(&app).await, (1002, 1000, 93));
    assert_eq!(count(&app, "select count(*) from history_items").await, 1002);
}

async fn history_and_tuning_need_an_admin_scoped_key(backend: Backend) {
    let (app, admin_key, ingest_key) = setup(backend).await;
    let (status, body) = import(&app, &ingest_key, history()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("key_not_admin")), "{body}");
    let (status, body) = tuning(&app, &ingest_key, "").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("key_not_admin")));
    // An admin key of another workflow gets nothing of this one.
    workflow().with("slug", json!("receipts")).create(&app).await;
    let other = gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "other", &["receipts".into()], true)
        .await
        .unwrap()
        .token;
    let (status, body) = tuning(&app, &other, "").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("key_scope")));
    assert_eq!(count(&app, "select count(*) from history_items").await, 0);
    let (status, _) = tuning(&app, "ghk_nothing", "").await;
    assert_eq!(status, 401);
    let (status, _) = tuning(&app, &admin_key, "").await;
    assert_eq!(status, 200);
}

async fn the_tuning_report_recommends_from_the_evidence(backend: Backend) {
    let (app, key, _) = setup(backend).await;
    let (status, empty) = tuning(&app, &key, "").await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["recommendation"]["threshold"], Value::Null);
    assert_eq!(empty["recommendation"]["more_verdicts_needed"], 149);
    assert_eq!(empty["curve"].as_array().unwrap().len(), 200);

    import(&app, &key, history()).await;
    let (status, report) = tuning(&app, &key, "?model_version=v3").await;
    assert_eq!(status, 200, "{report}");
    // 0.96 and up: 400 clean verdicts pass (bound 0.75 %); adding 0.85 (3 wrong in 300) keeps
    // the bound under 2 %; 0.5 (90 wrong) fails. The walk stops there: 0.505 is the laxest.
    let r = &report["recommendation"];
    assert_eq!(r["threshold"], 0.505, "{r}");
    assert!((r["automation"].as_f64().unwrap() - 0.7).abs() < 1e-9, "{r}");
    assert!(r["upper_bound"].as_f64().unwrap() <= 0.02);
    let at_half = report["curve"].as_array().unwrap().iter().find(|p| p["threshold"] == 0.5).unwrap();
    assert!(at_half["upper_bound"].as_f64().unwrap() > 0.02, "{at_half}");
    assert_eq!(report["evidence"]["reviewed"], 1000);
    assert_eq!(report["evidence"]["min_sample"], 149);
    assert_eq!(report["calibration"].as_array().unwrap().len(), 10);
    assert_eq!(report["model_version"], "v3");

    // A stricter target moves the recommendation up; bad targets and unknown versions are refused.
    let (_, strict) = tuning(&app, &key, "?alpha=0.01&delta=0.05").await;
    assert_eq!(strict["recommendation"]["threshold"], 0.855, "{}", strict["recommendation"]);
    let (status, body) = tuning(&app, &key, "?alpha=2").await;
    assert_eq!((status, body["error"]["details"]["path"].as_str()), (422, Some("alpha")));
    let (status, _) = tuning(&app, &key, "?delta=0.9").await;
    assert_eq!(status, 422);
    let (status, _) = tuning(&app, &key, "?model_version=v9").await;
    assert_eq!(status, 404);
    let (status, _) = tuning(&app, &key, "?thresold=1").await;
    assert_eq!(status, 400);
}

/// Calls a server function as `client`; its status and answer (JSON or text).
async fn call(app: &TestApp, client: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app.call_with(client, endpoint, form).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn live_verdicts_count_as_evidence_and_undone_ones_do_not(backend: Backend) {
    let app = spawn_app(backend).await;
    let reviewer = person(&app, "rita@example.com", Role::Reviewer).await;
    let created = workflow().members(&[&reviewer]).with("reason_codes", json!(["blurry"])).create(&app).await;
    let items: Vec<Value> = (0..4).map(|i| crate::fixtures::invoice(&format!("live-{i}"), 0.5)).collect();
    crate::fixtures::submit_all(&app, &created.key, SLUG, &items).await;
    crate::fixtures::submit_all(&app, &created.key, SLUG, &[crate::fixtures::invoice("auto", 0.95)]).await;
    assert_eq!(evidence(&app).await, (5, 0, 0), "every routed item is volume; the auto-approval no verdict");

    let mut decided = Vec::new();
    for verdict in ["approve", "reject", "approve"] {
        let (_, item_id) = call(&app, &reviewer.client, "review/start", &[("slug", SLUG)]).await;
        let item_id = item_id.as_i64().unwrap().to_string();
        let (_, item) = call(&app, &reviewer.client, "review/item", &[("slug", SLUG), ("item_id", &item_id)]).await;
        let token = item["lease_token"].as_str().unwrap().to_owned();
        let mut form = vec![("item_id", item_id.as_str()), ("lease_token", token.as_str())];
        if verdict == "reject" {
            form.extend([("reason_code", "blurry"), ("note", "unreadable")]);
        }
        let (status, body) = call(&app, &reviewer.client, &format!("review/{verdict}"), &form).await;
        assert_eq!(status, 200, "{verdict}: {body}");
        decided.push(item_id);
    }
    assert_eq!(evidence(&app).await, (5, 3, 1));
    let (last,): (i64,) =
        sqlx::query_as("select max(id) from decisions where kind = 'approve'").fetch_one(app.db.pool()).await.unwrap();
    let (status, body) = call(&app, &reviewer.client, "review/undo", &[("decision_id", &last.to_string())]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(evidence(&app).await, (5, 2, 1), "an undone verdict counts as nothing");
}

async fn applying_a_threshold_is_confirmed_versioned_and_keeps_its_evidence(backend: Backend) {
    let (app, key, _) = setup(backend).await;
    import(&app, &key, history()).await;
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    let lead = person(&app, "lee@example.com", Role::Lead).await;
    let apply = |how: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("slug", SLUG), ("how", how), ("reason", "the evidence supports it")];
        form.extend(extra);
        form
    };
    let (status, _) = call(&app, &lead.client, "tuning/apply", &apply("recommendation", vec![("confirm", "on")])).await;
    assert_eq!(status, 403, "leads do not tune");
    let (status, body) = call(&app, &admin.client, "tuning/apply", &apply("recommendation", vec![])).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "confirm");
    let no_reason = vec![("slug", SLUG), ("how", "recommendation"), ("reason", " "), ("confirm", "on")];
    let (status, body) = call(&app, &admin.client, "tuning/apply", &no_reason).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("reason")), "{body}");
    let version = |app: &TestApp| {
        let db = app.db.clone();
        async move { gatehouse::workflows::server::find_by_slug(&db, SLUG).await.unwrap().unwrap() }
    };
    assert_eq!(version(&app).await.settings_version, 1, "nothing refused changed anything");

    // Applied through a rollout: a quarter of the newly automatable band first.
    let (status, body) = call(
        &app,
        &admin.client,
        "tuning/apply",
        &apply("recommendation", vec![("confirm", "on"), ("rollout_share", "0.25")]),
    )
    .await;
    assert!((200..400).contains(&status), "{status} {body}");
    let applied = version(&app).await;
    assert_eq!((applied.settings_version, applied.spec.auto_approve_at), (2, Some(0.505)));
    assert_eq!(applied.spec.rollout_share, 0.25);
    assert_eq!(applied.spec.rollout_from, Some(0.9), "only the band below the old threshold rolls out");
    // Above the old threshold items are automated as before; in the new band most are held out.
    let before = crate::fixtures::submit_all(
        &app,
        &key_for_items(&app).await,
        SLUG,
        &[crate::fixtures::invoice("old-band", 0.95)],
    )
    .await;
    assert_eq!(before[0]["route"]["reason"], "above_threshold", "{}", before[0]);
    let band: Vec<Value> = (0..40).map(|i| crate::fixtures::invoice(&format!("new-band-{i}"), 0.7)).collect();
    let band = crate::fixtures::submit_all(&app, &key_for_items(&app).await, SLUG, &band).await;
    let held = band.iter().filter(|i| i["route"]["reason"] == "rollout_holdout").count();
    assert!((20..40).contains(&held), "about three quarters held out: {held} of 40");
    let (evidence, reason): (Option<String>, String) =
        sqlx::query_as("select evidence, reason from workflow_settings_history where version = 2")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let evidence: Value = serde_json::from_str(&evidence.expect("the evidence is kept")).unwrap();
    assert_eq!(reason, "the evidence supports it");
    assert_eq!(evidence["how"], "recommendation");
    assert_eq!(evidence["evidence"]["reviewed"], 1000);
    assert!(evidence["summary"].as_str().unwrap().starts_with("Applied the recommendation: 0.505"), "{evidence}");
    let (_, detail) = call(&app, &admin.client, "workflows/detail", &[("slug", SLUG)]).await;
    assert!(detail["history"][0]["evidence"].as_str().unwrap().contains("0.505"), "{}", detail["history"][0]);

    // Widening must raise the share; then it is a version of its own.
    let (status, body) =
        call(&app, &admin.client, "tuning/apply", &apply("widen", vec![("confirm", "on"), ("rollout_share", "0.2")]))
            .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("rollout_share")), "{body}");
    let (status, _) =
        call(&app, &admin.client, "tuning/apply", &apply("widen", vec![("confirm", "on"), ("rollout_share", "0.5")]))
            .await;
    assert!((200..400).contains(&status));
    let widened = version(&app).await;
    assert_eq!((widened.settings_version, widened.spec.rollout_share), (3, 0.5));
    assert_eq!(widened.spec.rollout_from, Some(0.9), "widening keeps the band");
    assert_eq!(widened.spec.auto_approve_at, Some(0.505));
    let (_, report) = call(&app, &admin.client, "tuning/report", &[("slug", SLUG)]).await;
    assert!(
        report["rollout"].as_str().unwrap().starts_with("50.00 % of would-be auto-approvals"),
        "{}",
        report["rollout"]
    );

    // Set by hand, and off again.
    let (status, _) =
        call(&app, &admin.client, "tuning/apply", &apply("manual", vec![("confirm", "on"), ("threshold", "0.9")]))
            .await;
    assert!((200..400).contains(&status));
    let manual = version(&app).await;
    assert_eq!((manual.spec.auto_approve_at, manual.spec.rollout_from), (Some(0.9), None), "a full share ends it");
    let (status, body) =
        call(&app, &admin.client, "tuning/apply", &apply("manual", vec![("confirm", "on"), ("threshold", "1.5")]))
            .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("threshold")), "{body}");
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

async fn the_breaker_opens_when_the_audit_sample_drifts_and_an_admin_closes_it(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |s| {
        s.escalation_sweep_ms = 3_600_000;
        s.allow_private_webhooks = true;
    })
    .await;
    let reviewer = person(&app, "rita@example.com", Role::Reviewer).await;
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    // Every would-be auto-approval is audited, so each verdict is an audit verdict.
    let created = workflow()
        .members(&[&reviewer])
        .with("auto_approve_at", json!(0.5))
        .with("audit_rate", json!(1.0))
        .with("reason_codes", json!(["blurry"]))
        .create(&app)
        .await;
    let (status, body) = call(
        &app,
        &admin.client,
        "webhooks/add",
        &[
            ("slug", SLUG),
            ("url", "http://127.0.0.1:9/hook"),
            ("events[workflow.breaker_opened]", "on"),
            ("events[workflow.breaker_closed]", "on"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let items: Vec<Value> = (0..40).map(|i| crate::fixtures::invoice(&format!("audit-{i}"), 0.9)).collect();
    let stored = crate::fixtures::submit_all(&app, &created.key, SLUG, &items).await;
    assert!(stored.iter().all(|i| i["route"]["reason"] == "audit"), "{}", stored[0]);

    // The model is fine at first: 30 audits approved, the breaker stays closed.
    for _ in 0..30 {
        decide_next(&app, &reviewer, "approve").await;
    }
    assert!(gatehouse::tuning::breaker::check(&app.db).await.unwrap().is_empty());
    // Then it drifts: 8 overrides in the next 10 (8 of 40 against a 2 % target).
    for i in 0..10 {
        decide_next(&app, &reviewer, if i < 8 { "reject" } else { "approve" }).await;
    }
    let opened = gatehouse::tuning::breaker::check(&app.db).await.unwrap();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!((opened[0].overridden, opened[0].audited, opened[0].model_version.as_str()), (8, 40, "v3"));
    assert!(gatehouse::tuning::breaker::check(&app.db).await.unwrap().is_empty(), "it opens once");
    assert_eq!(
        count(&app, "select count(*) from webhook_outbox where event_type = 'workflow.breaker_opened'").await,
        1
    );

    // New items go to review with reason `breaker`, once the cached settings expire.
    tokio::time::sleep(gatehouse::state::API_CACHE_TTL + std::time::Duration::from_millis(100)).await;
    let after = crate::fixtures::submit_all(&app, &created.key, SLUG, &[crate::fixtures::invoice("after", 0.99)]).await;
    assert_eq!(after[0]["route"]["reason"], "breaker", "{}", after[0]);
    let (_, counts) = call(&app, &admin.client, "escalations/counts", &[]).await;
    assert_eq!(counts["breakers"][0][0], SLUG, "{counts}");
    let (_, report) = call(&app, &admin.client, "tuning/report", &[("slug", SLUG)]).await;
    assert!(report["breaker"][1].as_str().unwrap().contains("8 of the last 40"), "{}", report["breaker"]);
    // Admins see the banner on every page, with a way to the workflow's tuning page; reviewers
    // do not (nothing there is theirs to do).
    let banner = "Auto-approval stopped.";
    let link = format!("href=\"/settings/workflows/{SLUG}/tuning\"");
    for path in ["/queues", "/settings/users", "/escalations"] {
        let page = page_text(&app, &admin.client, path).await;
        assert!(page.contains(banner) && page.contains(&link), "{path} shows no breaker banner:\n{page}");
    }
    assert!(!page_text(&app, &reviewer.client, "/queues").await.contains(banner), "a reviewer sees no banner");

    // Closing takes a reason; then auto-approval resumes and old verdicts no longer count.
    let (status, body) = call(&app, &admin.client, "tuning/close-breaker", &[("slug", SLUG), ("reason", "")]).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("reason")), "{body}");
    let (status, _) =
        call(&app, &admin.client, "tuning/close-breaker", &[("slug", SLUG), ("reason", "model v4 rolled back")]).await;
    assert!((200..400).contains(&status));
    assert_eq!(
        count(&app, "select count(*) from webhook_outbox where event_type = 'workflow.breaker_closed'").await,
        1
    );
    assert!(gatehouse::tuning::breaker::check(&app.db).await.unwrap().is_empty(), "the old verdicts are forgotten");
    let again = crate::fixtures::submit_all(&app, &created.key, SLUG, &[crate::fixtures::invoice("again", 0.99)]).await;
    assert_eq!(again[0]["route"]["reason"], "audit", "{}", again[0]);
    let (_, counts) = call(&app, &admin.client, "escalations/counts", &[]).await;
    assert_eq!(counts["breakers"], json!([]));
    assert!(!page_text(&app, &admin.client, "/queues").await.contains(banner), "closed, the banner is gone");
    let (status, _) = call(&app, &admin.client, "tuning/close-breaker", &[("slug", SLUG), ("reason", "twice")]).await;
    assert_eq!(status, 409, "it is not open");
}

/// A page as a browser gets it, signed in as `client`'s user.
async fn page_text(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    let response = client.get(app.url(path)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// An ordinary key of the workflow, for submitting items.
async fn key_for_items(app: &TestApp) -> String {
    gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "items", &[SLUG.into()], false).await.unwrap().token
}

async fn the_auto_reject_band_is_recommended_applied_and_routed(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    workflow().with("escalate_below", Value::Null).with("tune_auto_reject", json!(true)).create(&app).await;
    let key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "tuner", &[SLUG.into()], true).await.unwrap().token;
    // 400 at 0.05, every one found wrong; 300 at 0.5, 210 of them right.
    let mut lines: Vec<String> = (0..400).map(|i| line(&format!("low-{i}"), 0.05, Some("wrong"), 1.0)).collect();
    lines.extend((0..300).map(|i| line(&format!("mid-{i}"), 0.5, Some(if i < 90 { "wrong" } else { "right" }), 1.0)));
    let (status, _) = import(&app, &key, lines.join("\n")).await;
    assert_eq!(status, 200);
    let (_, report) = tuning(&app, &key, "").await;
    // Rejecting below 0.5 rejects only the 0.05 bin, all wrong; below 0.505 it would take the 0.5 one.
    assert_eq!(report["reject"]["recommendation"]["threshold"], 0.5, "{}", report["reject"]["recommendation"]);

    let form = [
        ("slug", SLUG),
        ("how", "reject"),
        ("threshold", "0.5"),
        ("reason", "the low band is always wrong"),
        ("confirm", "on"),
    ];
    let (status, body) = call(&app, &admin.client, "tuning/apply", &form).await;
    assert!((200..400).contains(&status), "{status} {body}");
    let applied = gatehouse::workflows::server::find_by_slug(&app.db, SLUG).await.unwrap().unwrap();
    assert_eq!((applied.spec.auto_reject_below, applied.settings_version), (Some(0.5), 2));
    let (evidence,): (Option<String>,) =
        sqlx::query_as("select evidence from workflow_settings_history where version = 2")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(evidence.unwrap().contains("Set the auto-reject band: below 0.5"));

    let items = [crate::fixtures::invoice("low", 0.3), crate::fixtures::invoice("mid", 0.6)];
    let stored = crate::fixtures::submit_all(&app, &key_for_items(&app).await, SLUG, &items).await;
    let low = &stored[0];
    assert_eq!(
        (low["state"].as_str(), low["outcome"].as_str()),
        (Some("auto_rejected"), Some("auto_rejected")),
        "{low}"
    );
    assert_eq!(low["route"]["reason"], "below_reject_threshold");
    assert_eq!(low["decisions"][0]["kind"], "auto_reject");
    assert_eq!(low["final_output"], Value::Null);
    assert_eq!(stored[1]["state"], "queued");
    let (kind, is_final): (String, i64) = sqlx::query_as("select kind, final from decisions where item_id = $1")
        .bind(low["id"].as_i64().unwrap())
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!((kind.as_str(), is_final), ("auto_reject", 1));
    // A reject band above the escalation floor or the approval threshold is refused.
    let bad = [("slug", SLUG), ("how", "reject"), ("threshold", "0.95"), ("reason", "too far"), ("confirm", "on")];
    let (status, body) = call(&app, &admin.client, "tuning/apply", &bad).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("auto_reject_below")), "{body}");
}

/// Submits `n` items at 0.7 (inside the band rolling out) and decides every one held out for
/// review, rejecting the first `wrong`; the number held out.
async fn decide_held_out(
    app: &TestApp,
    reviewer: &crate::fixtures::Person,
    prefix: &str,
    n: usize,
    wrong: usize,
) -> usize {
    let items: Vec<Value> = (0..n).map(|i| crate::fixtures::invoice(&format!("{prefix}-{i}"), 0.7)).collect();
    let stored = crate::fixtures::submit_all(app, &key_for_items(app).await, SLUG, &items).await;
    let held = stored.iter().filter(|i| i["route"]["reason"] == "rollout_holdout").count();
    assert!(held > wrong, "{held} held out of {n}");
    for i in 0..held {
        decide_next(app, reviewer, if i < wrong { "reject" } else { "approve" }).await;
    }
    held
}

/// The tuning report's rollout part, read through the REST API.
async fn rollout_of(app: &TestApp, key: &str) -> Value {
    let (status, report) = tuning(app, key, "").await;
    assert_eq!(status, 200, "{report}");
    report["rollout"].clone()
}

/// The held-out fraction's observed error follows its verdicts as they come in, and a widening
/// (which samples the band at a new probability) keeps the verdicts gathered before it.
async fn the_rollout_reports_the_held_out_error_across_widenings(backend: Backend) {
    let app = spawn_app(backend).await;
    let reviewer = person(&app, "rita@example.com", Role::Reviewer).await;
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    workflow().members(&[&reviewer]).with("reason_codes", json!(["blurry"])).create(&app).await;
    let key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "tuner", &[SLUG.into()], true).await.unwrap().token;
    import(&app, &key, history()).await;
    let apply = |how: &'static str, share: &'static str| {
        vec![("slug", SLUG), ("how", how), ("reason", "step by step"), ("confirm", "on"), ("rollout_share", share)]
    };
    let (status, body) = call(&app, &admin.client, "tuning/apply", &apply("recommendation", "0.25")).await;
    assert!((200..400).contains(&status), "{status} {body}");
    let nothing_yet = rollout_of(&app, &key).await;
    assert_eq!((nothing_yet["reviewed"].as_u64(), nothing_yet["wrong"].as_u64()), (Some(0), Some(0)), "{nothing_yet}");
    assert!(nothing_yet["observed_error"].is_null(), "{nothing_yet}");

    // At a quarter automated, three of every four items of the band are held out.
    let first = decide_held_out(&app, &reviewer, "quarter", 40, 3).await;
    let seen = rollout_of(&app, &key).await;
    assert_eq!((seen["reviewed"].as_u64(), seen["wrong"].as_u64()), (Some(first as u64), Some(3)), "{seen}");
    let observed = seen["observed_error"].as_f64().unwrap();
    assert!((observed - 3.0 / first as f64).abs() < 1e-9, "{seen}");

    // Widened to a half: the band's items are held out at 1 in 2 from now on, and the verdicts
    // of the quarter's stratum still count beside the new ones.
    let (status, body) = call(&app, &admin.client, "tuning/apply", &apply("widen", "0.5")).await;
    assert!((200..400).contains(&status), "{status} {body}");
    let second = decide_held_out(&app, &reviewer, "half", 40, 1).await;
    let seen = rollout_of(&app, &key).await;
    assert_eq!(seen["share"].as_f64(), Some(0.5), "{seen}");
    assert_eq!(
        (seen["reviewed"].as_u64(), seen["wrong"].as_u64()),
        (Some((first + second) as u64), Some(4)),
        "both shares' verdicts: {seen}"
    );
    let (_, page) = call(&app, &admin.client, "tuning/report", &[("slug", SLUG)]).await;
    let text = page["rollout"].as_str().unwrap();
    assert!(text.contains(&format!("{} verdicts, 4 wrong", first + second)), "{text}");
}

/// (volume, reviewed, wrong) of one model version's evidence.
async fn evidence_of(app: &TestApp, model_version: &str) -> (i64, i64, i64) {
    sqlx::query_as(
        "select cast(coalesce(sum(volume), 0) as bigint), cast(coalesce(sum(reviewed), 0) as bigint), \
         cast(coalesce(sum(wrong), 0) as bigint) from tuning_evidence where model_version = $1",
    )
    .bind(model_version)
    .fetch_one(app.db.pool())
    .await
    .unwrap()
}

/// An escalation is no verdict: the item counts once its lead decides it, by that decision. And
/// each model version's evidence is its own, in the store and in the report.
async fn an_escalated_item_counts_by_its_final_decision_and_model_versions_stay_apart(backend: Backend) {
    let app = spawn_app(backend).await;
    let reviewer = person(&app, "rita@example.com", Role::Reviewer).await;
    let lead = person(&app, "lee@example.com", Role::Lead).await;
    let created = workflow().members(&[&reviewer, &lead]).with("reason_codes", json!(["blurry"])).create(&app).await;
    let admin_key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "tuner", &[SLUG.into()], true).await.unwrap().token;
    // Below `escalate_below` (0.2): escalated to the lead at ingest.
    let escalated =
        crate::fixtures::submit_all(&app, &created.key, SLUG, &[crate::fixtures::invoice("low", 0.1)]).await;
    assert_eq!(escalated[0]["state"], "escalated", "{}", escalated[0]);
    let mut v4 = crate::fixtures::invoice("newer", 0.5);
    v4["model_version"] = json!("v4");
    crate::fixtures::submit_all(&app, &created.key, SLUG, &[v4]).await;
    assert_eq!(evidence_of(&app, "v3").await, (1, 0, 0), "escalated, not yet decided: no verdict");
    assert_eq!(evidence_of(&app, "v4").await, (1, 0, 0));

    let id = escalated[0]["id"].as_i64().unwrap().to_string();
    let form = [("verdict", "reject"), ("item_id", id.as_str()), ("reason_code", "blurry"), ("note", "wrong vendor")];
    let (status, body) = call(&app, &lead.client, "escalations/decide", &form).await;
    assert!((200..400).contains(&status), "{status} {body}");
    assert_eq!(evidence_of(&app, "v3").await, (1, 1, 1), "the lead's rejection is the verdict");

    decide_next(&app, &reviewer, "approve").await;
    assert_eq!(evidence_of(&app, "v4").await, (1, 1, 0), "the v4 approval counts for v4");
    assert_eq!(evidence_of(&app, "v3").await, (1, 1, 1), "and not for v3");
    for (version, wrong) in [("v3", 1), ("v4", 0)] {
        let (status, report) = tuning(&app, &admin_key, &format!("?model_version={version}")).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["model_version"], version);
        assert_eq!(
            (report["evidence"]["reviewed"].as_u64(), report["evidence"]["wrong"].as_u64()),
            (Some(1), Some(wrong)),
            "{report}"
        );
    }
}

/// The target error rate and the confidence set in a `workflow apply` file, then the confidence
/// changed on the settings page: each is the one the tuning report works to, and the change is
/// a settings version.
async fn the_target_and_confidence_are_settings_of_the_file_and_the_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    workflow().with("target_error_rate", json!(0.05)).with("confidence", json!(0.9)).create(&app).await;
    let key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "tuner", &[SLUG.into()], true).await.unwrap().token;
    let (status, report) = tuning(&app, &key, "").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!((report["alpha"].as_f64(), report["confidence"].as_f64()), (Some(0.05), Some(0.9)), "{report}");

    // The settings page sends back its whole form, as loaded, with the confidence changed.
    let (status, detail) = call(&app, &admin.client, "workflows/detail", &[("slug", SLUG)]).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["form"]["confidence"], "0.9");
    let mut form: Vec<(String, String)> = detail["form"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(field, value)| match value {
            Value::String(text) => Some((field.clone(), text.clone())),
            Value::Bool(true) => Some((field.clone(), "on".into())),
            _ => None,
        })
        .filter(|(field, _)| field != "confidence")
        .collect();
    form.extend([
        ("confidence".into(), "0.99".into()),
        ("mode".into(), "update".into()),
        ("reason".into(), "surer".into()),
    ]);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, body) = call(&app, &admin.client, "workflows/save", &form).await;
    assert_eq!(status, 200, "{body}");
    let (_, report) = tuning(&app, &key, "").await;
    assert_eq!((report["alpha"].as_f64(), report["confidence"].as_f64()), (Some(0.05), Some(0.99)), "{report}");
    let (_, detail) = call(&app, &admin.client, "workflows/detail", &[("slug", SLUG)]).await;
    let latest = &detail["history"][0];
    assert_eq!((latest["version"].as_i64(), latest["reason"].as_str()), (Some(2), Some("surer")), "{latest}");
    assert!(
        latest["changed"].as_array().unwrap().iter().any(|c| c.as_str().unwrap().contains("confidence")),
        "{latest}"
    );
}
