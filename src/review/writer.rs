//! Group commit for decisions on SQLite: one writer task drains every decision waiting at that
//! moment (up to [`MAX_GROUP`]) into one write transaction and answers each reviewer after the
//! commit.
//!
//! SQLite has one write lock, and a decision touches the same few pages as its neighbours (the
//! newest decisions and audit entries, the small lease indexes), so many decisions in one
//! transaction cost little more than one. Each decision is still conditional on its own lease
//! ([`server::write_plan`]): one that lost its lease writes nothing and the others go on. A
//! database error fails its group (those reviewers get a 500; nothing of the group is stored).
//! On PostgreSQL two writers take turns at the queue: one group is written while the next
//! gathers, and each commit (one WAL flush) serves a whole group. Within a group, decisions are
//! written in the order of their reviewers' ids, so groups (of this or another instance) take
//! their row locks in one order and cannot deadlock.

use super::server::{self, Plan, Written};
use crate::error::AppError;
use crate::server::db::{Backend, Db};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The most decisions written in one transaction.
pub const MAX_GROUP: usize = 128;

struct Job {
    plan: Plan,
    reply: oneshot::Sender<Result<Written, AppError>>,
}

/// The handle decisions are written through; cheap to clone.
#[derive(Clone)]
pub struct Decider {
    jobs: mpsc::Sender<Job>,
}

impl Decider {
    /// Starts the writer tasks on the current Tokio runtime (one on SQLite, two on PostgreSQL);
    /// they end when the last handle is dropped, after writing what was queued.
    pub fn start(db: Db) -> Self {
        let (jobs, queue) = mpsc::channel(4 * MAX_GROUP);
        let queue = Arc::new(Mutex::new(queue));
        let writers = match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        };
        for _ in 0..writers {
            tokio::spawn(run(db.clone(), queue.clone()));
        }
        Self { jobs }
    }

    /// Writes one decision (with others waiting at the same moment) and answers after the commit.
    pub async fn write(&self, plan: Plan) -> Result<Written, AppError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { plan, reply }).await.map_err(|_| AppError::internal("the decision writer has stopped"))?;
        answer.await.map_err(|_| AppError::internal("the decision writer dropped a decision"))?
    }
}

async fn run(db: Db, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    loop {
        // Whatever is waiting, at least one; the other writer waits for the queue meanwhile.
        if queue.lock().await.recv_many(&mut jobs, MAX_GROUP).await == 0 {
            return;
        }
        // One lock order for every group: by reviewer.
        jobs.sort_by_key(|job| job.plan.user_id());
        let written = AssertUnwindSafe(write_group(&db, &jobs)).catch_unwind().await;
        match written {
            Ok(Ok(results)) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    // The reviewer may have gone (closed the tab): the decision is stored anyway.
                    let _ = job.reply.send(Ok(result));
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, decisions = jobs.len(), "a decision group failed");
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(error.clone()));
                }
            }
            Err(_) => {
                tracing::error!(decisions = jobs.len(), "a decision group panicked");
                // Dropping the replies answers each reviewer with an internal error.
                jobs.clear();
            }
        }
    }
}

async fn write_group(db: &Db, jobs: &[Job]) -> Result<Vec<Written>, AppError> {
    // Other SQLite writers of this process (ingest, claims, the lease sweeper) take turns with it.
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        results.push(server::write_plan(&mut tx, db, &job.plan).await?);
    }
    tx.commit().await?;
    Ok(results)
}
