//! The machine API: ingest, routing, idempotency, batches, reads, keys, and every error status.

use crate::fixtures::{WorkflowFixture, invoice, submit, workflow};
use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};
use crate::on_both_backends;
use gatehouse::domain::workflow::WorkflowSpec;
use gatehouse::storage::audit::Actor;
use gatehouse::workflows::server::{self as workflows, ApplyOutcome};
use serde_json::{Value, json};

on_both_backends!(
    items_are_routed_into_each_band_with_the_settings_stamped,
    resubmits_are_idempotent_and_changed_bodies_conflict,
    fifty_concurrent_duplicate_submits_make_exactly_one_item,
    concurrent_submits_of_one_id_with_different_bodies_store_exactly_one,
    concurrent_distinct_submits_are_all_stored_beside_conflicts,
    a_written_group_has_the_outcome_of_writing_one_by_one,
    contract_violations_name_the_path_and_store_nothing,
    control_characters_in_text_fields_are_refused_alike_on_both_backends,
    large_items_come_in_shorter_pages,
    every_error_status_has_one_shape_and_stores_nothing,
    api_keys_are_scoped_and_revocable,
    batches_are_all_or_nothing,
    items_can_be_read_listed_and_followed,
    workflow_changes_are_versioned_and_reapplying_changes_nothing,
);

/// The workflow these tests submit to: invoices under a contract, escalated below 0.3.
fn invoices(slug: &str) -> WorkflowFixture {
    workflow()
        .with("slug", json!(slug))
        .with("name", json!("Invoice extraction"))
        .invoice_contract()
        .with("escalate_below", json!(0.3))
}

fn spec(slug: &str) -> WorkflowSpec {
    invoices(slug).spec()
}

/// An app with the workflow `invoices` and a key for it.
async fn setup(backend: Backend) -> (TestApp, String) {
    let app = spawn_app(backend).await;
    let key = with_workflow(&app, "invoices").await;
    (app, key)
}

async fn with_workflow(app: &TestApp, slug: &str) -> String {
    invoices(slug).create(app).await.key
}

fn item(external_id: &str, confidence: f64) -> Value {
    invoice(external_id, confidence)
}

async fn get(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    app.client.get(app.url(&format!("/api/v1{path}"))).bearer_auth(key).send().await.unwrap()
}

async fn item_count(app: &TestApp) -> i64 {
    sqlx::query_as::<_, (i64,)>("select count(*) from items").fetch_one(app.db.pool()).await.unwrap().0
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "error shape: {body}");
    (status, body["error"].clone())
}

async fn items_are_routed_into_each_band_with_the_settings_stamped(backend: Backend) {
    let (app, key) = setup(backend).await;
    let auto = submit(&app, &key, "invoices", &item("a", 0.95)).await;
    assert_eq!(auto.status(), 201);
    let auto: Value = auto.json().await.unwrap();
    assert_eq!(auto["state"], "auto_approved");
    assert_eq!(auto["route"]["reason"], "above_threshold");
    assert_eq!(auto["decisions"][0]["kind"], "auto_approve", "the decision comes back at once");
    assert_eq!(auto["final_output"]["label"], "invoice");

    let review: Value = submit(&app, &key, "invoices", &item("b", 0.5)).await.json().await.unwrap();
    assert_eq!(
        (review["state"].as_str(), review["route"]["reason"].as_str()),
        (Some("queued"), Some("below_threshold"))
    );
    assert_eq!(review["route"]["review_probability"], 1.0);
    assert!(review["decisions"].as_array().unwrap().is_empty());

    let low: Value = submit(&app, &key, "invoices", &item("c", 0.1)).await.json().await.unwrap();
    assert_eq!((low["state"].as_str(), low["route"]["reason"].as_str()), (Some("escalated"), Some("low_confidence")));

    let (routing, version): (String, i64) =
        sqlx::query_as("select routing, settings_version from items where external_id = 'b'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let routing: Value = serde_json::from_str(&routing).unwrap();
    assert_eq!(
        (routing["auto_approve_at"].as_f64(), routing["escalate_below"].as_f64(), version),
        (Some(0.9), Some(0.3), 1)
    );
}

async fn resubmits_are_idempotent_and_changed_bodies_conflict(backend: Backend) {
    let (app, key) = setup(backend).await;
    let first = submit(&app, &key, "invoices", &item("x", 0.5)).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = submit(&app, &key, "invoices", &item("x", 0.5)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], first["id"]);
    let (status, error) = error_of(submit(&app, &key, "invoices", &item("x", 0.51)).await).await;
    assert_eq!((status, error["code"].as_str()), (409, Some("conflict")));
    assert_eq!(item_count(&app).await, 1);
}

async fn fifty_concurrent_duplicate_submits_make_exactly_one_item(backend: Backend) {
    let (app, key) = setup(backend).await;
    let url = app.url("/api/v1/workflows/invoices/items");
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let (client, url, key) = (reqwest::Client::new(), url.clone(), key.clone());
            tokio::spawn(async move {
                let r = client.post(url).bearer_auth(key).json(&item("dup", 0.95)).send().await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap()["id"].as_i64())
            })
        })
        .collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    assert_eq!(results.iter().filter(|(s, _)| *s == 201).count(), 1, "{results:?}");
    assert!(results.iter().all(|(s, _)| *s == 201 || *s == 200), "{results:?}");
    let ids: std::collections::HashSet<_> = results.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), 1, "every caller got the same item");
    assert_eq!(item_count(&app).await, 1);
    let (decisions,): (i64,) = sqlx::query_as("select count(*) from decisions").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(decisions, 1, "one auto-approval, not fifty");
}

/// Single submits are group-committed: concurrent ones land in one transaction. Fifty bodies
/// under one id: exactly one is stored, every other caller gets a conflict.
async fn concurrent_submits_of_one_id_with_different_bodies_store_exactly_one(backend: Backend) {
    let (app, key) = setup(backend).await;
    let url = app.url("/api/v1/workflows/invoices/items");
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let (client, url, key) = (app.client.clone(), url.clone(), key.clone());
            tokio::spawn(async move {
                let body = item("contested", 0.5 + f64::from(i) / 1000.0);
                let r = client.post(url).bearer_auth(key).json(&body).send().await.unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    let created: Vec<_> = results.iter().filter(|(s, _)| *s == 201).collect();
    assert_eq!(created.len(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|(s, _)| *s == 409).count(), 49, "{results:?}");
    assert_eq!(item_count(&app).await, 1);
    let stored: (f64,) = sqlx::query_as("select confidence from items where external_id = 'contested'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(Some(stored.0), created[0].1["confidence"].as_f64(), "the stored body is the one answered 201");
}

/// A conflict in a group fails only its own caller.
async fn concurrent_distinct_submits_are_all_stored_beside_conflicts(backend: Backend) {
    let (app, key) = setup(backend).await;
    assert_eq!(submit(&app, &key, "invoices", &item("taken", 0.5)).await.status(), 201);
    let url = app.url("/api/v1/workflows/invoices/items");
    let handles: Vec<_> = (0..80)
        .map(|i| {
            let (client, url, key) = (app.client.clone(), url.clone(), key.clone());
            tokio::spawn(async move {
                // Every fourth conflicts with the stored item; the rest are new.
                let body = if i % 4 == 0 { item("taken", 0.7) } else { item(&format!("new-{i}"), 0.95) };
                client.post(url).bearer_auth(key).json(&body).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 20, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 60, "{statuses:?}");
    assert_eq!(item_count(&app).await, 61);
    let (decisions,): (i64,) = sqlx::query_as("select count(*) from decisions").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(decisions, 60, "one auto-approval per new item");
}

/// The group writer itself, deterministic: repeats, conflicts within the group and with stored
/// items, and new items side by side in one transaction.
async fn a_written_group_has_the_outcome_of_writing_one_by_one(backend: Backend) {
    use gatehouse::items::ingest::write_group;
    use gatehouse::items::submission::{Submission, prepare_one};
    let (app, _key) = setup(backend).await;
    let workflow = workflows::require_by_slug(&app.db, "invoices").await.unwrap();
    let cache = gatehouse::workflows::contract::ContractCache::default();
    let prepare = |id: &str, confidence: f64| {
        let sub: Submission = serde_json::from_value(item(id, confidence)).unwrap();
        prepare_one(&cache, &workflow, sub).unwrap()
    };
    let stored = prepare("stored", 0.5);
    let before = write_group(&app.db, &[(&workflow, &stored)]).await.unwrap().pop().unwrap().unwrap();
    assert!(before.created);

    let group = [
        prepare("a", 0.95),     // 0: new (auto-approved)
        prepare("a", 0.95),     // 1: repeat of 0, same body
        prepare("b", 0.5),      // 2: new
        prepare("b", 0.6),      // 3: other body under 2's id
        prepare("stored", 0.5), // 4: retry of a stored item
        prepare("stored", 0.7), // 5: conflicts with the stored item
        prepare("c", 0.1),      // 6: new (escalated)
        prepare("stored", 0.5), // 7: retry again
    ];
    let pairs: Vec<_> = group.iter().map(|p| (&workflow, p)).collect();
    let results = write_group(&app.db, &pairs).await.unwrap();
    assert_eq!(results.len(), 8);
    let ok = |i: usize| results[i].as_ref().unwrap_or_else(|e| panic!("{i}: {e:?}"));
    let is_conflict = |i: usize| matches!(results[i], Err(gatehouse::error::AppError::Conflict { .. }));
    assert!(ok(0).created && !ok(1).created);
    assert_eq!(ok(0).item, ok(1).item);
    assert_eq!(ok(0).item.decisions.len(), 1, "the auto-approval is in the answer");
    assert!(ok(2).created && is_conflict(3));
    assert!(!ok(4).created && is_conflict(5) && !ok(7).created);
    assert_eq!(ok(4).item, before.item);
    assert_eq!(ok(7).item, before.item);
    assert!(ok(6).created);
    assert_eq!(ok(6).item.state, "escalated");
    assert_eq!(item_count(&app).await, 4);
    // What was answered is what is stored.
    for i in [0, 2, 6] {
        let read = gatehouse::items::view::get(&app.db, &workflow, ok(i).item.id).await.unwrap().unwrap();
        assert_eq!(read, ok(i).item);
    }
    let (confidence,): (f64,) =
        sqlx::query_as("select confidence from items where external_id = 'b'").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(confidence, 0.5, "a conflicting body changes nothing");
}

async fn contract_violations_name_the_path_and_store_nothing(backend: Backend) {
    let (app, key) = setup(backend).await;
    let mut bad = item("x", 0.5);
    bad["payload"]["total"] = json!("a lot");
    let (status, error) = error_of(submit(&app, &key, "invoices", &bad).await).await;
    assert_eq!(status, 422);
    assert_eq!(error["details"]["path"], "/payload/total");
    let mut bad = item("y", 0.5);
    bad["prediction"]["label"] = json!("memo");
    let (status, error) = error_of(submit(&app, &key, "invoices", &bad).await).await;
    assert_eq!((status, error["details"]["path"].as_str()), (422, Some("/prediction/label")));
    assert_eq!(item_count(&app).await, 0);
}

/// A NUL (which PostgreSQL cannot store in text) or another control character in a text field is
/// a 422 naming the field on either backend, never a server error; JSON values may carry them.
async fn control_characters_in_text_fields_are_refused_alike_on_both_backends(backend: Backend) {
    let (app, key) = setup(backend).await;
    for (field, value) in [
        ("external_id", "inv\u{0}1"),
        ("external_id", "inv\n1"),
        ("external_id", "inv\u{1b}[2J"),
        ("model_version", "v\u{0}"),
        ("model_version", "v\u{7f}"),
    ] {
        let mut bad = item("ok-id", 0.5);
        bad[field] = json!(value);
        let (status, error) = error_of(submit(&app, &key, "invoices", &bad).await).await;
        assert_eq!((status, error["details"]["path"].as_str()), (422, Some(format!("/{field}").as_str())), "{field}");
        assert!(error["message"].as_str().unwrap().contains("control characters"), "{error}");
    }
    assert_eq!(item_count(&app).await, 0);
    let mut fine = item("with-nul-inside-json", 0.5);
    fine["payload"]["notes"] = json!("a\u{0}b");
    fine["metadata"] = json!(["any", 1, "JSON\u{0}"]);
    let response = submit(&app, &key, "invoices", &fine).await;
    assert_eq!(response.status(), 201);
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["metadata"], json!(["any", 1, "JSON\u{0}"]));
}

async fn every_error_status_has_one_shape_and_stores_nothing(backend: Backend) {
    let (app, key) = setup(backend).await;
    let url = app.url("/api/v1/workflows/invoices/items");
    let send = |body: &'static str, content_type: &'static str| {
        app.client.post(&url).bearer_auth(&key).header("content-type", content_type).body(body).send()
    };
    let (status, error) = error_of(send("{not json", "application/json").await.unwrap()).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("bad_request")));
    let (status, _) = error_of(send("external_id=1", "application/x-www-form-urlencoded").await.unwrap()).await;
    assert_eq!(status, 415);
    let (status, error) =
        error_of(send(r#"{"external_id": "1", "payload": {}}"#, "application/json").await.unwrap()).await;
    assert_eq!(status, 422, "missing fields: {error}");
    assert!(error["message"].as_str().unwrap().contains("prediction"), "{error}");
    let (status, error) = error_of(submit(&app, &key, "invoices", &item("c", 1.5)).await).await;
    assert_eq!((status, error["details"]["path"].as_str()), (422, Some("/confidence")));
    let (status, _) = error_of(submit(&app, &key, "no-such-workflow", &item("c", 0.5)).await).await;
    assert_eq!(status, 404);
    let (status, error) = error_of(get(&app, &key, "/items/999999").await).await;
    assert_eq!((status, error["code"].as_str()), (404, Some("not_found")));

    let small = spawn_app_with(Backend::Sqlite, |s| s.max_body_bytes = 2048).await;
    let small_key = with_workflow(&small, "invoices").await;
    let mut big = item("big", 0.5);
    big["payload"]["notes"] = json!("n".repeat(4096));
    let (status, error) = error_of(submit(&small, &small_key, "invoices", &big).await).await;
    assert_eq!((status, error["details"]["limit_bytes"].as_u64()), (413, Some(2048)));
    assert_eq!(item_count(&small).await, 0);
    assert_eq!(item_count(&app).await, 0);
}

async fn api_keys_are_scoped_and_revocable(backend: Backend) {
    let (app, key) = setup(backend).await;
    let other_key = with_workflow(&app, "receipts").await;
    let (status, error) = error_of(submit(&app, &other_key, "invoices", &item("a", 0.5)).await).await;
    assert_eq!((status, error["code"].as_str()), (403, Some("key_scope")));
    let no_key =
        app.client.post(app.url("/api/v1/workflows/invoices/items")).json(&item("a", 0.5)).send().await.unwrap();
    assert_eq!(error_of(no_key).await.0, 401);
    let last = if key.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &key[..key.len() - 1]);
    assert_eq!(error_of(submit(&app, &forged, "invoices", &item("a", 0.5)).await).await.0, 401);

    let created: Value = submit(&app, &key, "invoices", &item("a", 0.5)).await.json().await.unwrap();
    let (status, error) = error_of(get(&app, &other_key, &format!("/items/{}", created["id"])).await).await;
    assert_eq!(status, 404, "a key cannot read another workflow's items, nor learn they exist");
    let (_, missing) = error_of(get(&app, &other_key, "/items/999999").await).await;
    assert_eq!(error["code"], missing["code"]);
    assert!(!error.to_string().contains("invoices"), "the answer names no other workflow: {error}");

    let (key_id,): (i64,) =
        sqlx::query_as("select id from api_keys order by id limit 1").fetch_one(app.db.pool()).await.unwrap();
    // Revoked elsewhere (another instance, the CLI): refused once this instance's cache expires.
    gatehouse::api_keys::server::revoke(&app.db, &Actor::Cli, key_id).await.unwrap();
    tokio::time::sleep(gatehouse::state::API_CACHE_TTL + std::time::Duration::from_millis(100)).await;
    assert_eq!(error_of(submit(&app, &key, "invoices", &item("b", 0.5)).await).await.0, 401);
    assert_eq!(item_count(&app).await, 1);
    let (last_used,): (Option<i64>,) = sqlx::query_as("select last_used_at from api_keys where id = $1")
        .bind(key_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert!(last_used.is_some(), "last-used time is recorded");
}

async fn batches_are_all_or_nothing(backend: Backend) {
    let (app, key) = setup(backend).await;
    let batch_url = app.url("/api/v1/workflows/invoices/items:batch");
    let post = |body: Value| app.client.post(&batch_url).bearer_auth(&key).json(&body).send();

    let mut items: Vec<Value> = (0..4).map(|i| item(&format!("b{i}"), 0.2 + 0.2 * f64::from(i))).collect();
    items[3]["payload"]["total"] = json!("oops");
    let (status, error) = error_of(post(json!({ "items": items.clone() })).await.unwrap()).await;
    assert_eq!(status, 422);
    let problems = error["details"]["items"].as_array().unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(
        (problems[0]["index"].as_u64(), problems[0]["path"].as_str()),
        (Some(3), Some("/items/3/payload/total"))
    );
    assert_eq!(item_count(&app).await, 0);

    items[3]["payload"]["total"] = json!(10);
    let ok = post(json!({ "items": items.clone() })).await.unwrap();
    assert_eq!(ok.status(), 200);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(ok["created"], 4);
    assert_eq!(ok["items"][0]["item"]["state"], "escalated");
    assert_eq!(item_count(&app).await, 4);

    // A conflict with a stored item refuses the whole batch, new items included.
    let mut conflicting = vec![item("new-1", 0.5), items[0].clone()];
    conflicting[1]["confidence"] = json!(0.99);
    let (status, error) = error_of(post(json!({ "items": conflicting })).await.unwrap()).await;
    assert_eq!(status, 409);
    assert_eq!(error["details"]["items"][0]["index"], 1);
    assert_eq!(item_count(&app).await, 4);

    let (status, _) = error_of(post(json!({ "items": [] })).await.unwrap()).await;
    assert_eq!(status, 422);
    let too_many: Vec<Value> = (0..1001).map(|i| item(&format!("m{i}"), 0.5)).collect();
    let (status, _) = error_of(post(json!({ "items": too_many })).await.unwrap()).await;
    assert_eq!(status, 422);
}

async fn items_can_be_read_listed_and_followed(backend: Backend) {
    let (app, key) = setup(backend).await;
    let mut submitted = Vec::new();
    for (i, confidence) in [0.95, 0.5, 0.97, 0.1, 0.92].iter().enumerate() {
        let mut body = item(&format!("r{i}"), *confidence);
        body["metadata"] = json!({ "batch": "b-7", "page": i });
        let response = submit(&app, &key, "invoices", &body).await;
        assert_eq!(response.status(), 201);
        submitted.push(response.json::<Value>().await.unwrap());
    }
    let by_external: Value = get(&app, &key, "/workflows/invoices/items/by-external-id/r2").await.json().await.unwrap();
    assert_eq!(by_external["external_id"], "r2");
    for answer in &submitted {
        let stored: Value = get(&app, &key, &format!("/items/{}", answer["id"])).await.json().await.unwrap();
        assert_eq!(&stored, answer, "the ingest answer is exactly what a read returns");
    }
    let by_id: Value = get(&app, &key, &format!("/items/{}", by_external["id"])).await.json().await.unwrap();
    assert_eq!(by_id, by_external);
    assert_eq!(by_id["decisions"][0]["actor"], "system");

    // Keyset pages of two, in a stable order, cover every item once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/workflows/invoices/items?limit=2&cursor={c}"),
            None => "/workflows/invoices/items?limit=2".to_owned(),
        };
        let page: Value = get(&app, &key, &path).await.json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|i| i["external_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["r0", "r1", "r2", "r3", "r4"]);
    let auto: Value = get(&app, &key, "/workflows/invoices/items?state=auto_approved").await.json().await.unwrap();
    assert_eq!(auto["items"].as_array().unwrap().len(), 3);
    assert_eq!(error_of(get(&app, &key, "/workflows/invoices/items?state=bogus").await).await.0, 400);
    assert_eq!(error_of(get(&app, &key, "/workflows/invoices/items?since=yesterday").await).await.0, 400);

    // The feed returns final outcomes once, and a cursor to resume from.
    let feed: Value = get(&app, &key, "/workflows/invoices/decisions?limit=2").await.json().await.unwrap();
    assert_eq!(feed["items"].as_array().unwrap().len(), 2);
    let next = feed["next_cursor"].as_str().unwrap().to_owned();
    let rest: Value =
        get(&app, &key, &format!("/workflows/invoices/decisions?since_cursor={next}")).await.json().await.unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    let last = rest["next_cursor"].as_str().unwrap().to_owned();
    let empty: Value =
        get(&app, &key, &format!("/workflows/invoices/decisions?since_cursor={last}")).await.json().await.unwrap();
    assert!(empty["items"].as_array().unwrap().is_empty());
    assert_eq!(empty["next_cursor"].as_str(), Some(last.as_str()), "an empty poll keeps the cursor");
}

/// 500 items of up to a megabyte each would be half a gigabyte in one answer: a page stops at
/// about 4 MiB of item data and its cursor leads on.
async fn large_items_come_in_shorter_pages(backend: Backend) {
    let (app, key) = setup(backend).await;
    let big = "m".repeat(900_000);
    for i in 0..6 {
        let mut body = item(&format!("big{i}"), 0.95);
        body["metadata"] = json!({ "blob": big });
        assert_eq!(submit(&app, &key, "invoices", &body).await.status(), 201);
    }
    let first: Value = get(&app, &key, "/workflows/invoices/items?limit=500").await.json().await.unwrap();
    let first_ids: Vec<&str> =
        first["items"].as_array().unwrap().iter().map(|i| i["external_id"].as_str().unwrap()).collect();
    assert_eq!(first_ids, ["big0", "big1", "big2", "big3"], "four fit in the budget, the fifth would not");
    let cursor = first["next_cursor"].as_str().expect("a cursor to the rest");
    let rest: Value =
        get(&app, &key, &format!("/workflows/invoices/items?limit=500&cursor={cursor}")).await.json().await.unwrap();
    let rest_ids: Vec<&str> =
        rest["items"].as_array().unwrap().iter().map(|i| i["external_id"].as_str().unwrap()).collect();
    assert_eq!(rest_ids, ["big4", "big5"]);
    assert!(rest["next_cursor"].is_null());
    assert_eq!(rest["items"][0]["metadata"]["blob"].as_str().map(str::len), Some(900_000), "items come whole");
}

async fn workflow_changes_are_versioned_and_reapplying_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (created, outcome) = workflows::apply(&app.db, &Actor::Cli, spec("invoices"), "first").await.unwrap();
    assert_eq!((outcome, created.settings_version), (ApplyOutcome::Created, 1));
    let (_, outcome) = workflows::apply(&app.db, &Actor::Cli, spec("invoices"), "again").await.unwrap();
    assert_eq!(outcome, ApplyOutcome::Unchanged);

    let mut changed = spec("invoices");
    changed.auto_approve_at = Some(0.85);
    changed.audit_rate = 0.1;
    let (updated, outcome) = workflows::apply(&app.db, &Actor::Cli, changed, "lower threshold").await.unwrap();
    assert_eq!(outcome, ApplyOutcome::Updated { changed: vec!["audit_rate".into(), "auto_approve_at".into()] });
    assert_eq!(updated.settings_version, 2);
    let history: Vec<(i64, String, Option<String>, String)> = sqlx::query_as(
        "select version, reason, old_settings, new_settings from workflow_settings_history order by version",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!((history[1].0, history[1].1.as_str()), (2, "lower threshold"));
    let old: Value = serde_json::from_str(history[1].2.as_deref().unwrap()).unwrap();
    let new: Value = serde_json::from_str(&history[1].3).unwrap();
    assert_eq!((old["auto_approve_at"].as_f64(), new["auto_approve_at"].as_f64()), (Some(0.9), Some(0.85)));

    let mut invalid = spec("invoices");
    invalid.escalate_below = Some(0.99);
    let error = workflows::apply(&app.db, &Actor::Cli, invalid, "bad").await.unwrap_err();
    assert_eq!(error.field(), Some("escalate_below"));
    let mut unknown_member = spec("invoices");
    unknown_member.members = vec!["ghost@example.com".into()];
    let error = workflows::apply(&app.db, &Actor::Cli, unknown_member, "bad").await.unwrap_err();
    assert_eq!(error.field(), Some("members"));
    assert_eq!(workflows::find_by_slug(&app.db, "invoices").await.unwrap().unwrap().settings_version, 2);
}
