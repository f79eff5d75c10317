//! Undo: a reviewer may take back their last decision while its undo window lasts. Nothing is
//! rewritten: an `undo` decision is appended, the item comes back to them under a new lease, the
//! item they were given next goes back to its queue, and the decision's pending webhook events
//! are withdrawn before they are sent.

use super::UndoOffer;
use super::lease::{Lease, end_lease, grant};
use crate::domain::item_state::{Action, ItemState, state_sql};
use crate::error::AppError;
use crate::items::decisions::{self, NewDecision};
use crate::storage::audit;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::membership::require_member;
use crate::workflows::server as workflows;
use serde_json::json;

/// A decision as undo and its banner need it.
#[derive(sqlx::FromRow)]
struct Undoable {
    item_id: i64,
    workflow_id: i64,
    actor_id: Option<i64>,
    kind: String,
    settles_at: Option<i64>,
}

/// Takes back `decision_id` (the caller's own, still within its undo window): the item returns
/// to the caller under a new lease, the item they were given next goes back to its queue, and
/// the pending webhook events of the decision are withdrawn. Returns the item's page.
#[tracing::instrument(skip_all, fields(decision_id, user_id = user.id))]
pub async fn undo(db: &Db, user: &UserRecord, decision_id: i64) -> Result<(String, i64), AppError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let decision: Option<Undoable> =
        sqlx::query_as("select item_id, workflow_id, actor_id, kind, settles_at from decisions where id = $1")
            .bind(decision_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Undoable { item_id, workflow_id, actor_id, kind, settles_at } =
        decision.ok_or_else(|| AppError::not_found("That decision"))?;
    if actor_id != Some(user.id) {
        return Err(AppError::Forbidden);
    }
    let workflow =
        workflows::find_by_id_in(&mut tx, workflow_id).await?.ok_or_else(|| AppError::not_found("That workflow"))?;
    require_member(&mut tx, &workflow, user).await?;
    if settles_at.unwrap_or(0) <= now {
        return Err(AppError::conflict("Too late to undo: the decision has been sent on."));
    }
    let (undone,): (i64,) = sqlx::query_as("select count(*) from decisions where undoes = $1")
        .bind(decision_id)
        .fetch_one(&mut *tx)
        .await?;
    let (latest,): (Option<i64>,) =
        sqlx::query_as("select max(id) from decisions where item_id = $1").bind(item_id).fetch_one(&mut *tx).await?;
    if undone > 0 || latest != Some(decision_id) {
        return Err(AppError::conflict("This decision has already been undone or followed by another."));
    }
    let (state, assigned_to): (String, Option<i64>) =
        sqlx::query_as(&format!("select state, assigned_to from items where id = $1{}", db.backend().for_update()))
            .bind(item_id)
            .fetch_one(&mut *tx)
            .await?;
    if !Action::parse(&kind).is_some_and(Action::is_undoable) {
        return Err(AppError::conflict("Only an approval, rejection, correction or escalation can be undone."));
    }
    let state = ItemState::parse(&state).ok_or_else(|| AppError::internal("unknown item state"))?;
    let reopened = state.apply(Action::Undo, assigned_to.is_some()).map_err(|e| AppError::conflict(e.to_string()))?;
    // The item handed out after the decision goes back to the queue it came from.
    let handed: Vec<Lease> = sqlx::query_as(concat!(
        "select id, workflow_id, lease_token, assigned_to from items where leased_by = $1 and state = ",
        state_sql!(Claimed),
        " and workflow_id = $2"
    ))
    .bind(user.id)
    .bind(workflow_id)
    .fetch_all(&mut *tx)
    .await?;
    for lease in &handed {
        end_lease(&mut tx, db.backend(), lease, Some(user), Action::Release, now).await?;
    }
    let undo = NewDecision {
        actor_id: Some(user.id),
        actor_label: &user.email,
        undoes: Some(decision_id),
        settles_at: Some(now),
        ..NewDecision::system(item_id, workflow_id, Action::Undo.as_str(), now)
    };
    decisions::insert(&mut tx, db.backend(), &undo).await?;
    sqlx::query("delete from webhook_outbox where decision_id = $1 and status = 'pending'")
        .bind(decision_id)
        .execute(&mut *tx)
        .await?;
    grant(&mut tx, item_id, reopened, user.id, workflow.spec.lease_secs, now).await?;
    audit::record(
        &mut tx,
        &user.actor(),
        Some(workflow_id),
        "item.undo",
        &format!("item:{item_id}"),
        json!({ "decision": decision_id }),
    )
    .await?;
    tx.commit().await?;
    Ok((workflow.slug().to_owned(), item_id))
}

#[derive(sqlx::FromRow)]
struct OfferRow {
    item_id: i64,
    external_id: String,
    kind: String,
    actor_id: Option<i64>,
    settles_at: Option<i64>,
    undone: i64,
}

/// The undo banner for a decision of the caller's, while it can still be undone.
pub async fn undo_offer(db: &Db, user: &UserRecord, decision_id: i64) -> Result<Option<UndoOffer>, AppError> {
    let now = now_ms();
    let row: Option<OfferRow> = sqlx::query_as(
        "select d.item_id, i.external_id, d.kind, d.actor_id, d.settles_at, \
         (select count(*) from decisions u where u.undoes = d.id) as undone \
         from decisions d join items i on i.id = d.item_id where d.id = $1",
    )
    .bind(decision_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.and_then(|row| {
        let open = row.actor_id == Some(user.id)
            && row.undone == 0
            && Action::parse(&row.kind).is_some_and(Action::is_undoable)
            && row.settles_at.unwrap_or(0) > now;
        open.then(|| UndoOffer {
            decision_id,
            item_id: row.item_id,
            external_id: row.external_id,
            kind: row.kind,
            undo_until_ms: row.settles_at.unwrap_or(now),
            now_ms: now,
        })
    }))
}
