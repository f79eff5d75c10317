//! Claims under concurrency: every item decided exactly once, by one reviewer, on one or two server
//! instances; claim-next on its index.

use super::*;
use crate::on_both_backends;
use std::sync::Arc;
use std::time::Instant;

on_both_backends!(
    claim_race_decides_every_item_exactly_once,
    two_instances_never_hand_out_one_item_twice,
    claim_next_uses_its_index,
);

async fn claim_race_decides_every_item_exactly_once(backend: Backend) {
    let app = app_with(backend, |_| {}).await;
    race(vec![Arc::new(app)], 32, 1000).await;
}

/// Several server instances on one database (each its own pool, as separate processes would
/// be): reviewers' calls alternate between them, and still no item is handed out twice.
async fn two_instances_never_hand_out_one_item_twice(backend: Backend) {
    let first = app_with(backend, |_| {}).await;
    let second = first.another_instance().await;
    race(vec![Arc::new(first), Arc::new(second)], 16, 400).await;
}

/// `reviewers` reviewers (sessions on the first instance) work `items` items to the end through
/// the real server functions, each call going to the next of `apps`; every item must be decided
/// exactly once.
async fn race(apps: Vec<Arc<TestApp>>, reviewers: usize, items: usize) {
    let (reviewer_count, item_count) = (reviewers, items);
    let began = Instant::now();
    let app = apps[0].clone();
    let mut reviewers = Vec::with_capacity(reviewer_count);
    for i in 0..reviewer_count {
        reviewers.push(person(&app, &format!("r{i}@example.com"), Role::Reviewer).await);
    }
    let (_, key) = with_workflow(&app, &reviewers.iter().collect::<Vec<_>>()).await;
    let ids = ingest(&app, &key, "race", item_count).await;
    assert_eq!(ids.len(), item_count);
    let set_up = began.elapsed();

    let mut workers = tokio::task::JoinSet::new();
    for (n, reviewer) in reviewers.into_iter().enumerate() {
        let apps = apps.clone();
        workers.spawn(async move {
            // (item, decision) of each approval, and every unexpected answer.
            let mut approved = Vec::new();
            let mut unexpected = Vec::new();
            let mut turn = n;
            let mut app = apps[turn % apps.len()].clone();
            let mut next = start(&app, &reviewer).await;
            let mut brought: Option<String> = None;
            loop {
                turn += 1;
                app = apps[turn % apps.len()].clone();
                let Some(item_id) = next else {
                    // Another claim may have skipped a row locked for a moment: ask once more.
                    match start(&app, &reviewer).await {
                        Some(id) => {
                            next = Some(id);
                            continue;
                        }
                        None => break,
                    }
                };
                // Every other item as the browser's script has it (brought along by the last
                // decision), the others as the item's page loads it.
                let token = match brought.take() {
                    Some(token) if turn % 2 == 0 => token,
                    _ => {
                        let form = [("slug", SLUG), ("item_id", &item_id.to_string())];
                        let (status, body) = call(&app, &reviewer, "review/item", &form).await;
                        if status != 200 {
                            unexpected.push((status, body));
                            next = None;
                            continue;
                        }
                        body["lease_token"].as_str().unwrap().to_owned()
                    }
                };
                let (status, receipt) = approve(&app, &reviewer, item_id, &token).await;
                if status != 200 {
                    unexpected.push((status, receipt));
                    next = None;
                    continue;
                }
                approved.push((item_id, receipt["decision_id"].as_i64().unwrap()));
                next = receipt["next_item"].as_i64();
                if receipt["next"]["item_id"].as_i64() != next {
                    unexpected.push((200, receipt.clone()));
                }
                brought = receipt["next"]["lease_token"].as_str().map(str::to_owned);
            }
            (approved, unexpected)
        });
    }
    let mut approved = Vec::new();
    let mut unexpected = Vec::new();
    let mut busy_reviewers = 0;
    while let Some(result) = workers.join_next().await {
        let (mine, bad) = result.expect("a reviewer task panicked");
        busy_reviewers += usize::from(!mine.is_empty());
        approved.extend(mine);
        unexpected.extend(bad);
    }
    let elapsed = began.elapsed();
    eprintln!("claim race: set-up {set_up:?}, total {elapsed:?}, {busy_reviewers} reviewers decided something");

    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
    assert_eq!(approved.len(), item_count, "each approval answered once");
    let mut items: Vec<i64> = approved.iter().map(|(item, _)| *item).collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items.len(), item_count, "no item was approved twice");
    let mut decision_ids: Vec<i64> = approved.iter().map(|(_, d)| *d).collect();
    decision_ids.sort_unstable();
    decision_ids.dedup();
    assert_eq!(decision_ids.len(), item_count, "every approval is its own decision");

    assert_eq!(
        count(&app, "select count(*) from decisions where kind = 'approve' and final = 1").await,
        item_count as i64
    );
    assert_eq!(
        count(&app, "select count(*) from decisions where kind <> 'approve'").await,
        0,
        "no lease expired or released"
    );
    assert_eq!(
        count(&app, "select count(*) from (select item_id from decisions where final = 1 group by item_id having count(*) > 1) t")
            .await,
        0,
        "no item has two final decisions"
    );
    assert_eq!(
        count(&app, "select count(*) from items where state = 'approved' and outcome = 'approved'").await,
        item_count as i64
    );
    assert_eq!(
        count(&app, "select count(*) from items where leased_by is not null or lease_token is not null").await,
        0
    );
    assert!(busy_reviewers > 1, "the work was shared");
}

/// Claim-next reads one index entry, however many items wait: the plan of the very statement
/// claims run (`lease_next_sql`, with parameters bound as a claim binds them) uses the claim
/// index and sorts nothing, with items waiting. Explaining runs nothing: no item is leased.
async fn claim_next_uses_its_index(backend: Backend) {
    let app = app_with(backend.clone(), |_| {}).await;
    let (workflow_id, key) = with_workflow(&app, &[]).await;
    let waiting = ingest(&app, &key, "plan", 3).await;
    let statement = gatehouse::review::claim::lease_next_sql(app.db.backend());
    let mut conn = app.db.pool().acquire().await.unwrap();
    let plan: Vec<String> = match backend {
        Backend::Sqlite => sqlx::query_as::<_, (i64, i64, i64, String)>(&format!("explain query plan {statement}"))
            .bind(1_i64)
            .bind("token")
            .bind(600_000_i64)
            .bind(0_i64)
            .bind(workflow_id)
            .bind(0_i64)
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.3)
            .collect(),
        Backend::Postgres { .. } => {
            // On one connection, so that the setting applies to the explain: on a table this
            // small a sequential scan would be as good, and would say nothing about the index.
            sqlx::query("set enable_seqscan = off").execute(&mut *conn).await.unwrap();
            let plan = sqlx::query_as::<_, (String,)>(&format!("explain {statement}"))
                .bind(1_i64)
                .bind("token")
                .bind(600_000_i64)
                .bind(0_i64)
                .bind(workflow_id)
                .bind(0_i64)
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
    drop(conn);
    let plan = plan.join("\n");
    assert!(plan.contains("items_claim_idx"), "claim-next does not use its index:\n{statement}\n{plan}");
    assert!(!plan.to_lowercase().contains("temp b-tree") && !plan.contains("Sort"), "claim-next sorts:\n{plan}");
    if matches!(backend, Backend::Postgres { .. }) {
        assert!(plan.contains("LockRows"), "claim-next skips locked rows on PostgreSQL:\n{plan}");
    }
    for id in waiting {
        assert_eq!(item_state(&app, id).await, ("queued".to_owned(), None), "explaining leased nothing");
    }
}
