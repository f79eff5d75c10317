//! The team page: each member's items in hand, decisions today and this week (not last week's,
//! not an undone one), median time, the rejections a lead overturned, and the escalations by
//! reason (thirty days back to the minute, though the rollup they are summed from counts by the
//! hour); a lead sees only the workflows they are a member of.

use super::*;
use crate::on_both_backends;
use gatehouse::domain::workload::week_start;
use gatehouse::escalations::server::keep_escalations;
use gatehouse::storage::clock::now_ms;

on_both_backends!(
    the_team_page_counts_each_members_work_in_the_leads_workflows,
    escalations_by_reason_go_back_thirty_days_to_the_minute,
);

/// The hourly rollup of the reviewers' decisions counted again from the decisions, as their
/// writers would have kept it had the decisions a test dated back been made then.
async fn recount_reviewer_hours(app: &TestApp) {
    for sql in [
        "delete from reviewer_hours",
        "insert into reviewer_hours (workflow_id, hour, actor_id, kind, decisions) \
         select d.workflow_id, d.created_at / 3600000, d.actor_id, d.kind, count(*) from decisions d \
         where d.actor_id is not null and d.kind in ('approve', 'reject', 'correct', 'escalate') \
         and not exists (select 1 from decisions u where u.undoes = d.id) group by 1, 2, 3, 4",
    ] {
        sqlx::query(sql).execute(app.db.pool()).await.unwrap();
    }
}

/// `who` takes the next item and decides it; the item and the decision's receipt.
async fn decide(app: &TestApp, who: &Person, endpoint: &str, extra: &[(&str, &str)]) -> (i64, Value) {
    let item = start(app, who).await.expect("an item waits");
    let lease = token(app, who, item).await;
    let id = item.to_string();
    let mut form = vec![("item_id", id.as_str()), ("lease_token", lease.as_str())];
    form.extend_from_slice(extra);
    (item, ok(app, who, endpoint, &form).await)
}

fn member<'a>(team: &'a Value, email: &str) -> &'a Value {
    team["members"].as_array().unwrap().iter().find(|m| m["email"] == email).unwrap_or_else(|| panic!("{team}"))
}

async fn the_team_page_counts_each_members_work_in_the_leads_workflows(backend: Backend) {
    let app = app_with(backend, |s| {
        without_sweepers(s);
        s.undo_window_ms = 600_000;
    })
    .await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let b = person(&app, "b@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let other_lead = person(&app, "other@example.com", Role::Lead).await;
    let created = reviewed(&[&a, &b, &lead]).with("escalate_on_reasons", json!(["blurry"])).create(&app).await;
    reviewed(&[&other_lead]).with("slug", json!("receipts")).with("name", json!("Receipts")).create(&app).await;
    ingest(&app, &created.key, "inv", 8).await;

    // a: two approvals, one of them last week; a rejection that goes to the lead, who approves.
    let (old, _) = decide(&app, &a, "review/approve", &[]).await;
    let (approved, _) = decide(&app, &a, "review/approve", &[]).await;
    let (rejected, _) = decide(&app, &a, "review/reject", &[("reason_code", "blurry")]).await;
    // An undone decision counts for nothing.
    let (undone, receipt) = decide(&app, &a, "review/escalate", &[("note", "not sure")]).await;
    ok(&app, &a, "review/undo", &[("decision_id", &receipt["decision_id"].to_string())]).await;
    sqlx::query("update decisions set created_at = $1 where item_id = $2")
        .bind(week_start(now_ms()) - 1)
        .bind(old)
        .execute(app.db.pool())
        .await
        .unwrap();
    recount_reviewer_hours(&app).await;
    // The median counts this week's decisions that stand: (1 s + 3 s) / 2.
    for (item, spent) in [(old, 60_000), (approved, 1000), (rejected, 3000), (undone, 90_000)] {
        sqlx::query("update decisions set time_spent_ms = $1 where item_id = $2 and actor_id = $3")
            .bind(spent)
            .bind(item)
            .bind(a.id)
            .execute(app.db.pool())
            .await
            .unwrap();
    }
    keep_escalations(&app.db, now_ms()).await.unwrap();
    ok(&app, &lead, "escalations/decide", &[("verdict", "approve"), ("item_id", &rejected.to_string())]).await;
    // b: holds one item and has one assigned.
    assert!(start(&app, &b).await.is_some());
    let queued: i64 =
        sqlx::query_scalar("select min(id) from items where state = 'queued'").fetch_one(app.db.pool()).await.unwrap();
    ok(&app, &lead, "escalations/assign", &[("item_id", &queued.to_string()), ("assignee", "b@example.com")]).await;

    let team = ok(&app, &lead, "team/overview", &[]).await;
    let emails: Vec<&str> = team["members"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["a@example.com", "b@example.com", "lead@example.com"]);
    let mine = member(&team, "a@example.com");
    assert_eq!((mine["decisions_today"].as_i64(), mine["decisions_this_week"].as_i64()), (Some(2), Some(2)), "{mine}");
    assert_eq!(mine["overturned"], 1, "the lead approved what a rejected");
    assert_eq!(mine["median_ms"], 2000, "the mean of the middle two: {mine}");
    let held: i64 = sqlx::query_scalar("select count(*) from items where state = 'claimed' and leased_by = $1")
        .bind(a.id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert!(held >= 1);
    assert_eq!(mine["in_hand"], held, "the items a holds");
    assert_eq!(member(&team, "b@example.com")["in_hand"], 2, "one held, one assigned");
    let theirs = member(&team, "lead@example.com");
    assert_eq!(theirs["decisions_this_week"], 1, "the lead's own decision");
    assert!(theirs["median_ms"].is_null(), "a decision from the escalation's page has no time spent: {theirs}");
    sqlx::query("update decisions set time_spent_ms = 4000 where actor_id = $1")
        .bind(lead.id)
        .execute(app.db.pool())
        .await
        .unwrap();
    let team = ok(&app, &lead, "team/overview", &[]).await;
    assert_eq!(member(&team, "lead@example.com")["median_ms"], 4000, "one decision is its own median");
    assert_eq!(team["escalations_by_reason"], json!([["reject_reason", 1]]));

    // The other workflow's lead sees its (empty) team only; filtering by a slug narrows.
    let theirs = ok(&app, &other_lead, "team/overview", &[]).await;
    assert_eq!(theirs["members"].as_array().unwrap().len(), 1, "{theirs}");
    let filtered = ok(&app, &other_lead, "team/overview", &[("workflow", SLUG)]).await;
    assert!(filtered["members"].as_array().unwrap().is_empty(), "not theirs to see: {filtered}");
    let (status, _) = call(&app, &a, "team/overview", &[]).await;
    assert_eq!(status, 403);

    let page = lead.client.get(app.url("/team")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("b@example.com") && html.contains("Rejected for a reason that escalates"), "{html}");
}

async fn escalations_by_reason_go_back_thirty_days_to_the_minute(backend: Backend) {
    const HOUR: i64 = 3_600_000;
    let app = app_with(backend, without_sweepers).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let created = reviewed(&[&lead]).create(&app).await;
    let low: Vec<Value> = (0..4).map(|i| invoice(&format!("low-{i}"), 0.1)).collect();
    let stored = submit_all(&app, &created.key, SLUG, &low).await;
    assert_eq!(keep_escalations(&app.db, now_ms()).await.unwrap().opened, 4);
    let team = ok(&app, &lead, "team/overview", &[]).await;
    assert_eq!(team["escalations_by_reason"], json!([["low_confidence", 4]]), "all four opened now");

    // Thirty days back falls inside an hour: of three escalations dated in and around that
    // hour, only the one opened after the thirty days began still counts. (The test's thirty
    // days start a little before the page's: ten minutes each side keeps them apart.)
    let since = now_ms() - 30 * 24 * HOUR;
    let hour_began = since - since.rem_euclid(HOUR);
    let dated = [hour_began - 1, hour_began.max(since - 600_000), since + 600_000];
    for (item, opened_at) in stored.iter().zip(dated) {
        sqlx::query("update escalations set opened_at = $1, level_since = $1, due_at = $1 where item_id = $2")
            .bind(opened_at)
            .bind(item["id"].as_i64().unwrap())
            .execute(app.db.pool())
            .await
            .unwrap();
    }
    // The rollup as its writer would have kept it had they been opened then.
    for sql in [
        "delete from escalation_hours",
        "insert into escalation_hours (workflow_id, hour, model_version, reason, opened) \
         select e.workflow_id, e.opened_at / 3600000, coalesce(i.model_version, ''), e.reason, count(*) \
         from escalations e join items i on i.id = e.item_id group by 1, 2, 3, 4",
    ] {
        sqlx::query(sql).execute(app.db.pool()).await.unwrap();
    }
    let team = ok(&app, &lead, "team/overview", &[]).await;
    assert_eq!(team["escalations_by_reason"], json!([["low_confidence", 2]]), "one of three and the one left now");
}
