//! Reads for automations that poll: a workflow's items a page at a time, and the feed of
//! settled decisions after a cursor.

use super::view::{DECISION_COLUMNS, DecisionRow, DecisionView, ITEM_COLUMNS, ItemRow, ItemView};
use crate::error::AppError;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::workflows::server::Workflow;
use serde::{Deserialize, Serialize};

/// A page of results and the cursor for the next one (absent on the last page).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub const MAX_PAGE: i64 = 500;

/// Items of a workflow in id order (stable: new items only ever append), filtered by state and
/// creation time, `limit` at a time after `cursor`.
pub async fn list(
    db: &Db,
    workflow: &Workflow,
    state: Option<&str>,
    since_ms: Option<i64>,
    cursor: Option<i64>,
    limit: i64,
) -> Result<Page<ItemView>, AppError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows: Vec<ItemRow> = sqlx::query_as(&format!(
        "select {ITEM_COLUMNS} from items where workflow_id = $1 and id > $2 \
         and ($3 is null or state = $3) and created_at >= $4 order by id limit $5"
    ))
    .bind(workflow.id)
    .bind(cursor.unwrap_or(0))
    .bind(state)
    .bind(since_ms.unwrap_or(i64::MIN))
    .bind(limit + 1)
    .fetch_all(db.pool())
    .await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<ItemView> = rows.into_iter().take(limit as usize).map(|r| r.view(workflow.slug(), vec![])).collect();
    let next_cursor = more.then(|| items.last().map(|i| i.id.to_string())).flatten();
    Ok(Page { items, next_cursor })
}

/// Final decisions of a workflow after `cursor`, oldest first: the feed pollers follow. A human
/// decision appears once its undo window has passed (and never if it was undone); the feed stops
/// before the first decision still in its window, so that nothing settles behind a cursor.
pub async fn decision_feed(
    db: &Db,
    workflow: &Workflow,
    cursor: Option<i64>,
    limit: i64,
) -> Result<Page<DecisionView>, AppError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows: Vec<DecisionRow> = sqlx::query_as(&format!(
        "select {DECISION_COLUMNS} from decisions d where workflow_id = $1 and final = 1 and id > $2 \
         and id < coalesce((select min(id) from decisions where workflow_id = $1 and final = 1 and settles_at > $4), \
                           9223372036854775807) \
         and not exists (select 1 from decisions u where u.undoes = d.id) order by id limit $3"
    ))
    .bind(workflow.id)
    .bind(cursor.unwrap_or(0))
    .bind(limit)
    .bind(now_ms())
    .fetch_all(db.pool())
    .await?;
    let items: Vec<DecisionView> = rows.into_iter().take(limit as usize).map(DecisionRow::view).collect();
    // Unlike a list, a feed always returns a cursor (the last decision seen, or the one given),
    // so a poller resumes from it and sees only what is new.
    let next_cursor = items.last().map(|d| d.id.to_string()).or_else(|| cursor.map(|c| c.to_string()));
    Ok(Page { items, next_cursor })
}
