//! The leads' inbox: who sees which escalations, its filters, its order and its pages.

use super::*;
use crate::on_both_backends;
use gatehouse::escalations::server::keep_escalations;
use gatehouse::storage::clock::now_ms;

on_both_backends!(
    leads_see_the_escalations_of_their_workflows_and_admins_all,
    the_inbox_filters_orders_by_sla_and_pages,
);

/// Items of `slug` that arrive escalated (a confidence below `escalate_below`).
async fn escalate_at_ingest(app: &TestApp, key: &str, slug: &str, prefix: &str, count: usize) {
    let items: Vec<Value> = (0..count).map(|i| invoice(&format!("{prefix}-{i}"), 0.1)).collect();
    for item in crate::fixtures::submit_all(app, key, slug, &items).await {
        assert_eq!(item["state"], "escalated");
    }
}

/// The external ids the inbox lists for `who` with `filters`, and its total.
async fn listed(app: &TestApp, who: &Person, filters: &[(&str, &str)]) -> (Vec<String>, i64, Value) {
    let inbox = ok(app, who, "escalations/inbox", filters).await;
    let ids = inbox["rows"].as_array().unwrap().iter().map(|r| r["external_id"].as_str().unwrap().to_owned()).collect();
    (ids, inbox["total"].as_i64().unwrap(), inbox)
}

async fn leads_see_the_escalations_of_their_workflows_and_admins_all(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let lead_a = person(&app, "lead-a@example.com", Role::Lead).await;
    let lead_b = person(&app, "lead-b@example.com", Role::Lead).await;
    let reviewer = person(&app, "rev@example.com", Role::Reviewer).await;
    let admin = person(&app, "admin@example.com", Role::Admin).await;
    let a = reviewed(&[&lead_a, &reviewer]).create(&app).await;
    let b = reviewed(&[&lead_b]).with("slug", json!("receipts")).with("name", json!("Receipts")).create(&app).await;
    escalate_at_ingest(&app, &a.key, SLUG, "a", 2).await;
    escalate_at_ingest(&app, &b.key, "receipts", "b", 1).await;
    keep_escalations(&app.db, now_ms()).await.unwrap();

    let (mut ids, total, inbox) = listed(&app, &lead_a, &[]).await;
    // Both fall due at once; which is first is the order they were opened in, which the
    // sweeper's two connections on PostgreSQL leave open (the order is the next test's).
    ids.sort();
    assert_eq!((ids, total), (vec!["a-0".to_owned(), "a-1".to_owned()], 2));
    assert_eq!(inbox["workflows"], json!([[SLUG, "Invoices"]]), "a lead filters by the workflows they lead");
    let (ids, _, _) = listed(&app, &lead_b, &[]).await;
    assert_eq!(ids, ["b-0"]);
    let (status, _) = call(&app, &lead_b, "escalations/inbox", &[("workflow", SLUG)]).await;
    assert_eq!(status, 200);
    assert_eq!(listed(&app, &lead_b, &[("workflow", SLUG)]).await.1, 0, "another workflow's rows stay hidden");
    let (_, total, _) = listed(&app, &admin, &[]).await;
    assert_eq!(total, 3, "an admin sees every workflow's");
    let (status, body) = call(&app, &reviewer, "escalations/inbox", &[]).await;
    assert_eq!((status, body["kind"].as_str()), (403, Some("forbidden")));

    // The page itself, rendered by the server.
    let page = lead_a.client.get(app.url("/escalations")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("2 open escalations") && html.contains("a-0") && !html.contains("b-0"), "{html}");
    assert!(html.contains("Low confidence"), "reasons read as words");
}

async fn the_inbox_filters_orders_by_sla_and_pages(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let created = reviewed(&[&lead, &a]).with("escalation_sla_secs", json!(3600)).create(&app).await;
    escalate_at_ingest(&app, &created.key, SLUG, "low", 55).await;
    // One a reviewer escalates, later: it is due last.
    let asked = ingest(&app, &created.key, "ask", 1).await[0];
    assert_eq!(start(&app, &a).await, Some(asked));
    let lease = token(&app, &a, asked).await;
    let form = [("item_id", asked.to_string()), ("lease_token", lease), ("note", "unreadable stamp".to_owned())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(&app, &a, "review/escalate", &form).await;
    keep_escalations(&app.db, now_ms()).await.unwrap();

    // Soonest due first, fifty a page, the cursor leading on; the count covers all.
    let (first, total, inbox) = listed(&app, &lead, &[]).await;
    assert_eq!((first.len(), total), (50, 56));
    let dues: Vec<i64> = inbox["rows"].as_array().unwrap().iter().map(|r| r["due_at_ms"].as_i64().unwrap()).collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "ordered by SLA");
    let cursor = inbox["next_cursor"].as_str().expect("a next page").to_owned();
    let (rest, _, inbox) = listed(&app, &lead, &[("cursor", cursor.as_str())]).await;
    assert_eq!(rest.len(), 6);
    assert!(inbox["next_cursor"].is_null());
    assert_eq!(rest.last().map(String::as_str), Some("ask-0"));
    assert!(first.iter().chain(&rest).collect::<std::collections::HashSet<_>>().len() == 56, "each once");
    let asked_row = &inbox["rows"][5];
    assert_eq!(
        (asked_row["escalated_by"].as_str(), asked_row["note"].as_str()),
        (Some("a@example.com"), Some("unreadable stamp"))
    );

    // Filters: by reason, by level, by assignee.
    assert_eq!(listed(&app, &lead, &[("reason", "reviewer")]).await.0, ["ask-0"]);
    assert_eq!(listed(&app, &lead, &[("reason", "low_confidence"), ("level", "1")]).await.1, 55);
    assert_eq!(listed(&app, &lead, &[("level", "2")]).await.1, 0);
    ok(&app, &lead, "review/assign", &[("item_id", &asked.to_string()), ("assignee", "a@example.com")]).await;
    assert_eq!(listed(&app, &lead, &[("assignee", "a@example.com")]).await.0, ["ask-0"]);
    assert_eq!(listed(&app, &lead, &[("assignee", "none")]).await.1, 55);
    keep_escalations(&app.db, now_ms() + 2 * 3_600_000).await.unwrap();
    assert_eq!(listed(&app, &lead, &[("level", "2")]).await.1, 56, "past the SLA, at the admins' level");
    for (field, value) in [("reason", "bogus"), ("level", "7"), ("assignee", "not an email")] {
        let (status, body) = call(&app, &lead, "escalations/inbox", &[(field, value)]).await;
        assert_eq!((status, body["field"].as_str()), (422, Some(field)), "{body}");
    }
}
