//! Ingest: one submission or a batch, validated and routed first, then written in one
//! transaction; idempotent on each item's `external_id`.

use super::insert::insert_group;
use super::submission::{Prepared, Submission, contract_for, prepare, prepare_one};
use super::view::Ingested;
use crate::error::AppError;
use crate::storage::db::Db;
use crate::workflows::contract::ContractCache;
use crate::workflows::server::Workflow;
use serde::Serialize;
use std::collections::HashMap;

/// The most items a batch may hold.
pub const MAX_BATCH: usize = 1000;
const _: () = assert!(MAX_BATCH <= super::insert::MAX_ROWS);

/// Submits one item. Idempotent on `external_id`: the same body again returns the stored item;
/// another body under the same id is a 409 and changes nothing.
#[tracing::instrument(skip_all, fields(workflow = workflow.slug(), external_id = %sub.external_id))]
pub async fn ingest_one(
    db: &Db,
    cache: &ContractCache,
    workflow: &Workflow,
    sub: Submission,
) -> Result<Ingested, AppError> {
    let prepared = prepare_one(cache, workflow, sub)?;
    write_group(db, &[(workflow, &prepared)]).await?.pop().unwrap_or_else(|| Err(AppError::internal("no result")))
}

/// Writes independent single submissions (of any workflows) in ONE transaction, with the same
/// outcome as writing them one after another: each gets its own result (created, the stored
/// item again, or a conflict), and one item's conflict does not affect the others. An error of
/// the database fails the whole group (nothing is stored). Commits before returning.
pub async fn write_group(
    db: &Db,
    group: &[(&Workflow, &Prepared)],
) -> Result<Vec<Result<Ingested, AppError>>, AppError> {
    let mut tx = db.begin_write().await?;
    let results = insert_group(&mut tx, db.backend(), group).await?;
    tx.commit().await?;
    Ok(results)
}

/// Per-item problems of a refused batch.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchProblem {
    pub index: usize,
    pub external_id: String,
    pub code: String,
    pub path: Option<String>,
    pub message: String,
}

#[derive(Debug)]
pub enum BatchError {
    /// Nothing was stored: these items are invalid (422) or conflict with stored ones (409).
    Items {
        status: u16,
        problems: Vec<BatchProblem>,
    },
    Other(AppError),
}

impl From<AppError> for BatchError {
    fn from(e: AppError) -> Self {
        BatchError::Other(e)
    }
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        BatchError::Other(e.into())
    }
}

/// Submits up to [`MAX_BATCH`] items: every item is validated first and, if any is refused,
/// nothing is stored; otherwise all are written in one transaction.
#[tracing::instrument(skip_all, fields(workflow = workflow.slug(), count = subs.len()))]
pub async fn ingest_batch(
    db: &Db,
    cache: &ContractCache,
    workflow: &Workflow,
    subs: Vec<Submission>,
) -> Result<Vec<Ingested>, BatchError> {
    if subs.is_empty() || subs.len() > MAX_BATCH {
        return Err(AppError::invalid(
            "/items",
            format!("/items must hold 1 to {MAX_BATCH} items (had {})", subs.len()),
        )
        .into());
    }
    let contract = contract_for(cache, workflow)?;
    let mut problems = Vec::new();
    let mut routes = Vec::with_capacity(subs.len());
    let mut digests = Vec::with_capacity(subs.len());
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, sub) in subs.iter().enumerate() {
        match prepare(workflow, &contract, sub) {
            Ok(r) => routes.push(r),
            Err(e) => problems.push(problem(index, sub, &e)),
        }
        digests.push(sub.digest());
        // The same external_id twice in one batch must carry the same body.
        if let Some(first) = seen.insert(&sub.external_id, index)
            && digests[first] != digests[index]
        {
            let e =
                AppError::conflict(format!("external_id '{}' appears twice with different bodies", sub.external_id));
            problems.push(problem(index, sub, &e));
        }
    }
    if !problems.is_empty() {
        let status = if problems.iter().all(|p| p.code == "conflict") { 409 } else { 422 };
        return Err(BatchError::Items { status, problems });
    }
    let prepared: Vec<Prepared> = subs
        .into_iter()
        .zip(routes)
        .zip(digests)
        .map(|((sub, route), digest)| Prepared::with_digest(sub, route, digest))
        .collect();
    let group: Vec<(&Workflow, &Prepared)> = prepared.iter().map(|p| (workflow, p)).collect();
    // A failure of the database rolled the whole batch back: it is tried again (see
    // `BATCH_TRIES`), and its caller hears of it only when every try failed.
    let mut tries = 1;
    loop {
        match write_batch(db, &group).await {
            Err(BatchError::Other(error)) if error.may_succeed_again() && tries < BATCH_TRIES => {
                tracing::warn!(tries, items = group.len(), "a batch was rolled back by the database: writing it again");
                tries += 1;
            }
            written => return written,
        }
    }
}

/// How many times a batch is written before its caller gets the database's error. On PostgreSQL
/// a batch can meet a decision on the same counter rows (shared by connections whose backend ids
/// are equal modulo 8), each holding one the other wants; PostgreSQL then rolls one back, which
/// left nothing behind and goes through when written again (migration 0019).
const BATCH_TRIES: usize = 3;

/// One try at writing a validated batch, in one transaction: every item, or (on a conflict with
/// stored items, or an error) none.
async fn write_batch(db: &Db, group: &[(&Workflow, &Prepared)]) -> Result<Vec<Ingested>, BatchError> {
    let mut tx = db.begin_write().await?;
    let written = insert_group(&mut tx, db.backend(), group).await?;
    let mut results = Vec::with_capacity(written.len());
    let mut problems = Vec::new();
    for (index, result) in written.into_iter().enumerate() {
        match result {
            Ok(result) => results.push(result),
            Err(e @ AppError::Conflict { .. }) => problems.push(problem(index, &group[index].1.sub, &e)),
            Err(e) => return Err(e.into()),
        }
    }
    if !problems.is_empty() {
        tx.rollback().await?;
        return Err(BatchError::Items { status: 409, problems });
    }
    tx.commit().await?;
    Ok(results)
}

fn problem(index: usize, sub: &Submission, e: &AppError) -> BatchProblem {
    BatchProblem {
        index,
        external_id: sub.external_id.clone(),
        code: e.code(),
        path: e.field().map(|p| format!("/items/{index}{p}")),
        message: e.to_string(),
    }
}
