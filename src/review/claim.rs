//! Claiming: leasing the next waiting item of a workflow to a reviewer (highest priority, then
//! oldest), or an item a lead assigned to them. On PostgreSQL claim-next skips rows another
//! instance is claiming (`for update skip locked`, on the partial index `items_claim_idx`);
//! SQLite serialises writers.

use super::item_view::{CLAIMED_COLUMNS, Claimed};
use super::lease::{grant, new_token};
use crate::domain::item_state::{Action, ItemState, state_sql};
use crate::error::AppError;
use crate::storage::clock::now_ms;
use crate::storage::db::{Backend, Db};
use crate::users::server::UserRecord;
use crate::workflows::membership::{lock_membership, require_member};
use crate::workflows::server::{self as workflows, Workflow};
use sqlx::AnyConnection;

/// Leases the next item of the workflow to `user`: the item they already hold there if any,
/// else the waiting item of highest priority, oldest first. `None` when nothing waits.
#[tracing::instrument(skip_all, fields(workflow = workflow.slug(), user_id = user.id))]
pub async fn claim_next(db: &Db, workflow: &Workflow, user: &UserRecord) -> Result<Option<i64>, AppError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    // Membership, and on PostgreSQL a lock on it: one reviewer's claims in one workflow run one
    // after another (SQLite has one writer), so that two at once cannot both find nothing held
    // and lease two items. A claim after a decision needs no such lock: the decided item's row
    // lock orders it against a repeat of the same decision, which reuses what this claim leased.
    lock_membership(&mut tx, db.backend(), workflow, user.id).await?;
    // An item the reviewer already holds there is theirs again rather than a second one.
    let claimed = match held_item(&mut tx, workflow.id, user.id, now).await? {
        Some(id) => Some(id),
        None => lease_next(&mut tx, db.backend(), workflow, user.id, 0, now).await?.map(|c| c.id),
    };
    tx.commit().await?;
    Ok(claimed)
}

/// The item `user_id` holds in the workflow right now, if any.
pub async fn held_item(
    conn: &mut AnyConnection,
    workflow_id: i64,
    user_id: i64,
    now: i64,
) -> Result<Option<i64>, AppError> {
    let held: Option<(i64,)> = sqlx::query_as(concat!(
        "select id from items where leased_by = $1 and state = ",
        state_sql!(Claimed),
        " and workflow_id = $2 and lease_expires_at > $3 limit 1"
    ))
    .bind(user_id)
    .bind(workflow_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(held.map(|(id,)| id))
}

/// Leases the next waiting item of the workflow to `user_id` inside the caller's transaction
/// (after a decision, in the same one), passing over `skipped`; the caller has checked
/// membership. Returns the item as its review page needs it.
pub async fn lease_next(
    tx: &mut AnyConnection,
    backend: Backend,
    workflow: &Workflow,
    user_id: i64,
    skipped: i64,
    now: i64,
) -> Result<Option<Claimed>, AppError> {
    let claimed: Option<Claimed> = sqlx::query_as(&lease_next_sql(backend))
        .bind(user_id)
        .bind(new_token())
        .bind(now + workflow.spec.lease_secs * 1000)
        .bind(now)
        .bind(workflow.id)
        .bind(skipped)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(claimed)
}

/// The statement [`lease_next`] runs: `$1` the reviewer, `$2` the lease token, `$3` the lease's
/// end, `$4` now, `$5` the workflow, `$6` an item to pass over. Public so that a test can have
/// the database explain the very statement claims run.
pub fn lease_next_sql(backend: Backend) -> String {
    format!(
        concat!(
            "update items set state = ",
            state_sql!(Claimed),
            ", leased_by = $1, lease_token = $2, lease_expires_at = $3, claimed_at = $4, updated_at = $4 \
             where id = (select id from items where workflow_id = $5 and state = ",
            state_sql!(Queued),
            " and id <> $6 order by priority desc, id limit 1{skip_locked}) and state = ",
            state_sql!(Queued),
            " returning {columns}"
        ),
        skip_locked = backend.skip_locked(),
        columns = CLAIMED_COLUMNS,
    )
}

#[derive(sqlx::FromRow)]
struct AssignedLease {
    workflow_id: i64,
    state: String,
    assigned_to: Option<i64>,
    leased_by: Option<i64>,
    lease_expires_at: Option<i64>,
}

/// Leases one item a lead assigned to `user`; the item's workflow and id.
pub async fn claim_assigned(db: &Db, user: &UserRecord, item_id: i64) -> Result<(String, i64), AppError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let row: Option<AssignedLease> = sqlx::query_as(&format!(
        "select workflow_id, state, assigned_to, leased_by, lease_expires_at from items where id = $1{}",
        db.backend().for_update()
    ))
    .bind(item_id)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or_else(|| AppError::not_found("That item"))?;
    if row.assigned_to != Some(user.id) {
        return Err(AppError::Forbidden);
    }
    let workflow = workflows::find_by_id_in(&mut tx, row.workflow_id)
        .await?
        .ok_or_else(|| AppError::not_found("That workflow"))?;
    require_member(&mut tx, &workflow, user).await?;
    let state = ItemState::parse(&row.state).ok_or_else(|| AppError::internal("unknown item state"))?;
    let held_by_me =
        state == ItemState::Claimed && row.leased_by == Some(user.id) && row.lease_expires_at.unwrap_or(0) > now;
    if !held_by_me {
        let claimed = state.apply(Action::Claim, true).map_err(|e| AppError::conflict(e.to_string()))?;
        grant(&mut tx, item_id, claimed, user.id, workflow.spec.lease_secs, now).await?;
    }
    tx.commit().await?;
    Ok((workflow.slug().to_owned(), item_id))
}
