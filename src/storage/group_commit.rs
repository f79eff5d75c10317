//! Group commit: writer tasks that take every job waiting at that moment (up to a limit) into
//! one write transaction and answer each caller after the commit.
//!
//! The caller does whatever needs no lock first (validation, reads); the writer only writes. The
//! write function decides each job's own outcome; a database error (or a panic) rolls back the
//! group it happened in, whose jobs are then written again one by one, so that only the caller
//! whose job fails alone gets the error. An answer is sent only after
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
        match write_guarded(&db, &write, &inputs, what).await {
            Ok(outputs) => {
                for (reply, output) in replies.into_iter().zip(outputs) {
                    // The caller may have gone (client disconnected): the write stands anyway.
                    let _ = reply.send(Ok(output));
                }
            }
            Err(error) => {
                // Nothing of the group was committed. One caller's bad job must not fail the
                // others: each is written again on its own, and only a job that fails alone
                // fails its caller.
                let grouped = inputs.len() > 1;
                if grouped {
                    tracing::warn!(%error, jobs = inputs.len(), "a {what} group failed: writing its jobs one by one");
                }
                for (i, reply) in replies.into_iter().enumerate() {
                    // A lone job's group was its first try alone.
                    let mut alone =
                        if grouped { write_one(&db, &write, &inputs[i..=i], what).await } else { Err(error.clone()) };
                    if alone.as_ref().is_err_and(AppError::may_succeed_again) {
                        alone = write_one(&db, &write, &inputs[i..=i], what).await;
                    }
                    if let Err(error) = &alone {
                        tracing::warn!(%error, "a {what} job failed");
                    }
                    let _ = reply.send(alone);
                }
            }
        }
    }
}

/// One job written alone, in its own transaction. A job whose first try alone failed on the
/// database's side is tried once more before its caller hears of it: PostgreSQL breaks a deadlock
/// (two transactions waiting on each other's rows, here the hourly rollups that every write
/// updates) by rolling one back, whose write then goes through, and the rolled back try left
/// nothing behind.
fn write_one<'a, I, O>(
    db: &'a Db,
    write: &WriteGroup<I, O>,
    input: &'a [I],
    what: &'static str,
) -> impl Future<Output = Result<O, AppError>> + Send + 'a
where
    O: 'a,
{
    let written = write_guarded(db, write, input, what);
    async move {
        written.await.and_then(|mut one| {
            one.pop().ok_or_else(|| AppError::internal(format!("the {what} writer gave no answer")))
        })
    }
}

/// One write of `inputs` in one transaction; a panic inside it becomes an internal error.
fn write_guarded<'a, I, O>(
    db: &'a Db,
    write: &WriteGroup<I, O>,
    inputs: &'a [I],
    what: &'static str,
) -> impl Future<Output = Result<Vec<O>, AppError>> + Send + 'a
where
    O: 'a,
{
    // Only the write's own (Send) future is held across the await, not the inputs.
    let (written, jobs) = (write(db, inputs), inputs.len());
    async move {
        match AssertUnwindSafe(written).catch_unwind().await {
            Ok(written) => written,
            Err(_) => Err(AppError::internal(format!("a {what} write panicked ({jobs} jobs)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::join_all;

    /// A writer whose group fails (or panics) when any job in it is bad, as a database refusing
    /// one row fails the whole transaction.
    fn picky(panics: bool) -> WriteGroup<i64, i64> {
        Arc::new(move |_db: &Db, inputs: &[i64]| {
            let inputs = inputs.to_vec();
            Box::pin(async move {
                // Give every job time to join the group.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if inputs.iter().any(|n| *n < 0) {
                    if panics {
                        panic!("bad job");
                    }
                    return Err(AppError::invalid("n", "negative"));
                }
                Ok(inputs.iter().map(|n| n * 10).collect())
            })
        })
    }

    /// A writer whose database fails the first `fails` transactions with `error`, whatever is in
    /// them, as PostgreSQL rolls back one side of a deadlock (`Busy`) or a connection drops
    /// (`Internal`).
    fn flaky(fails: usize, error: AppError) -> (WriteGroup<i64, i64>, Arc<std::sync::atomic::AtomicUsize>) {
        let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = tries.clone();
        let write: WriteGroup<i64, i64> = Arc::new(move |_db: &Db, inputs: &[i64]| {
            let inputs = inputs.to_vec();
            let (tries, error) = (counted.clone(), error.clone());
            Box::pin(async move {
                if tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < fails {
                    return Err(error);
                }
                Ok(inputs.iter().map(|n| n * 10).collect())
            })
        });
        (write, tries)
    }

    #[tokio::test]
    async fn a_job_rolled_back_by_the_database_is_written_once_more() {
        for error in [AppError::Busy { retry_after_secs: 1 }, AppError::Internal] {
            // Alone: its one failure is followed by one more try, which goes through.
            let (write, tries) = flaky(1, error.clone());
            let writer = GroupCommit::start(scratch_db().await, "test", 1, 64, write);
            assert_eq!(writer.submit(7).await, Ok(70));
            assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 2);
            // A job that fails every time still fails its caller, after two tries alone.
            let (write, tries) = flaky(usize::MAX, error.clone());
            let writer = GroupCommit::start(scratch_db().await, "test", 1, 64, write);
            assert_eq!(writer.submit(7).await, Err(error));
            assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 2);
        }
        // A refusal of the job itself is final: tried once, alone.
        let (write, tries) = flaky(usize::MAX, AppError::conflict("already decided"));
        let writer = GroupCommit::start(scratch_db().await, "test", 1, 64, write);
        assert_eq!(writer.submit(7).await, Err(AppError::conflict("already decided")));
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    async fn scratch_db() -> Db {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let path = std::env::temp_dir().join(format!("gatehouse-group-commit-{nanos}-{}.db", std::process::id()));
        Db::connect(&format!("sqlite://{}", path.display())).await.unwrap()
    }

    #[tokio::test]
    async fn one_bad_job_fails_only_its_own_caller() {
        for panics in [false, true] {
            let writer = GroupCommit::start(scratch_db().await, "test", 1, 64, picky(panics));
            let answers = join_all([1, 2, -3, 4, 5].map(|n| writer.submit(n))).await;
            assert_eq!(answers[0], Ok(10));
            assert_eq!(answers[1], Ok(20));
            assert!(answers[2].is_err(), "{answers:?}");
            assert_eq!(answers[3], Ok(40));
            assert_eq!(answers[4], Ok(50));
        }
    }
}
