//! The queues page's numbers: for each workflow the reviewer works, what waits, how old it is,
//! what is due, what they decided today; and the items a lead assigned to them. None of them
//! counts over the backlog: depth and due counts come from `queue_minutes`, which the
//! database keeps per workflow and arrival minute in every write's transaction.

use super::claim::held_item;
use super::{AssignedItem, DUE_SOON_MS, QueueSnapshot, QueueSummary, QueuesOverview};
use crate::domain::item_state::state_sql;
use crate::error::AppError;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::server::Workflow;
use sqlx::AnyConnection;

#[derive(sqlx::FromRow)]
struct QueueCounts {
    waiting: i64,
    overdue: i64,
    due_soon: i64,
}

#[derive(sqlx::FromRow)]
struct MemberWorkflow {
    id: i64,
    slug: String,
    name: String,
    review_sla_secs: i64,
    paused: i64,
}

/// The queues page: every workflow the user is a member of, and the items assigned to them.
pub async fn overview(db: &Db, user: &UserRecord) -> Result<QueuesOverview, AppError> {
    let now = now_ms();
    let mut conn = db.pool().acquire().await?;
    let workflows: Vec<MemberWorkflow> = sqlx::query_as(
        "select w.id, w.slug, w.name, w.review_sla_secs, w.paused from workflows w \
         join workflow_members m on m.workflow_id = w.id where m.user_id = $1 order by w.name, w.slug",
    )
    .bind(user.id)
    .fetch_all(&mut *conn)
    .await?;
    let mut queues = Vec::with_capacity(workflows.len());
    for workflow in workflows {
        queues.push(summary(&mut conn, workflow, user, now).await?);
    }
    Ok(QueuesOverview { queues, assigned: assigned(&mut conn, user).await?, now_ms: now })
}

/// One workflow's queue as `user` sees it (a member; the caller has checked), and whether the
/// item they just skipped, if any, still waits there.
pub async fn queue(
    db: &Db,
    workflow: &Workflow,
    user: &UserRecord,
    skipped: Option<i64>,
) -> Result<QueueSnapshot, AppError> {
    let now = now_ms();
    let mut conn = db.pool().acquire().await?;
    let spec = &workflow.spec;
    let member = MemberWorkflow {
        id: workflow.id,
        slug: workflow.slug().to_owned(),
        name: spec.name.clone(),
        review_sla_secs: spec.review_sla_secs,
        paused: i64::from(spec.paused),
    };
    let queue = summary(&mut conn, member, user, now).await?;
    let skipped_waiting = match skipped {
        Some(item_id) => {
            let (n,): (i64,) = sqlx::query_as(concat!(
                "select count(*) from items where id = $1 and workflow_id = $2 and state = ",
                state_sql!(Queued)
            ))
            .bind(item_id)
            .bind(workflow.id)
            .fetch_one(&mut *conn)
            .await?;
            n > 0
        }
        None => false,
    };
    Ok(QueueSnapshot { queue, now_ms: now, skipped_waiting })
}

/// What waits in one workflow's queue: how many, how many past the review SLA or due within
/// [`DUE_SOON_MS`] of it, and when the oldest arrived (Unix ms).
pub struct Depth {
    pub waiting: i64,
    pub overdue: i64,
    pub due_soon: i64,
    pub oldest: Option<i64>,
}

/// The depth of a workflow's queue at `now`.
pub async fn depth(conn: &mut AnyConnection, id: i64, review_sla_secs: i64, now: i64) -> Result<Depth, AppError> {
    // Depth and due counts from the per-minute counts the database keeps (migration 0006):
    // their cost follows the minutes the backlog spans, not the items in it. An item counts as
    // due from the minute it arrived in, so it is told at most a minute early, never late.
    let minute_of = |offset_ms: i64| (now - review_sla_secs * 1000 + offset_ms).div_euclid(60_000);
    let counts: QueueCounts = sqlx::query_as(
        "select cast(coalesce(sum(waiting), 0) as bigint) as waiting, \
           cast(coalesce(sum(case when minute <= $2 then waiting else 0 end), 0) as bigint) as overdue, \
           cast(coalesce(sum(case when minute <= $3 then waiting else 0 end), 0) as bigint) as due_soon \
         from queue_minutes where workflow_id = $1",
    )
    .bind(id)
    .bind(minute_of(0))
    .bind(minute_of(DUE_SOON_MS))
    .fetch_one(&mut *conn)
    .await?;
    // The oldest waiting item: the first entry of the partial index on waiting items.
    let (oldest,): (Option<i64>,) = sqlx::query_as(concat!(
        "select min(created_at) from items where workflow_id = $1 and state = ",
        state_sql!(Queued)
    ))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let QueueCounts { waiting, overdue, due_soon } = counts;
    Ok(Depth { waiting, overdue, due_soon, oldest })
}

async fn summary(
    conn: &mut AnyConnection,
    workflow: MemberWorkflow,
    user: &UserRecord,
    now: i64,
) -> Result<QueueSummary, AppError> {
    let MemberWorkflow { id, slug, name, review_sla_secs, paused } = workflow;
    let Depth { waiting, overdue, due_soon, oldest } = depth(conn, id, review_sla_secs, now).await?;
    // From the hourly rollup the decision writers keep (migration 0013): it counts the same
    // decisions (approve, reject, correct, escalate; an undo takes its decision back out), and a
    // day starts on an hour, so the sum over today's hours is exact and costs a few rows however
    // many decisions the reviewer made.
    let (today,): (i64,) = sqlx::query_as(
        "select cast(coalesce(sum(decisions), 0) as bigint) from reviewer_hours \
         where actor_id = $1 and workflow_id = $2 and hour >= $3",
    )
    .bind(user.id)
    .bind(id)
    .bind(crate::domain::workload::day_start(now) / 3_600_000)
    .fetch_one(&mut *conn)
    .await?;
    let mine = held_item(&mut *conn, id, user.id, now).await?;
    Ok(QueueSummary {
        slug,
        name,
        waiting,
        oldest_waiting_ms: oldest,
        due_soon: due_soon - overdue,
        overdue,
        my_decisions_today: today,
        my_item: mine,
        paused: paused != 0,
    })
}

#[derive(sqlx::FromRow)]
struct AssignedRow {
    id: i64,
    slug: String,
    name: String,
    external_id: String,
    state: String,
    created_at: i64,
}

/// The items a lead handed to `user`, waiting or already claimed by them.
async fn assigned(conn: &mut AnyConnection, user: &UserRecord) -> Result<Vec<AssignedItem>, AppError> {
    let rows: Vec<AssignedRow> = sqlx::query_as(concat!(
        "select i.id, w.slug, w.name, i.external_id, i.state, i.created_at from items i \
         join workflows w on w.id = i.workflow_id \
         where i.assigned_to = $1 and (i.state = ",
        state_sql!(Assigned),
        " or (i.state = ",
        state_sql!(Claimed),
        " and i.leased_by = $1)) \
         order by i.priority desc, i.id limit 200"
    ))
    .bind(user.id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| AssignedItem {
            item_id: row.id,
            slug: row.slug,
            workflow: row.name,
            external_id: row.external_id,
            state: row.state,
            created_at_ms: row.created_at,
        })
        .collect())
}

/// Folds each minute's shards into shard 0 (PostgreSQL spreads concurrent writers over shards:
/// migration 0008), then forgets the minutes in which nothing waits any more: this keeps the
/// table as small as the backlog's span. Run now and then; safe on several instances, and beside
/// writers (a shard row written meanwhile is folded as it is once its writer commits).
pub async fn forget_empty_minutes(db: &Db) -> Result<u64, AppError> {
    let _turn = db.write_turn().await;
    if db.backend() == crate::storage::db::Backend::Postgres {
        sqlx::query(
            "with moved as (delete from queue_minutes where shard <> 0 \
                            returning workflow_id, minute, waiting) \
             insert into queue_minutes (workflow_id, minute, shard, waiting) \
             select workflow_id, minute, 0, sum(waiting) from moved group by 1, 2 \
             on conflict (workflow_id, minute, shard) do update set waiting = queue_minutes.waiting + excluded.waiting",
        )
        .execute(db.pool())
        .await?;
    }
    let done = sqlx::query("delete from queue_minutes where waiting = 0").execute(db.pool()).await?;
    Ok(done.rows_affected())
}
