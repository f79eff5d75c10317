//! Escalating on the system's behalf: the one way an item is escalated without a person, and the
//! sweeper that escalates items waiting past their workflow's review SLA.

use crate::domain::escalation::Reason;
use crate::domain::item_state::{Action, ItemState, state_sql};
use crate::error::AppError;
use crate::items::decisions::{self, NewDecision};
use crate::items::view::load_view;
use crate::storage::clock::now_ms;
use crate::storage::db::{Backend, Db};
use crate::webhooks::outbox::{self, Subscriptions};
use serde_json::json;
use sqlx::AnyConnection;

/// The item the system escalates.
#[derive(Debug, Clone, Copy)]
pub struct Escalating<'a> {
    pub item_id: i64,
    pub workflow_id: i64,
    pub slug: &'a str,
}

/// Escalates a queued item on the system's behalf at `at` (when the trigger fell due, which a
/// sweeper that was down records as such): the item goes to a lead, an `escalate` decision by
/// the system records the trigger as its reason code and `note`, and `item.escalated` is queued
/// for the endpoints that want it. Does nothing (false) if the item is no longer queued.
pub async fn escalate_by_system(
    conn: &mut AnyConnection,
    backend: Backend,
    item: Escalating<'_>,
    reason: Reason,
    note: &str,
    at: i64,
) -> Result<bool, AppError> {
    let next = ItemState::Queued.apply(Action::Escalate, false).map_err(|e| AppError::internal(e.to_string()))?;
    let moved = sqlx::query(concat!(
        "update items set state = $1, updated_at = $2 where id = $3 and state = ",
        state_sql!(Queued)
    ))
    .bind(next.as_str())
    .bind(now_ms().max(at))
    .bind(item.item_id)
    .execute(&mut *conn)
    .await?;
    if moved.rows_affected() == 0 {
        return Ok(false);
    }
    let decision = NewDecision {
        reason_code: Some(reason.as_str()),
        note: Some(note),
        settles_at: Some(at),
        ..NewDecision::system(item.item_id, item.workflow_id, Action::Escalate.as_str(), at)
    };
    decisions::insert(conn, backend, &decision).await?;
    let subscriptions = Subscriptions::load(conn, item.workflow_id).await?;
    if subscriptions.wants("item.escalated") {
        let view =
            load_view(conn, item.slug, item.item_id).await?.ok_or_else(|| AppError::internal("item vanished"))?;
        outbox::enqueue(conn, &subscriptions, "item.escalated", &json!(view)).await?;
    }
    Ok(true)
}

/// The most items one pass escalates per workflow; the next pass takes the rest.
const BATCH: i64 = 500;

/// Escalates every item that has waited in a queue past its workflow's review SLA by `now`,
/// each recorded when its SLA ran out (created + SLA), not when the sweeper woke: after the
/// server was down the history still says when each item was due. Several instances may run it
/// at once: on PostgreSQL each takes rows the others have not locked (SKIP LOCKED), on SQLite
/// writers take turns, and an item is escalated only while it is still queued. Returns how many
/// it escalated.
pub async fn escalate_overdue_reviews(db: &Db, now: i64) -> Result<usize, AppError> {
    let workflows: Vec<(i64, String, i64)> =
        sqlx::query_as("select id, slug, review_sla_secs from workflows order by id").fetch_all(db.pool()).await?;
    let mut escalated = 0;
    for (workflow_id, slug, sla_secs) in workflows {
        let cutoff = now.saturating_sub(sla_secs.saturating_mul(1000));
        let _turn = db.write_turn().await;
        let mut tx = db.begin_write().await?;
        // The partial index on queued items by (workflow, creation) answers this.
        let due: Vec<(i64, i64)> = sqlx::query_as(&format!(
            concat!(
                "select id, created_at from items where workflow_id = $1 and state = ",
                state_sql!(Queued),
                " and created_at <= $2 order by created_at limit $3{}"
            ),
            db.backend().skip_locked()
        ))
        .bind(workflow_id)
        .bind(cutoff)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let note =
            format!("It waited past the review SLA of {}.", crate::domain::escalation::duration_words(sla_secs * 1000));
        for (item_id, created_at) in due {
            let item = Escalating { item_id, workflow_id, slug: &slug };
            let at = created_at.saturating_add(sla_secs.saturating_mul(1000));
            if escalate_by_system(&mut tx, db.backend(), item, Reason::ReviewSla, &note, at).await? {
                escalated += 1;
            }
        }
        tx.commit().await?;
    }
    if escalated > 0 {
        tracing::info!(escalated, "items waiting past their review SLA escalated");
    }
    Ok(escalated)
}

/// Runs [`escalate_overdue_reviews`] every `every` until the process ends.
pub async fn sweep_overdue_reviews(db: Db, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = escalate_overdue_reviews(&db, now_ms()).await {
            tracing::warn!(%error, "review SLA sweep failed; retrying");
        }
    }
}
