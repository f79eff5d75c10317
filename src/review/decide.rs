//! Deciding a leased item: approve, reject with a reason, correct, escalate with a note, or skip.
//! Everything that needs no lock (the item, its workflow, the verdict's validation) happens here,
//! before the write; the group writer then records the decision only while the lease is still
//! this one, so the time spent holding SQLite's write lock stays short.

use super::item_view::claimed_item;
use super::not_held::not_held;
use super::plan::{Plan, Written};
use super::writer::Decider;
use super::{Receipt, UndoOffer};
use crate::domain::item_state::{Action, ItemState};
use crate::domain::{correction, text};
use crate::error::AppError;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::cache::{self, WorkflowCache};
use crate::workflows::contract::ContractCache;
use crate::workflows::membership::require_listed;
use crate::workflows::server::Workflow;
use serde_json::Value;
use std::collections::HashMap;

/// What deciding needs of the application: the database, the caches a decision reads its
/// workflow and contract from, the group writer, and how long a decision may be undone.
#[derive(Clone, Copy)]
pub struct ReviewCtx<'a> {
    pub db: &'a Db,
    pub contracts: &'a ContractCache,
    pub workflows: &'a WorkflowCache,
    pub decider: &'a Decider,
    /// How long a human decision may be undone; its webhook waits as long.
    pub undo_window_ms: i64,
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
    pub fn action(&self) -> Action {
        match self {
            Verdict::Approve => Action::Approve,
            Verdict::Reject { .. } => Action::Reject,
            Verdict::Correct { .. } => Action::Correct,
            Verdict::Escalate { .. } => Action::Escalate,
            Verdict::Release => Action::Release,
        }
    }
}

/// What a valid verdict records: its reason code, note and output (JSON).
#[derive(Debug, Default, PartialEq)]
pub struct Recorded {
    pub reason_code: Option<String>,
    pub note: Option<String>,
    pub output: Option<String>,
}

/// Checks a verdict against the workflow (its reason codes, its contract for a correction) and
/// says what it records; each refusal names its form field.
pub fn validate(
    verdict: &Verdict,
    workflow: &Workflow,
    contracts: &ContractCache,
    payload: &str,
    prediction: &str,
) -> Result<Recorded, AppError> {
    Ok(match verdict {
        Verdict::Approve => Recorded { output: Some(prediction.to_owned()), ..Recorded::default() },
        Verdict::Reject { reason_code, note } => {
            let codes = &workflow.spec.reason_codes;
            if !codes.is_empty() && !codes.contains(reason_code) {
                return Err(AppError::invalid(
                    "reason_code",
                    format!("Choose one of the workflow's reasons: {}.", codes.join(", ")),
                ));
            }
            if reason_code.trim().is_empty() {
                return Err(AppError::invalid("reason_code", "Choose a reason for the rejection."));
            }
            if reason_code.len() > 100 || !text::is_one_line(reason_code) {
                return Err(AppError::invalid("reason_code", "A reason is one line of at most 100 characters."));
            }
            let note = note.clone().filter(|n| !n.trim().is_empty());
            if let Some(note) = &note {
                check_note(note)?;
            }
            Recorded { reason_code: Some(reason_code.clone()), note, output: None }
        }
        Verdict::Correct { fields } => {
            let prediction: Value = serde_json::from_str(prediction).map_err(AppError::internal)?;
            let corrected = correction::apply(&prediction, fields)?;
            let contract =
                contracts.get_or_compile((workflow.id, workflow.settings_version), || workflow.contract())?;
            let payload: Value = serde_json::from_str(payload).map_err(AppError::internal)?;
            contract.check(&payload, &corrected).map_err(correction::contract_error)?;
            Recorded { output: Some(corrected.to_string()), ..Recorded::default() }
        }
        Verdict::Escalate { note } => {
            let note = note.trim();
            if note.is_empty() {
                return Err(AppError::invalid("note", "Say why you escalate: the lead reads it first."));
            }
            check_note(note)?;
            Recorded { note: Some(note.to_owned()), ..Recorded::default() }
        }
        Verdict::Release => Recorded::default(),
    })
}

/// The longest note a decision keeps, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// A note's limits, for every form that takes one: its length and no control characters.
pub fn check_note(note: &str) -> Result<(), AppError> {
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(AppError::invalid("note", format!("Keep the note to {MAX_NOTE_CHARS} characters.")));
    }
    if !text::is_lines(note) {
        return Err(AppError::invalid("note", "The note cannot contain control characters."));
    }
    Ok(())
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

/// Records `verdict` on an item leased to `user` under `token` and leases the next item, in one
/// transaction. A repeat of the same verdict under the same token (a double submit) answers as
/// the first did.
#[tracing::instrument(skip_all, fields(item_id, user_id = user.id))]
pub async fn decide(
    ctx: &ReviewCtx<'_>,
    user: &UserRecord,
    item_id: i64,
    token: &str,
    verdict: Verdict,
) -> Result<Receipt, AppError> {
    let db = ctx.db;
    let row: Option<DecidingRow> = sqlx::query_as(
        "select w.slug, i.external_id, i.state, i.leased_by, i.lease_token, i.lease_expires_at, i.claimed_at, \
         i.assigned_to, i.payload, i.prediction from items i join workflows w on w.id = i.workflow_id where i.id = $1",
    )
    .bind(item_id)
    .fetch_optional(db.pool())
    .await?;
    let row = row.ok_or_else(|| AppError::not_found("That item"))?;
    let workflow = cache::by_slug(db, ctx.workflows, &row.slug).await?;
    require_listed(&workflow, user)?;
    let action = match &verdict {
        // A rejection for a reason the workflow escalates on goes to a lead instead of settling
        // the item; the escalate decision keeps the reason code and the note. An item a lead
        // assigned has been through a lead already: its rejection settles it.
        Verdict::Reject { reason_code, .. }
            if row.assigned_to.is_none() && workflow.spec.escalation_rules().reject_escalates(reason_code) =>
        {
            Action::Escalate
        }
        _ => verdict.action(),
    };
    let now = now_ms();
    if row.lease_token.as_deref() != Some(token) || row.leased_by != Some(user.id) {
        return not_held(db, ctx.undo_window_ms, &workflow, user, item_id, token, action).await;
    }
    if row.lease_expires_at.unwrap_or(0) <= now {
        return Err(AppError::conflict(
            "Your lease on this item ran out and it went back to the queue: nothing was recorded.",
        ));
    }
    let state = ItemState::parse(&row.state).ok_or_else(|| AppError::internal("unknown item state"))?;
    let next_state = state.apply(action, row.assigned_to.is_some()).map_err(|e| AppError::conflict(e.to_string()))?;
    let Recorded { reason_code, note, output } =
        validate(&verdict, &workflow, ctx.contracts, &row.payload, &row.prediction)?;
    let settles_at = now + if action == Action::Release { 0 } else { ctx.undo_window_ms };
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
    match ctx.decider.write(plan).await? {
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
        Written::NotHeld => not_held(db, ctx.undo_window_ms, &workflow, user, item_id, token, action).await,
    }
}
