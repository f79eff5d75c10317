//! A lead ends an escalation themselves: decides the item directly (approve, reject, correct:
//! the review page's verdicts, validated the same way) or sends it back to the normal queue.
//! Either is one transaction: the item's new state, the decision in its history, the audit
//! entry, the escalation closed with how it ended, and the webhook events. A lead's decision is
//! deliberate and settles at once: it has no undo window.

use super::events::{self, About};
use crate::domain::Role;
use crate::domain::item_state::{Action, ItemState};
use crate::error::AppError;
use crate::items::decisions::{self, NewDecision};
use crate::review::decide::{Recorded, ReviewCtx, Verdict, check_note, validate};
use crate::storage::audit;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::cache;
use crate::workflows::membership::require_member;
use crate::workflows::server::Workflow;
use serde_json::json;
use sqlx::AnyConnection;
use std::sync::Arc;

/// An admin answers for every workflow; a lead for those they are a member of (403 for
/// another's, as for a reviewer, naming no workflow).
pub async fn require_lead_of(conn: &mut AnyConnection, workflow: &Workflow, user: &UserRecord) -> Result<(), AppError> {
    match user.role {
        Role::Admin => Ok(()),
        Role::Lead => require_member(conn, workflow, user).await,
        Role::Reviewer => Err(AppError::Forbidden),
    }
}

#[derive(sqlx::FromRow)]
struct Deciding {
    slug: String,
    payload: String,
    prediction: String,
}

/// The lead decides the escalated (or assigned) item `item_id`; answers its workflow's slug.
pub async fn decide_directly(
    ctx: &ReviewCtx<'_>,
    lead: &UserRecord,
    item_id: i64,
    verdict: Verdict,
) -> Result<String, AppError> {
    let db = ctx.db;
    let action = verdict.action();
    if !action.is_final() {
        return Err(AppError::invalid("verdict", "Approve, reject or correct the item."));
    }
    let row: Option<Deciding> = sqlx::query_as(
        "select w.slug, i.payload, i.prediction from items i join workflows w on w.id = i.workflow_id where i.id = $1",
    )
    .bind(item_id)
    .fetch_optional(db.pool())
    .await?;
    let row = row.ok_or_else(|| AppError::not_found("That item"))?;
    let workflow = cache::by_slug(db, ctx.workflows, &row.slug).await?;
    require_lead_of(&mut *db.pool().acquire().await?, &workflow, lead).await?;
    let Recorded { reason_code, note, output } =
        validate(&verdict, &workflow, ctx.contracts, &row.payload, &row.prediction)?;
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let next = lock_and_apply(&mut tx, db, item_id, action).await?;
    let terminal = next.is_terminal();
    sqlx::query(
        "update items set state = $1, outcome = $2, final_output = $3, decided_at = $4, updated_at = $4, \
         leased_by = null, lease_token = null, lease_expires_at = null, claimed_at = null where id = $5",
    )
    .bind(next.as_str())
    .bind(terminal.then(|| next.as_str()))
    .bind(output.as_deref())
    .bind(now)
    .bind(item_id)
    .execute(&mut *tx)
    .await?;
    let decision = NewDecision {
        item_id,
        workflow_id: workflow.id,
        actor_id: Some(lead.id),
        actor_label: &lead.email,
        kind: action.as_str(),
        reason_code: reason_code.as_deref(),
        note: note.as_deref(),
        output: output.as_deref(),
        time_spent_ms: None,
        is_final: true,
        created_at: now,
        lease_token: None,
        undoes: None,
        settles_at: Some(now),
    };
    let decision_id = decisions::insert(&mut tx, db.backend(), &decision).await?;
    let detail = json!({ "decision": decision_id, "reason_code": reason_code, "escalation": true });
    audit::record(
        &mut tx,
        &lead.actor(),
        Some(workflow.id),
        &format!("item.{}", action.as_str()),
        &format!("item:{item_id}"),
        detail,
    )
    .await?;
    close(&mut tx, item_id, next.as_str(), &lead.email, now).await?;
    let about = About { workflow_id: workflow.id, slug: workflow.slug(), item_id };
    if let Some(event) = action.event() {
        events::emit(&mut tx, about, event, now, Some(decision_id)).await?;
    }
    events::emit(&mut tx, about, events::RESOLVED, now, Some(decision_id)).await?;
    tx.commit().await?;
    Ok(workflow.slug().to_owned())
}

/// The lead sends the escalated (or assigned) item back to the normal queue, with an optional
/// note for the reviewer who picks it up; answers its workflow's slug.
pub async fn send_back(
    db: &Db,
    workflows: &cache::WorkflowCache,
    lead: &UserRecord,
    item_id: i64,
    note: Option<&str>,
) -> Result<String, AppError> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if let Some(note) = note {
        check_note(note)?;
    }
    let workflow = workflow_of(db, workflows, item_id).await?;
    require_lead_of(&mut *db.pool().acquire().await?, &workflow, lead).await?;
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let next = lock_and_apply(&mut tx, db, item_id, Action::SendBack).await?;
    sqlx::query("update items set state = $1, assigned_to = null, updated_at = $2 where id = $3")
        .bind(next.as_str())
        .bind(now)
        .bind(item_id)
        .execute(&mut *tx)
        .await?;
    let decision = NewDecision {
        actor_id: Some(lead.id),
        actor_label: &lead.email,
        note,
        settles_at: Some(now),
        ..NewDecision::system(item_id, workflow.id, Action::SendBack.as_str(), now)
    };
    let decision_id = decisions::insert(&mut tx, db.backend(), &decision).await?;
    audit::record(
        &mut tx,
        &lead.actor(),
        Some(workflow.id),
        "item.send_back",
        &format!("item:{item_id}"),
        json!({ "note": note }),
    )
    .await?;
    close(&mut tx, item_id, Action::SendBack.as_str(), &lead.email, now).await?;
    let about = About { workflow_id: workflow.id, slug: workflow.slug(), item_id };
    events::emit(&mut tx, about, events::RESOLVED, now, Some(decision_id)).await?;
    tx.commit().await?;
    Ok(workflow.slug().to_owned())
}

/// The workflow of an item, from the cache; 404 for a missing item.
pub async fn workflow_of(db: &Db, workflows: &cache::WorkflowCache, item_id: i64) -> Result<Arc<Workflow>, AppError> {
    let slug: Option<(String,)> =
        sqlx::query_as("select w.slug from items i join workflows w on w.id = i.workflow_id where i.id = $1")
            .bind(item_id)
            .fetch_optional(db.pool())
            .await?;
    let (slug,) = slug.ok_or_else(|| AppError::not_found("That item"))?;
    cache::by_slug(db, workflows, &slug).await
}

/// Locks the item's row and says what `action` makes of it, or why it cannot (already decided,
/// or held by the reviewer it was assigned to).
async fn lock_and_apply(
    conn: &mut AnyConnection,
    db: &Db,
    item_id: i64,
    action: Action,
) -> Result<ItemState, AppError> {
    let row: Option<(String, Option<i64>)> =
        sqlx::query_as(&format!("select state, assigned_to from items where id = $1{}", db.backend().for_update()))
            .bind(item_id)
            .fetch_optional(&mut *conn)
            .await?;
    let (state, assigned_to) = row.ok_or_else(|| AppError::not_found("That item"))?;
    let state = ItemState::parse(&state).ok_or_else(|| AppError::internal("unknown item state"))?;
    state.apply(action, assigned_to.is_some()).map_err(|e| AppError::conflict(e.to_string()))
}

/// Closes the item's open escalation, if the sweeper had opened one, with how it ended.
async fn close(conn: &mut AnyConnection, item_id: i64, resolution: &str, by: &str, now: i64) -> Result<(), AppError> {
    sqlx::query(
        "update escalations set resolved_at = $2, resolution = $3, resolved_by = $4 \
         where item_id = $1 and resolved_at is null",
    )
    .bind(item_id)
    .bind(now)
    .bind(resolution)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
