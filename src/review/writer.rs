//! The group writer of decisions: writer tasks drain every decision waiting at that moment (up
//! to [`MAX_GROUP`]) into one write transaction (through the shared [`GroupCommit`]) and answer
//! each reviewer after the commit.
//!
//! SQLite has one write lock, and a decision touches the same few pages as its neighbours (the
//! newest decisions and audit entries, the small lease indexes), so many decisions in one
//! transaction cost little more than one. Each decision is still conditional on its own lease:
//! one that lost its lease writes nothing and the others go on. A database error rolls back its
//! group, whose decisions are then written one by one, so that only a decision that fails alone
//! fails its reviewer ([`GroupCommit`]). On PostgreSQL two writers take
//! turns at the queue: one group is written while the next gathers, each group is one statement
//! ([`super::group_statement`]), and each commit (one WAL flush) serves a whole group. Decisions
//! go in in the order of their reviewers' ids, so groups (of this or another instance) take
//! their row locks in one order. Two groups only meet on one item through a double submit; were
//! PostgreSQL ever to see a deadlock there, it rolls back one of the groups, whose decisions are
//! written again one by one.

use super::claim::lease_next;
use super::group_statement::decide_group_in_one_statement;
use super::plan::{Plan, Written};
use crate::domain::item_state::state_sql;
use crate::error::AppError;
use crate::items::decisions::{self, NewDecision};
use crate::items::view::load_view;
use crate::storage::audit;
use crate::storage::db::{Backend, Db};
use crate::storage::group_commit::GroupCommit;
use crate::webhooks::outbox::{self, Subscriptions};
use futures_util::future::BoxFuture;
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::HashMap;
use std::sync::Arc;

/// The most decisions written in one transaction.
pub const MAX_GROUP: usize = 128;

/// The handle decisions are written through; cheap to clone.
#[derive(Clone)]
pub struct Decider {
    writer: GroupCommit<Plan, Written>,
}

impl Decider {
    /// Starts the writer tasks on the current Tokio runtime (one on SQLite, two on PostgreSQL);
    /// they end when the last handle is dropped, after writing what was queued.
    pub fn start(db: Db) -> Self {
        let writers = match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        };
        Self { writer: GroupCommit::start(db, "decision", writers, MAX_GROUP, Arc::new(write_boxed)) }
    }

    /// Writes one decision (with others waiting at the same moment) and answers after the commit.
    pub async fn write(&self, plan: Plan) -> Result<Written, AppError> {
        self.writer.submit(plan).await
    }
}

fn write_boxed<'a>(db: &'a Db, plans: &'a [Plan]) -> BoxFuture<'a, Result<Vec<Written>, AppError>> {
    Box::pin(write_group(db, plans))
}

/// Writes the group in one transaction; the results in the plans' order.
async fn write_group(db: &Db, plans: &[Plan]) -> Result<Vec<Written>, AppError> {
    let mut tx = db.begin_write().await?;
    let subscriptions = subscriptions_for(&mut tx, plans).await?;
    let results = write_plans(&mut tx, db.backend(), plans, &subscriptions).await?;
    tx.commit().await?;
    Ok(results)
}

/// The webhook subscriptions of the workflows whose events `plans` may emit: one read per
/// workflow for a whole group of decisions, inside its transaction.
async fn subscriptions_for(conn: &mut AnyConnection, plans: &[Plan]) -> Result<HashMap<i64, Subscriptions>, AppError> {
    let mut found = HashMap::new();
    for plan in plans.iter().filter(|plan| plan.action.event().is_some()) {
        if let std::collections::hash_map::Entry::Vacant(slot) = found.entry(plan.workflow.id) {
            slot.insert(Subscriptions::load(conn, plan.workflow.id).await?);
        }
    }
    Ok(found)
}

/// Writes a group of decisions inside the caller's transaction: for each, the item's new state
/// (only while the lease is still the plan's), the decision, the audit entry, the lease of the
/// reviewer's next item, and the decision's webhook events. What each did, in the plans' order.
/// On SQLite a statement at a time (each is a call into the same process); on PostgreSQL the
/// whole group is one statement.
async fn write_plans(
    conn: &mut AnyConnection,
    backend: Backend,
    plans: &[Plan],
    subscriptions: &HashMap<i64, Subscriptions>,
) -> Result<Vec<Written>, AppError> {
    // One lock order for every group (of this or another instance): the reviewers' ids.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| (plans[i].user_id, plans[i].item_id));
    let written = match backend {
        Backend::Postgres => decide_group_in_one_statement(conn, plans, &order).await?,
        Backend::Sqlite => {
            let mut written = vec![Written::NotHeld; plans.len()];
            for &i in &order {
                written[i] = decide_step_by_step(conn, backend, &plans[i]).await?;
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
        let view = load_view(conn, plan.workflow.slug(), plan.item_id)
            .await?
            .ok_or_else(|| AppError::internal("item vanished"))?;
        outbox::enqueue_at(conn, subscriptions, event, &json!(view), plan.settles_at, Some(*decision_id)).await?;
    }
    Ok(())
}

/// SQLite: a statement at a time (each is a call into the same process).
async fn decide_step_by_step(conn: &mut AnyConnection, backend: Backend, plan: &Plan) -> Result<Written, AppError> {
    let Plan { item_id, user_id, action, now, settles_at, time_spent, .. } = *plan;
    let (outcome, final_output, decided_at) = plan.item_outcome();
    let updated = sqlx::query(concat!(
        "update items set state = $1, leased_by = null, lease_token = null, lease_expires_at = null, \
         claimed_at = null, outcome = $2, final_output = $3, decided_at = $4, updated_at = $5 \
         where id = $6 and state = ",
        state_sql!(Claimed),
        " and leased_by = $7 and lease_token = $8 and lease_expires_at > $5"
    ))
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
    let decision = NewDecision {
        item_id,
        workflow_id: plan.workflow.id,
        actor_id: Some(user_id),
        actor_label: plan.actor.label(),
        kind: action.as_str(),
        reason_code: plan.reason_code.as_deref(),
        note: plan.note.as_deref(),
        output: plan.output.as_deref(),
        time_spent_ms: time_spent,
        is_final: action.is_final(),
        created_at: now,
        lease_token: Some(&plan.token),
        undoes: None,
        settles_at: Some(settles_at),
    };
    let decision_id = decisions::insert(conn, backend, &decision).await?;
    if let Some(kind) = plan.audit_action() {
        audit::record(
            conn,
            &plan.actor,
            Some(plan.workflow.id),
            &kind,
            &plan.audit_subject(),
            plan.audit_detail(decision_id),
        )
        .await?;
    }
    // The next item is leased in the same transaction. The reviewer held this item, so no other:
    // no need to look for one they already hold.
    let next = lease_next(conn, backend, &plan.workflow, user_id, plan.skipped, now).await?.map(Box::new);
    Ok(Written::Decided { decision_id, next })
}
