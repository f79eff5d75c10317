//! Ingest (one item or a batch), reads, the item list and the decision feed.

use crate::domain::routing::{Destination, Route, RouteReason, route};
use crate::error::AppError;
use crate::server::db::{Backend, Db};
use crate::server::now_ms;
use crate::webhooks::server::Subscriptions;
use crate::workflows::contract::ContractCache;
use crate::workflows::server::Workflow;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use std::collections::HashMap;

pub const MAX_BATCH: usize = 1000;
const MAX_EXTERNAL_ID: usize = 256;

/// One submitted item, as the automation sends it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// Your id for the item, unique per workflow: submitting it again is idempotent.
    #[schema(example = "inv-2026-0001", max_length = 256)]
    pub external_id: String,
    /// What a reviewer needs to judge the output; must satisfy the workflow's payload schema.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The model's output; must satisfy the workflow's prediction schema (and label set).
    #[schema(value_type = Object)]
    pub prediction: Value,
    /// The model's confidence, from 0 to 1.
    #[schema(minimum = 0.0, maximum = 1.0, example = 0.93)]
    pub confidence: f64,
    #[serde(default)]
    pub model_version: Option<String>,
    /// Higher is reviewed first (-1000 to 1000).
    #[serde(default)]
    pub priority: i32,
    /// Anything you want back with the decision.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

impl Submission {
    /// Field checks that need no database; JSON paths name what failed.
    fn check(&self) -> Result<(), AppError> {
        if self.external_id.trim().is_empty() || self.external_id.len() > MAX_EXTERNAL_ID {
            return Err(AppError::invalid(
                "/external_id",
                format!("/external_id must be 1 to {MAX_EXTERNAL_ID} bytes"),
            ));
        }
        if !(self.confidence.is_finite() && (0.0..=1.0).contains(&self.confidence)) {
            return Err(AppError::invalid(
                "/confidence",
                format!("/confidence must be between 0 and 1 (was {})", self.confidence),
            ));
        }
        if self.model_version.as_ref().is_some_and(|v| v.len() > 200) {
            return Err(AppError::invalid("/model_version", "/model_version must be at most 200 bytes"));
        }
        if !(-1000..=1000).contains(&self.priority) {
            return Err(AppError::invalid("/priority", "/priority must be between -1000 and 1000"));
        }
        Ok(())
    }

    /// A digest of the submission, to tell a retry (same body) from a conflict (other body).
    fn digest(&self) -> String {
        hex::encode(Sha256::digest(serde_json::to_vec(self).unwrap_or_default()))
    }
}

/// A submission that passed every check and was routed, with what the write needs computed once
/// (outside the write transaction and the group writer).
#[derive(Debug)]
pub struct Prepared {
    sub: Submission,
    route: Route,
    digest: String,
    payload: String,
    prediction: String,
    metadata: Option<String>,
}

impl Prepared {
    fn new(sub: Submission, route: Route) -> Self {
        let digest = sub.digest();
        Self::with_digest(sub, route, digest)
    }

    fn with_digest(sub: Submission, route: Route, digest: String) -> Self {
        Self {
            digest,
            payload: sub.payload.to_string(),
            prediction: sub.prediction.to_string(),
            metadata: sub.metadata.as_ref().map(Value::to_string),
            sub,
            route,
        }
    }

    pub fn external_id(&self) -> &str {
        &self.sub.external_id
    }
}

/// A decision as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct DecisionView {
    pub id: i64,
    pub item_id: i64,
    /// `auto_approve`, `approve`, `reject`, `correct`, `escalate`, …
    pub kind: String,
    /// The reviewer's email, or `system`.
    pub actor: String,
    pub reason_code: Option<String>,
    pub note: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    pub time_spent_ms: Option<i64>,
    pub at: String,
}

/// An item as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ItemView {
    pub id: i64,
    pub workflow: String,
    pub external_id: String,
    pub state: String,
    pub outcome: Option<String>,
    pub route: Route,
    pub confidence: f64,
    pub model_version: Option<String>,
    pub priority: i32,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// The corrected output, or the prediction once approved.
    #[schema(value_type = Option<Object>)]
    pub final_output: Option<Value>,
    pub created_at: String,
    pub decided_at: Option<String>,
    /// The item's decisions, oldest first (on reads; on ingest, the auto-approval if any).
    pub decisions: Vec<DecisionView>,
}

/// The result of one submission: the item, and whether this call created it.
#[derive(Debug)]
pub struct Ingested {
    pub item: ItemView,
    pub created: bool,
}

pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn state_for(destination: Destination) -> &'static str {
    match destination {
        Destination::AutoApproved => "auto_approved",
        Destination::Review => "queued",
        Destination::Escalation => "escalated",
    }
}

/// Validates one submission against the workflow's contract and routes it (no IO).
fn prepare(
    workflow: &Workflow,
    contract: &crate::workflows::contract::Contract,
    sub: &Submission,
) -> Result<Route, AppError> {
    sub.check()?;
    contract.check(&sub.payload, &sub.prediction)?;
    Ok(route(&workflow.routing(), workflow.slug(), &sub.external_id, sub.confidence))
}

/// Validates and routes one submission for [`write`] (no IO).
pub fn prepare_one(cache: &ContractCache, workflow: &Workflow, sub: Submission) -> Result<Prepared, AppError> {
    let contract = contract_for(cache, workflow)?;
    let route = prepare(workflow, &contract, &sub)?;
    Ok(Prepared::new(sub, route))
}

fn contract_for(
    cache: &ContractCache,
    workflow: &Workflow,
) -> Result<std::sync::Arc<crate::workflows::contract::Contract>, AppError> {
    cache.get_or_compile((workflow.id, workflow.settings_version), || workflow.contract())
}

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
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    let results = write(&mut tx, db.backend(), group).await?;
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
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    let written = write(&mut tx, db.backend(), &group).await?;
    let mut results = Vec::with_capacity(written.len());
    for (index, result) in written.into_iter().enumerate() {
        match result {
            Ok(result) => results.push(result),
            Err(e @ AppError::Conflict { .. }) => problems.push(problem(index, &prepared[index].sub, &e)),
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

/// Multi-row inserts are cut into chunks of these sizes (largest first): a group of any size
/// uses a few statements of at most ten distinct texts, which stay in each connection's
/// statement cache. 512 rows of 19 parameters stay below SQLite's limit of 32,766.
const CHUNKS: [usize; 10] = [512, 256, 128, 64, 32, 16, 8, 4, 2, 1];

fn chunks(len: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for size in CHUNKS {
        while len - start >= size {
            ranges.push(start..start + size);
            start += size;
        }
    }
    ranges
}

/// `row` (with `?` for each parameter) repeated `rows` times: numbered `$1`, `$2`, … on
/// PostgreSQL, left as `?` on SQLite. (For a named or numbered parameter sqlx asks SQLite its
/// name, which SQLite finds by a linear scan: binding thousands of them costs quadratic time.)
fn values(backend: Backend, rows: usize, row: &str) -> String {
    if backend == Backend::Sqlite {
        return vec![row; rows].join(", ");
    }
    let mut sql = String::with_capacity(rows * (row.len() + 40));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        for c in row.chars() {
            if c == '?' {
                n += 1;
                sql.push('$');
                sql.push_str(&n.to_string());
            } else {
                sql.push(c);
            }
        }
    }
    sql
}

const ITEM_INSERT: &str = "insert into items (workflow_id, external_id, request_hash, payload, prediction, confidence, \
     model_version, priority, metadata, state, route_reason, review_probability, routing, settings_version, outcome, \
     final_output, created_at, updated_at, decided_at) values ";
const ITEM_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const DECISION_INSERT: &str =
    "insert into decisions (item_id, workflow_id, actor_label, kind, output, final, created_at) values ";
const DECISION_ROW: &str = "(?, ?, 'system', 'auto_approve', ?, 1, ?)";

/// Writes `group` inside the caller's transaction with multi-row inserts, with the outcome of
/// writing the items one after another: the first of each `(workflow, external_id)` is inserted
/// unless already stored; a later one, or one already stored, is the stored item again (same
/// body) or a conflict (other body). Database errors abort the whole group.
async fn write(
    conn: &mut AnyConnection,
    backend: Backend,
    group: &[(&Workflow, &Prepared)],
) -> Result<Vec<Result<Ingested, AppError>>, AppError> {
    let now = now_ms();
    let at = rfc3339(now);
    // Per workflow: the routing settings stamped on each item, and its webhook subscriptions.
    let mut per_workflow: HashMap<i64, (String, Subscriptions)> = HashMap::new();
    for (workflow, _) in group {
        if let std::collections::hash_map::Entry::Vacant(entry) = per_workflow.entry(workflow.id) {
            let subscriptions = Subscriptions::load(conn, workflow.id).await?;
            entry.insert((json!(workflow.routing()).to_string(), subscriptions));
        }
    }
    // The first of each (workflow, external_id) in the group: what is inserted, and the key of
    // everything below.
    let mut first_of: HashMap<i64, HashMap<&str, usize>> = HashMap::new();
    let mut unique = Vec::with_capacity(group.len());
    for (index, (workflow, p)) in group.iter().enumerate() {
        first_of.entry(workflow.id).or_default().entry(p.external_id()).or_insert_with(|| {
            unique.push(index);
            index
        });
    }
    let first = |workflow_id: i64, external_id: &str| first_of.get(&workflow_id)?.get(external_id).copied();
    // In key order: concurrent transactions (PostgreSQL, several instances) then take the
    // unique-index locks in the same order and cannot deadlock on each other.
    let key = |index: usize| (group[index].0.id, group[index].1.external_id());
    unique.sort_by(|&a, &b| key(a).cmp(&key(b)));

    let mut created: HashMap<usize, i64> = HashMap::with_capacity(unique.len());
    for range in chunks(unique.len()) {
        let rows = &unique[range];
        let sql = format!(
            "{ITEM_INSERT}{} on conflict (workflow_id, external_id) do nothing returning id, workflow_id, external_id",
            values(backend, rows.len(), ITEM_ROW)
        );
        let mut query = sqlx::query_as::<_, (i64, i64, String)>(&sql);
        for &index in rows {
            let (workflow, p) = group[index];
            let auto = p.route.destination == Destination::AutoApproved;
            query = query
                .bind(workflow.id)
                .bind(&p.sub.external_id)
                .bind(&p.digest)
                .bind(&p.payload)
                .bind(&p.prediction)
                .bind(p.sub.confidence)
                .bind(&p.sub.model_version)
                .bind(p.sub.priority)
                .bind(&p.metadata)
                .bind(state_for(p.route.destination))
                .bind(p.route.reason.as_str())
                .bind(p.route.review_probability)
                .bind(&per_workflow[&workflow.id].0)
                .bind(workflow.settings_version)
                .bind(auto.then_some("auto_approved"))
                .bind(auto.then_some(&p.prediction))
                .bind(now)
                .bind(now)
                .bind(auto.then_some(now));
        }
        // Matched by key: RETURNING promises no order.
        for (id, workflow_id, external_id) in query.fetch_all(&mut *conn).await? {
            let index = first(workflow_id, &external_id)
                .ok_or_else(|| AppError::internal("an insert returned a row it was not given"))?;
            created.insert(index, id);
        }
    }

    let auto: Vec<(i64, usize)> = unique
        .iter()
        .filter(|&&index| group[index].1.route.destination == Destination::AutoApproved)
        .filter_map(|&index| created.get(&index).map(|&id| (id, index)))
        .collect();
    let mut decision_ids: HashMap<i64, i64> = HashMap::with_capacity(auto.len());
    for range in chunks(auto.len()) {
        let rows = &auto[range];
        let sql = format!("{DECISION_INSERT}{} returning id, item_id", values(backend, rows.len(), DECISION_ROW));
        let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
        for &(item_id, index) in rows {
            let (workflow, p) = group[index];
            query = query.bind(item_id).bind(workflow.id).bind(&p.prediction).bind(now);
        }
        for (id, item_id) in query.fetch_all(&mut *conn).await? {
            decision_ids.insert(item_id, id);
        }
    }

    let mut results: Vec<Result<Ingested, AppError>> = Vec::with_capacity(group.len());
    // Items stored before this group, read once per key: id, digest and (for retries) the view.
    let mut stored: HashMap<usize, (i64, String, Option<ItemView>)> = HashMap::new();
    for (index, &(workflow, p)) in group.iter().enumerate() {
        let conflict = || {
            AppError::conflict(format!(
                "An item with external_id '{}' already exists with a different body.",
                p.sub.external_id
            ))
        };
        let first = first(workflow.id, p.external_id()).ok_or_else(|| AppError::internal("lost an item"))?;
        if let Some(&id) = created.get(&first) {
            if index != first {
                // A repeat within the group of an item created by it.
                let result = match &results[first] {
                    Ok(original) if group[first].1.digest == p.digest => {
                        Ok(Ingested { item: original.item.clone(), created: false })
                    }
                    _ => Err(conflict()),
                };
                results.push(result);
                continue;
            }
            let item = created_view(workflow, p, id, decision_ids.get(&id).copied(), &at);
            let event = match p.route.destination {
                Destination::AutoApproved => Some("item.auto_approved"),
                Destination::Escalation => Some("item.escalated"),
                Destination::Review => None,
            };
            let subscriptions = &per_workflow[&workflow.id].1;
            if let Some(event) = event.filter(|e| subscriptions.wants(e)) {
                crate::webhooks::server::enqueue(conn, subscriptions, event, &json!(item)).await?;
            }
            results.push(Ok(Ingested { item, created: true }));
            continue;
        }
        // Already stored: a retry of the same body gets the original; anything else conflicts.
        let (id, digest, view) = match stored.entry(first) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let (id, digest): (i64, String) =
                    sqlx::query_as("select id, request_hash from items where workflow_id = $1 and external_id = $2")
                        .bind(workflow.id)
                        .bind(&p.sub.external_id)
                        .fetch_one(&mut *conn)
                        .await?;
                e.insert((id, digest, None))
            }
        };
        if *digest != p.digest {
            results.push(Err(conflict()));
            continue;
        }
        if view.is_none() {
            *view = load_view(conn, workflow.slug(), *id).await?;
        }
        let item = view.clone().ok_or_else(|| AppError::internal("item vanished"))?;
        results.push(Ok(Ingested { item, created: false }));
    }
    Ok(results)
}

/// The view of an item just created, built from what was written (reading it back would cost
/// round trips on the hot path); `get` returns the same view.
fn created_view(workflow: &Workflow, p: &Prepared, id: i64, decision_id: Option<i64>, at: &str) -> ItemView {
    let auto = p.route.destination == Destination::AutoApproved;
    let decisions = decision_id
        .map(|decision_id| DecisionView {
            id: decision_id,
            item_id: id,
            kind: "auto_approve".into(),
            actor: "system".into(),
            reason_code: None,
            note: None,
            output: Some(p.sub.prediction.clone()),
            time_spent_ms: None,
            at: at.to_owned(),
        })
        .into_iter()
        .collect();
    ItemView {
        id,
        workflow: workflow.slug().to_owned(),
        external_id: p.sub.external_id.clone(),
        state: state_for(p.route.destination).to_owned(),
        outcome: auto.then(|| "auto_approved".to_owned()),
        route: p.route,
        confidence: p.sub.confidence,
        model_version: p.sub.model_version.clone(),
        priority: p.sub.priority,
        metadata: p.sub.metadata.clone(),
        final_output: auto.then(|| p.sub.prediction.clone()),
        created_at: at.to_owned(),
        decided_at: auto.then(|| at.to_owned()),
        decisions,
    }
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: i64,
    external_id: String,
    state: String,
    outcome: Option<String>,
    route_reason: String,
    review_probability: f64,
    confidence: f64,
    model_version: Option<String>,
    priority: i64,
    metadata: Option<String>,
    final_output: Option<String>,
    created_at: i64,
    decided_at: Option<i64>,
}

const ITEM_COLUMNS: &str = "id, external_id, state, outcome, route_reason, review_probability, confidence, \
     model_version, priority, metadata, final_output, created_at, decided_at";

#[derive(sqlx::FromRow)]
struct DecisionRow {
    id: i64,
    item_id: i64,
    kind: String,
    actor_label: String,
    reason_code: Option<String>,
    note: Option<String>,
    output: Option<String>,
    time_spent_ms: Option<i64>,
    created_at: i64,
}

const DECISION_COLUMNS: &str = "id, item_id, kind, actor_label, reason_code, note, output, time_spent_ms, created_at";

fn json_opt(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

impl DecisionRow {
    fn view(self) -> DecisionView {
        DecisionView {
            id: self.id,
            item_id: self.item_id,
            kind: self.kind,
            actor: self.actor_label,
            reason_code: self.reason_code,
            note: self.note,
            output: json_opt(self.output),
            time_spent_ms: self.time_spent_ms,
            at: rfc3339(self.created_at),
        }
    }
}

impl ItemRow {
    fn view(self, workflow: &str, decisions: Vec<DecisionView>) -> ItemView {
        let destination = match self.state.as_str() {
            "auto_approved" => Destination::AutoApproved,
            "escalated" => Destination::Escalation,
            _ => Destination::Review,
        };
        let reason = RouteReason::parse(&self.route_reason).unwrap_or(RouteReason::BelowThreshold);
        ItemView {
            id: self.id,
            workflow: workflow.to_owned(),
            external_id: self.external_id,
            state: self.state,
            outcome: self.outcome,
            route: Route { destination, reason, review_probability: self.review_probability },
            confidence: self.confidence,
            model_version: self.model_version,
            priority: i32::try_from(self.priority).unwrap_or_default(),
            metadata: json_opt(self.metadata),
            final_output: json_opt(self.final_output),
            created_at: rfc3339(self.created_at),
            decided_at: self.decided_at.map(rfc3339),
            decisions,
        }
    }
}

pub(crate) async fn load_view(conn: &mut AnyConnection, workflow: &str, id: i64) -> Result<Option<ItemView>, AppError> {
    let row: Option<ItemRow> = sqlx::query_as(&format!("select {ITEM_COLUMNS} from items where id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let decisions: Vec<DecisionRow> =
        sqlx::query_as(&format!("select {DECISION_COLUMNS} from decisions where item_id = $1 order by id"))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(Some(row.view(workflow, decisions.into_iter().map(DecisionRow::view).collect())))
}

/// The workflow id of an item, to check a key's scope before showing it.
pub async fn workflow_of(db: &Db, item_id: i64) -> Result<Option<i64>, AppError> {
    let row: Option<(i64,)> =
        sqlx::query_as("select workflow_id from items where id = $1").bind(item_id).fetch_optional(db.pool()).await?;
    Ok(row.map(|(id,)| id))
}

pub async fn get(db: &Db, workflow: &Workflow, item_id: i64) -> Result<Option<ItemView>, AppError> {
    let mut conn = db.pool().acquire().await?;
    load_view(&mut conn, workflow.slug(), item_id).await
}

pub async fn get_by_external_id(db: &Db, workflow: &Workflow, external_id: &str) -> Result<Option<ItemView>, AppError> {
    let row: Option<(i64,)> = sqlx::query_as("select id from items where workflow_id = $1 and external_id = $2")
        .bind(workflow.id)
        .bind(external_id)
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some((id,)) => get(db, workflow, id).await,
        None => Ok(None),
    }
}

/// A page of results and the cursor for the next one (absent on the last page).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub const MAX_PAGE: i64 = 500;

/// Items of a workflow in id order (stable: new items only ever append), filtered by state and
/// creation time, `limit` at a time after `cursor`.
pub async fn list(
    db: &Db,
    workflow: &Workflow,
    state: Option<&str>,
    since_ms: Option<i64>,
    cursor: Option<i64>,
    limit: i64,
) -> Result<Page<ItemView>, AppError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows: Vec<ItemRow> = sqlx::query_as(&format!(
        "select {ITEM_COLUMNS} from items where workflow_id = $1 and id > $2 \
         and ($3 is null or state = $3) and created_at >= $4 order by id limit $5"
    ))
    .bind(workflow.id)
    .bind(cursor.unwrap_or(0))
    .bind(state)
    .bind(since_ms.unwrap_or(i64::MIN))
    .bind(limit + 1)
    .fetch_all(db.pool())
    .await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<ItemView> = rows.into_iter().take(limit as usize).map(|r| r.view(workflow.slug(), vec![])).collect();
    let next_cursor = more.then(|| items.last().map(|i| i.id.to_string())).flatten();
    Ok(Page { items, next_cursor })
}

/// Final decisions of a workflow after `cursor`, oldest first: the feed pollers follow. A human
/// decision appears once its undo window has passed (and never if it was undone); the feed stops
/// before the first decision still in its window, so that nothing settles behind a cursor.
pub async fn decision_feed(
    db: &Db,
    workflow: &Workflow,
    cursor: Option<i64>,
    limit: i64,
) -> Result<Page<DecisionView>, AppError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let rows: Vec<DecisionRow> = sqlx::query_as(&format!(
        "select {DECISION_COLUMNS} from decisions d where workflow_id = $1 and final = 1 and id > $2 \
         and id < coalesce((select min(id) from decisions where workflow_id = $1 and final = 1 and settles_at > $4), \
                           9223372036854775807) \
         and not exists (select 1 from decisions u where u.undoes = d.id) order by id limit $3"
    ))
    .bind(workflow.id)
    .bind(cursor.unwrap_or(0))
    .bind(limit)
    .bind(crate::server::now_ms())
    .fetch_all(db.pool())
    .await?;
    let items: Vec<DecisionView> = rows.into_iter().take(limit as usize).map(DecisionRow::view).collect();
    // Unlike a list, a feed always returns a cursor (the last decision seen, or the one given),
    // so a poller resumes from it and sees only what is new.
    let next_cursor = items.last().map(|d| d.id.to_string()).or_else(|| cursor.map(|c| c.to_string()));
    Ok(Page { items, next_cursor })
}
