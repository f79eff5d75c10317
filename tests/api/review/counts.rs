//! The waiting counts the database keeps per workflow and arrival minute (`queue_minutes`) agree
//! with the items after every kind of write, and give the queue page its due counts.

use super::*;
use crate::on_both_backends;
use std::collections::BTreeMap;

on_both_backends!(
    queue_counts_follow_every_write,
    due_counts_come_from_the_arrival_minutes,
    shards_are_folded_and_empty_minutes_forgotten,
);

/// Waiting items by (workflow, minute): as counted from the items, and as kept.
async fn counted_and_kept(app: &TestApp) -> (BTreeMap<(i64, i64), i64>, BTreeMap<(i64, i64), i64>) {
    let counted: Vec<(i64, i64, i64)> = sqlx::query_as(
        "select workflow_id, created_at / 60000, count(*) from items where state = 'queued' group by 1, 2",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    // A count is the sum over the minute's shards (migration 0008).
    let kept: Vec<(i64, i64, i64)> = sqlx::query_as(
        "select workflow_id, minute, cast(sum(waiting) as bigint) from queue_minutes group by 1, 2 \
         having sum(waiting) <> 0",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    let map = |rows: Vec<(i64, i64, i64)>| rows.into_iter().map(|(w, m, n)| ((w, m), n)).collect();
    (map(counted), map(kept))
}

async fn assert_in_step(app: &TestApp, after: &str) {
    let (counted, kept) = counted_and_kept(app).await;
    assert_eq!(kept, counted, "after {after}: kept (left) and counted from the items (right)");
}

/// Copies an item as one that arrived `age_ms` ago (its own external id), as an old backlog.
async fn arrived_earlier(app: &TestApp, item_id: i64, external_id: &str, age_ms: i64) {
    sqlx::query(
        "insert into items (workflow_id, external_id, request_hash, payload, prediction, confidence, model_version, \
         priority, metadata, state, route_reason, review_probability, routing, settings_version, created_at, updated_at) \
         select workflow_id, $1, request_hash, payload, prediction, confidence, model_version, priority, metadata, \
         state, route_reason, review_probability, routing, settings_version, $2, $2 from items where id = $3",
    )
    .bind(external_id)
    .bind(gatehouse::storage::clock::now_ms() - age_ms)
    .bind(item_id)
    .execute(app.db.pool())
    .await
    .unwrap();
}

async fn queue_counts_follow_every_write(backend: Backend) {
    let app = app_with(backend, |s| s.undo_window_ms = 60_000).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let b = person(&app, "b@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let (_, key) = with_workflow(&app, &[&a, &b, &lead]).await;
    let ids = ingest(&app, &key, "c", 12).await;
    arrived_earlier(&app, ids[0], "old", 3 * 60_000).await;
    let mut escalated = item("low");
    escalated["confidence"] = json!(0.1);
    crate::fixtures::submit(&app, &key, SLUG, &escalated).await;
    assert_in_step(&app, "ingest").await;

    // Claims (singles, and as the answer to a decision), every verdict, a skip.
    let first = start(&app, &a).await.unwrap();
    let t = token(&app, &a, first).await;
    let receipt = ok(&app, &a, "review/approve", &[("item_id", &first.to_string()), ("lease_token", &t)]).await;
    assert_in_step(&app, "a claim and an approval").await;
    let next = receipt["next"]["item_id"].as_i64().unwrap();
    let t = receipt["next"]["lease_token"].as_str().unwrap().to_owned();
    let form = [("item_id", next.to_string()), ("lease_token", t), ("reason_code", "blurry".to_owned())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let receipt = ok(&app, &a, "review/reject", &form).await;
    let next = receipt["next"]["item_id"].as_i64().unwrap();
    let t = receipt["next"]["lease_token"].as_str().unwrap().to_owned();
    let receipt = ok(&app, &a, "review/skip", &[("item_id", &next.to_string()), ("lease_token", &t)]).await;
    assert_in_step(&app, "a reject and a skip").await;
    let next = receipt["next"]["item_id"].as_i64().unwrap();
    let t = receipt["next"]["lease_token"].as_str().unwrap().to_owned();
    let form = [("item_id", next.to_string()), ("lease_token", t), ("note", "needs a lead".to_owned())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let receipt = ok(&app, &a, "review/escalate", &form).await;
    assert_in_step(&app, "an escalation").await;

    // Undo (the item comes back, the next one goes back to the queue).
    let decision = receipt["decision_id"].as_i64().unwrap().to_string();
    ok(&app, &a, "review/undo", &[("decision_id", &decision)]).await;
    assert_in_step(&app, "an undo").await;

    // A lead assigns a waiting item; b claims it; leases run out.
    let waiting: (i64,) =
        sqlx::query_as("select min(id) from items where state = 'queued'").fetch_one(app.db.pool()).await.unwrap();
    let form = [("item_id", waiting.0.to_string()), ("assignee", b.email.clone())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(&app, &lead, "review/assign", &form).await;
    assert_in_step(&app, "an assignment").await;
    start(&app, &b).await.unwrap();
    let later = gatehouse::storage::clock::now_ms() + 3_600_000;
    assert!(gatehouse::review::lease::expire_leases(&app.db, later).await.unwrap() >= 2);
    assert_in_step(&app, "lease expiry").await;

    // And what the queue page reads from them.
    let queue = ok(&app, &a, "review/queue", &[("slug", SLUG)]).await;
    let (waiting,): (i64,) =
        sqlx::query_as("select count(*) from items where state = 'queued'").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(queue["queue"]["waiting"].as_i64(), Some(waiting));
}

/// With the default review SLA of four hours: items that arrived five hours ago are overdue,
/// those that arrived 3 h 50 min ago are due within the next 30 minutes.
async fn due_counts_come_from_the_arrival_minutes(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let (_, key) = with_workflow(&app, &[&a]).await;
    let ids = ingest(&app, &key, "d", 4).await;
    for n in 0..3 {
        arrived_earlier(&app, ids[0], &format!("overdue-{n}"), 5 * 3_600_000).await;
    }
    for n in 0..2 {
        arrived_earlier(&app, ids[0], &format!("soon-{n}"), 3 * 3_600_000 + 50 * 60_000).await;
    }
    let queue = ok(&app, &a, "review/queue", &[("slug", SLUG)]).await;
    let q = &queue["queue"];
    assert_eq!(
        (q["waiting"].as_i64(), q["overdue"].as_i64(), q["due_soon"].as_i64()),
        (Some(9), Some(3), Some(2)),
        "{q}"
    );
    let age = queue["now_ms"].as_i64().unwrap() - q["oldest_waiting_ms"].as_i64().unwrap();
    assert!((5 * 3_600_000..5 * 3_600_000 + 60_000).contains(&age), "{age}");
}

/// Housekeeping folds the shards of each minute into shard 0 and forgets the minutes nothing
/// waits in, without changing a count. (PostgreSQL writes a shard per connection; SQLite only
/// ever writes shard 0, so its shards are made up here only on PostgreSQL.)
async fn shards_are_folded_and_empty_minutes_forgotten(backend: Backend) {
    let postgres = matches!(backend, Backend::Postgres { .. });
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let (workflow, key) = with_workflow(&app, &[&a]).await;
    let ids = ingest(&app, &key, "f", 3).await;
    arrived_earlier(&app, ids[0], "old", 10 * 60_000).await;
    let (minute,): (i64,) = sqlx::query_as("select created_at / 60000 from items where id = $1")
        .bind(ids[0])
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let add = async |minute: i64, shard: i64, waiting: i64| {
        sqlx::query(
            "insert into queue_minutes (workflow_id, minute, shard, waiting) values ($1, $2, $3, $4) \
             on conflict (workflow_id, minute, shard) do update set waiting = queue_minutes.waiting + excluded.waiting",
        )
        .bind(workflow)
        .bind(minute)
        .bind(shard)
        .bind(waiting)
        .execute(app.db.pool())
        .await
        .unwrap();
    };
    if postgres {
        // Two connections' writes to one minute that cancel out, and a minute emptied on two.
        add(minute, 3, 2).await;
        add(minute, 5, -2).await;
        add(minute - 100, 2, 1).await;
        add(minute - 100, 7, -1).await;
    }
    add(minute - 200, 0, 0).await;
    assert_in_step(&app, "writes spread over shards").await;

    gatehouse::review::queues::forget_empty_minutes(&app.db).await.unwrap();
    assert_in_step(&app, "folding").await;
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as("select minute, shard, waiting from queue_minutes order by minute")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert!(
        rows.iter().all(|(_, shard, waiting)| *shard == 0 && *waiting != 0),
        "one row a minute, none empty: {rows:?}"
    );
}
