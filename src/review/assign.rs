//! Assignment: a lead hands an item to one reviewer of its workflow, who then finds it under
//! "Assigned to me" and alone may claim it.

use super::decide::check_note;
use crate::domain::Role;
use crate::domain::item_state::{Action, ItemState};
use crate::error::AppError;
use crate::escalations::events::{self, About};
use crate::items::decisions::{self, NewDecision};
use crate::storage::audit;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::membership::{is_member, require_member};
use crate::workflows::server as workflows;
use serde_json::json;

/// A lead hands an item to one reviewer (a member of its workflow), with an optional note for
/// them. Assigning an escalated item (or handing an assigned one to someone else) queues
/// `escalation.assigned`.
pub async fn assign(
    db: &Db,
    lead: &UserRecord,
    item_id: i64,
    assignee: &UserRecord,
    note: Option<&str>,
) -> Result<(), AppError> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if let Some(note) = note {
        check_note(note)?;
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let row: Option<(i64, String)> =
        sqlx::query_as(&format!("select workflow_id, state from items where id = $1{}", db.backend().for_update()))
            .bind(item_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (workflow_id, state) = row.ok_or_else(|| AppError::not_found("That item"))?;
    let workflow =
        workflows::find_by_id_in(&mut tx, workflow_id).await?.ok_or_else(|| AppError::not_found("That workflow"))?;
    if lead.role != Role::Admin {
        require_member(&mut tx, &workflow, lead).await?;
    }
    if !is_member(&mut tx, workflow_id, assignee.id).await? {
        return Err(AppError::invalid("assignee", format!("{} is not a member of this workflow.", assignee.email)));
    }
    let state = ItemState::parse(&state).ok_or_else(|| AppError::internal("unknown item state"))?;
    let next = state.apply(Action::Assign, true).map_err(|e| AppError::conflict(e.to_string()))?;
    sqlx::query("update items set state = $1, assigned_to = $2, updated_at = $3 where id = $4")
        .bind(next.as_str())
        .bind(assignee.id)
        .bind(now)
        .bind(item_id)
        .execute(&mut *tx)
        .await?;
    // The open escalation, if the item has one, names its assignee too (the inbox filters by it).
    sqlx::query("update escalations set assignee_id = $1 where item_id = $2 and resolved_at is null")
        .bind(assignee.id)
        .bind(item_id)
        .execute(&mut *tx)
        .await?;
    let note = match note {
        Some(note) => format!("to {}: {note}", assignee.email),
        None => format!("to {}", assignee.email),
    };
    let decision = NewDecision {
        actor_id: Some(lead.id),
        actor_label: &lead.email,
        note: Some(&note),
        settles_at: Some(now),
        ..NewDecision::system(item_id, workflow_id, Action::Assign.as_str(), now)
    };
    let decision_id = decisions::insert(&mut tx, db.backend(), &decision).await?;
    if matches!(state, ItemState::Escalated | ItemState::Assigned) {
        let about = About { workflow_id, slug: workflow.slug(), item_id };
        events::emit(&mut tx, about, events::ASSIGNED, now, Some(decision_id)).await?;
    }
    audit::record(
        &mut tx,
        &lead.actor(),
        Some(workflow_id),
        "item.assign",
        &format!("item:{item_id}"),
        json!({ "to": assignee.email }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
