//! Reviewer queues over HTTP, by calling the server functions as the browser does: claims under
//! concurrency, leases (renewal, expiry, stale tokens), double submits, membership and roles,
//! each verdict's validation, undo within its window, and the webhook a decision schedules.

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_both_backends;
use gatehouse::config::ServeArgs;
use gatehouse::domain::Role;
use gatehouse::domain::workflow::WorkflowSpec;
use gatehouse::storage::audit::Actor;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

on_both_backends!(
    claim_race_decides_every_item_exactly_once,
    two_instances_never_hand_out_one_item_twice,
    claim_next_uses_its_index,
    leases_renew_and_expire_back_to_the_queue,
    a_stale_lease_cannot_decide_after_another_reviewer_claims,
    double_submits_decide_once,
    a_decision_brings_the_next_item_or_redirects_a_plain_form,
    only_members_and_holders_may_act_and_only_leads_assign,
    each_verdict_is_validated_and_recorded,
    undo_within_the_window_reopens_the_item_and_withdraws_its_events,
    an_approval_schedules_one_webhook_after_the_undo_window,
);

const SLUG: &str = "invoices";

/// A signed-in user.
struct Person {
    client: reqwest::Client,
    id: i64,
    email: String,
}

async fn person(app: &TestApp, email: &str, role: Role) -> Person {
    let (client, id) = app.signed_in(email, role).await;
    Person { client, id, email: email.to_owned() }
}

fn spec(members: &[&str]) -> WorkflowSpec {
    serde_json::from_value(json!({
        "slug": SLUG,
        "name": "Invoices",
        "members": members,
        "prediction_schema": {
            "type": "object",
            "required": ["label", "fields"],
            "properties": {
                "label": { "type": "string" },
                "fields": {
                    "type": "object",
                    "properties": { "total": { "type": "number", "minimum": 0 } }
                }
            }
        },
        "labels": ["invoice", "receipt"],
        "reason_codes": ["blurry", "wrong_document"],
        "auto_approve_at": 0.9,
        "escalate_below": 0.2,
        "audit_rate": 0.0,
    }))
    .unwrap()
}

/// The workflow with these members, and an API key for it.
async fn with_workflow(app: &TestApp, members: &[&Person]) -> (i64, String) {
    let emails: Vec<&str> = members.iter().map(|p| p.email.as_str()).collect();
    let (workflow, _) = gatehouse::workflows::server::apply(&app.db, &Actor::Cli, spec(&emails), "test").await.unwrap();
    let key =
        gatehouse::api_keys::server::create(&app.db, &Actor::Cli, "test", &[SLUG.to_owned()]).await.unwrap().token;
    (workflow.id, key)
}

fn item(external_id: &str) -> Value {
    json!({
        "external_id": external_id,
        "payload": { "invoice_number": format!("INV-{external_id}") },
        "prediction": { "label": "invoice", "fields": { "total": 120.5 } },
        "confidence": 0.5,
    })
}

/// Ingests `count` items for review (confidence in the review band); their ids, oldest first.
async fn ingest(app: &TestApp, key: &str, prefix: &str, count: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(count);
    let items: Vec<Value> = (0..count).map(|i| item(&format!("{prefix}-{i}"))).collect();
    for chunk in items.chunks(gatehouse::items::ingest::MAX_BATCH) {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/workflows/{SLUG}/items:batch")))
            .bearer_auth(key)
            .json(&json!({ "items": chunk }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        for entry in body["items"].as_array().unwrap() {
            assert_eq!(entry["item"]["state"], "queued", "{entry}");
            ids.push(entry["item"]["id"].as_i64().unwrap());
        }
    }
    ids
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

// 1. ---------------------------------------------------------------------------------------------

async fn claim_race_decides_every_item_exactly_once(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    race(vec![Arc::new(app)], 32, 1000).await;
}

/// Several server instances on one database (each its own pool, as separate processes would
/// be): reviewers' calls alternate between them, and still no item is handed out twice.
async fn two_instances_never_hand_out_one_item_twice(backend: Backend) {
    let first = app_with(backend, |_| {}).await;
    let second = first.another_instance().await;
    race(vec![Arc::new(first), Arc::new(second)], 16, 400).await;
}

/// `reviewers` reviewers (sessions on the first instance) work `items` items to the end through
/// the real server functions, each call going to the next of `apps`; every item must be decided
/// exactly once.
async fn race(apps: Vec<Arc<TestApp>>, reviewers: usize, items: usize) {
    let (reviewer_count, item_count) = (reviewers, items);
    let began = Instant::now();
    let app = apps[0].clone();
    let mut reviewers = Vec::with_capacity(reviewer_count);
    for i in 0..reviewer_count {
        reviewers.push(person(&app, &format!("r{i}@example.com"), Role::Reviewer).await);
    }
    let (_, key) = with_workflow(&app, &reviewers.iter().collect::<Vec<_>>()).await;
    let ids = ingest(&app, &key, "race", item_count).await;
    assert_eq!(ids.len(), item_count);
    let set_up = began.elapsed();

    let mut workers = tokio::task::JoinSet::new();
    for (n, reviewer) in reviewers.into_iter().enumerate() {
        let apps = apps.clone();
        workers.spawn(async move {
            // (item, decision) of each approval, and every unexpected answer.
            let mut approved = Vec::new();
            let mut unexpected = Vec::new();
            let mut turn = n;
            let mut app = apps[turn % apps.len()].clone();
            let mut next = start(&app, &reviewer).await;
            let mut brought: Option<String> = None;
            loop {
                turn += 1;
                app = apps[turn % apps.len()].clone();
                let Some(item_id) = next else {
                    // Another claim may have skipped a row locked for a moment: ask once more.
                    match start(&app, &reviewer).await {
                        Some(id) => {
                            next = Some(id);
                            continue;
                        }
                        None => break,
                    }
                };
                // Every other item as the browser's script has it (brought along by the last
                // decision), the others as the item's page loads it.
                let token = match brought.take() {
                    Some(token) if turn % 2 == 0 => token,
                    _ => {
                        let form = [("slug", SLUG), ("item_id", &item_id.to_string())];
                        let (status, body) = call(&app, &reviewer, "review/item", &form).await;
                        if status != 200 {
                            unexpected.push((status, body));
                            next = None;
                            continue;
                        }
                        body["lease_token"].as_str().unwrap().to_owned()
                    }
                };
                let (status, receipt) = approve(&app, &reviewer, item_id, &token).await;
                if status != 200 {
                    unexpected.push((status, receipt));
                    next = None;
                    continue;
                }
                approved.push((item_id, receipt["decision_id"].as_i64().unwrap()));
                next = receipt["next_item"].as_i64();
                if receipt["next"]["item_id"].as_i64() != next {
                    unexpected.push((200, receipt.clone()));
                }
                brought = receipt["next"]["lease_token"].as_str().map(str::to_owned);
            }
            (approved, unexpected)
        });
    }
    let mut approved = Vec::new();
    let mut unexpected = Vec::new();
    let mut busy_reviewers = 0;
    while let Some(result) = workers.join_next().await {
        let (mine, bad) = result.expect("a reviewer task panicked");
        busy_reviewers += usize::from(!mine.is_empty());
        approved.extend(mine);
        unexpected.extend(bad);
    }
    let elapsed = began.elapsed();
    eprintln!("claim race: set-up {set_up:?}, total {elapsed:?}, {busy_reviewers} reviewers decided something");

    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
    assert_eq!(approved.len(), item_count, "each approval answered once");
    let mut items: Vec<i64> = approved.iter().map(|(item, _)| *item).collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items.len(), item_count, "no item was approved twice");
    let mut decision_ids: Vec<i64> = approved.iter().map(|(_, d)| *d).collect();
    decision_ids.sort_unstable();
    decision_ids.dedup();
    assert_eq!(decision_ids.len(), item_count, "every approval is its own decision");

    assert_eq!(
        count(&app, "select count(*) from decisions where kind = 'approve' and final = 1").await,
        item_count as i64
    );
    assert_eq!(
        count(&app, "select count(*) from decisions where kind <> 'approve'").await,
        0,
        "no lease expired or released"
    );
    assert_eq!(
        count(&app, "select count(*) from (select item_id from decisions where final = 1 group by item_id having count(*) > 1) t")
            .await,
        0,
        "no item has two final decisions"
    );
    assert_eq!(
        count(&app, "select count(*) from items where state = 'approved' and outcome = 'approved'").await,
        item_count as i64
    );
    assert_eq!(
        count(&app, "select count(*) from items where leased_by is not null or lease_token is not null").await,
        0
    );
    assert!(busy_reviewers > 1, "the work was shared");
}

/// Claim-next reads one index entry, however many items wait: the query plan uses the claim
/// index and sorts nothing.
async fn claim_next_uses_its_index(backend: Backend) {
    let app = app_with(backend.clone(), |_| {}).await;
    let plan: Vec<String> = match backend {
        Backend::Sqlite => sqlx::query_as::<_, (i64, i64, i64, String)>(
            "explain query plan select id from items where workflow_id = 1 and state = 'queued' and id <> 0 \
             order by priority desc, id limit 1",
        )
        .fetch_all(app.db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.3)
        .collect(),
        Backend::Postgres { .. } => {
            // One connection, so that the setting applies to the explain.
            let mut conn = app.db.pool().acquire().await.unwrap();
            sqlx::query("set enable_seqscan = off").execute(&mut *conn).await.unwrap();
            sqlx::query_as::<_, (String,)>(
                "explain select id from items where workflow_id = 1 and state = 'queued' and id <> 0 \
                 order by priority desc, id limit 1",
            )
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.0)
            .collect()
        }
    };
    let plan = plan.join("\n");
    assert!(plan.contains("items_claim_idx"), "claim-next does not use its index:\n{plan}");
    assert!(!plan.to_lowercase().contains("temp b-tree") && !plan.contains("Sort"), "claim-next sorts:\n{plan}");
}

// 2. ---------------------------------------------------------------------------------------------

async fn leases_renew_and_expire_back_to_the_queue(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let b = person(&app, "b@example.com", Role::Reviewer).await;
    let (_, key) = with_workflow(&app, &[&a, &b]).await;
    let id = ingest(&app, &key, "lease", 1).await[0];

    assert_eq!(start(&app, &a).await, Some(id));
    let leased = ok(&app, &a, "review/item", &[("slug", SLUG), ("item_id", &id.to_string())]).await;
    let a_token = leased["lease_token"].as_str().unwrap().to_owned();
    let first_end = leased["lease_expires_at_ms"].as_i64().unwrap();
    assert_eq!(leased["lease_secs"], 600);
    assert!((first_end - leased["now_ms"].as_i64().unwrap() - 600_000).abs() < 5_000, "{leased}");

    tokio::time::sleep(Duration::from_millis(30)).await;
    let renewed = ok(&app, &a, "review/renew", &[("item_id", &id.to_string()), ("lease_token", &a_token)]).await;
    let new_end = renewed.as_i64().unwrap();
    assert!(new_end >= first_end + 30, "renewal extends the lease: {first_end} -> {new_end}");
    let (stored,): (Option<i64>,) = sqlx::query_as("select lease_expires_at from items where id = $1")
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, Some(new_end));
    let (status, body) = call(&app, &a, "review/renew", &[("item_id", &id.to_string()), ("lease_token", "nope")]).await;
    assert_eq!((status, body["kind"].as_str()), (409, Some("conflict")), "a wrong token renews nothing");

    // The sweeper at the old end leaves the renewed lease alone; past the new one it expires it.
    use gatehouse::review::lease::expire_leases;
    assert_eq!(expire_leases(&app.db, first_end + 1).await.unwrap(), 0);
    assert_eq!(item_state(&app, id).await, ("claimed".to_owned(), Some(a.id)));
    assert_eq!(expire_leases(&app.db, new_end + 1000).await.unwrap(), 1);
    assert_eq!(item_state(&app, id).await, ("queued".to_owned(), None));
    let history = decisions(&app, id).await;
    assert_eq!(kinds(&history), ["lease_expired"]);
    assert_eq!(history[0].2, None, "the system expired it");
    assert_eq!(expire_leases(&app.db, new_end + 2000).await.unwrap(), 0, "expiring twice does nothing");

    // The old holder's decision is refused and changes nothing.
    let (status, body) = approve(&app, &a, id, &a_token).await;
    assert_eq!((status, body["kind"].as_str()), (409, Some("conflict")), "{body}");
    assert!(message(&body).contains("lease"), "{body}");
    let (status, _) = call(&app, &a, "review/renew", &[("item_id", &id.to_string()), ("lease_token", &a_token)]).await;
    assert_eq!(status, 409);
    let (status, body) = call(&app, &a, "review/item", &[("slug", SLUG), ("item_id", &id.to_string())]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(decisions(&app, id).await.len(), 1);
    assert_eq!(item_state(&app, id).await, ("queued".to_owned(), None));

    // Someone else can claim it now.
    assert_eq!(start(&app, &b).await, Some(id));
    let b_token = token(&app, &b, id).await;
    assert_ne!(b_token, a_token);
    assert_eq!(item_state(&app, id).await, ("claimed".to_owned(), Some(b.id)));
}

// 3. ---------------------------------------------------------------------------------------------

async fn a_stale_lease_cannot_decide_after_another_reviewer_claims(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let b = person(&app, "b@example.com", Role::Reviewer).await;
    let (_, key) = with_workflow(&app, &[&a, &b]).await;
    let id = ingest(&app, &key, "stale", 1).await[0];

    assert_eq!(start(&app, &a).await, Some(id));
    let a_token = token(&app, &a, id).await;
    let later = gatehouse::storage::clock::now_ms() + 601_000;
    assert_eq!(gatehouse::review::lease::expire_leases(&app.db, later).await.unwrap(), 1);
    assert_eq!(start(&app, &b).await, Some(id));
    let b_token = token(&app, &b, id).await;

    for verdict in ["review/approve", "review/skip"] {
        let (status, body) = call(&app, &a, verdict, &[("item_id", &id.to_string()), ("lease_token", &a_token)]).await;
        assert_eq!((status, body["kind"].as_str()), (409, Some("conflict")), "{verdict}: {body}");
    }
    let (status, _) = call(
        &app,
        &a,
        "review/reject",
        &[("item_id", &id.to_string()), ("lease_token", &a_token), ("reason_code", "blurry")],
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(item_state(&app, id).await, ("claimed".to_owned(), Some(b.id)), "still B's");
    assert_eq!(kinds(&decisions(&app, id).await), ["lease_expired"]);
    assert_eq!(start(&app, &a).await, None, "nothing else waits for A");

    let (status, receipt) = approve(&app, &b, id, &b_token).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["kind"], "approve");
    assert_eq!(item_state(&app, id).await, ("approved".to_owned(), None));
    let history = decisions(&app, id).await;
    assert_eq!(kinds(&history), ["lease_expired", "approve"]);
    assert_eq!(history[1].2, Some(b.id));
}

// 4. ---------------------------------------------------------------------------------------------

async fn double_submits_decide_once(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let (_, key) = with_workflow(&app, &[&a]).await;
    let ids = ingest(&app, &key, "dup", 10).await;

    // Sequential: the repeat answers as the first did.
    assert_eq!(start(&app, &a).await, Some(ids[0]));
    let t0 = token(&app, &a, ids[0]).await;
    let (status, first) = approve(&app, &a, ids[0], &t0).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["next_item"].as_i64(), Some(ids[1]));
    let (status, again) = approve(&app, &a, ids[0], &t0).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(without_clock(&again), without_clock(&first), "the repeat answers as the first submit");
    assert_eq!(kinds(&decisions(&app, ids[0]).await), ["approve"]);
    assert_eq!(held_by(&app, a.id).await, vec![ids[1]]);

    // Another verdict under the same token is refused and changes nothing.
    let (status, body) = call(
        &app,
        &a,
        "review/reject",
        &[("item_id", &ids[0].to_string()), ("lease_token", &t0), ("reason_code", "blurry")],
    )
    .await;
    assert_eq!((status, body["kind"].as_str()), (409, Some("conflict")), "{body}");
    assert!(message(&body).contains("already approved"), "{body}");
    assert_eq!(kinds(&decisions(&app, ids[0]).await), ["approve"]);
    assert_eq!(item_state(&app, ids[0]).await, ("approved".to_owned(), None));
    let (final_output,): (Option<String>,) = sqlx::query_as("select final_output from items where id = $1")
        .bind(ids[0])
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert!(final_output.unwrap().contains("120.5"));

    // Concurrent: five identical submits at once record one decision and agree on it (three
    // rounds, since a race that leases a second item does not show every time).
    let app = Arc::new(app);
    let a = Arc::new(a);
    let mut item = ids[1];
    for round in 1..=3 {
        let lease = token(&app, &a, item).await;
        let mut submits = tokio::task::JoinSet::new();
        for _ in 0..5 {
            let (app, a, lease) = (app.clone(), a.clone(), lease.clone());
            submits.spawn(async move { approve(&app, &a, item, &lease).await });
        }
        let mut answers = Vec::new();
        while let Some(answer) = submits.join_next().await {
            answers.push(answer.unwrap());
        }
        for (status, receipt) in &answers {
            assert_eq!(*status, 200, "{receipt}");
            assert_eq!(
                without_clock(receipt),
                without_clock(&answers[0].1),
                "every answer names the same decision and next item"
            );
        }
        let history = decisions(&app, item).await;
        assert_eq!(kinds(&history), ["approve"]);
        assert_eq!(answers[0].1["decision_id"].as_i64(), Some(history[0].0));
        let next = answers[0].1["next_item"].as_i64().unwrap();
        assert_eq!(held_by(&app, a.id).await, vec![next], "one reviewer holds one item, however many submits raced");
        assert_eq!(count(&app, "select count(*) from items where state = 'claimed'").await, 1);
        assert_eq!(count(&app, "select count(*) from decisions").await, 1 + round);
        item = next;
    }
}

/// `value` without the server's clock readings (`now_ms`), which differ from answer to answer.
fn without_clock(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            map.iter().filter(|(key, _)| *key != "now_ms").map(|(key, v)| (key.clone(), without_clock(v))).collect()
        }
        Value::Array(values) => values.iter().map(without_clock).collect(),
        other => other.clone(),
    }
}

async fn a_decision_brings_the_next_item_or_redirects_a_plain_form(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let (_, key) = with_workflow(&app, &[&a]).await;
    let ids = ingest(&app, &key, "next", 3).await;
    assert_eq!(start(&app, &a).await, Some(ids[0]));

    // The page's script: the answer carries the next item as its page loads it, and the offer
    // to undo.
    let t0 = token(&app, &a, ids[0]).await;
    let (status, receipt) = approve(&app, &a, ids[0], &t0).await;
    assert_eq!(status, 200, "{receipt}");
    let page = ok(&app, &a, "review/item", &[("slug", SLUG), ("item_id", &ids[1].to_string())]).await;
    assert_eq!(without_clock(&receipt["next"]), without_clock(&page), "the next item, lease token and all");
    assert_eq!(receipt["undo"]["decision_id"], receipt["decision_id"]);
    assert_eq!(
        (receipt["undo"]["external_id"].as_str(), receipt["undo"]["kind"].as_str()),
        (Some("next-0"), Some("approve"))
    );
    assert_eq!(receipt["undo"]["undo_until_ms"], receipt["undo_until_ms"]);

    // A skip cannot be undone: no offer.
    let t1 = page["lease_token"].as_str().unwrap();
    let (status, skipped) =
        call(&app, &a, "review/skip", &[("item_id", &ids[1].to_string()), ("lease_token", t1)]).await;
    assert_eq!(status, 200, "{skipped}");
    assert!(skipped["undo"].is_null(), "{skipped}");
    assert_eq!(skipped["next"]["item_id"].as_i64(), Some(ids[2]));

    // A form posted without JavaScript is sent to the next item's page, with the undo banner.
    let t2 = skipped["next"]["lease_token"].as_str().unwrap();
    let response = a
        .client
        .post(app.url("/api/review/approve"))
        .header("accept", "text/html")
        .form(&[("item_id", ids[2].to_string().as_str()), ("lease_token", t2)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let history = decisions(&app, ids[2]).await;
    assert_eq!(kinds(&history), ["approve"]);
    // The skipped item is the only one left, and comes round again.
    let expected = format!("/review/{SLUG}/{}?undo={}", ids[1], history[0].0);
    assert_eq!(response.headers()["location"], expected.as_str());
}

// 5. ---------------------------------------------------------------------------------------------

async fn only_members_and_holders_may_act_and_only_leads_assign(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let b = person(&app, "b@example.com", Role::Reviewer).await;
    let outsider = person(&app, "c@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let (_, key) = with_workflow(&app, &[&a, &b, &lead]).await;
    let ids = ingest(&app, &key, "auth", 3).await;
    let nobody = Person { client: crate::helpers::client(), id: 0, email: String::new() };

    // Not a member: 403 everywhere, and the queues page does not list the workflow.
    let (status, body) = call(&app, &outsider, "review/start", &[("slug", SLUG)]).await;
    assert_eq!((status, body["kind"].as_str()), (403, Some("forbidden")));
    assert_eq!(start(&app, &a).await, Some(ids[0]));
    let a_token = token(&app, &a, ids[0]).await;
    let id0 = ids[0].to_string();
    let item_form = [("slug", SLUG), ("item_id", id0.as_str())];
    let (status, _) = call(&app, &outsider, "review/item", &item_form).await;
    assert_eq!(status, 403);
    let (status, _) = approve(&app, &outsider, ids[0], &a_token).await;
    assert_eq!(status, 403, "not a member, even with the holder's token");
    let overview = ok(&app, &outsider, "review/queues", &[]).await;
    assert_eq!(overview["queues"], json!([]));

    // Signed out: 401.
    for (endpoint, form) in
        [("review/queues", vec![]), ("review/start", vec![("slug", SLUG)]), ("review/item", item_form.to_vec())]
    {
        let (status, body) = call(&app, &nobody, endpoint, &form).await;
        assert_eq!((status, body["kind"].as_str()), (401, Some("unauthenticated")), "{endpoint}");
    }
    let (status, _) = approve(&app, &nobody, ids[0], &a_token).await;
    assert_eq!(status, 401);

    // A member cannot decide or open an item leased to someone else, guessed or stolen token alike.
    for guess in ["0123456789abcdef0123456789abcdef", a_token.as_str()] {
        let (status, body) = approve(&app, &b, ids[0], guess).await;
        assert_eq!((status, body["kind"].as_str()), (409, Some("conflict")), "{body}");
        assert!(message(&body).contains("another reviewer"), "{body}");
    }
    let (status, _) = call(&app, &b, "review/item", &item_form).await;
    assert_eq!(status, 409);
    let (status, _) =
        call(&app, &b, "review/renew", &[("item_id", &ids[0].to_string()), ("lease_token", &a_token)]).await;
    assert_eq!(status, 409);
    assert_eq!(item_state(&app, ids[0]).await, ("claimed".to_owned(), Some(a.id)));
    assert_eq!(count(&app, "select count(*) from decisions").await, 0, "nothing was recorded");

    // Reviewers cannot assign; a lead can, to members only.
    let assign = |item: i64, to: &str| [("item_id", item.to_string()), ("assignee", to.to_owned())];
    let form = assign(ids[1], "b@example.com");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = call(&app, &a, "review/assign", &form).await;
    assert_eq!((status, body["kind"].as_str()), (403, Some("forbidden")));
    assert_eq!(item_state(&app, ids[1]).await.0, "queued");
    let outsider_form = assign(ids[1], "c@example.com");
    let outsider_form: Vec<(&str, &str)> = outsider_form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = call(&app, &lead, "review/assign", &outsider_form).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("assignee")), "{body}");
    assert_eq!(ok(&app, &lead, "review/assign", &form).await, Value::Null);
    assert_eq!(item_state(&app, ids[1]).await, ("assigned".to_owned(), None));

    // The assigned item is handed to nobody else.
    let (status, receipt) = approve(&app, &a, ids[0], &a_token).await;
    assert_eq!(status, 200);
    assert_eq!(receipt["next_item"].as_i64(), Some(ids[2]), "the assigned item is skipped");
    let overview = ok(&app, &b, "review/queues", &[]).await;
    let assigned: Vec<i64> =
        overview["assigned"].as_array().unwrap().iter().map(|a| a["item_id"].as_i64().unwrap()).collect();
    assert_eq!(assigned, vec![ids[1]]);
    assert_eq!(overview["assigned"][0]["state"], "assigned");
    assert_eq!(ok(&app, &a, "review/queues", &[]).await["assigned"], json!([]));

    let id1 = ids[1].to_string();
    let claim = [("item_id", id1.as_str())];
    let (status, _) = call(&app, &a, "review/claim-assigned", &claim).await;
    assert_eq!(status, 403, "only the assignee claims it");
    let (status, _) = call(&app, &outsider, "review/claim-assigned", &claim).await;
    assert_eq!(status, 403);
    assert_eq!(item_state(&app, ids[1]).await, ("assigned".to_owned(), None));
    assert_eq!(ok(&app, &b, "review/claim-assigned", &claim).await.as_i64(), Some(ids[1]));
    assert_eq!(item_state(&app, ids[1]).await, ("claimed".to_owned(), Some(b.id)));
    let b_token = token(&app, &b, ids[1]).await;
    let (status, receipt) = approve(&app, &b, ids[1], &b_token).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(item_state(&app, ids[1]).await, ("approved".to_owned(), None));
    assert_eq!(ok(&app, &b, "review/queues", &[]).await["assigned"], json!([]));
}

// 6. ---------------------------------------------------------------------------------------------

async fn each_verdict_is_validated_and_recorded(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let (_, key) = with_workflow(&app, &[&a]).await;
    let ids = ingest(&app, &key, "v", 6).await;

    let overview = ok(&app, &a, "review/queues", &[]).await;
    assert_eq!(overview["queues"][0]["waiting"], 6);
    assert_eq!(overview["queues"][0]["my_decisions_today"], 0);
    assert_eq!(overview["queues"][0]["my_item"], Value::Null);

    // Reject: the reason must be one of the workflow's.
    assert_eq!(start(&app, &a).await, Some(ids[0]));
    let t = token(&app, &a, ids[0]).await;
    let id0 = ids[0].to_string();
    for reason in ["bogus", ""] {
        let (status, body) =
            call(&app, &a, "review/reject", &[("item_id", &id0), ("lease_token", &t), ("reason_code", reason)]).await;
        assert_eq!(
            (status, body["kind"].as_str(), body["field"].as_str()),
            (422, Some("invalid"), Some("reason_code")),
            "{body}"
        );
    }
    assert_eq!(count(&app, "select count(*) from decisions").await, 0);
    assert_eq!(item_state(&app, ids[0]).await, ("claimed".to_owned(), Some(a.id)));
    let receipt = ok(
        &app,
        &a,
        "review/reject",
        &[("item_id", &id0), ("lease_token", &t), ("reason_code", "blurry"), ("note", "too dark to read")],
    )
    .await;
    assert_eq!((receipt["kind"].as_str(), receipt["next_item"].as_i64()), (Some("reject"), Some(ids[1])));
    let (reason, note, final_, output): (Option<String>, Option<String>, i64, Option<String>) =
        sqlx::query_as("select reason_code, note, final, output from decisions where id = $1")
            .bind(receipt["decision_id"].as_i64().unwrap())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(
        (reason.as_deref(), note.as_deref(), final_, output),
        (Some("blurry"), Some("too dark to read"), 1, None)
    );
    let (outcome,): (Option<String>,) =
        sqlx::query_as("select outcome from items where id = $1").bind(ids[0]).fetch_one(app.db.pool()).await.unwrap();
    assert_eq!((item_state(&app, ids[0]).await.0, outcome.as_deref()), ("rejected".to_owned(), Some("rejected")));

    // Escalate: a note is required.
    let t = token(&app, &a, ids[1]).await;
    let id1 = ids[1].to_string();
    let (status, body) =
        call(&app, &a, "review/escalate", &[("item_id", &id1), ("lease_token", &t), ("note", "  ")]).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("note")), "{body}");
    assert_eq!(count(&app, "select count(*) from decisions").await, 1);
    let receipt =
        ok(&app, &a, "review/escalate", &[("item_id", &id1), ("lease_token", &t), ("note", "needs a lead")]).await;
    assert_eq!((receipt["kind"].as_str(), receipt["next_item"].as_i64()), (Some("escalate"), Some(ids[2])));
    assert_eq!(item_state(&app, ids[1]).await, ("escalated".to_owned(), None));

    // Correct: validated against the prediction contract; an unchanged correction is refused.
    let t = token(&app, &a, ids[2]).await;
    let id2 = ids[2].to_string();
    let correct = |fields: &'static [(&'static str, &'static str)]| {
        let mut form = vec![("item_id", id2.clone()), ("lease_token", t.clone())];
        form.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        form
    };
    for (fields, field) in [
        (&[("fields[/fields/total]", "-5")][..], "fields[/fields/total]"),
        (&[("fields[/fields/total]", "abc")][..], "fields[/fields/total]"),
        (&[("fields[/label]", "letter")][..], "fields[/label]"),
        (&[("fields[/nothing]", "1")][..], "fields[/nothing]"),
        (&[("fields[/fields/total]", "120.5")][..], "fields"),
        (&[][..], "fields"),
    ] {
        let form = correct(fields);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = call(&app, &a, "review/correct", &form).await;
        assert_eq!(
            (status, body["kind"].as_str(), body["field"].as_str()),
            (422, Some("invalid"), Some(field)),
            "{fields:?}: {body}"
        );
    }
    assert_eq!(count(&app, "select count(*) from decisions").await, 2, "no refused correction was stored");
    assert_eq!(item_state(&app, ids[2]).await, ("claimed".to_owned(), Some(a.id)));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let form = correct(&[("fields[/fields/total]", "99"), ("fields[/label]", "receipt")]);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let receipt = ok(&app, &a, "review/correct", &form).await;
    assert_eq!((receipt["kind"].as_str(), receipt["next_item"].as_i64()), (Some("correct"), Some(ids[3])));
    let (final_output, state): (Option<String>, String) =
        sqlx::query_as("select final_output, state from items where id = $1")
            .bind(ids[2])
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let final_output: Value = serde_json::from_str(&final_output.unwrap()).unwrap();
    assert_eq!(final_output, json!({ "label": "receipt", "fields": { "total": 99 } }));
    assert_eq!(state, "corrected");
    let (output, spent): (Option<String>, Option<i64>) =
        sqlx::query_as("select output, time_spent_ms from decisions where id = $1")
            .bind(receipt["decision_id"].as_i64().unwrap())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&output.unwrap()).unwrap(), final_output);
    assert!(spent.is_some_and(|ms| ms >= 50), "time spent recorded: {spent:?}");

    // Skip: back to the queue, and another item is handed out.
    let t = token(&app, &a, ids[3]).await;
    let receipt = ok(&app, &a, "review/skip", &[("item_id", &ids[3].to_string()), ("lease_token", &t)]).await;
    assert_eq!((receipt["kind"].as_str(), receipt["next_item"].as_i64()), (Some("release"), Some(ids[4])));
    assert_eq!(item_state(&app, ids[3]).await, ("queued".to_owned(), None));
    assert_eq!(item_state(&app, ids[4]).await, ("claimed".to_owned(), Some(a.id)));
    assert_eq!(held_by(&app, a.id).await, vec![ids[4]]);

    let overview = ok(&app, &a, "review/queues", &[]).await;
    let queue = &overview["queues"][0];
    assert_eq!(queue["slug"], SLUG);
    assert_eq!(queue["waiting"], 2, "{queue}"); // ids[3] (skipped) and ids[5]
    assert_eq!(queue["my_decisions_today"], 3, "reject, escalate, correct; a skip is no decision: {queue}");
    assert_eq!(queue["my_item"].as_i64(), Some(ids[4]));
}

// 7. ---------------------------------------------------------------------------------------------

async fn feed(app: &TestApp, key: &str) -> Vec<i64> {
    let response =
        app.client.get(app.url(&format!("/api/v1/workflows/{SLUG}/decisions"))).bearer_auth(key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    page["items"].as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect()
}

async fn subscribe(app: &TestApp, workflow_id: i64, events: &[&str]) {
    let events: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
    // Nothing listens there: these tests look at the outbox, not at deliveries.
    gatehouse::webhooks::endpoints::create(&app.db, &Actor::Cli, workflow_id, "http://127.0.0.1:9/hook", &events)
        .await
        .unwrap();
}

/// (event type, status, next_attempt_at) of the outbox rows reporting a decision.
async fn outbox_of(app: &TestApp, decision_id: i64) -> Vec<(String, String, i64)> {
    sqlx::query_as("select event_type, status, next_attempt_at from webhook_outbox where decision_id = $1 order by id")
        .bind(decision_id)
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

async fn undo_within_the_window_reopens_the_item_and_withdraws_its_events(backend: Backend) {
    const WINDOW_MS: u64 = 2500;
    let app = app_with(backend, |s| s.undo_window_ms = WINDOW_MS).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let b = person(&app, "b@example.com", Role::Reviewer).await;
    let (workflow_id, key) = with_workflow(&app, &[&a, &b]).await;
    subscribe(&app, workflow_id, &["item.approved", "item.rejected"]).await;
    let ids = ingest(&app, &key, "undo", 3).await;

    assert_eq!(start(&app, &a).await, Some(ids[0]));
    let t0 = token(&app, &a, ids[0]).await;
    let (status, receipt) = approve(&app, &a, ids[0], &t0).await;
    assert_eq!(status, 200);
    let d1 = receipt["decision_id"].as_i64().unwrap();
    assert_eq!(receipt["next_item"].as_i64(), Some(ids[1]));
    assert_eq!(outbox_of(&app, d1).await.len(), 1, "the approval's event waits in the outbox");
    assert!(feed(&app, &key).await.is_empty(), "not shown to pollers within its window");
    let offer = ok(&app, &a, "review/undo-offer", &[("decision_id", &d1.to_string())]).await;
    assert_eq!((offer["decision_id"].as_i64(), offer["item_id"].as_i64()), (Some(d1), Some(ids[0])));
    assert_eq!(ok(&app, &b, "review/undo-offer", &[("decision_id", &d1.to_string())]).await, Value::Null);

    // Someone else's decision cannot be undone.
    let (status, body) = call(&app, &b, "review/undo", &[("decision_id", &d1.to_string())]).await;
    assert_eq!((status, body["kind"].as_str()), (403, Some("forbidden")));

    // Within the window: the item comes back, the next one goes back, the event is withdrawn.
    assert_eq!(ok(&app, &a, "review/undo", &[("decision_id", &d1.to_string())]).await.as_i64(), Some(ids[0]));
    assert_eq!(item_state(&app, ids[0]).await, ("claimed".to_owned(), Some(a.id)));
    assert_eq!(item_state(&app, ids[1]).await, ("queued".to_owned(), None), "the item handed out next went back");
    assert_eq!(held_by(&app, a.id).await, vec![ids[0]]);
    let history = decisions(&app, ids[0]).await;
    assert_eq!(kinds(&history), ["approve", "undo"], "the original decision stays, an undo is appended");
    assert_eq!(history[0].0, d1);
    let (undoes,): (Option<i64>,) = sqlx::query_as("select undoes from decisions where id = $1")
        .bind(history[1].0)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(undoes, Some(d1));
    // The review page shows both lines, in order, the approval marked as undone.
    let page = ok(&app, &a, "review/item", &[("slug", SLUG), ("item_id", &ids[0].to_string())]).await;
    let shown: Vec<(&str, bool, &str)> = page["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (line["kind"].as_str().unwrap(), line["undone"].as_bool().unwrap(), line["actor"].as_str().unwrap())
        })
        .collect();
    assert_eq!(shown, [("approve", true, "a@example.com"), ("undo", false, "a@example.com")], "{page}");
    let (outcome, final_output): (Option<String>, Option<String>) =
        sqlx::query_as("select outcome, final_output from items where id = $1")
            .bind(ids[0])
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!((outcome, final_output), (None, None));
    assert!(outbox_of(&app, d1).await.is_empty(), "the pending event was withdrawn");
    assert_eq!(ok(&app, &a, "review/undo-offer", &[("decision_id", &d1.to_string())]).await, Value::Null);
    let (status, _) = call(&app, &a, "review/undo", &[("decision_id", &d1.to_string())]).await;
    assert_eq!(status, 409, "an undo is undone once");
    let queue = &ok(&app, &a, "review/queues", &[]).await["queues"][0];
    assert_eq!((queue["my_decisions_today"].as_i64(), queue["my_item"].as_i64()), (Some(0), Some(ids[0])));

    // The old token decides nothing now: the item is held under a new lease.
    let (status, body) = approve(&app, &a, ids[0], &t0).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (409, Some("conflict")),
        "a repeat of the undone approval is not answered as recorded: {body}"
    );
    assert!(message(&body).contains("undid"), "{body}");
    assert_eq!(kinds(&decisions(&app, ids[0]).await), ["approve", "undo"]);

    // Decide again under the new lease and let the window pass: too late to undo, and settled.
    let t0b = token(&app, &a, ids[0]).await;
    assert_ne!(t0b, t0);
    let (status, receipt) = call(
        &app,
        &a,
        "review/reject",
        &[("item_id", &ids[0].to_string()), ("lease_token", &t0b), ("reason_code", "wrong_document")],
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    let d2 = receipt["decision_id"].as_i64().unwrap();
    assert_eq!(receipt["next_item"].as_i64(), Some(ids[1]));
    assert_eq!(outbox_of(&app, d2).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(WINDOW_MS + 200)).await;
    let (status, body) = call(&app, &a, "review/undo", &[("decision_id", &d2.to_string())]).await;
    assert_eq!((status, body["kind"].as_str()), (409, Some("conflict")), "{body}");
    assert!(message(&body).contains("too late"), "{body}");
    assert_eq!(item_state(&app, ids[0]).await, ("rejected".to_owned(), None));
    assert_eq!(outbox_of(&app, d2).await.len(), 1, "a settled event is not withdrawn");
    assert_eq!(feed(&app, &key).await, vec![d2], "the feed shows the settled decision, never the undone one");
}

// 8. ---------------------------------------------------------------------------------------------

async fn an_approval_schedules_one_webhook_after_the_undo_window(backend: Backend) {
    const WINDOW_MS: i64 = 5000;
    let app = app_with(backend, |s| s.undo_window_ms = WINDOW_MS as u64).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let (workflow_id, key) = with_workflow(&app, &[&a]).await;
    subscribe(&app, workflow_id, &["item.approved"]).await;
    let ids = ingest(&app, &key, "hook", 2).await;
    assert_eq!(count(&app, "select count(*) from webhook_outbox").await, 0);

    assert_eq!(start(&app, &a).await, Some(ids[0]));
    let t = token(&app, &a, ids[0]).await;
    let (status, receipt) = approve(&app, &a, ids[0], &t).await;
    assert_eq!(status, 200);
    let decision_id = receipt["decision_id"].as_i64().unwrap();
    let (created_at, settles_at): (i64, Option<i64>) =
        sqlx::query_as("select created_at, settles_at from decisions where id = $1")
            .bind(decision_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(settles_at, Some(created_at + WINDOW_MS));
    assert_eq!(receipt["undo_until_ms"].as_i64(), settles_at);

    let rows: Vec<(String, String, i64, Option<i64>, String)> = sqlx::query_as(
        "select event_type, status, next_attempt_at, decision_id, payload from webhook_outbox order by id",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 1, "exactly one event: {rows:?}");
    let (event_type, status, next_attempt_at, row_decision, payload) = &rows[0];
    assert_eq!((event_type.as_str(), status.as_str(), *row_decision), ("item.approved", "pending", Some(decision_id)));
    assert!(*next_attempt_at >= created_at + WINDOW_MS, "sent only after the undo window");
    let payload: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(payload["type"], "item.approved");
    assert_eq!((payload["data"]["id"].as_i64(), payload["data"]["state"].as_str()), (Some(ids[0]), Some("approved")));

    // A verdict nobody subscribed to writes nothing.
    let t = token(&app, &a, ids[1]).await;
    let (status, _) = call(
        &app,
        &a,
        "review/reject",
        &[("item_id", &ids[1].to_string()), ("lease_token", &t), ("reason_code", "blurry")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(count(&app, "select count(*) from webhook_outbox").await, 1);
}
