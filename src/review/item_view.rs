//! An item as the review page shows it: the reviewer's own lease, the payload and prediction,
//! the workflow's labels and reasons, and its history (its decisions read with the item in one
//! statement; the steps its escalations took, from their rows, when it was escalated).

use super::ReviewItem;
use crate::domain::item_state::ItemState;
use crate::error::AppError;
use crate::items::HistoryLine;
use crate::items::escalation_steps;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::cache::{self, WorkflowCache};
use crate::workflows::membership::require_listed;
use crate::workflows::server::Workflow;
use serde_json::Value;
use sqlx::AnyConnection;

/// What the review page shows of an item's own row.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct ItemColumns {
    external_id: String,
    payload: String,
    prediction: String,
    confidence: f64,
    model_version: Option<String>,
    priority: i64,
    route_reason: String,
    review_probability: f64,
    created_at: i64,
    lease_token: Option<String>,
    lease_expires_at: Option<i64>,
}

/// The item columns a claim returns (see [`ItemColumns`]), and how many history lines the
/// item has, so that the history is read only when there is one.
pub const CLAIMED_COLUMNS: &str = "items.id, external_id, payload, prediction, confidence, model_version, priority, \
     route_reason, review_probability, created_at, lease_token, lease_expires_at, \
     (select count(*) from decisions h where h.item_id = items.id) as history";

/// An item just leased to a reviewer by a decision's claim, as the claim returned it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct Claimed {
    pub id: i64,
    #[sqlx(flatten)]
    #[serde(flatten)]
    item: ItemColumns,
    history: i64,
}

/// An item and one line of its history (`kind` is null when it has none yet).
#[derive(sqlx::FromRow)]
struct LeasedRow {
    workflow_id: i64,
    #[sqlx(flatten)]
    item: ItemColumns,
    state: String,
    leased_by: Option<i64>,
    assigned_to: Option<i64>,
    kind: Option<String>,
    actor_label: Option<String>,
    decided_at: Option<i64>,
    reason_code: Option<String>,
    note: Option<String>,
    undone: i64,
}

impl LeasedRow {
    fn history_line(&self) -> Option<HistoryLine> {
        Some(HistoryLine {
            kind: self.kind.clone()?,
            actor: self.actor_label.clone().unwrap_or_default(),
            at_ms: self.decided_at?,
            reason_code: self.reason_code.clone(),
            note: self.note.clone(),
            undone: self.undone > 0,
        })
    }
}

/// The item columns and history lines of the item `$1` (a row per line), for [`LeasedRow`].
const LEASED_ITEM: &str = "select i.workflow_id, i.external_id, i.payload, i.prediction, i.confidence, \
     i.model_version, i.priority, i.route_reason, i.review_probability, i.created_at, i.state, i.leased_by, \
     i.assigned_to, i.lease_token, i.lease_expires_at, d.kind, d.actor_label, d.created_at as decided_at, d.reason_code, d.note, \
     (select count(*) from decisions u where u.undoes = d.id) as undone \
     from items i left join decisions d on d.item_id = i.id where i.id = $1 order by d.id";

/// The history lines of an item a reviewer holds, from its `rows` (a row each, from
/// [`LEASED_ITEM`]), with the steps its escalations took. Only an escalated item can have taken
/// any, and one that reached a reviewer's hands after an escalation has a line of it: of its
/// escalation, or (if it arrived escalated) of its assignment or its return to the queue. An
/// item from the queue that never was escalated costs no further read.
async fn reviewer_history(
    conn: &mut AnyConnection,
    item_id: i64,
    rows: &[LeasedRow],
) -> Result<Vec<HistoryLine>, AppError> {
    let lines: Vec<HistoryLine> = rows.iter().filter_map(LeasedRow::history_line).collect();
    if !lines.iter().any(|l| matches!(l.kind.as_str(), "escalate" | "assign" | "send_back")) {
        return Ok(lines);
    }
    escalation_steps::with_steps(conn, item_id, lines).await
}

/// The review page's view of an item leased to the reviewer.
fn review_item(
    workflow: &Workflow,
    item_id: i64,
    item: ItemColumns,
    history: Vec<HistoryLine>,
    now: i64,
) -> ReviewItem {
    let spec = &workflow.spec;
    ReviewItem {
        item_id,
        slug: workflow.slug().to_owned(),
        workflow: spec.name.clone(),
        external_id: item.external_id,
        payload: serde_json::from_str(&item.payload).unwrap_or(Value::Null),
        prediction: serde_json::from_str(&item.prediction).unwrap_or(Value::Null),
        confidence: item.confidence,
        model_version: item.model_version,
        priority: i32::try_from(item.priority).unwrap_or_default(),
        route_reason: item.route_reason,
        review_probability: item.review_probability,
        created_at_ms: item.created_at,
        lease_token: item.lease_token.unwrap_or_default(),
        lease_expires_at_ms: item.lease_expires_at.unwrap_or(now),
        lease_secs: spec.lease_secs,
        labels: spec.labels.clone(),
        reason_codes: spec.reason_codes.clone(),
        low_confidence_below: spec.auto_approve_at.unwrap_or(0.9),
        history,
        now_ms: now,
    }
}

/// The review page of an item a decision's claim just leased: its history is read only when it
/// has one (an item released or expired before), so a fresh item costs no query.
pub async fn claimed_item(db: &Db, workflow: &Workflow, claimed: Claimed, now: i64) -> Result<ReviewItem, AppError> {
    let history = if claimed.history == 0 {
        Vec::new()
    } else {
        let mut conn = db.pool().acquire().await?;
        let rows: Vec<LeasedRow> = sqlx::query_as(LEASED_ITEM).bind(claimed.id).fetch_all(&mut *conn).await?;
        reviewer_history(&mut conn, claimed.id, &rows).await?
    };
    Ok(review_item(workflow, claimed.id, claimed.item, history, now))
}

/// The item as its review page shows it, if it is leased to `user` right now.
pub async fn leased_item(
    db: &Db,
    workflows: &WorkflowCache,
    user: &UserRecord,
    slug: &str,
    item_id: i64,
) -> Result<ReviewItem, AppError> {
    let now = now_ms();
    let workflow = cache::by_slug(db, workflows, slug).await?;
    require_listed(&workflow, user)?;
    // The item and its history in one statement: a row per history line.
    let mut conn = db.pool().acquire().await?;
    let rows: Vec<LeasedRow> = sqlx::query_as(LEASED_ITEM).bind(item_id).fetch_all(&mut *conn).await?;
    let row = rows.first().filter(|r| r.workflow_id == workflow.id).ok_or_else(|| AppError::not_found("That item"))?;
    let state = ItemState::parse(&row.state);
    let held = state == Some(ItemState::Claimed)
        && row.leased_by == Some(user.id)
        && row.item.lease_expires_at.unwrap_or(0) > now;
    if !held {
        let why = match state {
            Some(s) if s.is_terminal() => "it has been decided",
            Some(ItemState::Escalated) => "it was escalated to a lead",
            Some(ItemState::Claimed) if row.leased_by != Some(user.id) => "another reviewer holds it",
            _ => "your lease on it ended",
        };
        return Err(AppError::conflict(format!("This item is no longer yours to review: {why}.")));
    }
    let history = reviewer_history(&mut conn, item_id, &rows).await?;
    let row = rows.into_iter().next().ok_or_else(|| AppError::internal("the item vanished"))?;
    Ok(review_item(&workflow, item_id, row.item, history, now))
}

/// An item as a lead's page shows it, whoever holds it (no lease of the caller's), with its
/// state and whom it is assigned to; the caller has checked that they may see its workflow.
pub async fn shown_item(
    db: &Db,
    workflow: &Workflow,
    item_id: i64,
) -> Result<(ReviewItem, ItemState, Option<i64>), AppError> {
    let mut conn = db.pool().acquire().await?;
    let rows: Vec<LeasedRow> = sqlx::query_as(LEASED_ITEM).bind(item_id).fetch_all(&mut *conn).await?;
    let row = rows.first().filter(|r| r.workflow_id == workflow.id).ok_or_else(|| AppError::not_found("That item"))?;
    let state = ItemState::parse(&row.state).ok_or_else(|| AppError::internal("unknown item state"))?;
    let assigned_to = row.assigned_to;
    // A lead's page: an item that arrived escalated has no line of it, so the steps are read
    // whatever the lines are.
    let lines = rows.iter().filter_map(LeasedRow::history_line).collect();
    let history = escalation_steps::with_steps(&mut conn, item_id, lines).await?;
    let row = rows.into_iter().next().ok_or_else(|| AppError::internal("the item vanished"))?;
    let mut item = review_item(workflow, item_id, row.item, history, now_ms());
    item.lease_token = String::new();
    Ok((item, state, assigned_to))
}
