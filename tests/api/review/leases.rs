//! Leases: renewed by the open page, expired back to the queue, and a stale one refused.

use super::*;
use crate::on_both_backends;
use std::time::Duration;

on_both_backends!(
    leases_renew_and_expire_back_to_the_queue,
    a_stale_lease_cannot_decide_after_another_reviewer_claims,
    a_reviewer_removed_from_the_workflow_cannot_keep_a_lease_alive,
);

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

    // Time must pass for a renewal to extend the lease (it is checked to move the end by at least
    // as much): the sleep is the thing measured, not a wait for something to happen.
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

/// Renewing checks membership as every claim and decision does: someone removed from the
/// workflow keeps the item only until the lease they hold runs out.
async fn a_reviewer_removed_from_the_workflow_cannot_keep_a_lease_alive(backend: Backend) {
    use gatehouse::storage::audit::Actor;
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let b = person(&app, "b@example.com", Role::Reviewer).await;
    let (_, key) = with_workflow(&app, &[&a, &b]).await;
    let id = ingest(&app, &key, "removed", 1).await[0];
    assert_eq!(start(&app, &a).await, Some(id));
    let a_token = token(&app, &a, id).await;
    let renew = [("item_id", id.to_string()), ("lease_token", a_token.clone())];
    let renew: Vec<(&str, &str)> = renew.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = call(&app, &a, "review/renew", &renew).await;
    assert_eq!(status, 200, "a member renews");
    let (before,): (Option<i64>,) = sqlx::query_as("select lease_expires_at from items where id = $1")
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();

    gatehouse::workflows::server::apply(&app.db, &Actor::Cli, reviewed(&[&b]).spec(), "a leaves the team")
        .await
        .unwrap();
    let (status, body) = call(&app, &a, "review/renew", &renew).await;
    assert_eq!((status, body["kind"].as_str()), (403, Some("forbidden")), "{body}");
    let (after,): (Option<i64>,) = sqlx::query_as("select lease_expires_at from items where id = $1")
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(after, before, "the lease was not extended");
    // Opening and deciding read membership from the workflow as this instance caches it: a change
    // made elsewhere (here as the command line would) applies within `API_CACHE_TTL`.
    let item = [("slug", SLUG.to_owned()), ("item_id", id.to_string())];
    let item: Vec<(&str, &str)> = item.iter().map(|(k, v)| (*k, v.as_str())).collect();
    crate::helpers::wait_until(Duration::from_secs(5), "the removal to reach the cached workflow", async || {
        call(&app, &a, "review/item", &item).await.0 == 403
    })
    .await;
    let (status, _) = approve(&app, &a, id, &a_token).await;
    assert_eq!(status, 403, "nor can the item be decided");
    assert_eq!(item_state(&app, id).await, ("claimed".to_owned(), Some(a.id)), "it waits for its lease to end");
}
