//! Who may act and see: members only, the lease holder only, only leads assign; a queue's own
//! page tells its members what waits there.

use super::*;
use crate::on_both_backends;

on_both_backends!(
    only_members_and_holders_may_act_and_only_leads_assign,
    a_queue_page_says_what_waits_there_and_only_to_members,
);

async fn only_members_and_holders_may_act_and_only_leads_assign(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let b = person(&app, "b@example.com", Role::Reviewer).await;
    let outsider = person(&app, "c@example.com", Role::Reviewer).await;
    let lead = person(&app, "lead@example.com", Role::Lead).await;
    let (_, key) = with_workflow(&app, &[&a, &b, &lead]).await;
    let ids = ingest(&app, &key, "auth", 3).await;
    let nobody = Person { client: crate::helpers::client(), id: 0, email: String::new() };

    // Not a member: 403 everywhere, and the queues page does not list the workflow.
    let (status, body) = call(&app, &outsider, "review/start", &[("slug", SLUG)]).await;
    assert_eq!((status, body["kind"].as_str()), (403, Some("forbidden")));
    assert_eq!(start(&app, &a).await, Some(ids[0]));
    let a_token = token(&app, &a, ids[0]).await;
    let id0 = ids[0].to_string();
    let item_form = [("slug", SLUG), ("item_id", id0.as_str())];
    let (status, _) = call(&app, &outsider, "review/item", &item_form).await;
    assert_eq!(status, 403);
    let (status, _) = approve(&app, &outsider, ids[0], &a_token).await;
    assert_eq!(status, 403, "not a member, even with the holder's token");
    let overview = ok(&app, &outsider, "review/queues", &[]).await;
    assert_eq!(overview["queues"], json!([]));

    // Signed out: 401.
    for (endpoint, form) in
        [("review/queues", vec![]), ("review/start", vec![("slug", SLUG)]), ("review/item", item_form.to_vec())]
    {
        let (status, body) = call(&app, &nobody, endpoint, &form).await;
        assert_eq!((status, body["kind"].as_str()), (401, Some("unauthenticated")), "{endpoint}");
    }
    let (status, _) = approve(&app, &nobody, ids[0], &a_token).await;
    assert_eq!(status, 401);

    // A member cannot decide or open an item leased to someone else, guessed or stolen token alike.
    for guess in ["0123456789abcdef0123456789abcdef", a_token.as_str()] {
        let (status, body) = approve(&app, &b, ids[0], guess).await;
        assert_eq!((status, body["kind"].as_str()), (409, Some("conflict")), "{body}");
        assert!(message(&body).contains("another reviewer"), "{body}");
    }
    let (status, _) = call(&app, &b, "review/item", &item_form).await;
    assert_eq!(status, 409);
    let (status, _) =
        call(&app, &b, "review/renew", &[("item_id", &ids[0].to_string()), ("lease_token", &a_token)]).await;
    assert_eq!(status, 409);
    assert_eq!(item_state(&app, ids[0]).await, ("claimed".to_owned(), Some(a.id)));
    assert_eq!(count(&app, "select count(*) from decisions").await, 0, "nothing was recorded");

    // Reviewers cannot assign; a lead can, to members only.
    let assign = |item: i64, to: &str| [("item_id", item.to_string()), ("assignee", to.to_owned())];
    let form = assign(ids[1], "b@example.com");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = call(&app, &a, "review/assign", &form).await;
    assert_eq!((status, body["kind"].as_str()), (403, Some("forbidden")));
    assert_eq!(item_state(&app, ids[1]).await.0, "queued");
    let outsider_form = assign(ids[1], "c@example.com");
    let outsider_form: Vec<(&str, &str)> = outsider_form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = call(&app, &lead, "review/assign", &outsider_form).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("assignee")), "{body}");
    assert_eq!(ok(&app, &lead, "review/assign", &form).await, Value::Null);
    assert_eq!(item_state(&app, ids[1]).await, ("assigned".to_owned(), None));

    // The assigned item is handed to nobody else.
    let (status, receipt) = approve(&app, &a, ids[0], &a_token).await;
    assert_eq!(status, 200);
    assert_eq!(receipt["next_item"].as_i64(), Some(ids[2]), "the assigned item is skipped");
    let overview = ok(&app, &b, "review/queues", &[]).await;
    let assigned: Vec<i64> =
        overview["assigned"].as_array().unwrap().iter().map(|a| a["item_id"].as_i64().unwrap()).collect();
    assert_eq!(assigned, vec![ids[1]]);
    assert_eq!(overview["assigned"][0]["state"], "assigned");
    assert_eq!(ok(&app, &a, "review/queues", &[]).await["assigned"], json!([]));

    let id1 = ids[1].to_string();
    let claim = [("item_id", id1.as_str())];
    let (status, _) = call(&app, &a, "review/claim-assigned", &claim).await;
    assert_eq!(status, 403, "only the assignee claims it");
    let (status, _) = call(&app, &outsider, "review/claim-assigned", &claim).await;
    assert_eq!(status, 403);
    assert_eq!(item_state(&app, ids[1]).await, ("assigned".to_owned(), None));
    assert_eq!(ok(&app, &b, "review/claim-assigned", &claim).await.as_i64(), Some(ids[1]));
    assert_eq!(item_state(&app, ids[1]).await, ("claimed".to_owned(), Some(b.id)));
    let b_token = token(&app, &b, ids[1]).await;
    let (status, receipt) = approve(&app, &b, ids[1], &b_token).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(item_state(&app, ids[1]).await, ("approved".to_owned(), None));
    assert_eq!(ok(&app, &b, "review/queues", &[]).await["assigned"], json!([]));
}

/// `/review/{slug}` (and `review/queue`, which it reads) says how many items wait, offers to
/// start, and to a reviewer holding an item there offers to go on with it; not to outsiders.
async fn a_queue_page_says_what_waits_there_and_only_to_members(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    let a = person(&app, "a@example.com", Role::Reviewer).await;
    let outsider = person(&app, "c@example.com", Role::Reviewer).await;
    let (_, key) = with_workflow(&app, &[&a]).await;
    let page = |who: &Person| {
        let request = who.client.get(app.url(&format!("/review/{SLUG}")));
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };

    let queue = ok(&app, &a, "review/queue", &[("slug", SLUG)]).await;
    assert_eq!((queue["queue"]["waiting"].as_i64(), queue["queue"]["my_item"].as_i64()), (Some(0), None), "{queue}");
    let (status, html) = page(&a).await;
    assert_eq!(status, 200);
    assert!(html.contains("Nothing left to review") && html.contains("Check again"), "{html}");

    let ids = ingest(&app, &key, "q", 3).await;
    let queue = ok(&app, &a, "review/queue", &[("slug", SLUG)]).await;
    assert_eq!(queue["queue"]["waiting"], 3, "{queue}");
    assert!(queue["queue"]["oldest_waiting_ms"].as_i64() <= queue["now_ms"].as_i64(), "{queue}");
    let (_, html) = page(&a).await;
    assert!(html.contains("3 items are waiting") && html.contains("Start reviewing"), "{html}");
    assert!(!html.contains("Nothing left to review"), "{html}");

    assert_eq!(start(&app, &a).await, Some(ids[0]));
    let queue = ok(&app, &a, "review/queue", &[("slug", SLUG)]).await;
    assert_eq!((queue["queue"]["waiting"].as_i64(), queue["queue"]["my_item"].as_i64()), (Some(2), Some(ids[0])));
    let (_, html) = page(&a).await;
    assert!(html.contains("You are reviewing an item here") && html.contains("Continue reviewing"), "{html}");

    // Told which item was just skipped, it says whether that one is among those waiting.
    for (skipped, waits) in [(ids[1], true), (ids[0], false)] {
        let form = [("slug", SLUG), ("skipped", &skipped.to_string())];
        let queue = ok(&app, &a, "review/queue", &form).await;
        assert_eq!(queue["skipped_waiting"], waits, "item {skipped}: {queue}");
    }

    let (status, body) = call(&app, &outsider, "review/queue", &[("slug", SLUG)]).await;
    assert_eq!((status, body["kind"].as_str()), (403, Some("forbidden")));
    let (status, html) = page(&outsider).await;
    assert_eq!(status, 403);
    assert!(html.contains("Not your queue") && !html.contains("items are waiting"), "{html}");
    let (status, body) = call(&app, &a, "review/queue", &[("slug", "nope")]).await;
    assert_eq!((status, body["kind"].as_str()), (404, Some("not_found")));
}
