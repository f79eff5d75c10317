//! Group commit for single submits: one writer task per process drains every submission waiting
//! at that moment (up to [`MAX_GROUP`]) into one write transaction and answers each caller after
//! the commit.
//!
//! Each submission is validated and routed by its own request first (in parallel); the writer
//! only writes. The outcome for every caller is the one it would get alone (see
//! [`server::write_group`]): created, the stored item again, or a conflict. A database error
//! fails the group it happened in (its callers get a 500; nothing of that group is stored). An
//! answer is sent only after the commit, so an acknowledged item survives a kill of the process.
//! Several instances may run side by side: this only batches within one process.

use super::server::{self, Ingested, Prepared};
use crate::error::AppError;
use crate::server::db::{Backend, Db};
use crate::workflows::contract::ContractCache;
use crate::workflows::server::Workflow;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The most submissions written in one transaction.
pub const MAX_GROUP: usize = 512;

struct Job {
    workflow: Arc<Workflow>,
    prepared: Prepared,
    reply: oneshot::Sender<Result<Ingested, AppError>>,
}

/// The handle requests submit through; cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    jobs: mpsc::Sender<Job>,
}

impl Ingestor {
    /// Starts the writer tasks on the current Tokio runtime: one on SQLite (it has one write lock
    /// anyway), two on PostgreSQL (one group is written while the next is being sent). They end
    /// when the last handle is dropped, after writing what was queued.
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

    /// Validates, routes and stores one submission (see [`server::ingest_one`] for the rules).
    pub async fn submit(
        &self,
        cache: &ContractCache,
        workflow: Arc<Workflow>,
        sub: server::Submission,
    ) -> Result<Ingested, AppError> {
        let prepared = server::prepare_one(cache, &workflow, sub)?;
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { workflow, prepared, reply })
            .await
            .map_err(|_| AppError::internal("the ingest writer has stopped"))?;
        answer.await.map_err(|_| AppError::internal("the ingest writer dropped a submission"))?
    }
}

async fn run(db: Db, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    loop {
        // Whatever is waiting, at least one; other writers wait for the queue meanwhile.
        if queue.lock().await.recv_many(&mut jobs, MAX_GROUP).await == 0 {
            return;
        }
        let group: Vec<(&Workflow, &Prepared)> = jobs.iter().map(|j| (&*j.workflow, &j.prepared)).collect();
        let written = AssertUnwindSafe(server::write_group(&db, &group)).catch_unwind().await;
        drop(group);
        match written {
            Ok(Ok(results)) => {
                for (job, result) in jobs.drain(..).zip(results) {
                    // The caller may have gone (client disconnected): the item is stored anyway.
                    let _ = job.reply.send(result);
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, items = jobs.len(), "an ingest group failed");
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(error.clone()));
                }
            }
            Err(_) => {
                tracing::error!(items = jobs.len(), "an ingest group panicked");
                // Dropping the replies answers each caller with an internal error.
                jobs.clear();
            }
        }
    }
}
