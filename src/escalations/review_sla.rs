//! The review-SLA sweep: the items that waited in a queue past their workflow's review SLA are
//! escalated by the system, each as of when its SLA ran out.

use super::pass::{CHUNK, Workflow};
use super::system::{move_to_escalated, queue_escalated};
use crate::domain::escalation::{Reason, duration_words};
use crate::domain::item_state::{Action, state_sql};
use crate::error::AppError;
use crate::items::decisions;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::storage::dialect;
use sqlx::AnyConnection;

/// The queued items of workflow `$1` created by `$2` (the review SLA before now) that were never
/// escalated: one a lead sent back to the queue is not escalated again for the same wait.
const OVERDUE: &str = concat!(
    "from items where workflow_id = $1 and state = ",
    state_sql!(Queued),
    " and created_at <= $2 and not exists (select 1 from escalations x where x.item_id = items.id)"
);

/// A workflow and how long its items may wait in the queue.
#[derive(sqlx::FromRow)]
struct ReviewSla {
    id: i64,
    slug: String,
    review_sla_secs: i64,
}

/// Escalates every item that has waited in a queue past its workflow's review SLA by `now`,
/// each recorded when its SLA ran out (created + SLA), not when the sweeper woke: after the
/// server was down the history still says when each item was due. Several instances may run it
/// at once: on PostgreSQL each takes rows the others have not locked (SKIP LOCKED), on SQLite
/// writers take turns, and an item is escalated only while it is still queued. Returns how many
/// it escalated.
pub async fn escalate_overdue_reviews(db: &Db, now: i64) -> Result<usize, AppError> {
    let workflows: Vec<ReviewSla> =
        sqlx::query_as("select id, slug, review_sla_secs from workflows order by id").fetch_all(db.pool()).await?;
    let mut escalated = 0;
    // The pass looks on one connection; it takes the others when a workflow has work.
    let mut conns = vec![db.pool().acquire().await?];
    for ReviewSla { id: workflow_id, slug, review_sla_secs: sla_secs } in workflows {
        let cutoff = now.saturating_sub(sla_secs.saturating_mul(1000));
        if !any_overdue(&mut conns[0], workflow_id, cutoff).await? {
            continue;
        }
        db.sweep_connections(&mut conns).await?;
        let note = format!("It waited past the review SLA of {}.", duration_words(sla_secs * 1000));
        let workflow = Workflow { id: workflow_id, slug: &slug };
        let sla = Sla { cutoff, sla_ms: sla_secs.saturating_mul(1000), note: &note };
        let parts = conns.iter_mut().map(|conn| escalate_part(db, conn, workflow, sla));
        escalated += futures_util::future::try_join_all(parts).await?.into_iter().sum::<usize>();
    }
    if escalated > 0 {
        tracing::info!(escalated, "items waiting past their review SLA escalated");
    }
    Ok(escalated)
}

/// A workflow's review SLA as a pass applies it: the items created by `cutoff` are overdue,
/// each escalated `sla_ms` after its creation with `note`.
#[derive(Debug, Clone, Copy)]
struct Sla<'a> {
    cutoff: i64,
    sla_ms: i64,
    note: &'a str,
}

/// One worker's share of a workflow's review-SLA pass, on its own connection: a chunk a
/// transaction until none is left (or another worker or instance holds the rest). The pass has
/// looked already and found some. How many it escalated.
async fn escalate_part(
    db: &Db,
    conn: &mut AnyConnection,
    workflow: Workflow<'_>,
    sla: Sla<'_>,
) -> Result<usize, AppError> {
    let mut escalated = 0;
    loop {
        let mut tx = db.begin_write_on(conn).await?;
        // The partial index on queued items by (workflow, creation) answers this.
        let due: Vec<(i64, i64)> = sqlx::query_as(&format!(
            "select id, created_at {OVERDUE} order by created_at limit $3{}",
            db.backend().skip_locked()
        ))
        .bind(workflow.id)
        .bind(sla.cutoff)
        .bind(CHUNK)
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            // Another worker or instance holds the rest.
            return Ok(escalated);
        }
        escalated += escalate_overdue(&mut tx, workflow, &due, sla.sla_ms, sla.note).await?;
        tx.commit().await?;
        // The next look outside any write transaction: the last chunk is followed by one that
        // finds nothing.
        if !any_overdue(conn, workflow.id, sla.cutoff).await? {
            return Ok(escalated);
        }
    }
}

/// Whether workflow `workflow_id` has an item waiting since `cutoff` or before that was never
/// escalated. Outside any write transaction: most passes find nothing to do. Planned for its
/// values each time (not kept prepared): after five runs PostgreSQL would keep a generic plan,
/// which expects a third of the items to be due and reads the table from the start for the
/// first, and so read every item, every two seconds, when none is.
async fn any_overdue(conn: &mut AnyConnection, workflow_id: i64, cutoff: i64) -> Result<bool, AppError> {
    let any: Option<(i64,)> = sqlx::query_as(&format!("select id {OVERDUE} limit 1"))
        .persistent(false)
        .bind(workflow_id)
        .bind(cutoff)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(any.is_some())
}

/// [`escalate_by_system`](super::system::escalate_by_system) for the queued items `due` of one
/// workflow, each `(item, created)`, that waited past the review SLA of `sla_ms`: each escalated
/// as of its creation plus the SLA. One update, their decisions computed by the database from
/// the items' rows (one statement, nothing bound per item), and their events. Those no longer
/// queued are passed over. How many it escalated.
async fn escalate_overdue(
    conn: &mut AnyConnection,
    workflow: Workflow<'_>,
    due: &[(i64, i64)],
    sla_ms: i64,
    note: &str,
) -> Result<usize, AppError> {
    let ids: Vec<i64> = due.iter().map(|&(id, _)| id).collect();
    let latest = due.iter().map(|&(_, created)| created.saturating_add(sla_ms)).max().unwrap_or_default();
    let moved = move_to_escalated(conn, &ids, now_ms().max(latest)).await?;
    if moved.is_empty() {
        return Ok(0);
    }
    // In the columns' order of `decisions::COLUMNS`, by item.
    let lines = decisions::insert_select(&format!(
        "select id, workflow_id, null, $1, $2, $3, $4, null, null, 0, created_at + $5, null, null, created_at + $5 \
         from items where id in ({}) order by id",
        dialect::id_list(moved.iter().copied())
    ));
    sqlx::query(&lines)
        .persistent(false)
        .bind(decisions::SYSTEM)
        .bind(Action::Escalate.as_str())
        .bind(Reason::ReviewSla.as_str())
        .bind(note)
        .bind(sla_ms)
        .execute(&mut *conn)
        .await?;
    queue_escalated(conn, workflow, &moved).await?;
    Ok(moved.len())
}
