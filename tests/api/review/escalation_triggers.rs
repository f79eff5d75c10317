//! What sends an item to a lead besides a reviewer's escalation and a low confidence: a lease
//! that ran out as many times as the workflow allows, and a rejection for a reason the workflow
//! escalates on. Each trigger is recorded as an `escalate` decision with its reason code, and
//! announced as `item.escalated`.

use super::*;
use crate::on_both_backends;
use gatehouse::review::lease::expire_leases;
use gatehouse::storage::clock::now_ms;

on_both_backends!(
    an_item_whose_lease_runs_out_three_times_goes_to_a_lead,
    a_rejection_for_an_escalating_reason_goes_to_a_lead,
    the_rules_are_settings_checked_and_versioned,
    items_waiting_past_the_review_sla_are_escalated_as_of_when_they_were_due,
    two_sweepers_at_once_escalate_each_item_once,
);

/// A webhook endpoint of the workflow that wants `item.escalated` (never called here: the
/// delivery worker polls once an hour).
async fn listen_for_escalations(app: &TestApp, workflow_id: i64) {
    gatehouse::webhooks::endpoints::create(
        &app.db,
        &gatehouse::storage::audit::Actor::Cli,
        workflow_id,
        "http://127.0.0.1:9/hook",
        &["item.escalated".to_owned()],
        gatehouse::webhooks::destination::DestinationPolicy { allow_private: true },
    )
    .await
    .unwrap();
}

async fn escalated_events(app: &TestApp) -> i64 {
    count(app, "select count(*) from webhook_outbox where event_type = 'item.escalated'").await
}

/// The reason code and note of an item's decisions of `kind`.
async fn recorded(app: &TestApp, item_id: i64, kind: &str) -> Vec<(Option<String>, Option<String>)> {
    sqlx::query_as("select reason_code, note from decisions where item_id = $1 and kind = $2 order by id")
        .bind(item_id)
        .bind(kind)
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

async fn an_item_whose_lease_runs_out_three_times_goes_to_a_lead(backend: Backend) {
    use gatehouse::storage::audit::Actor;
    let app = app_with(backend, |s| s.webhook_poll_ms = 3_600_000).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    // Off (0) first: the lease may run out any number of times.
    let off = reviewed(&[&a]).with("escalate_after_lease_expiries", serde_json::json!(0));
    let created = off.create(&app).await;
    listen_for_escalations(&app, created.id).await;
    let id = ingest(&app, &created.key, "slow", 1).await[0];
    let past_any_lease = || now_ms() + 601_000;
    for round in 1..=3 {
        assert_eq!(start(&app, &a).await, Some(id), "round {round}");
        assert_eq!(expire_leases(&app.db, past_any_lease()).await.unwrap(), 1);
        assert_eq!(item_state(&app, id).await, ("queued".to_owned(), None), "round {round}: back in the queue");
    }
    assert_eq!(escalated_events(&app).await, 0);

    // The default rule (3): an item past it (the rule came later) escalates at its next expiry.
    gatehouse::workflows::server::apply(&app.db, &Actor::Cli, reviewed(&[&a]).spec(), "escalate slow items")
        .await
        .unwrap();
    assert_eq!(start(&app, &a).await, Some(id));
    assert_eq!(expire_leases(&app.db, past_any_lease()).await.unwrap(), 1);
    assert_eq!(item_state(&app, id).await, ("escalated".to_owned(), None), "the fourth expiry escalates");
    assert_eq!(
        kinds(&decisions(&app, id).await),
        ["lease_expired", "lease_expired", "lease_expired", "lease_expired", "escalate"]
    );
    let escalation = recorded(&app, id, "escalate").await;
    assert_eq!(escalation.len(), 1);
    assert_eq!(escalation[0].0.as_deref(), Some("lease_expiries"));
    assert!(escalation[0].1.as_deref().is_some_and(|n| n.contains("4 times")), "{escalation:?}");
    assert_eq!(escalated_events(&app).await, 1, "announced to the endpoints that want it");
    assert_eq!(start(&app, &a).await, None, "a reviewer's queue no longer offers it");
    assert_eq!(expire_leases(&app.db, past_any_lease()).await.unwrap(), 0, "nor does the sweeper touch it again");
}

async fn a_rejection_for_an_escalating_reason_goes_to_a_lead(backend: Backend) {
    let app = app_with(backend, |s| {
        s.webhook_poll_ms = 3_600_000;
        s.undo_window_ms = 0;
    })
    .await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let created = reviewed(&[&a]).with("escalate_on_reasons", serde_json::json!(["wrong_document"])).create(&app).await;
    listen_for_escalations(&app, created.id).await;
    ingest(&app, &created.key, "rej", 2).await;
    for (reason, state) in [("blurry", "rejected"), ("wrong_document", "escalated")] {
        let id = start(&app, &a).await.expect("an item to review");
        let lease = token(&app, &a, id).await;
        let form = [
            ("item_id", id.to_string()),
            ("lease_token", lease),
            ("reason_code", reason.to_owned()),
            ("note", "looks like a delivery note".to_owned()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let receipt = ok(&app, &a, "review/reject", &form).await;
        assert_eq!(item_state(&app, id).await.0, state, "{reason}: {receipt}");
        if state == "escalated" {
            assert_eq!(receipt["kind"], "escalate");
            let escalation = recorded(&app, id, "escalate").await;
            assert_eq!(
                escalation,
                [(Some("wrong_document".to_owned()), Some("looks like a delivery note".to_owned()))]
            );
        }
    }
    assert_eq!(escalated_events(&app).await, 1, "only the escalating rejection is announced as escalated");
}

async fn the_rules_are_settings_checked_and_versioned(backend: Backend) {
    use gatehouse::storage::audit::Actor;
    let app = app_with(backend, |_| {}).await;
    let spec = reviewed(&[]).spec();
    assert_eq!(spec.escalate_after_lease_expiries, 3, "the default");
    assert!(spec.escalate_on_reasons.is_empty());
    let (first, _) = gatehouse::workflows::server::apply(&app.db, &Actor::Cli, spec.clone(), "first").await.unwrap();
    let changed = gatehouse::domain::workflow::WorkflowSpec {
        escalate_after_lease_expiries: 5,
        escalate_on_reasons: vec!["blurry".into()],
        ..spec.clone()
    };
    let (second, _) =
        gatehouse::workflows::server::apply(&app.db, &Actor::Cli, changed.clone(), "stricter").await.unwrap();
    assert_eq!(second.settings_version, first.settings_version + 1, "a change of the rules is a new version");
    assert_eq!(second.spec.escalate_after_lease_expiries, 5);
    assert_eq!(second.spec.escalate_on_reasons, ["blurry"]);
    let (again, _) = gatehouse::workflows::server::apply(&app.db, &Actor::Cli, changed, "same").await.unwrap();
    assert_eq!(again.settings_version, second.settings_version, "applying the same rules changes nothing");

    let unknown = gatehouse::domain::workflow::WorkflowSpec { escalate_on_reasons: vec!["fraud".into()], ..spec };
    let Err(refused) = gatehouse::workflows::server::apply(&app.db, &Actor::Cli, unknown, "bad").await else {
        panic!("a reason that is not a reason code was accepted")
    };
    assert_eq!(refused.field(), Some("escalate_on_reasons"));
}

async fn items_waiting_past_the_review_sla_are_escalated_as_of_when_they_were_due(backend: Backend) {
    use gatehouse::escalations::server::escalate_overdue_reviews;
    let app = app_with(backend, |s| s.webhook_poll_ms = 3_600_000).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let created = reviewed(&[&a]).with("review_sla_secs", serde_json::json!(3600)).create(&app).await;
    listen_for_escalations(&app, created.id).await;
    let ids = ingest(&app, &created.key, "wait", 3).await;
    let held = start(&app, &a).await.expect("one item in a reviewer's hands");
    let hour = 3_600_000;
    assert_eq!(escalate_overdue_reviews(&app.db, now_ms() + hour / 2).await.unwrap(), 0, "not due yet");

    // The server was down for a day: the sweep that wakes dates each escalation when it was due.
    assert_eq!(escalate_overdue_reviews(&app.db, now_ms() + 24 * hour).await.unwrap(), 2);
    for id in &ids {
        let (state, _) = item_state(&app, *id).await;
        if *id == held {
            assert_eq!(state, "claimed", "an item in a reviewer's hands is not waiting");
            continue;
        }
        assert_eq!(state, "escalated");
        type Line = (i64, i64, Option<String>, String, Option<String>, Option<i64>, i64);
        let (created_at, escalated_at, reason, by, note, settles_at, is_final): Line = sqlx::query_as(
            "select i.created_at, d.created_at, d.reason_code, d.actor_label, d.note, d.settles_at, d.final \
             from items i join decisions d on d.item_id = i.id and d.kind = 'escalate' where i.id = $1",
        )
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
        assert_eq!(escalated_at, created_at + hour, "recorded when the SLA ran out");
        assert_eq!(
            (reason.as_deref(), by.as_str(), settles_at, is_final),
            (Some("review_sla"), "system", Some(escalated_at), 0)
        );
        assert_eq!(note.as_deref(), Some("It waited past the review SLA of 1 h."));
    }
    assert_eq!(escalated_events(&app).await, 2);
    assert_eq!(escalate_overdue_reviews(&app.db, now_ms() + 48 * hour).await.unwrap(), 0, "each once");
}

async fn two_sweepers_at_once_escalate_each_item_once(backend: Backend) {
    use gatehouse::escalations::server::escalate_overdue_reviews;
    let app = app_with(backend, |_| {}).await;
    let other = app.another_instance().await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let created = reviewed(&[&a]).with("review_sla_secs", serde_json::json!(60)).create(&app).await;
    ingest(&app, &created.key, "race", 120).await;
    let later = now_ms() + 3_600_000;
    let (here, there) =
        tokio::join!(escalate_overdue_reviews(&app.db, later), escalate_overdue_reviews(&other.db, later));
    assert_eq!(here.unwrap() + there.unwrap(), 120);
    assert_eq!(count(&app, "select count(*) from decisions where kind = 'escalate'").await, 120, "no item twice");
    assert_eq!(count(&app, "select count(*) from items where state = 'escalated'").await, 120);
}
