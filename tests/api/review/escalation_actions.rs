//! What a lead does with an escalation: assign it (to a reviewer, who claims and decides it, or
//! to many at once), decide it directly with the review page's validation, or send it back to
//! the queue. Each step is a decision in the item's history, closes the escalation as it should
//! and queues its webhook events; a lead of another workflow can do none of it.

use super::*;
use crate::on_both_backends;
use gatehouse::escalations::server::keep_escalations;
use gatehouse::storage::audit::Actor;
use gatehouse::storage::clock::now_ms;

on_both_backends!(
    an_assignee_claims_and_decides_and_every_step_is_in_the_history,
    a_lead_decides_directly_with_the_review_pages_validation,
    an_item_sent_back_waits_in_the_queue_and_is_not_escalated_again,
    leads_act_only_on_the_escalations_of_their_workflows,
    a_selection_is_assigned_at_once,
    the_navigation_counts_what_needs_each_user,
    a_lead_reassigns_and_takes_an_escalation_themselves,
);

const ESCALATION_EVENTS: [&str; 4] = ["item.escalated", "item.approved", "escalation.assigned", "escalation.resolved"];

async fn subscribe(app: &TestApp, workflow_id: i64) {
    let events: Vec<String> = ESCALATION_EVENTS.iter().map(|e| (*e).to_owned()).collect();
    let local = gatehouse::webhooks::destination::DestinationPolicy { allow_private: true };
    let url = "http://127.0.0.1:9/hook";
    gatehouse::webhooks::endpoints::create(&app.db, &Actor::Cli, workflow_id, url, &events, local).await.unwrap();
}

/// The event types queued for the item, in order, and each one's item state.
async fn events_of(app: &TestApp, item_id: i64) -> Vec<(String, String)> {
    let rows: Vec<(String, String)> = sqlx::query_as("select event_type, payload from webhook_outbox order by id")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    rows.into_iter()
        .filter_map(|(event, payload)| {
            let payload: Value = serde_json::from_str(&payload).unwrap();
            (payload["data"]["id"].as_i64() == Some(item_id))
                .then(|| (event, payload["data"]["state"].as_str().unwrap_or_default().to_owned()))
        })
        .collect()
}

fn kinds(item: &Value) -> Vec<String> {
    item["decisions"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap().to_owned()).collect()
}

/// (resolution, resolved_by) of the item's escalations, oldest first; none while open.
async fn resolutions(app: &TestApp, item_id: i64) -> Vec<(Option<String>, Option<String>)> {
    sqlx::query_as("select resolution, resolved_by from escalations where item_id = $1 order by id")
        .bind(item_id)
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

/// A reviewer escalates an item of theirs with a note; its id.
async fn escalated_by(app: &TestApp, key: &str, who: &Person, external_id: &str) -> i64 {
    let item = ingest(app, key, external_id, 1).await[0];
    assert_eq!(start(app, who).await, Some(item));
    let lease = token(app, who, item).await;
    let form = [("item_id", item.to_string()), ("lease_token", lease), ("note", "the total looks wrong".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(app, who, "review/escalate", &form).await;
    item
}

async fn an_assignee_claims_and_decides_and_every_step_is_in_the_history(backend: Backend) {
    let app = app_with(backend, |s| {
        without_sweepers(s);
        s.undo_window_ms = 0;
    })
    .await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let b = person(&app, "b@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let created = reviewed(&[&a, &b, &lead]).create(&app).await;
    subscribe(&app, created.id).await;
    let item = escalated_by(&app, &created.key, &a, "ask").await;
    assert_eq!(rest_item(&app, &created.key, item).await["state"], "escalated");
    keep_escalations(&app.db, now_ms()).await.unwrap();

    // The escalation's page shows the item, why it is here, and whom it can go to.
    let page = ok(&app, &lead, "escalations/item", &[("item_id", &item.to_string())]).await;
    assert_eq!(page["state"], "escalated");
    assert_eq!(page["open"]["reason"], "reviewer");
    assert_eq!(page["open"]["note"], "the total looks wrong");
    assert_eq!(page["members"], json!(["a@example.com", "b@example.com", "lead@example.com"]));
    assert_eq!(page["item"]["external_id"], "ask-0");

    let form = [("item_id", item.to_string()), ("assignee", "b@example.com".into()), ("note", "you know these".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(&app, &lead, "escalations/assign", &form).await;
    assert_eq!(rest_item(&app, &created.key, item).await["state"], "assigned");
    let queues = ok(&app, &b, "review/queues", &[]).await;
    assert_eq!(queues["assigned"][0]["item_id"], item, "under Assigned to me: {queues}");
    // Only the assignee may claim it; they decide it on the review page.
    let (status, _) = call(&app, &a, "review/claim-assigned", &[("item_id", &item.to_string())]).await;
    assert_ne!(status, 200);
    ok(&app, &b, "review/claim-assigned", &[("item_id", &item.to_string())]).await;
    let lease = token(&app, &b, item).await;
    let (status, body) = approve(&app, &b, item, &lease).await;
    assert_eq!(status, 200, "{body}");
    let kept = keep_escalations(&app.db, now_ms()).await.unwrap();
    assert_eq!(kept.resolved, 1);
    assert_eq!(resolutions(&app, item).await, [(Some("approved".into()), Some("b@example.com".into()))]);

    let stored = rest_item(&app, &created.key, item).await;
    assert_eq!(stored["state"], "approved");
    assert_eq!(kinds(&stored), ["escalate", "assign", "approve"]);
    assert_eq!(stored["decisions"][1]["note"], "to b@example.com: you know these");
    let events: Vec<String> = events_of(&app, item).await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["item.escalated", "escalation.assigned", "item.approved", "escalation.resolved"]);
    assert_eq!(events_of(&app, item).await[1].1, "assigned", "the assignment's event carries the assigned item");
    // Its page now says it is closed, and offers nothing more.
    let page = ok(&app, &lead, "escalations/item", &[("item_id", &item.to_string())]).await;
    assert_eq!((page["state"].as_str(), page["open"].is_null()), (Some("approved"), true));
    let (status, _) = call(&app, &lead, "escalations/send-back", &[("item_id", &item.to_string())]).await;
    assert_eq!(status, 409, "a decided item cannot be sent back");
}

async fn a_lead_decides_directly_with_the_review_pages_validation(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let created = reviewed(&[&a, &lead]).with("escalate_on_reasons", json!(["blurry"])).create(&app).await;
    subscribe(&app, created.id).await;
    let approved = escalated_by(&app, &created.key, &a, "approve").await;
    let rejected = escalated_by(&app, &created.key, &a, "reject").await;
    let corrected = escalated_by(&app, &created.key, &a, "correct").await;
    keep_escalations(&app.db, now_ms()).await.unwrap();

    // The same refusals as on the review page, each naming its field, and nothing changes.
    let id = rejected.to_string();
    let (status, body) =
        call(&app, &lead, "escalations/decide", &[("verdict", "reject"), ("item_id", &id), ("reason_code", "bogus")])
            .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("reason_code")), "{body}");
    let form =
        [("item_id", corrected.to_string()), ("verdict", "correct".into()), ("fields[/fields/total]", "-4".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = call(&app, &lead, "escalations/decide", &form).await;
    assert_eq!(status, 422, "below the contract's minimum: {body}");
    assert_eq!(rest_item(&app, &created.key, corrected).await["state"], "escalated");

    ok(&app, &lead, "escalations/decide", &[("verdict", "approve"), ("item_id", &approved.to_string())]).await;
    // A reason the workflow escalates on settles an item a lead rejects.
    ok(
        &app,
        &lead,
        "escalations/decide",
        &[("verdict", "reject"), ("item_id", &id), ("reason_code", "blurry"), ("note", "unreadable")],
    )
    .await;
    let form =
        [("item_id", corrected.to_string()), ("verdict", "correct".into()), ("fields[/fields/total]", "12".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(&app, &lead, "escalations/decide", &form).await;

    for (item, state, kind) in
        [(approved, "approved", "approve"), (rejected, "rejected", "reject"), (corrected, "corrected", "correct")]
    {
        let stored = rest_item(&app, &created.key, item).await;
        assert_eq!(stored["state"], state);
        assert_eq!(kinds(&stored), ["escalate", kind]);
        assert_eq!(resolutions(&app, item).await, [(Some(state.into()), Some("lead@example.com".into()))]);
    }
    let stored = rest_item(&app, &created.key, corrected).await;
    assert_eq!(stored["final_output"]["fields"]["total"], 12);
    let events: Vec<String> = events_of(&app, approved).await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["item.escalated", "item.approved", "escalation.resolved"]);
    assert_eq!(keep_escalations(&app.db, now_ms()).await.unwrap().resolved, 0, "closed already, in the decision");
    let (status, _) =
        call(&app, &lead, "escalations/decide", &[("verdict", "approve"), ("item_id", &approved.to_string())]).await;
    assert_eq!(status, 409, "decided once");
}

async fn an_item_sent_back_waits_in_the_queue_and_is_not_escalated_again(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let created = reviewed(&[&a, &lead]).with("review_sla_secs", json!(60)).create(&app).await;
    subscribe(&app, created.id).await;
    let item = escalated_by(&app, &created.key, &a, "back").await;
    keep_escalations(&app.db, now_ms()).await.unwrap();
    let form = [("item_id", item.to_string()), ("assignee", "a@example.com".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(&app, &lead, "escalations/assign", &form).await;

    let (status, body) =
        call(&app, &lead, "escalations/send-back", &[("item_id", &item.to_string()), ("note", "a\u{0}b")]).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("note")));
    ok(&app, &lead, "escalations/send-back", &[("item_id", &item.to_string()), ("note", "any reviewer can")]).await;
    let stored = rest_item(&app, &created.key, item).await;
    assert_eq!(stored["state"], "queued");
    assert_eq!(kinds(&stored), ["escalate", "assign", "send_back"]);
    assert_eq!(resolutions(&app, item).await, [(Some("send_back".into()), Some("lead@example.com".into()))]);
    let events: Vec<String> = events_of(&app, item).await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["item.escalated", "escalation.assigned", "escalation.resolved"]);
    // Nobody is assigned any more: the next reviewer of the queue takes it.
    assert!(ok(&app, &a, "review/queues", &[]).await["assigned"].as_array().unwrap().is_empty());
    // Long past its review SLA, it is not escalated again for the same wait.
    let later = now_ms() + 24 * 3_600_000;
    assert_eq!(gatehouse::escalations::server::escalate_overdue_reviews(&app.db, later).await.unwrap(), 0);
    assert_eq!(start(&app, &a).await, Some(item));
}

async fn leads_act_only_on_the_escalations_of_their_workflows(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let other_lead = person(&app, "other@example.com", Role::Lead).await;
    let admin = person(&app, "admin@example.com", Role::Admin).await;
    let created = reviewed(&[&a, &lead]).create(&app).await;
    reviewed(&[&other_lead]).with("slug", json!("receipts")).with("name", json!("Receipts")).create(&app).await;
    let item = escalated_by(&app, &created.key, &a, "mine").await;
    let id = item.to_string();
    let attempts: [(&str, Vec<(&str, &str)>); 6] = [
        ("escalations/item", vec![("item_id", &id)]),
        ("escalations/assign", vec![("item_id", &id), ("assignee", "a@example.com")]),
        (
            "escalations/assign-selected",
            vec![(&*format!("selected[{id}]").leak(), "on"), ("assignee", "a@example.com")],
        ),
        ("escalations/decide", vec![("item_id", &id), ("verdict", "approve")]),
        ("escalations/decide", vec![("item_id", &id), ("verdict", "reject"), ("reason_code", "blurry")]),
        ("escalations/send-back", vec![("item_id", &id)]),
    ];
    for (endpoint, form) in &attempts {
        let (status, body) = call(&app, &other_lead, endpoint, form).await;
        assert_eq!(
            (status, body["kind"].as_str()),
            (403, Some("forbidden")),
            "{endpoint} by a lead of another workflow"
        );
        let (status, _) = call(&app, &a, endpoint, form).await;
        assert_eq!(status, 403, "{endpoint} by a reviewer");
    }
    assert_eq!(rest_item(&app, &created.key, item).await["state"], "escalated", "nothing changed");
    // An assignee must be a member of the item's workflow.
    let (status, body) =
        call(&app, &lead, "escalations/assign", &[("item_id", &id), ("assignee", "other@example.com")]).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("assignee")));
    // An admin, of no workflow, acts on any.
    ok(&app, &admin, "escalations/item", &[("item_id", &id)]).await;
    ok(&app, &admin, "escalations/decide", &[("verdict", "approve"), ("item_id", &id)]).await;
    assert_eq!(rest_item(&app, &created.key, item).await["state"], "approved");
}

async fn a_selection_is_assigned_at_once(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let created = reviewed(&[&a, &lead]).create(&app).await;
    let items: Vec<Value> = (0..3).map(|i| invoice(&format!("low-{i}"), 0.1)).collect();
    let ids: Vec<i64> = crate::fixtures::submit_all(&app, &created.key, SLUG, &items)
        .await
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect();
    let (first, second) = (format!("selected[{}]", ids[0]), format!("selected[{}]", ids[2]));
    let (status, body) = call(&app, &lead, "escalations/assign-selected", &[("assignee", "a@example.com")]).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("selected")), "nothing selected");
    let form = [(first.as_str(), "on"), (second.as_str(), "on"), ("assignee", "a@example.com"), ("note", "these two")];
    assert_eq!(ok(&app, &lead, "escalations/assign-selected", &form).await, 2);
    let states: Vec<String> = {
        let mut states = Vec::new();
        for id in &ids {
            states.push(rest_item(&app, &created.key, *id).await["state"].as_str().unwrap().to_owned());
        }
        states
    };
    assert_eq!(states, ["assigned", "escalated", "assigned"]);
    let assigned = ok(&app, &a, "review/queues", &[]).await["assigned"].as_array().unwrap().len();
    assert_eq!(assigned, 2);
}

async fn the_navigation_counts_what_needs_each_user(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let admin = person(&app, "admin@example.com", Role::Admin).await;
    let created = reviewed(&[&a, &lead]).with("escalation_sla_secs", json!(3600)).create(&app).await;
    let items: Vec<Value> = (0..3).map(|i| invoice(&format!("low-{i}"), 0.1)).collect();
    let ids: Vec<i64> = crate::fixtures::submit_all(&app, &created.key, SLUG, &items)
        .await
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect();
    keep_escalations(&app.db, now_ms()).await.unwrap();
    assert_eq!(counts(&app, &lead).await, (3, 0));
    assert_eq!(counts(&app, &a).await, (0, 0), "a reviewer is counted no escalations");
    assert_eq!(counts(&app, &admin).await, (0, 0), "level 1 is the leads'");
    let form = [("item_id", ids[0].to_string()), ("assignee", "a@example.com".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(&app, &lead, "escalations/assign", &form).await;
    assert_eq!(counts(&app, &lead).await, (2, 0), "an assigned escalation is in someone's hands");
    assert_eq!(counts(&app, &a).await, (0, 1));
    keep_escalations(&app.db, now_ms() + 2 * 3_600_000).await.unwrap();
    assert_eq!(counts(&app, &admin).await, (2, 0), "past the SLA, the admins' too");

    // Every page's title leads with the count, and the navigation shows it.
    let page = lead.client.get(app.url("/team")).header("accept", "text/html").send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>(2) Team · Gatehouse</title>"), "{html}");
    assert!(html.contains("data-count=\"2\" class=\"nav-count\""), "{html}");
}

/// (escalations, assigned) as the navigation counts them for `who`.
async fn counts(app: &TestApp, who: &Person) -> (i64, i64) {
    let c = ok(app, who, "escalations/counts", &[]).await;
    (c["escalations"].as_i64().unwrap(), c["assigned"].as_i64().unwrap())
}

/// An assignment can be moved: to another member (the first assignee loses it from "Assigned to
/// me" and can no longer claim it), then to the lead themselves, who claims and decides it. Each
/// move is an `assign` decision with its note, and an `escalation.assigned` event.
async fn a_lead_reassigns_and_takes_an_escalation_themselves(backend: Backend) {
    let app = app_with(backend, |s| {
        without_sweepers(s);
        s.undo_window_ms = 0;
    })
    .await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let b = person(&app, "b@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let created = reviewed(&[&a, &b, &lead]).create(&app).await;
    subscribe(&app, created.id).await;
    let item = escalated_by(&app, &created.key, &a, "moved").await;
    keep_escalations(&app.db, now_ms()).await.unwrap();
    let id = item.to_string();
    let assign = |to: &'static str, note: &'static str| {
        vec![("item_id", id.clone()), ("assignee", to.into()), ("note", note.into())]
    };
    let send = |form: Vec<(&'static str, String)>| {
        let lead = &lead;
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ok(app, lead, "escalations/assign", &form).await;
        }
    };
    send(assign("a@example.com", "first try")).await;
    assert_eq!(ok(&app, &a, "review/queues", &[]).await["assigned"][0]["item_id"], item);

    send(assign("b@example.com", "a is away")).await;
    assert_eq!(ok(&app, &a, "review/queues", &[]).await["assigned"], json!([]), "no longer a's");
    assert_eq!(ok(&app, &b, "review/queues", &[]).await["assigned"][0]["item_id"], item, "now b's");
    let (status, _) = call(&app, &a, "review/claim-assigned", &[("item_id", &id)]).await;
    assert_eq!(status, 403, "the first assignee cannot claim it any more");

    send(assign("lead@example.com", "I will do it")).await;
    assert_eq!(ok(&app, &b, "review/queues", &[]).await["assigned"], json!([]));
    assert_eq!(ok(&app, &lead, "review/queues", &[]).await["assigned"][0]["item_id"], item, "the lead's own");
    ok(&app, &lead, "review/claim-assigned", &[("item_id", &id)]).await;
    let lease = token(&app, &lead, item).await;
    let (status, body) = approve(&app, &lead, item, &lease).await;
    assert_eq!(status, 200, "{body}");
    keep_escalations(&app.db, now_ms()).await.unwrap();
    assert_eq!(resolutions(&app, item).await, [(Some("approved".into()), Some("lead@example.com".into()))]);

    let stored = rest_item(&app, &created.key, item).await;
    assert_eq!(kinds(&stored), ["escalate", "assign", "assign", "assign", "approve"]);
    let notes: Vec<&str> =
        stored["decisions"].as_array().unwrap()[1..4].iter().map(|d| d["note"].as_str().unwrap()).collect();
    assert_eq!(
        notes,
        ["to a@example.com: first try", "to b@example.com: a is away", "to lead@example.com: I will do it"]
    );
    let events: Vec<String> = events_of(&app, item).await.into_iter().map(|(e, _)| e).collect();
    assert_eq!(
        events,
        [
            "item.escalated",
            "escalation.assigned",
            "escalation.assigned",
            "escalation.assigned",
            "item.approved",
            "escalation.resolved"
        ]
    );
}
