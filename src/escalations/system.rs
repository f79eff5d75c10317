//! Escalating on the system's behalf, the one way an item is escalated without a person (a
//! lease that ran out too often, a wait past the review SLA): the item goes to a lead, a
//! decision by the system names the trigger, and `item.escalated` is queued.

use super::pass::Workflow;
use crate::domain::escalation::Reason;
use crate::domain::item_state::{Action, ItemState, state_sql};
use crate::error::AppError;
use crate::items::decisions::{self, NewDecision};
use crate::items::view::load_view;
use crate::storage::clock::now_ms;
use crate::storage::db::Backend;
use crate::storage::dialect;
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
    let workflow = Workflow { id: item.workflow_id, slug: item.slug };
    // Not before the trigger fell due (it may be dated ahead of this clock).
    let moved = move_to_escalated(conn, &[item.item_id], now_ms().max(at)).await?;
    if moved.is_empty() {
        return Ok(false);
    }
    let decision = NewDecision {
        reason_code: Some(reason.as_str()),
        note: Some(note),
        settles_at: Some(at),
        ..NewDecision::system(item.item_id, workflow.id, Action::Escalate.as_str(), at)
    };
    decisions::insert(conn, backend, &decision).await?;
    queue_escalated(conn, workflow, &moved).await?;
    Ok(true)
}

/// Moves the items `ids` that are still queued to a lead, as of `updated_at`; those it moved,
/// in the order given.
pub(super) async fn move_to_escalated(
    conn: &mut AnyConnection,
    ids: &[i64],
    updated_at: i64,
) -> Result<Vec<i64>, AppError> {
    let next = ItemState::Queued.apply(Action::Escalate, false).map_err(|e| AppError::internal(e.to_string()))?;
    // The items by their key. `state || ''` keeps the guard off the partial index of queued
    // items (`items_due_idx`), which a planner without statistics took for the whole update:
    // it read every queued item of the workflow (96,000 index entries for a chunk of 2,000 in
    // the escalations benchmark) to find the chunk's, where the key finds each at once.
    let moved: Vec<(i64,)> = sqlx::query_as(&format!(
        concat!(
            "update items set state = $1, updated_at = $2 where id in ({}) and state || '' = ",
            state_sql!(Queued),
            " returning id"
        ),
        dialect::id_list(ids.iter().copied())
    ))
    // The ids are in the text: no two uses are alike, even of one item.
    .persistent(false)
    .bind(next.as_str())
    .bind(updated_at)
    .fetch_all(&mut *conn)
    .await?;
    let moved: std::collections::HashSet<i64> = moved.into_iter().map(|(id,)| id).collect();
    Ok(ids.iter().copied().filter(|id| moved.contains(id)).collect())
}

/// Queues `item.escalated` for each of the items `escalated`, for the endpoints that want it.
pub(super) async fn queue_escalated(
    conn: &mut AnyConnection,
    workflow: Workflow<'_>,
    escalated: &[i64],
) -> Result<(), AppError> {
    let subscriptions = Subscriptions::load(conn, workflow.id).await?;
    if subscriptions.wants("item.escalated") {
        for &item_id in escalated {
            let view =
                load_view(conn, workflow.slug, item_id).await?.ok_or_else(|| AppError::internal("item vanished"))?;
            outbox::enqueue(conn, &subscriptions, "item.escalated", &json!(view)).await?;
        }
    }
    Ok(())
}
