//! The breaker: opened by a drifting audit sample (webhook, routing, the admins' banner) and
//! closed by an admin with a reason.

use super::*;
use crate::on_both_backends;
use gatehouse::tuning::breaker::{Watch, check, check_since};

on_both_backends!(
    the_breaker_opens_when_the_audit_sample_drifts_and_an_admin_closes_it,
    a_watcher_that_remembers_reads_only_new_verdicts_and_forgets_undone_ones,
);

async fn the_breaker_opens_when_the_audit_sample_drifts_and_an_admin_closes_it(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |s| {
        s.escalation_sweep_ms = 3_600_000;
        s.allow_private_webhooks = true;
    })
    .await;
    let reviewer = person(&app, "rita@example.com", Role::Reviewer).await;
    let admin = person(&app, "ada@example.com", Role::Admin).await;
    let created = audited_workflow(&app, &reviewer).await;
    let (status, body) = call(
        &app,
        &admin.client,
        "webhooks/add",
        &[
            ("slug", SLUG),
            ("url", "http://127.0.0.1:9/hook"),
            ("events[workflow.breaker_opened]", "on"),
            ("events[workflow.breaker_closed]", "on"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let items: Vec<Value> = (0..40).map(|i| crate::fixtures::invoice(&format!("audit-{i}"), 0.9)).collect();
    let stored = crate::fixtures::submit_all(&app, &created.key, SLUG, &items).await;
    assert!(stored.iter().all(|i| i["route"]["reason"] == "audit"), "{}", stored[0]);

    // The model is fine at first: 30 audits approved, the breaker stays closed.
    for _ in 0..30 {
        decide_next(&app, &reviewer, "approve").await;
    }
    assert!(check(&app.db).await.unwrap().is_empty());
    // Then it drifts: 8 overrides in the next 10 (8 of 40 against a 2 % target).
    for i in 0..10 {
        decide_next(&app, &reviewer, if i < 8 { "reject" } else { "approve" }).await;
    }
    let opened = check(&app.db).await.unwrap();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!((opened[0].overridden, opened[0].audited, opened[0].model_version.as_str()), (8, 40, "v3"));
    assert!(check(&app.db).await.unwrap().is_empty(), "it opens once");
    assert_eq!(
        count(&app, "select count(*) from webhook_outbox where event_type = 'workflow.breaker_opened'").await,
        1
    );

    // New items go to review with reason `breaker`, once the cached settings expire.
    tokio::time::sleep(gatehouse::state::API_CACHE_TTL + std::time::Duration::from_millis(100)).await;
    let after = crate::fixtures::submit_all(&app, &created.key, SLUG, &[crate::fixtures::invoice("after", 0.99)]).await;
    assert_eq!(after[0]["route"]["reason"], "breaker", "{}", after[0]);
    let (_, counts) = call(&app, &admin.client, "escalations/counts", &[]).await;
    assert_eq!(counts["breakers"][0][0], SLUG, "{counts}");
    let (_, report) = call(&app, &admin.client, "tuning/report", &[("slug", SLUG)]).await;
    assert!(report["breaker"][1].as_str().unwrap().contains("8 of the last 40"), "{}", report["breaker"]);
    // Admins see the banner on every page, with a way to the workflow's tuning page; reviewers
    // do not (nothing there is theirs to do).
    let banner = "Auto-approval stopped.";
    let link = format!("href=\"/settings/workflows/{SLUG}/tuning\"");
    for path in ["/queues", "/settings/users", "/escalations"] {
        let page = page_text(&app, &admin.client, path).await;
        assert!(page.contains(banner) && page.contains(&link), "{path} shows no breaker banner:\n{page}");
    }
    assert!(!page_text(&app, &reviewer.client, "/queues").await.contains(banner), "a reviewer sees no banner");

    // Closing takes a reason; then auto-approval resumes and old verdicts no longer count.
    let (status, body) = call(&app, &admin.client, "tuning/close-breaker", &[("slug", SLUG), ("reason", "")]).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("reason")), "{body}");
    let (status, _) =
        call(&app, &admin.client, "tuning/close-breaker", &[("slug", SLUG), ("reason", "model v4 rolled back")]).await;
    assert!((200..400).contains(&status));
    assert_eq!(
        count(&app, "select count(*) from webhook_outbox where event_type = 'workflow.breaker_closed'").await,
        1
    );
    assert!(check(&app.db).await.unwrap().is_empty(), "the old verdicts are forgotten");
    let again = crate::fixtures::submit_all(&app, &created.key, SLUG, &[crate::fixtures::invoice("again", 0.99)]).await;
    assert_eq!(again[0]["route"]["reason"], "audit", "{}", again[0]);
    let (_, counts) = call(&app, &admin.client, "escalations/counts", &[]).await;
    assert_eq!(counts["breakers"], json!([]));
    assert!(!page_text(&app, &admin.client, "/queues").await.contains(banner), "closed, the banner is gone");
    let (status, _) = call(&app, &admin.client, "tuning/close-breaker", &[("slug", SLUG), ("reason", "twice")]).await;
    assert_eq!(status, 409, "it is not open");
}

/// The served watcher keeps each workflow's verdicts between passes and reads only the newer
/// ones: what it concludes must be what a watcher reading everything concludes, undos included.
async fn a_watcher_that_remembers_reads_only_new_verdicts_and_forgets_undone_ones(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |s| s.escalation_sweep_ms = 3_600_000).await;
    let reviewer = person(&app, "rita@example.com", Role::Reviewer).await;
    let created = audited_workflow(&app, &reviewer).await;
    let items: Vec<Value> = (0..60).map(|i| crate::fixtures::invoice(&format!("audit-{i}"), 0.9)).collect();
    crate::fixtures::submit_all(&app, &created.key, SLUG, &items).await;
    let mut watch = Watch::default();
    for _ in 0..30 {
        decide_next(&app, &reviewer, "approve").await;
    }
    assert!(check_since(&app.db, &mut watch).await.unwrap().is_empty(), "30 approvals");
    // Eight overrides, each undone and decided again as an approval: nothing drifted.
    for _ in 0..8 {
        decide_next(&app, &reviewer, "reject").await;
        // Seen by the watcher between the override and its undo, as a served one may.
        assert!(check_since(&app.db, &mut watch).await.unwrap().is_empty(), "one override in 31 is no drift");
        let (last,): (i64,) = sqlx::query_as("select max(id) from decisions where kind = 'reject'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        let (status, body) = call(&app, &reviewer.client, "review/undo", &[("decision_id", &last.to_string())]).await;
        assert_eq!(status, 200, "{body}");
        decide_next(&app, &reviewer, "approve").await;
    }
    assert!(check_since(&app.db, &mut watch).await.unwrap().is_empty(), "the undone overrides are forgotten");
    assert!(check(&app.db).await.unwrap().is_empty(), "as a watcher reading everything finds");
    // Then eight overrides that stand: 8 of 46 against a 2 % target.
    for _ in 0..8 {
        decide_next(&app, &reviewer, "reject").await;
    }
    let opened = check_since(&app.db, &mut watch).await.unwrap();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!((opened[0].overridden, opened[0].audited), (8, 46), "{opened:?}");
    assert!(check_since(&app.db, &mut watch).await.unwrap().is_empty(), "it opens once");
}

/// The workflow, auto-approving from 0.5 with `reviewer` its member. Every would-be
/// auto-approval is audited, so each verdict is an audit verdict.
async fn audited_workflow(app: &TestApp, reviewer: &crate::fixtures::Person) -> crate::fixtures::Created {
    workflow()
        .members(&[reviewer])
        .with("auto_approve_at", json!(0.5))
        .with("audit_rate", json!(1.0))
        .with("reason_codes", json!(["blurry"]))
        .create(app)
        .await
}

/// A page as a browser gets it, signed in as `client`'s user.
async fn page_text(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    let response = client.get(app.url(path)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}
