//! Group commit for single submits: one writer task per process drains every submission waiting
//! at that moment (up to [`MAX_GROUP`]) into one write transaction and answers each caller after
//! the commit.
//!
//! Each submission is validated and routed by its own request first (in parallel); the writer
//! only writes. The outcome for every caller is the one it would get alone (see
//! [`write_group`]): created, the stored item again, or a conflict. A database error rolls
//! back the group it happened in; its submissions are then written one by one, so that only a
//! submission that fails alone fails its caller (see [`GroupCommit`]). An
//! answer is sent only after the commit, so an acknowledged item survives a kill of the process.
//! Several instances may run side by side: this only batches within one process.

use super::ingest::write_group;
use super::submission::{Prepared, Submission, prepare_one};
use super::view::Ingested;
use crate::error::AppError;
use crate::storage::db::{Backend, Db};
use crate::storage::group_commit::GroupCommit;
use crate::workflows::contract::ContractCache;
use crate::workflows::server::Workflow;
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// The most submissions written in one transaction.
pub const MAX_GROUP: usize = 512;
const _: () = assert!(MAX_GROUP <= super::insert::MAX_ROWS);

type Job = (Arc<Workflow>, Prepared);

fn write<'a>(db: &'a Db, subs: &'a [Job]) -> BoxFuture<'a, Result<Vec<Result<Ingested, AppError>>, AppError>> {
    Box::pin(async move {
        let group: Vec<(&Workflow, &Prepared)> = subs.iter().map(|(w, p)| (&**w, p)).collect();
        write_group(db, &group).await
    })
}

/// The handle requests submit through; cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    writer: GroupCommit<Job, Result<Ingested, AppError>>,
}

impl Ingestor {
    /// Starts the writer tasks on the current Tokio runtime: one on SQLite (it has one write lock
    /// anyway), two on PostgreSQL (one group is written while the next is being sent). They end
    /// when the last handle is dropped, after writing what was queued.
    pub fn start(db: Db) -> Self {
        let writers = match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        };
        Self { writer: GroupCommit::start(db, "ingest", writers, MAX_GROUP, Arc::new(write)) }
    }

    /// Validates, routes and stores one submission (see [`super::ingest::ingest_one`] for the rules).
    pub async fn submit(
        &self,
        cache: &ContractCache,
        workflow: Arc<Workflow>,
        sub: Submission,
    ) -> Result<Ingested, AppError> {
        let prepared = prepare_one(cache, &workflow, sub)?;
        self.writer.submit((workflow, prepared)).await?
    }
}
