//! Decisions: a double submit decides once, the answer brings the next item (or redirects a plain
//! form), and each verdict is validated and recorded.

use super::*;
use crate::on_both_backends;
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(
    double_submits_decide_once,
    a_decision_brings_the_next_item_or_redirects_a_plain_form,
    each_verdict_is_validated_and_recorded,
);

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
    // The reviewer takes 50 ms over this one: the time spent that the decision records is
    // checked below, so the sleep is the thing measured, not a wait for something to happen.
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
