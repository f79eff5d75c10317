//! Group commit: writer tasks that take every job waiting at that moment (up to a limit) into
//! one write transaction and answer each caller after the commit.
//!
//! The caller does whatever needs no lock first (validation, reads); the writer only writes. The
//! write function decides each job's own outcome; a database error (or a panic) fails the group
//! it happened in, and every caller of that group gets the error. An answer is sent only after
//! the commit, so an acknowledged write survives a kill of the process. Several instances may run
//! side by side: this only batches within one process.

use crate::error::AppError;
use crate::storage::db::Db;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Writes one group in one transaction: one output per input, in the inputs' order.
pub type WriteGroup<I, O> =
    Arc<dyn for<'a> Fn(&'a Db, &'a [I]) -> BoxFuture<'a, Result<Vec<O>, AppError>> + Send + Sync>;

struct Job<I, O> {
    input: I,
    reply: oneshot::Sender<Result<O, AppError>>,
}

/// The handle callers submit through; cheap to clone.
pub struct GroupCommit<I, O> {
    jobs: mpsc::Sender<Job<I, O>>,
    what: &'static str,
}

impl<I, O> Clone for GroupCommit<I, O> {
    fn clone(&self) -> Self {
        Self { jobs: self.jobs.clone(), what: self.what }
    }
}

impl<I: Send + 'static, O: Send + 'static> GroupCommit<I, O> {
    /// Starts `writers` writer tasks on the current Tokio runtime, writing groups of at most
    /// `max_group` with `write` (`what` names the jobs in logs and errors). They end when the
    /// last handle is dropped, after writing what was queued. With several writers, one group is
    /// written while the next gathers.
    pub fn start(db: Db, what: &'static str, writers: usize, max_group: usize, write: WriteGroup<I, O>) -> Self {
        let (jobs, queue) = mpsc::channel(4 * max_group);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..writers.max(1) {
            tokio::spawn(run(db.clone(), queue.clone(), max_group, write.clone(), what));
        }
        Self { jobs, what }
    }

    /// Writes `input` with whatever else is waiting; its output once the group has committed.
    pub async fn submit(&self, input: I) -> Result<O, AppError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { input, reply })
            .await
            .map_err(|_| AppError::internal(format!("the {} writer has stopped", self.what)))?;
        answer.await.map_err(|_| AppError::internal(format!("the {} writer dropped a job", self.what)))?
    }
}

async fn run<I, O>(
    db: Db,
    queue: Arc<Mutex<mpsc::Receiver<Job<I, O>>>>,
    max_group: usize,
    write: WriteGroup<I, O>,
    what: &'static str,
) {
    let mut jobs = Vec::with_capacity(max_group);
    loop {
        // Whatever is waiting, at least one; other writers wait for the queue meanwhile.
        if queue.lock().await.recv_many(&mut jobs, max_group).await == 0 {
            return;
        }
        let (inputs, replies): (Vec<I>, Vec<_>) = jobs.drain(..).map(|job| (job.input, job.reply)).unzip();
        let written = AssertUnwindSafe(write(&db, &inputs)).catch_unwind().await;
        match written {
            Ok(Ok(outputs)) => {
                for (reply, output) in replies.into_iter().zip(outputs) {
                    // The caller may have gone (client disconnected): the write stands anyway.
                    let _ = reply.send(Ok(output));
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, jobs = replies.len(), "a {what} group failed");
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
            // Dropping the replies answers each caller with an internal error.
            Err(_) => tracing::error!(jobs = replies.len(), "a {what} group panicked"),
        }
    }
}
