//! Assignment: a lead hands an item to one reviewer of its workflow, who then finds it under
//! "Assigned to me" and alone may claim it.

use crate::domain::Role;
use crate::domain::item_state::{Action, ItemState};
use crate::error::AppError;
use crate::items::decisions::{self, NewDecision};
use crate::storage::audit;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::membership::{is_member, require_member};
use crate::workflows::server as workflows;
use serde_json::json;

/// A lead hands an item to one reviewer (a member of its workflow).
pub async fn assign(db: &Db, lead: &UserRecord, item_id: i64, assignee: &UserRecord) -> Result<(), AppError> {
    let now = now_ms();
    let _turn = db.write_turn().await;
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
    let note = format!("to {}", assignee.email);
    let decision = NewDecision {
        actor_id: Some(lead.id),
        actor_label: &lead.email,
        note: Some(&note),
        settles_at: Some(now),
        ..NewDecision::system(item_id, workflow_id, Action::Assign.as_str(), now)
    };
    decisions::insert(&mut tx, db.backend(), &decision).await?;
    audit::record(&mut tx, &lead.actor(), "item.assign", &format!("item:{item_id}"), json!({ "to": assignee.email }))
        .await?;
    tx.commit().await?;
    Ok(())
}
