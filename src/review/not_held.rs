//! The answer to a decision made under a lease that is not the caller's (any more): the first
//! answer again when it repeats a decision already recorded under this lease (a double submit),
//! else a refusal that says why, in the reviewer's words. Nothing is written either way.

use super::Receipt;
use super::claim::claim_next;
use super::undo::undo_offer;
use crate::domain::item_state::{Action, ItemState};
use crate::error::AppError;
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::server::Workflow;
use sqlx::AnyConnection;
/// The answer to a decision whose lease is not the caller's (any more): the first answer again
/// when it repeats a decision already recorded under this lease, else a refusal saying why.
pub async fn not_held(
    db: &Db,
    undo_window_ms: i64,
    workflow: &Workflow,
    user: &UserRecord,
    item_id: i64,
    token: &str,
    action: Action,
) -> Result<Receipt, AppError> {
    let mut conn = db.pool().acquire().await?;
    if let Some((decision_id, created_at)) = repeat_of(&mut conn, token, user, action).await? {
        drop(conn);
        let next = claim_next(db, workflow, user).await?;
        return Ok(Receipt {
            decision_id,
            item_id,
            slug: workflow.slug().to_owned(),
            kind: action.as_str().to_owned(),
            next_item: next,
            undo_until_ms: created_at + undo_window_ms,
            next: None,
            undo: undo_offer(db, user, decision_id).await?,
        });
    }
    let (state, leased_by): (String, Option<i64>) =
        sqlx::query_as("select state, leased_by from items where id = $1").bind(item_id).fetch_one(&mut *conn).await?;
    drop(conn);
    Err(refusal(db, token, &state, leased_by, user, action).await?)
}

/// The decision an earlier submit of this token and verdict already recorded, if any.
async fn repeat_of(
    conn: &mut AnyConnection,
    token: &str,
    user: &UserRecord,
    action: Action,
) -> Result<Option<(i64, i64)>, AppError> {
    // An undone decision is no answer to a repeat: the item is open again under another lease.
    #[derive(sqlx::FromRow)]
    struct Earlier {
        id: i64,
        created_at: i64,
        actor_id: Option<i64>,
        kind: String,
    }
    let row: Option<Earlier> = sqlx::query_as(
        "select d.id, d.created_at, d.actor_id, d.kind from decisions d where d.lease_token = $1 \
         and not exists (select 1 from decisions u where u.undoes = d.id)",
    )
    .bind(token)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.filter(|d| d.actor_id == Some(user.id) && d.kind == action.as_str()).map(|d| (d.id, d.created_at)))
}

/// The clear message for a decision whose lease is not (or no longer) the caller's.
async fn refusal(
    db: &Db,
    token: &str,
    state: &str,
    leased_by: Option<i64>,
    user: &UserRecord,
    action: Action,
) -> Result<AppError, AppError> {
    #[derive(sqlx::FromRow)]
    struct Earlier {
        kind: String,
        actor_id: Option<i64>,
        undone: i64,
    }
    let earlier: Option<Earlier> = sqlx::query_as(
        "select d.kind, d.actor_id, (select count(*) from decisions u where u.undoes = d.id) as undone \
         from decisions d where d.lease_token = $1",
    )
    .bind(token)
    .fetch_optional(db.pool())
    .await?;
    let state = ItemState::parse(state);
    let message = match earlier {
        Some(Earlier { actor_id: Some(actor), undone, .. }) if actor == user.id && undone > 0 => {
            "You undid that decision, so the page you acted on is out of date: nothing was recorded.".to_owned()
        }
        Some(Earlier { kind, .. }) if kind == Action::ExpireLease.as_str() => {
            "Your lease on this item ran out and it went back to the queue: nothing was recorded.".to_owned()
        }
        Some(Earlier { kind, actor_id: Some(actor), .. }) if actor == user.id => format!(
            "You already {} this item; your {} was not recorded.",
            Action::parse(&kind).map_or("decided", Action::past_tense),
            action.as_str()
        ),
        _ if state == Some(ItemState::Claimed) && leased_by.is_some_and(|id| id != user.id) => {
            "Another reviewer holds this item now: nothing was recorded.".to_owned()
        }
        _ => match state {
            Some(s) if s.is_terminal() => "This item has already been decided: nothing was recorded.".to_owned(),
            _ => "You no longer hold this item (your lease ended): nothing was recorded.".to_owned(),
        },
    };
    Ok(AppError::conflict(message))
}
