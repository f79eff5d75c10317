//! Claiming, leases and decisions, each one transaction.
//!
//! A claim leases one item to one reviewer until `lease_expires_at`; the lease is named by a
//! random token that every decision must carry, so a decision made under a lost or older lease is
//! refused and a double submit of one claim decides once. On PostgreSQL claim-next skips rows
//! another instance is claiming (`for update skip locked`); SQLite serialises writers.

use super::{AssignedItem, DUE_SOON_MS, HistoryLine, QueueSummary, QueuesOverview, Receipt, ReviewItem, UndoOffer};
use crate::domain::item_state::{Action, ItemState};
use crate::error::AppError;
use crate::server::audit;
use crate::server::db::{Backend, Db};
use crate::server::now_ms;
use crate::users::server::UserRecord;
use crate::webhooks::server::Subscriptions;
use crate::workflows::contract::ContractCache;
use crate::workflows::server::Workflow;
use serde_json::{Value, json};
use sqlx::AnyConnection;
use std::collections::HashMap;

/// How long a human decision may be undone, and how long its webhook waits.
#[derive(Debug, Clone, Copy)]
pub struct ReviewSettings {
    pub undo_window_ms: i64,
}

fn new_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

fn skip_locked(db: &Db) -> &'static str {
    match db.backend() {
        Backend::Postgres => " for update skip locked",
        Backend::Sqlite => "",
    }
}

/// Whether `user` may work items of `workflow_id`: members only (admins add themselves).
pub async fn is_member(conn: &mut AnyConnection, workflow_id: i64, user_id: i64) -> Result<bool, AppError> {
    let (n,): (i64,) = sqlx::query_as("select count(*) from workflow_members where workflow_id = $1 and user_id = $2")
        .bind(workflow_id)
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(n > 0)
}

async fn require_member(conn: &mut AnyConnection, workflow: &Workflow, user: &UserRecord) -> Result<(), AppError> {
    if is_member(conn, workflow.id, user.id).await? {
        Ok(())
    } else {
        tracing::warn!(user_id = user.id, workflow = workflow.slug(), "refused: not a member");
        Err(AppError::Forbidden)
    }
}

/// [`require_member`] that, on PostgreSQL, also locks the membership row until the transaction
/// ends: two claims of one reviewer in one workflow (a double submit answers with a claim too)
/// then run one after the other, and the second finds the item the first leased instead of
/// leasing another. SQLite serialises writers already.
async fn lock_membership(conn: &mut AnyConnection, db: &Db, workflow: &Workflow, user_id: i64) -> Result<(), AppError> {
    let row: Option<(i64,)> = sqlx::query_as(&format!(
        "select user_id from workflow_members where workflow_id = $1 and user_id = $2{}",
        db.for_update()
    ))
    .bind(workflow.id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_some() {
        Ok(())
    } else {
        tracing::warn!(user_id = user_id, workflow = workflow.slug(), "refused: not a member");
        Err(AppError::Forbidden)
    }
}

fn start_of_day_utc(now: i64) -> i64 {
    now - now.rem_euclid(86_400_000)
}

/// The queues page: every workflow the user is a member of, and the items assigned to them.
pub async fn overview(db: &Db, user: &UserRecord) -> Result<QueuesOverview, AppError> {
    let now = now_ms();
    let mut conn = db.pool().acquire().await?;
    let workflows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
        "select w.id, w.slug, w.name, w.review_sla_secs, w.paused from workflows w \
         join workflow_members m on m.workflow_id = w.id where m.user_id = $1 order by w.name, w.slug",
    )
    .bind(user.id)
    .fetch_all(&mut *conn)
    .await?;
    let mut queues = Vec::with_capacity(workflows.len());
    for (id, slug, name, sla_secs, paused) in workflows {
        let due_at = |offset: i64| now - sla_secs * 1000 + offset;
        let (waiting, oldest): (i64, Option<i64>) =
            sqlx::query_as("select count(*), min(created_at) from items where workflow_id = $1 and state = 'queued'")
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
        let (overdue, due_soon): (i64, i64) = sqlx::query_as(
            "select count(case when created_at <= $2 then 1 end), count(*) from items \
             where workflow_id = $1 and state = 'queued' and created_at <= $3",
        )
        .bind(id)
        .bind(due_at(0))
        .bind(due_at(DUE_SOON_MS))
        .fetch_one(&mut *conn)
        .await?;
        let (today,): (i64,) = sqlx::query_as(
            "select count(*) from decisions d where d.actor_id = $1 and d.workflow_id = $2 and d.created_at >= $3 \
             and d.kind in ('approve', 'reject', 'correct', 'escalate') \
             and not exists (select 1 from decisions u where u.undoes = d.id)",
        )
        .bind(user.id)
        .bind(id)
        .bind(start_of_day_utc(now))
        .fetch_one(&mut *conn)
        .await?;
        let mine = held_item(&mut conn, id, user.id, now).await?;
        queues.push(QueueSummary {
            slug,
            name,
            waiting,
            oldest_waiting_ms: oldest,
            due_soon: due_soon - overdue,
            overdue,
            my_decisions_today: today,
            my_item: mine,
            paused: paused != 0,
        });
    }
    let assigned: Vec<(i64, String, String, String, String, i64)> = sqlx::query_as(
        "select i.id, w.slug, w.name, i.external_id, i.state, i.created_at from items i \
         join workflows w on w.id = i.workflow_id \
         where i.assigned_to = $1 and (i.state = 'assigned' or (i.state = 'claimed' and i.leased_by = $1)) \
         order by i.priority desc, i.id limit 200",
    )
    .bind(user.id)
    .fetch_all(&mut *conn)
    .await?;
    let assigned = assigned
        .into_iter()
        .map(|(item_id, slug, workflow, external_id, state, created_at_ms)| AssignedItem {
            item_id,
            slug,
            workflow,
            external_id,
            state,
            created_at_ms,
        })
        .collect();
    Ok(QueuesOverview { queues, assigned, now_ms: now })
}

/// Leases the next item of the workflow to `user`: the item they already hold there if any,
/// else the waiting item of highest priority, oldest first. `None` when nothing waits.
#[tracing::instrument(skip_all, fields(workflow = workflow.slug(), user_id = user.id))]
pub async fn claim_next(db: &Db, workflow: &Workflow, user: &UserRecord) -> Result<Option<i64>, AppError> {
    claim_next_except(db, workflow, user, 0).await
}

/// [`claim_next`], passing over `skipped` (the item the reviewer just skipped).
async fn claim_next_except(
    db: &Db,
    workflow: &Workflow,
    user: &UserRecord,
    skipped: i64,
) -> Result<Option<i64>, AppError> {
    let now = now_ms();
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    // Membership, and on PostgreSQL a lock on it: one reviewer's claims in one workflow run one
    // after another (SQLite has one writer), so that two at once cannot both find nothing held
    // and lease two items. A claim after a decision needs no such lock: the decided item's row
    // lock orders it against a repeat of the same decision, which reuses what this claim leased.
    lock_membership(&mut tx, db, workflow, user.id).await?;
    // An item the reviewer already holds there is theirs again rather than a second one.
    let claimed = match held_item(&mut tx, workflow.id, user.id, now).await? {
        Some(id) => Some(id),
        None => lease_next(&mut tx, db, workflow, user.id, skipped, now).await?.map(|c| c.id),
    };
    tx.commit().await?;
    Ok(claimed)
}

/// The item `user_id` holds in the workflow right now, if any.
async fn held_item(
    conn: &mut AnyConnection,
    workflow_id: i64,
    user_id: i64,
    now: i64,
) -> Result<Option<i64>, AppError> {
    let held: Option<(i64,)> = sqlx::query_as(
        "select id from items where leased_by = $1 and state = 'claimed' and workflow_id = $2 \
         and lease_expires_at > $3 limit 1",
    )
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
async fn lease_next(
    tx: &mut AnyConnection,
    db: &Db,
    workflow: &Workflow,
    user_id: i64,
    skipped: i64,
    now: i64,
) -> Result<Option<Claimed>, AppError> {
    let claimed: Option<Claimed> = sqlx::query_as(&format!(
        "update items set state = 'claimed', leased_by = $1, lease_token = $2, lease_expires_at = $3, \
         claimed_at = $4, updated_at = $4 \
         where id = (select id from items where workflow_id = $5 and state = 'queued' and id <> $6 \
                     order by priority desc, id limit 1{}) \
         and state = 'queued' returning {CLAIMED_COLUMNS}",
        skip_locked(db)
    ))
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

/// Leases one item a lead assigned to `user`.
pub async fn claim_assigned(db: &Db, user: &UserRecord, item_id: i64) -> Result<(String, i64), AppError> {
    let now = now_ms();
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    type Row = (i64, String, Option<i64>, Option<i64>, Option<i64>);
    let row: Option<Row> = sqlx::query_as(&format!(
        "select workflow_id, state, assigned_to, leased_by, lease_expires_at from items where id = $1{}",
        db.for_update()
    ))
    .bind(item_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((workflow_id, state, assigned_to, leased_by, expires)) = row else {
        return Err(AppError::not_found("That item"));
    };
    if assigned_to != Some(user.id) {
        return Err(AppError::Forbidden);
    }
    let workflow = crate::workflows::server::find_by_id_in(&mut tx, workflow_id)
        .await?
        .ok_or_else(|| AppError::not_found("That workflow"))?;
    require_member(&mut tx, &workflow, user).await?;
    let state = ItemState::parse(&state).ok_or_else(|| AppError::internal("unknown item state"))?;
    let held_by_me = state == ItemState::Claimed && leased_by == Some(user.id) && expires.unwrap_or(0) > now;
    if !held_by_me {
        state.apply(Action::Claim, true).map_err(|e| AppError::conflict(e.to_string()))?;
        sqlx::query(
            "update items set state = 'claimed', leased_by = $1, lease_token = $2, lease_expires_at = $3, \
             claimed_at = $4, updated_at = $4 where id = $5",
        )
        .bind(user.id)
        .bind(new_token())
        .bind(now + workflow.spec.lease_secs * 1000)
        .bind(now)
        .bind(item_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok((workflow.slug().to_owned(), item_id))
}

/// What the review page shows of an item's own row.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
struct ItemColumns {
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
const CLAIMED_COLUMNS: &str = "items.id, external_id, payload, prediction, confidence, model_version, priority, \
     route_reason, review_probability, created_at, lease_token, lease_expires_at, \
     (select count(*) from decisions h where h.item_id = items.id) as history";

/// An item just leased to a reviewer by a decision's claim, as the claim returned it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct Claimed {
    id: i64,
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
     i.lease_token, i.lease_expires_at, d.kind, d.actor_label, d.created_at as decided_at, d.reason_code, d.note, \
     (select count(*) from decisions u where u.undoes = d.id) as undone \
     from items i left join decisions d on d.item_id = i.id where i.id = $1 order by d.id";

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
async fn claimed_item(db: &Db, workflow: &Workflow, claimed: Claimed, now: i64) -> Result<ReviewItem, AppError> {
    let history = if claimed.history == 0 {
        Vec::new()
    } else {
        let rows: Vec<LeasedRow> = sqlx::query_as(LEASED_ITEM).bind(claimed.id).fetch_all(db.pool()).await?;
        rows.iter().filter_map(LeasedRow::history_line).collect()
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
    let workflow = cached_workflow(db, workflows, slug).await?;
    listed_member(&workflow, user)?;
    // The item and its history in one statement: a row per history line.
    let rows: Vec<LeasedRow> = sqlx::query_as(LEASED_ITEM).bind(item_id).fetch_all(db.pool()).await?;
    let row = rows.first().filter(|r| r.workflow_id == workflow.id).ok_or_else(|| AppError::not_found("That item"))?;
    let held = row.state == "claimed" && row.leased_by == Some(user.id) && row.item.lease_expires_at.unwrap_or(0) > now;
    if !held {
        let why = match ItemState::parse(&row.state) {
            Some(s) if s.is_terminal() => "it has been decided",
            Some(ItemState::Escalated) => "it was escalated to a lead",
            Some(ItemState::Claimed) if row.leased_by != Some(user.id) => "another reviewer holds it",
            _ => "your lease on it ended",
        };
        return Err(AppError::conflict(format!("This item is no longer yours to review: {why}.")));
    }
    let history = rows.iter().filter_map(LeasedRow::history_line).collect();
    let row = rows.into_iter().next().ok_or_else(|| AppError::internal("the item vanished"))?;
    Ok(review_item(&workflow, item_id, row.item, history, now))
}

/// Extends the lease the reviewer holds; the new end (Unix ms).
pub async fn renew(db: &Db, user: &UserRecord, item_id: i64, token: &str) -> Result<i64, AppError> {
    let now = now_ms();
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    let lease: Option<(i64,)> = sqlx::query_as(
        "select w.lease_secs from items i join workflows w on w.id = i.workflow_id \
         where i.id = $1 and i.state = 'claimed' and i.leased_by = $2 and i.lease_token = $3 \
         and i.lease_expires_at > $4",
    )
    .bind(item_id)
    .bind(user.id)
    .bind(token)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((lease_secs,)) = lease else {
        return Err(AppError::conflict(
            "Your lease on this item has ended and it went back to the queue. Nothing you do here is recorded.",
        ));
    };
    let until = now + lease_secs * 1000;
    sqlx::query("update items set lease_expires_at = $1 where id = $2")
        .bind(until)
        .bind(item_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(until)
}

/// A reviewer's verdict on a leased item.
#[derive(Debug, Clone)]
pub enum Verdict {
    Approve,
    Reject { reason_code: String, note: Option<String> },
    Correct { fields: HashMap<String, String> },
    Escalate { note: String },
    Release,
}

impl Verdict {
    fn action(&self) -> Action {
        match self {
            Verdict::Approve => Action::Approve,
            Verdict::Reject { .. } => Action::Reject,
            Verdict::Correct { .. } => Action::Correct,
            Verdict::Escalate { .. } => Action::Escalate,
            Verdict::Release => Action::Release,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DecidingRow {
    slug: String,
    external_id: String,
    state: String,
    leased_by: Option<i64>,
    lease_token: Option<String>,
    lease_expires_at: Option<i64>,
    claimed_at: Option<i64>,
    assigned_to: Option<i64>,
    payload: String,
    prediction: String,
}

/// Workflows by slug, cached briefly (see `ApiCaches`): a decision reads its workflow's reason
/// codes, contract and members without a query.
pub type WorkflowCache = crate::server::ttl_cache::TtlCache<String, std::sync::Arc<Workflow>>;

async fn cached_workflow(db: &Db, workflows: &WorkflowCache, slug: &str) -> Result<std::sync::Arc<Workflow>, AppError> {
    workflows
        .get_or_load(&slug.to_owned(), async {
            crate::workflows::server::require_by_slug(db, slug).await.map(std::sync::Arc::new)
        })
        .await
}

/// Membership as the (briefly cached) workflow lists it.
fn listed_member(workflow: &Workflow, user: &UserRecord) -> Result<(), AppError> {
    if workflow.spec.members.iter().any(|m| m == &user.email) {
        Ok(())
    } else {
        tracing::warn!(user_id = user.id, workflow = workflow.slug(), "refused: not a member");
        Err(AppError::Forbidden)
    }
}

/// Records `verdict` on an item leased to `user` under `token` and leases the next item, in one
/// transaction. A repeat of the same verdict under the same token (a double submit) answers as
/// the first did. Everything that needs no lock (the item, the workflow, the verdict's
/// validation) is read first; the write is a conditional update that only succeeds while the
/// lease is still this one, so the time spent holding SQLite's write lock stays short.
#[tracing::instrument(skip_all, fields(item_id, user_id = user.id))]
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    db: &Db,
    contracts: &ContractCache,
    workflows: &WorkflowCache,
    decider: &super::writer::Decider,
    settings: ReviewSettings,
    user: &UserRecord,
    item_id: i64,
    token: &str,
    verdict: Verdict,
) -> Result<Receipt, AppError> {
    let action = verdict.action();
    let row: Option<DecidingRow> = sqlx::query_as(
        "select w.slug, i.external_id, i.state, i.leased_by, i.lease_token, i.lease_expires_at, i.claimed_at, \
         i.assigned_to, i.payload, i.prediction from items i join workflows w on w.id = i.workflow_id where i.id = $1",
    )
    .bind(item_id)
    .fetch_optional(db.pool())
    .await?;
    let row = row.ok_or_else(|| AppError::not_found("That item"))?;
    let workflow = cached_workflow(db, workflows, &row.slug).await?;
    listed_member(&workflow, user)?;
    let now = now_ms();
    if row.lease_token.as_deref() != Some(token) || row.leased_by != Some(user.id) {
        return not_held(db, settings, &workflow, user, item_id, token, action).await;
    }
    if row.lease_expires_at.unwrap_or(0) <= now {
        return Err(AppError::conflict(
            "Your lease on this item ran out and it went back to the queue: nothing was recorded.",
        ));
    }
    let state = ItemState::parse(&row.state).ok_or_else(|| AppError::internal("unknown item state"))?;
    let next_state = state.apply(action, row.assigned_to.is_some()).map_err(|e| AppError::conflict(e.to_string()))?;

    let (reason_code, note, output) = match &verdict {
        Verdict::Approve => (None, None, Some(row.prediction.clone())),
        Verdict::Reject { reason_code, note } => {
            if !workflow.spec.reason_codes.is_empty() && !workflow.spec.reason_codes.contains(reason_code) {
                return Err(AppError::invalid(
                    "reason_code",
                    format!("Choose one of the workflow's reasons: {}.", workflow.spec.reason_codes.join(", ")),
                ));
            }
            if reason_code.trim().is_empty() {
                return Err(AppError::invalid("reason_code", "Choose a reason for the rejection."));
            }
            (Some(reason_code.clone()), note.clone().filter(|n| !n.trim().is_empty()), None)
        }
        Verdict::Correct { fields } => {
            let corrected = corrected_prediction(&row.prediction, fields)?;
            let contract =
                contracts.get_or_compile((workflow.id, workflow.settings_version), || workflow.contract())?;
            let payload: Value = serde_json::from_str(&row.payload).map_err(AppError::internal)?;
            contract.check(&payload, &corrected).map_err(|e| match e {
                AppError::Invalid { field, message } => {
                    // The contract names `/prediction/fields/total`; the form field is `fields[/fields/total]`.
                    let field = match field.strip_prefix("/prediction") {
                        Some("") => "fields".to_owned(),
                        Some(pointer) => format!("fields[{pointer}]"),
                        None => field,
                    };
                    AppError::Invalid { field, message: format!("The correction breaks the contract: {message}") }
                }
                other => other,
            })?;
            (None, None, Some(corrected.to_string()))
        }
        Verdict::Escalate { note } => {
            let note = note.trim();
            if note.is_empty() {
                return Err(AppError::invalid("note", "Say why you escalate: the lead reads it first."));
            }
            (None, Some(note.to_owned()), None)
        }
        Verdict::Release => (None, None, None),
    };
    let settles_at = now + if action == Action::Release { 0 } else { settings.undo_window_ms };
    let time_spent = row.claimed_at.map(|at| (now - at).max(0));
    let plan = Plan {
        item_id,
        user_id: user.id,
        actor: user.actor(),
        token: token.to_owned(),
        action,
        next_state,
        reason_code,
        note,
        output,
        time_spent,
        settles_at,
        now,
        // After a skip, the next item is another one.
        skipped: if action == Action::Release { item_id } else { 0 },
        workflow: workflow.clone(),
    };
    match decider.write(plan).await? {
        Written::Decided { decision_id, next } => Ok(Receipt {
            decision_id,
            item_id,
            slug: workflow.slug().to_owned(),
            kind: action.as_str().to_owned(),
            next_item: next.as_ref().map(|claimed| claimed.id),
            undo_until_ms: settles_at,
            next: match next {
                Some(claimed) => Some(claimed_item(db, &workflow, *claimed, now).await?),
                None => None,
            },
            undo: action.is_undoable().then(|| UndoOffer {
                decision_id,
                item_id,
                external_id: row.external_id,
                kind: action.as_str().to_owned(),
                undo_until_ms: settles_at,
                now_ms: now,
            }),
        }),
        // The lease changed since it was read (a double submit, an expiry): say what happened.
        Written::NotHeld => not_held(db, settings, &workflow, user, item_id, token, action).await,
    }
}

/// A decision ready to be written: checked and validated, needing only the write lock.
pub struct Plan {
    item_id: i64,
    user_id: i64,
    actor: audit::Actor,
    token: String,
    action: Action,
    next_state: ItemState,
    reason_code: Option<String>,
    note: Option<String>,
    output: Option<String>,
    time_spent: Option<i64>,
    settles_at: i64,
    now: i64,
    skipped: i64,
    workflow: std::sync::Arc<Workflow>,
}

impl Plan {
    pub fn user_id(&self) -> i64 {
        self.user_id
    }
}

/// The webhook subscriptions of the workflows whose events `plans` may emit: one read per
/// workflow for a whole group of decisions, inside its transaction.
pub async fn subscriptions_for(
    conn: &mut AnyConnection,
    plans: &[Plan],
) -> Result<HashMap<i64, Subscriptions>, AppError> {
    let mut found = HashMap::new();
    for plan in plans.iter().filter(|plan| plan.action.event().is_some()) {
        if let std::collections::hash_map::Entry::Vacant(slot) = found.entry(plan.workflow.id) {
            slot.insert(Subscriptions::load(conn, plan.workflow.id).await?);
        }
    }
    Ok(found)
}

/// What writing a [`Plan`] did.
#[derive(Debug, Clone)]
pub enum Written {
    /// Recorded, and the reviewer's next item leased (if the queue had one).
    Decided { decision_id: i64, next: Option<Box<Claimed>> },
    /// The lease was no longer the one the plan was made under; nothing was written.
    NotHeld,
}

/// Writes a group of decisions inside the caller's transaction: for each, the item's new state
/// (only while the lease is still the plan's), the decision, the audit entry, the lease of the
/// reviewer's next item, and the decision's webhook events. What each did, in the plans' order.
/// On SQLite a statement at a time (each is a call into the same process); on PostgreSQL the
/// whole group is one statement.
pub async fn write_plans(
    conn: &mut AnyConnection,
    db: &Db,
    plans: &[Plan],
    subscriptions: &HashMap<i64, Subscriptions>,
) -> Result<Vec<Written>, AppError> {
    // One lock order for every group (of this or another instance): the reviewers' ids.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| (plans[i].user_id, plans[i].item_id));
    let written = match db.backend() {
        Backend::Postgres => decide_group_in_one_statement(conn, plans, &order).await?,
        Backend::Sqlite => {
            let mut written = vec![Written::NotHeld; plans.len()];
            for &i in &order {
                written[i] = decide_step_by_step(conn, db, &plans[i]).await?;
            }
            written
        }
    };
    for &i in &order {
        enqueue_events(conn, &plans[i], &written[i], subscriptions).await?;
    }
    Ok(written)
}

/// The webhook events of a decision just written, for the endpoints that want them.
async fn enqueue_events(
    conn: &mut AnyConnection,
    plan: &Plan,
    written: &Written,
    subscriptions: &HashMap<i64, Subscriptions>,
) -> Result<(), AppError> {
    if let Written::Decided { decision_id, .. } = written
        && let (Some(event), Some(subscriptions)) = (plan.action.event(), subscriptions.get(&plan.workflow.id))
        && subscriptions.wants(event)
    {
        let view = crate::items::server::load_view(conn, plan.workflow.slug(), plan.item_id)
            .await?
            .ok_or_else(|| AppError::internal("item vanished"))?;
        crate::webhooks::server::enqueue_at(
            conn,
            subscriptions,
            event,
            &json!(view),
            plan.settles_at,
            Some(*decision_id),
        )
        .await?;
    }
    Ok(())
}

/// What the item becomes: its state, and the outcome and output when the decision ends its life.
fn item_outcome(plan: &Plan) -> (Option<&'static str>, Option<String>, Option<i64>) {
    let terminal = plan.next_state.is_terminal();
    (
        terminal.then(|| plan.next_state.as_str()),
        if terminal { plan.output.clone() } else { None },
        terminal.then_some(plan.now),
    )
}

/// The audit entry's detail: `{"decision": id, "reason_code": …, "time_spent_ms": …}`.
fn audit_detail(plan: &Plan, decision_id: i64) -> Value {
    json!({ "decision": decision_id, "reason_code": plan.reason_code, "time_spent_ms": plan.time_spent })
}

/// SQLite: a statement at a time (each is a call into the same process).
async fn decide_step_by_step(conn: &mut AnyConnection, db: &Db, plan: &Plan) -> Result<Written, AppError> {
    let Plan { item_id, user_id, action, now, settles_at, time_spent, .. } = *plan;
    let (outcome, final_output, decided_at) = item_outcome(plan);
    let updated = sqlx::query(
        "update items set state = $1, leased_by = null, lease_token = null, lease_expires_at = null, \
         claimed_at = null, outcome = $2, final_output = $3, decided_at = $4, updated_at = $5 \
         where id = $6 and state = 'claimed' and leased_by = $7 and lease_token = $8 and lease_expires_at > $5",
    )
    .bind(plan.next_state.as_str())
    .bind(outcome)
    .bind(final_output)
    .bind(decided_at)
    .bind(now)
    .bind(item_id)
    .bind(user_id)
    .bind(&plan.token)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(Written::NotHeld);
    }
    let (decision_id,): (i64,) = sqlx::query_as(
        "insert into decisions (item_id, workflow_id, actor_id, actor_label, kind, reason_code, note, output, \
         time_spent_ms, final, created_at, lease_token, settles_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning id",
    )
    .bind(item_id)
    .bind(plan.workflow.id)
    .bind(user_id)
    .bind(plan.actor.label())
    .bind(action.as_str())
    .bind(&plan.reason_code)
    .bind(&plan.note)
    .bind(&plan.output)
    .bind(time_spent)
    .bind(i32::from(action.is_final()))
    .bind(now)
    .bind(&plan.token)
    .bind(settles_at)
    .fetch_one(&mut *conn)
    .await?;
    if action != Action::Release {
        let subject = format!("item:{item_id}");
        let kind = format!("item.{}", action.as_str());
        audit::record(conn, &plan.actor, &kind, &subject, audit_detail(plan, decision_id)).await?;
    }
    // The next item is leased in the same transaction. The reviewer held this item, so no other:
    // no need to look for one they already hold.
    let next = lease_next(conn, db, &plan.workflow, user_id, plan.skipped, now).await?.map(Box::new);
    Ok(Written::Decided { decision_id, next })
}

/// PostgreSQL: the writes of [`decide_step_by_step`] for a whole group of plans in one
/// statement, so one round trip and one executor start a group rather than a decision. The
/// plans go in as a JSON array, in lock order (`order`). The statement's parts see one
/// snapshot: the decided items are still `claimed` there, so no claim picks one of them, and
/// nothing is claimed or recorded for a plan whose conditional update did not match. Each
/// workflow's waiting items are locked (skipping those other groups are claiming) and handed to
/// its decided plans in order.
async fn decide_group_in_one_statement(
    conn: &mut AnyConnection,
    plans: &[Plan],
    order: &[usize],
) -> Result<Vec<Written>, AppError> {
    let input: Vec<Value> = order
        .iter()
        .map(|&i| {
            let plan = &plans[i];
            let (outcome, final_output, decided_at) = item_outcome(plan);
            // The audit detail with the decision's id left to the statement: `{"decision":` id `,` tail.
            let detail = audit_detail(plan, 0).to_string();
            let tail = detail.strip_prefix(r#"{"decision":0,"#).ok_or_else(|| AppError::internal("audit detail"))?;
            Ok(json!({
                "ord": i,
                "item_id": plan.item_id,
                "user_id": plan.user_id,
                "token": plan.token,
                "now": plan.now,
                "next_state": plan.next_state.as_str(),
                "outcome": outcome,
                "final_output": final_output,
                "decided_at": decided_at,
                "workflow_id": plan.workflow.id,
                "actor_label": plan.actor.label(),
                "kind": plan.action.as_str(),
                "reason_code": plan.reason_code,
                "note": plan.note,
                "output": plan.output,
                "time_spent": plan.time_spent,
                "final": i32::from(plan.action.is_final()),
                "settles_at": plan.settles_at,
                "audited": plan.action != Action::Release,
                "audit_action": format!("item.{}", plan.action.as_str()),
                "audit_subject": format!("item:{}", plan.item_id),
                "audit_tail": tail,
                "new_token": new_token(),
                "lease_until": plan.now + plan.workflow.spec.lease_secs * 1000,
            }))
        })
        .collect::<Result<_, AppError>>()?;
    let rows: Vec<(i64, i64, Option<String>)> = sqlx::query_as(&format!(
        "with plans as materialized ( \
           select * from json_to_recordset($1::json) as p(ord bigint, item_id bigint, user_id bigint, token text, \
             now bigint, next_state text, outcome text, final_output text, decided_at bigint, workflow_id bigint, \
             actor_label text, kind text, reason_code text, note text, output text, time_spent bigint, \
             final bigint, settles_at bigint, audited boolean, audit_action text, audit_subject text, \
             audit_tail text, new_token text, lease_until bigint)), \
         decided as ( \
           update items i set state = p.next_state, leased_by = null, lease_token = null, lease_expires_at = null, \
             claimed_at = null, outcome = p.outcome, final_output = p.final_output, decided_at = p.decided_at, \
             updated_at = p.now \
           from plans p \
           where i.id = p.item_id and i.state = 'claimed' and i.leased_by = p.user_id and i.lease_token = p.token \
             and i.lease_expires_at > p.now \
           returning p.ord, p.token), \
         decision as ( \
           insert into decisions (item_id, workflow_id, actor_id, actor_label, kind, reason_code, note, output, \
             time_spent_ms, final, created_at, lease_token, settles_at) \
           select p.item_id, p.workflow_id, p.user_id, p.actor_label, p.kind, p.reason_code, p.note, p.output, \
             p.time_spent, p.final, p.now, p.token, p.settles_at \
           from decided d join plans p on p.ord = d.ord order by p.ord \
           returning id, lease_token), \
         audited as ( \
           insert into audit_events (at, actor_id, actor_label, action, subject, detail) \
           select p.now, p.user_id, p.actor_label, p.audit_action, p.audit_subject, \
             '{{\"decision\":' || n.id || ',' || p.audit_tail \
           from decision n join decided d on d.token = n.lease_token join plans p on p.ord = d.ord \
           where p.audited order by p.ord \
           returning id), \
         wanted as ( \
           select p.ord, p.workflow_id, p.user_id, p.new_token, p.lease_until, p.now, \
             row_number() over (partition by p.workflow_id order by p.ord) as n \
           from decided d join plans p on p.ord = d.ord), \
         picked as ( \
           select w.workflow_id, c.id, row_number() over (partition by w.workflow_id order by c.priority desc, c.id) as n \
           from (select workflow_id, count(*) as wanted from wanted group by workflow_id) w \
           cross join lateral ( \
             select id, priority from items where workflow_id = w.workflow_id and state = 'queued' \
             order by priority desc, id limit w.wanted for update skip locked) c), \
         next as ( \
           update items set state = 'claimed', leased_by = w.user_id, lease_token = w.new_token, \
             lease_expires_at = w.lease_until, claimed_at = w.now, updated_at = w.now \
           from wanted w join picked k on k.workflow_id = w.workflow_id and k.n = w.n \
           where items.id = k.id and items.state = 'queued' \
           returning w.ord, {CLAIMED_COLUMNS}) \
         select d.ord, n.id, (select row_to_json(x)::text from next x where x.ord = d.ord) \
         from decided d join decision n on n.lease_token = d.token",
    ))
    .bind(Value::Array(input).to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut written = vec![Written::NotHeld; plans.len()];
    for (ord, decision_id, next) in rows {
        let slot = usize::try_from(ord).ok().and_then(|i| written.get_mut(i));
        let slot = slot.ok_or_else(|| AppError::internal("a decision of no plan"))?;
        let next = next.map(|json| serde_json::from_str(&json)).transpose().map_err(AppError::internal)?;
        *slot = Written::Decided { decision_id, next };
    }
    Ok(written)
}

/// The answer to a decision whose lease is not the caller's (any more): the first answer again
/// when it repeats a decision already recorded under this lease, else a refusal saying why.
async fn not_held(
    db: &Db,
    settings: ReviewSettings,
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
            undo_until_ms: created_at + settings.undo_window_ms,
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
    let row: Option<(i64, i64, Option<i64>, String)> = sqlx::query_as(
        "select d.id, d.created_at, d.actor_id, d.kind from decisions d where d.lease_token = $1 \
         and not exists (select 1 from decisions u where u.undoes = d.id)",
    )
    .bind(token)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row
        .filter(|(_, _, actor, kind)| *actor == Some(user.id) && kind == action.as_str())
        .map(|(id, at, ..)| (id, at)))
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
    let earlier: Option<(String, Option<i64>, i64)> = sqlx::query_as(
        "select d.kind, d.actor_id, (select count(*) from decisions u where u.undoes = d.id) \
         from decisions d where d.lease_token = $1",
    )
    .bind(token)
    .fetch_optional(db.pool())
    .await?;
    let message = match earlier {
        Some((_, Some(actor), undone)) if actor == user.id && undone > 0 => {
            "You undid that decision, so the page you acted on is out of date: nothing was recorded.".to_owned()
        }
        Some((kind, ..)) if kind == "lease_expired" => {
            "Your lease on this item ran out and it went back to the queue: nothing was recorded.".to_owned()
        }
        Some((kind, Some(actor), _)) if actor == user.id => format!(
            "You already {} this item; your {} was not recorded.",
            Action::parse(&kind).map_or("decided", Action::past_tense),
            action.as_str()
        ),
        _ if state == "claimed" && leased_by.is_some_and(|id| id != user.id) => {
            "Another reviewer holds this item now: nothing was recorded.".to_owned()
        }
        _ => match ItemState::parse(state) {
            Some(s) if s.is_terminal() => "This item has already been decided: nothing was recorded.".to_owned(),
            _ => "You no longer hold this item (your lease ended): nothing was recorded.".to_owned(),
        },
    };
    Ok(AppError::conflict(message))
}

/// The prediction with the reviewer's edits applied. Each field is a JSON pointer into the
/// prediction; its text is read as the type the prediction has there.
pub fn corrected_prediction(prediction: &str, fields: &HashMap<String, String>) -> Result<Value, AppError> {
    let original: Value = serde_json::from_str(prediction).map_err(AppError::internal)?;
    let mut corrected = original.clone();
    for (pointer, raw) in fields {
        let name = format!("fields[{pointer}]");
        let slot = corrected
            .pointer_mut(pointer)
            .ok_or_else(|| AppError::invalid(&name, format!("The prediction has no field {pointer}.")))?;
        let raw = raw.trim();
        *slot = match slot {
            Value::Number(_) => raw
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(|n| if n.fract() == 0.0 && n.abs() < 9e15 { json!(n as i64) } else { json!(n) })
                .ok_or_else(|| AppError::invalid(&name, format!("{pointer} must be a number.")))?,
            Value::Bool(_) => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(AppError::invalid(&name, format!("{pointer} must be true or false."))),
            },
            Value::String(_) => Value::String(raw.to_owned()),
            Value::Null if raw.is_empty() => Value::Null,
            _ => serde_json::from_str(raw)
                .map_err(|e| AppError::invalid(&name, format!("{pointer} must be valid JSON: {e}.")))?,
        };
    }
    if corrected == original {
        return Err(AppError::invalid(
            "fields",
            "The correction changes nothing: approve the item instead, or change a field.",
        ));
    }
    Ok(corrected)
}

/// Takes back `decision_id` (the caller's own, still within its undo window): the item returns
/// to the caller under a new lease, the item they were given next goes back to its queue, and
/// the pending webhook events of the decision are withdrawn. Returns the item's page.
#[tracing::instrument(skip_all, fields(decision_id, user_id = user.id))]
pub async fn undo(db: &Db, user: &UserRecord, decision_id: i64) -> Result<(String, i64), AppError> {
    let now = now_ms();
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    type Row = (i64, i64, Option<i64>, String, Option<i64>);
    let decision: Option<Row> =
        sqlx::query_as("select item_id, workflow_id, actor_id, kind, settles_at from decisions where id = $1")
            .bind(decision_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (item_id, workflow_id, actor, kind, settles_at) =
        decision.ok_or_else(|| AppError::not_found("That decision"))?;
    if actor != Some(user.id) {
        return Err(AppError::Forbidden);
    }
    let workflow = crate::workflows::server::find_by_id_in(&mut tx, workflow_id)
        .await?
        .ok_or_else(|| AppError::not_found("That workflow"))?;
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
        sqlx::query_as(&format!("select state, assigned_to from items where id = $1{}", db.for_update()))
            .bind(item_id)
            .fetch_one(&mut *tx)
            .await?;
    if !Action::parse(&kind).is_some_and(Action::is_undoable) {
        return Err(AppError::conflict("Only an approval, rejection, correction or escalation can be undone."));
    }
    let state = ItemState::parse(&state).ok_or_else(|| AppError::internal("unknown item state"))?;
    state.apply(Action::Undo, assigned_to.is_some()).map_err(|e| AppError::conflict(e.to_string()))?;
    // The item handed out after the decision goes back to the queue it came from.
    let handed: Vec<(i64, Option<String>, Option<i64>)> = sqlx::query_as(
        "select id, lease_token, assigned_to from items where leased_by = $1 and state = 'claimed' and workflow_id = $2",
    )
    .bind(user.id)
    .bind(workflow_id)
    .fetch_all(&mut *tx)
    .await?;
    for (other, token, assigned) in handed {
        let lease = Lease { item_id: other, workflow_id, token, assigned: assigned.is_some() };
        end_lease(&mut tx, &lease, Some(user), Action::Release, now).await?;
    }
    sqlx::query(
        "insert into decisions (item_id, workflow_id, actor_id, actor_label, kind, final, created_at, undoes, settles_at) \
         values ($1, $2, $3, $4, 'undo', 0, $5, $6, $5)",
    )
    .bind(item_id)
    .bind(workflow_id)
    .bind(user.id)
    .bind(&user.email)
    .bind(now)
    .bind(decision_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("delete from webhook_outbox where decision_id = $1 and status = 'pending'")
        .bind(decision_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "update items set state = 'claimed', leased_by = $1, lease_token = $2, lease_expires_at = $3, claimed_at = $4, \
         outcome = null, final_output = null, decided_at = null, updated_at = $4 where id = $5",
    )
    .bind(user.id)
    .bind(new_token())
    .bind(now + workflow.spec.lease_secs * 1000)
    .bind(now)
    .bind(item_id)
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, &user.actor(), "item.undo", &format!("item:{item_id}"), json!({ "decision": decision_id }))
        .await?;
    tx.commit().await?;
    Ok((workflow.slug().to_owned(), item_id))
}

/// A lease being ended.
struct Lease {
    item_id: i64,
    workflow_id: i64,
    token: Option<String>,
    assigned: bool,
}

/// Ends a lease and records why: `release` by the reviewer, `lease_expired` by the system
/// (`by` is `None`). The item goes back to where it waited.
async fn end_lease(
    conn: &mut AnyConnection,
    lease: &Lease,
    by: Option<&UserRecord>,
    action: Action,
    now: i64,
) -> Result<(), AppError> {
    let back = ItemState::Claimed.apply(action, lease.assigned).map_err(|e| AppError::internal(e.to_string()))?;
    sqlx::query(
        "update items set state = $1, leased_by = null, lease_token = null, lease_expires_at = null, \
         claimed_at = null, updated_at = $2 where id = $3",
    )
    .bind(back.as_str())
    .bind(now)
    .bind(lease.item_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into decisions (item_id, workflow_id, actor_id, actor_label, kind, final, created_at, lease_token, settles_at) \
         values ($1, $2, $3, $4, $5, 0, $6, $7, $6)",
    )
    .bind(lease.item_id)
    .bind(lease.workflow_id)
    .bind(by.map(|u| u.id))
    .bind(by.map_or("system", |u| u.email.as_str()))
    .bind(action.as_str())
    .bind(now)
    .bind(&lease.token)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Returns every item whose lease ended before `now` to its queue, recording `lease_expired`.
/// Safe to run on several instances at once. Returns how many leases it ended.
pub async fn expire_leases(db: &Db, now: i64) -> Result<usize, AppError> {
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    let expired: Vec<(i64, i64, Option<String>, Option<i64>)> = sqlx::query_as(&format!(
        "select id, workflow_id, lease_token, assigned_to from items where state = 'claimed' and lease_expires_at <= $1 \
         order by lease_expires_at limit 500{}",
        skip_locked(db)
    ))
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    for (item_id, workflow_id, token, assigned_to) in &expired {
        let lease = Lease {
            item_id: *item_id,
            workflow_id: *workflow_id,
            token: token.clone(),
            assigned: assigned_to.is_some(),
        };
        end_lease(&mut tx, &lease, None, Action::ExpireLease, now).await?;
    }
    tx.commit().await?;
    if !expired.is_empty() {
        tracing::info!(count = expired.len(), "expired review leases returned to their queues");
    }
    Ok(expired.len())
}

/// Runs [`expire_leases`] every `every` until the process ends.
pub async fn sweep_leases(db: Db, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = expire_leases(&db, now_ms()).await {
            tracing::warn!(%error, "lease sweep failed; retrying");
        }
    }
}

/// The undo banner for a decision of the caller's, while it can still be undone.
pub async fn undo_offer(db: &Db, user: &UserRecord, decision_id: i64) -> Result<Option<UndoOffer>, AppError> {
    let now = now_ms();
    type Row = (i64, String, String, Option<i64>, Option<i64>, i64);
    let row: Option<Row> = sqlx::query_as(
        "select d.item_id, i.external_id, d.kind, d.actor_id, d.settles_at, \
         (select count(*) from decisions u where u.undoes = d.id) \
         from decisions d join items i on i.id = d.item_id where d.id = $1",
    )
    .bind(decision_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.and_then(|(item_id, external_id, kind, actor, settles_at, undone)| {
        let open = actor == Some(user.id)
            && undone == 0
            && Action::parse(&kind).is_some_and(Action::is_undoable)
            && settles_at.unwrap_or(0) > now;
        open.then(|| UndoOffer {
            decision_id,
            item_id,
            external_id,
            kind,
            undo_until_ms: settles_at.unwrap_or(now),
            now_ms: now,
        })
    }))
}

/// A lead hands an item to one reviewer (a member of its workflow).
pub async fn assign(db: &Db, lead: &UserRecord, item_id: i64, assignee: &UserRecord) -> Result<(), AppError> {
    let now = now_ms();
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    let row: Option<(i64, String)> =
        sqlx::query_as(&format!("select workflow_id, state from items where id = $1{}", db.for_update()))
            .bind(item_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (workflow_id, state) = row.ok_or_else(|| AppError::not_found("That item"))?;
    let workflow = crate::workflows::server::find_by_id_in(&mut tx, workflow_id)
        .await?
        .ok_or_else(|| AppError::not_found("That workflow"))?;
    if lead.role != crate::domain::Role::Admin {
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
    sqlx::query(
        "insert into decisions (item_id, workflow_id, actor_id, actor_label, kind, note, final, created_at, settles_at) \
         values ($1, $2, $3, $4, 'assign', $5, 0, $6, $6)",
    )
    .bind(item_id)
    .bind(workflow_id)
    .bind(lead.id)
    .bind(&lead.email)
    .bind(format!("to {}", assignee.email))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, &lead.actor(), "item.assign", &format!("item:{item_id}"), json!({ "to": assignee.email }))
        .await?;
    tx.commit().await?;
    Ok(())
}
