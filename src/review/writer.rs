//! Group commit for decisions: writer tasks drain every decision waiting at that
//! moment (up to [`MAX_GROUP`]) into one write transaction (through the shared
//! [`GroupCommit`]) and answer each reviewer after the commit.
//!
//! SQLite has one write lock, and a decision touches the same few pages as its neighbours (the
//! newest decisions and audit entries, the small lease indexes), so many decisions in one
//! transaction cost little more than one. Each decision is still conditional on its own lease
//! ([`server::write_plans`]): one that lost its lease writes nothing and the others go on. A
//! database error fails its group (those reviewers get a 500; nothing of the group is stored).
//! On PostgreSQL two writers take turns at the queue: one group is written while the next
//! gathers, each group is one statement, and each commit (one WAL flush) serves a whole group.
//! Decisions go in in the order of their reviewers' ids, so groups (of this or another
//! instance) take their row locks in one order. Two groups only meet on one item through a
//! double submit; were PostgreSQL ever to see a deadlock there, it fails one of the groups,
//! as any database error does.

use super::server::{self, Plan, Written};
use crate::error::AppError;
use crate::server::db::{Backend, Db};
use crate::server::group_commit::GroupCommit;
use futures_util::future::BoxFuture;
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

/// Writes the group in one transaction, in the order of the reviewers' ids (one lock order for
/// every group); the results in the plans' order.
async fn write_group(db: &Db, plans: &[Plan]) -> Result<Vec<Written>, AppError> {
    // Other SQLite writers of this process (ingest, claims, the lease sweeper) take turns with it.
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    let subscriptions = server::subscriptions_for(&mut tx, plans).await?;
    let results = server::write_plans(&mut tx, db, plans, &subscriptions).await?;
    tx.commit().await?;
    Ok(results)
}
