//! Undo within its window, and the webhook a decision schedules for when the window has passed.

use super::*;
use crate::helpers::wait_until;
use crate::on_both_backends;
use gatehouse::storage::audit::Actor;
use std::time::Duration;

on_both_backends!(
    undo_within_the_window_reopens_the_item_and_withdraws_its_events,
    an_approval_schedules_one_webhook_after_the_undo_window,
    the_feed_finds_its_frontier_among_unsettled_decisions,
);

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
    let local = gatehouse::webhooks::destination::DestinationPolicy { allow_private: true };
    gatehouse::webhooks::endpoints::create(
        &app.db,
        &Actor::Cli,
        workflow_id,
        "http://127.0.0.1:9/hook",
        &events,
        local,
    )
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
    let (settles_at,): (Option<i64>,) = sqlx::query_as("select settles_at from decisions where id = $1")
        .bind(d2)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let settles_at = settles_at.expect("a decision that can be undone settles");
    assert_eq!(receipt["undo_until_ms"].as_i64(), Some(settles_at));
    // The window passing is what this part is about: wait for the clock to reach its end.
    wait_until(Duration::from_millis(WINDOW_MS + 5000), "the undo window to pass", async || {
        gatehouse::storage::clock::now_ms() >= settles_at
    })
    .await;
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

/// The feed stops before the first decision still in its undo window, and finds it in the
/// partial index of decisions that have a settle time: the plan of the very statement the feed runs, with its
/// parameters bound as a poll binds them, on a workflow whose final decisions are mostly
/// auto-approvals (never in an undo window) and with the planner's statistics gathered. Planned
/// as a walk of every final decision in id order until an unsettled one (as SQLite did, once
/// analysed), the feed's cost grew with the table.
async fn the_feed_finds_its_frontier_among_unsettled_decisions(backend: Backend) {
    let app = app_with(backend.clone(), |_| {}).await;
    let (workflow_id, key) = with_workflow(&app, &[]).await;
    let approved: Vec<Value> = (0..300).map(|i| invoice(&format!("auto-{i}"), 0.99)).collect();
    for item in submit_all(&app, &key, SLUG, &approved).await {
        assert_eq!(item["state"], "auto_approved", "{item}");
    }
    ingest(&app, &key, "frontier", 3).await;
    sqlx::query("analyze").execute(app.db.pool()).await.unwrap();
    let statement = gatehouse::items::list::feed_sizes_sql();
    let now = gatehouse::storage::clock::now_ms();
    let mut conn = app.db.pool().acquire().await.unwrap();
    if matches!(backend, Backend::Sqlite) {
        // The statistics of a workflow with 10,000 final decisions, 2,000 of them by reviewers
        // (as an `analyze` gathers them), loaded into this connection.
        let stats = [
            ("decisions_unsettled_idx", "2000 2000 1"),
            ("decisions_feed_idx", "10000 10000 10000 1"),
            ("decisions_item_idx", "10000 1 1"),
        ];
        for (index, stat) in stats {
            sqlx::query("delete from sqlite_stat1 where idx = $1").bind(index).execute(&mut *conn).await.unwrap();
            sqlx::query("insert into sqlite_stat1 (tbl, idx, stat) values ('decisions', $1, $2)")
                .bind(index)
                .bind(stat)
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        sqlx::query("analyze sqlite_schema").execute(&mut *conn).await.unwrap();
    }
    let plan: Vec<String> = match backend {
        Backend::Sqlite => sqlx::query_as::<_, (i64, i64, i64, String)>(&format!("explain query plan {statement}"))
            .bind(workflow_id)
            .bind(0_i64)
            .bind(500_i64)
            .bind(now)
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.3)
            .collect(),
        Backend::Postgres { .. } => {
            sqlx::query("set enable_seqscan = off").execute(&mut *conn).await.unwrap();
            let plan = sqlx::query_as::<_, (String,)>(&format!("explain {statement}"))
                .bind(workflow_id)
                .bind(0_i64)
                .bind(500_i64)
                .bind(now)
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .into_iter()
                .map(|row| row.0)
                .collect();
            sqlx::query("reset enable_seqscan").execute(&mut *conn).await.unwrap();
            plan
        }
    };
    let plan = plan.join("\n");
    assert!(plan.contains("decisions_unsettled_idx"), "the feed's frontier does not use its index:\n{plan}");
}
