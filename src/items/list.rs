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

/// About the most bytes of item data (metadata, outputs, notes) one page carries: 500 items of
/// up to 1 MiB each would be half a gigabyte in memory at once. A page stops early at this
/// budget (always with at least one row) and its cursor leads on.
pub const MAX_PAGE_BYTES: i64 = 4 * 1024 * 1024;

/// How many of the rows, whose sizes are given in order, one page takes: as many as fit in
/// `budget`, at least one.
fn rows_within(sizes: &[(i64, i64)], budget: i64) -> usize {
    let mut total = 0;
    let fitting = sizes.iter().take_while(|(_, size)| {
        total += size;
        total <= budget
    });
    fitting.count().max(1).min(sizes.len())
}

/// The last id one page takes among the `(id, size)` rows (fetched one past `limit`), and
/// whether more follow.
fn page_end(sizes: &[(i64, i64)], limit: i64) -> Option<(i64, bool)> {
    let within = sizes.len().min(limit as usize);
    let taken = rows_within(&sizes[..within], MAX_PAGE_BYTES);
    sizes.get(taken.checked_sub(1)?).map(|(id, _)| (*id, taken < sizes.len()))
}

const ITEM_FILTER: &str = "workflow_id = $1 and id > $2 and ($3 is null or state = $3) and created_at >= $4";

/// Items of a workflow in id order (stable: new items only ever append), filtered by state and
/// creation time, `limit` at a time after `cursor` (fewer when they are large: see
/// [`MAX_PAGE_BYTES`]). The sizes are read first, so that a page's rows are only loaded once
/// they are known to fit.
pub async fn list(
    db: &Db,
    workflow: &Workflow,
    state: Option<&str>,
    since_ms: Option<i64>,
    cursor: Option<i64>,
    limit: i64,
) -> Result<Page<ItemView>, AppError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let sizes: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "select id, cast(coalesce(length(metadata), 0) + coalesce(length(final_output), 0) as bigint) \
         from items where {ITEM_FILTER} order by id limit $5"
    ))
    .bind(workflow.id)
    .bind(cursor.unwrap_or(0))
    .bind(state)
    .bind(since_ms.unwrap_or(i64::MIN))
    .bind(limit + 1)
    .fetch_all(db.pool())
    .await?;
    let Some((last_id, more)) = page_end(&sizes, limit) else {
        return Ok(Page { items: vec![], next_cursor: None });
    };
    let rows: Vec<ItemRow> =
        sqlx::query_as(&format!("select {ITEM_COLUMNS} from items where {ITEM_FILTER} and id <= $5 order by id"))
            .bind(workflow.id)
            .bind(cursor.unwrap_or(0))
            .bind(state)
            .bind(since_ms.unwrap_or(i64::MIN))
            .bind(last_id)
            .fetch_all(db.pool())
            .await?;
    let items: Vec<ItemView> = rows.into_iter().map(|r| r.view(workflow.slug(), vec![])).collect();
    Ok(Page { items, next_cursor: more.then(|| last_id.to_string()) })
}

/// The decisions a feed shows after `$2`: final, settled (`$4` is now), not undone. The feed
/// stops before the first decision still in its undo window, found in the partial index of
/// decisions that have a settle time (migration 0016), where those still in their window are
/// a few seconds' worth. `min(id + 0)`, not
/// `min(id)`: given the latter, SQLite and PostgreSQL may walk the workflow's final decisions in
/// id order from the oldest until one is unsettled, which reads every settled decision; in the
/// soak benchmark each poll's time then grew with the table.
const FEED_FILTER: &str = "workflow_id = $1 and final = 1 and id > $2 \
     and id < coalesce((select min(id + 0) from decisions where workflow_id = $1 and final = 1 and settles_at > $4), \
                       9223372036854775807) \
     and not exists (select 1 from decisions u where u.undoes = d.id)";

/// The first of the feed's two reads: the ids and sizes of up to `$3` decisions after `$2`.
pub fn feed_sizes_sql() -> String {
    format!(
        "select id, cast(coalesce(length(output), 0) + coalesce(length(note), 0) as bigint) \
         from decisions d where {FEED_FILTER} order by id limit $3"
    )
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
    let now = now_ms();
    let sizes: Vec<(i64, i64)> = sqlx::query_as(&feed_sizes_sql())
        .bind(workflow.id)
        .bind(cursor.unwrap_or(0))
        .bind(limit)
        .bind(now)
        .fetch_all(db.pool())
        .await?;
    let items: Vec<DecisionView> = match page_end(&sizes, limit) {
        None => vec![],
        Some((last_id, _)) => {
            let rows: Vec<DecisionRow> = sqlx::query_as(&format!(
                "select {DECISION_COLUMNS} from decisions d where {FEED_FILTER} and id <= $3 order by id"
            ))
            .bind(workflow.id)
            .bind(cursor.unwrap_or(0))
            .bind(last_id)
            .bind(now)
            .fetch_all(db.pool())
            .await?;
            rows.into_iter().map(DecisionRow::view).collect()
        }
    };
    // Unlike a list, a feed always returns a cursor (the last decision seen, or the one given),
    // so a poller resumes from it and sees only what is new.
    let next_cursor = items.last().map(|d| d.id.to_string()).or_else(|| cursor.map(|c| c.to_string()));
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_takes_what_fits_in_its_budget_and_at_least_one_row() {
        let rows = [(1, 400), (2, 400), (3, 400), (4, 10)];
        assert_eq!(rows_within(&rows, 1000), 2);
        assert_eq!(rows_within(&rows, 1200), 3);
        assert_eq!(rows_within(&rows, 5000), 4);
        assert_eq!(rows_within(&rows, 100), 1, "one row too big for the budget still makes a page");
        assert_eq!(rows_within(&[], 100), 0);
    }

    #[test]
    fn a_page_ends_at_the_limit_or_the_budget() {
        // Fetched one past a limit of 3: the fourth row says more follow.
        let small = [(10, 1), (11, 1), (12, 1), (13, 1)];
        assert_eq!(page_end(&small, 3), Some((12, true)));
        assert_eq!(page_end(&small[..2], 3), Some((11, false)));
        let big = [(10, MAX_PAGE_BYTES / 2), (11, MAX_PAGE_BYTES / 2), (12, 1)];
        assert_eq!(page_end(&big, 500), Some((11, true)));
        assert_eq!(page_end(&[], 500), None);
    }
}
