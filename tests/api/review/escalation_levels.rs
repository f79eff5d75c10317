//! Escalation levels: each escalated item gets one open escalation (with its trigger), at the
//! leads' level until the workflow's escalation SLA runs out, then at the admins', then flagged;
//! each step dated when it fell due, however late the sweeper ran; closed once the item is
//! decided.

use super::*;
use crate::on_both_backends;
use gatehouse::domain::escalation::Reason;
use gatehouse::escalations::server::{Escalating, Kept, Seen, escalate_by_system, keep_escalations, keep_since};
use gatehouse::storage::clock::now_ms;

on_both_backends!(
    escalations_open_with_their_reason_climb_when_due_and_close_when_decided,
    two_sweepers_at_once_open_and_climb_each_escalation_once,
    a_sweeper_that_has_seen_everything_still_sees_what_is_new,
    a_pass_opens_only_what_is_new_and_a_far_look_what_showed_late,
);

/// PostgreSQL only: SQLite's one writer commits in the order it hands out keys. (Named
/// `postgres` like the others, so that `scripts/test` counts it among the PostgreSQL tests.)
mod commit_order {
    mod postgres {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[cfg_attr(not(test_postgres), ignore = "set TEST_DATABASE_URL to run on PostgreSQL")]
        async fn an_escalation_committed_after_a_newer_one_is_still_opened() {
            crate::helpers::within_limit(super::super::an_escalation_committed_after_a_newer_one_is_still_opened(
                crate::helpers::Backend::postgres(),
            ))
            .await
        }
    }
}

const HOUR: i64 = 3_600_000;

/// (reason, level, opened_at, level_since, flagged_at, resolved_at) of an item's escalations.
type Row = (String, i64, i64, i64, Option<i64>, Option<i64>);

async fn escalations_of(app: &TestApp, item_id: i64) -> Vec<Row> {
    sqlx::query_as(
        "select reason, level, opened_at, level_since, flagged_at, resolved_at from escalations \
         where item_id = $1 order by id",
    )
    .bind(item_id)
    .fetch_all(app.db.pool())
    .await
    .unwrap()
}

/// (kind, actor, at, note) of the climbs and flags in an item's history as a page shows it.
fn steps_of(item: &Value) -> Vec<(String, String, i64, String)> {
    let lines = item["history"].as_array().cloned().unwrap_or_default();
    lines
        .iter()
        .filter(|l| matches!(l["kind"].as_str(), Some("climb" | "flag")))
        .map(|l| {
            let text = |key: &str| l[key].as_str().unwrap_or_default().to_owned();
            (text("kind"), text("actor"), l["at_ms"].as_i64().unwrap(), text("note"))
        })
        .collect()
}

async fn escalations_open_with_their_reason_climb_when_due_and_close_when_decided(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let created = reviewed(&[&a, &lead]).with("escalation_sla_secs", serde_json::json!(3600)).create(&app).await;
    let low: Value =
        crate::fixtures::submit(&app, &created.key, SLUG, &invoice("low", 0.1)).await.json().await.unwrap();
    assert_eq!(low["state"], "escalated", "arrives escalated: {low}");
    let low = low["id"].as_i64().unwrap();
    let asked = ingest(&app, &created.key, "ask", 1).await[0];
    assert_eq!(start(&app, &a).await, Some(asked));
    let lease = token(&app, &a, asked).await;
    let form = [("item_id", asked.to_string()), ("lease_token", lease), ("note", "a stamp I cannot read".to_owned())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(&app, &a, "review/escalate", &form).await;

    let now = now_ms();
    let kept = keep_escalations(&app.db, now).await.unwrap();
    assert_eq!(kept, Kept { opened: 2, ..Kept::default() });
    let rows = escalations_of(&app, low).await;
    let [(reason, level, opened, since, None, None)] = &rows[..] else { panic!("{rows:?}") };
    assert_eq!((reason.as_str(), *level, since), ("low_confidence", 1, opened));
    let rows = escalations_of(&app, asked).await;
    let [(reason, 1, asked_at, _, None, None)] = &rows[..] else { panic!("{rows:?}") };
    assert_eq!(reason, "reviewer");
    let asked_at = *asked_at;
    assert_eq!(keep_escalations(&app.db, now + HOUR / 2).await.unwrap(), Kept::default(), "nothing due yet");

    // Three hours without anyone looking: each step is dated when it fell due.
    let kept = keep_escalations(&app.db, asked_at + 3 * HOUR).await.unwrap();
    assert_eq!(kept, Kept { climbed: 2, flagged: 2, ..Kept::default() });
    let rows = escalations_of(&app, low).await;
    let [(_, 2, opened, since, Some(flagged), None)] = &rows[..] else { panic!("{rows:?}") };
    assert_eq!((*since, *flagged), (opened + HOUR, opened + 2 * HOUR));
    let (opened, climbed, flagged) = (*opened, *since, *flagged);
    assert_eq!(keep_escalations(&app.db, asked_at + 9 * HOUR).await.unwrap(), Kept::default(), "each step once");
    // Each step is a line of the item's history too, by the system, dated when it fell due: read
    // from the escalation's row, not stored as a decision.
    let page = ok(&app, &lead, "escalations/item", &[("item_id", &low.to_string())]).await;
    let steps = steps_of(&page["item"]);
    assert_eq!(
        steps.iter().map(|(kind, by, at, _)| (kind.as_str(), by.as_str(), *at)).collect::<Vec<_>>(),
        [("climb", "system", climbed), ("flag", "system", flagged)],
        "opened at {opened}: {page}"
    );
    assert!(steps[0].3.contains("level 2") && steps[0].3.contains("1 h"), "{}", steps[0].3);
    assert_eq!(count(&app, "select count(*) from decisions where kind in ('climb', 'flag')").await, 0);
    assert_eq!(rest_item(&app, &created.key, low).await["decisions"], serde_json::json!([]), "steps are no decisions");

    // The lead hands the reviewer's escalation to the reviewer, who decides it: it closes.
    ok(&app, &lead, "review/assign", &[("item_id", &asked.to_string()), ("assignee", "a@example.com")]).await;
    ok(&app, &a, "review/claim-assigned", &[("item_id", &asked.to_string())]).await;
    // The assignee's review page shows the steps among the decisions, in time order: the
    // sweeper ran hours ahead of the clock, so the assignment, made now, comes before them.
    let page = ok(&app, &a, "review/item", &[("slug", SLUG), ("item_id", &asked.to_string())]).await;
    let lines: Vec<(&str, i64)> = page["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap(), l["at_ms"].as_i64().unwrap()))
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, ["escalate", "assign", "climb", "flag"], "{page}");
    assert_eq!((lines[2].1, lines[3].1), (asked_at + HOUR, asked_at + 2 * HOUR), "dated when due");
    let lease = page["lease_token"].as_str().unwrap().to_owned();
    let (status, body) = approve(&app, &a, asked, &lease).await;
    assert_eq!(status, 200, "{body}");
    let kept = keep_escalations(&app.db, now_ms()).await.unwrap();
    assert_eq!(kept.resolved, 1);
    let (decided_at,): (Option<i64>,) = sqlx::query_as("select decided_at from items where id = $1")
        .bind(asked)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let rows = escalations_of(&app, asked).await;
    let [(_, _, _, _, _, Some(resolved))] = &rows[..] else { panic!("{rows:?}") };
    assert_eq!(Some(*resolved), decided_at, "closed as of the decision");
    assert_eq!(escalations_of(&app, low).await[0].5, None, "the other stays open");
}

async fn two_sweepers_at_once_open_and_climb_each_escalation_once(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let other = app.another_instance().await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let created = reviewed(&[&a]).with("escalation_sla_secs", serde_json::json!(3600)).create(&app).await;
    let items: Vec<Value> = (0..80).map(|i| invoice(&format!("low-{i}"), 0.1)).collect();
    crate::fixtures::submit_all(&app, &created.key, SLUG, &items).await;
    let later = now_ms() + 90 * 60_000;
    let (here, there) = tokio::join!(keep_escalations(&app.db, later), keep_escalations(&other.db, later));
    let (here, there) = (here.unwrap(), there.unwrap());
    assert_eq!(here.opened + there.opened, 80, "{here:?} {there:?}");
    assert_eq!(count(&app, "select count(*) from escalations").await, 80, "one escalation an item");
    assert_eq!(
        count(&app, "select count(*) from escalations where level = 2 and level_since = opened_at + 3600000").await,
        80,
        "each climbed once, dated when due"
    );
}

async fn a_sweeper_that_has_seen_everything_still_sees_what_is_new(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let created = reviewed(&[&a, &lead]).create(&app).await;
    let low: Vec<Value> = (0..2).map(|i| invoice(&format!("low-{i}"), 0.1)).collect();
    let low = crate::fixtures::submit_all(&app, &created.key, SLUG, &low).await;
    let mut seen = Seen::default();
    assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap().opened, 2);
    assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap(), Kept::default());
    // A new item arriving escalated, and a queued one a reviewer escalates: both newer.
    crate::fixtures::submit(&app, &created.key, SLUG, &invoice("low-new", 0.1)).await;
    let asked = ingest(&app, &created.key, "ask", 1).await[0];
    assert_eq!(start(&app, &a).await, Some(asked));
    let lease = token(&app, &a, asked).await;
    let form = [("item_id", asked.to_string()), ("lease_token", lease), ("note", "unsure".to_owned())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ok(&app, &a, "review/escalate", &form).await;
    assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap().opened, 2);
    // An old escalation decided by its assignee: the decision is new.
    let old = low[0]["id"].as_i64().unwrap().to_string();
    ok(&app, &lead, "escalations/assign", &[("item_id", &old), ("assignee", "a@example.com")]).await;
    ok(&app, &a, "review/claim-assigned", &[("item_id", &old)]).await;
    let lease = token(&app, &a, old.parse().unwrap()).await;
    let (status, body) = approve(&app, &a, old.parse().unwrap(), &lease).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap().resolved, 1);
    assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap(), Kept::default());
}

/// A pass's steps read only what is new since its frontier, as its look does: an item that
/// shows escalated below the keys already seen (as a transaction committed late would leave it)
/// is not opened by the passes after, even while they open a new one, but by the next far look
/// (`Seen`), which looks back over the last two.
async fn a_pass_opens_only_what_is_new_and_a_far_look_what_showed_late(backend: Backend) {
    use gatehouse::storage::seen::FAR_LOOK_EVERY;
    let app = app_with(backend, without_sweepers).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let created = reviewed(&[&a]).create(&app).await;
    let mut seen = Seen::default();
    for _ in 0..=FAR_LOOK_EVERY {
        assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap(), Kept::default());
    }
    let late = ingest(&app, &created.key, "late", 1).await[0];
    for _ in 0..3 {
        assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap(), Kept::default());
    }
    sqlx::query("update items set state = 'escalated' where id = $1").bind(late).execute(app.db.pool()).await.unwrap();
    crate::fixtures::submit(&app, &created.key, SLUG, &invoice("fresh", 0.1)).await;
    assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap().opened, 1, "only the new one");
    assert_eq!(escalations_of(&app, late).await.len(), 0);
    let mut passes = FAR_LOOK_EVERY + 5;
    while passes < 2 * FAR_LOOK_EVERY - 1 {
        assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap(), Kept::default());
        passes += 1;
    }
    assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap().opened, 0, "the pass before the far look");
    assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap().opened, 1, "the far look");
    let opened = escalations_of(&app, late).await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].0, "low_confidence", "no escalate decision: it arrived escalated, as far as its history says");
}

/// A key is handed out when a row is written, and the row shows when its transaction commits:
/// an escalation written first and committed last shows below the newest decision the sweeper
/// has already seen. The next pass still opens it (`Seen` looks back over two passes). (The two
/// are in two workflows: their hourly counts are rows of their own, which the held transaction
/// would otherwise keep the second from writing.)
async fn an_escalation_committed_after_a_newer_one_is_still_opened(backend: Backend) {
    let app = app_with(backend, without_sweepers).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let one = reviewed(&[&a]).create(&app).await;
    let other = reviewed(&[&a]).with("slug", serde_json::json!("receipts")).create(&app).await;
    let slow = ingest(&app, &one.key, "wait", 1).await[0];
    let fast = crate::fixtures::submit_all(&app, &other.key, "receipts", &[invoice("late", 0.5)]).await[0]["id"]
        .as_i64()
        .unwrap();
    let mut seen = Seen::default();
    for _ in 0..3 {
        assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap(), Kept::default());
    }
    let backend = app.db.backend();
    // The first escalation is written and held uncommitted...
    let mut first = app.db.pool().begin().await.unwrap();
    let escalating = Escalating { item_id: slow, workflow_id: one.id, slug: SLUG };
    assert!(escalate_by_system(&mut first, backend, escalating, Reason::ReviewSla, "slow", now_ms()).await.unwrap());
    // ...while a second, written after it with a higher key, commits.
    let mut second = app.db.pool().begin().await.unwrap();
    let escalating = Escalating { item_id: fast, workflow_id: other.id, slug: "receipts" };
    assert!(escalate_by_system(&mut second, backend, escalating, Reason::ReviewSla, "fast", now_ms()).await.unwrap());
    second.commit().await.unwrap();
    assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap().opened, 1, "the committed one");
    first.commit().await.unwrap();
    assert_eq!(
        keep_since(&app.db, now_ms(), &mut seen).await.unwrap().opened,
        1,
        "the one committed last, below the newest decision already seen"
    );
    assert_eq!(count(&app, "select count(*) from escalations where resolved_at is null").await, 2);
    assert_eq!(keep_since(&app.db, now_ms(), &mut seen).await.unwrap(), Kept::default());
}
