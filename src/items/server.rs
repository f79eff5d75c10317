//! Ingest (one item or a batch), reads, the item list and the decision feed.

use crate::domain::routing::{Destination, Route, RouteReason, route};
use crate::error::AppError;
use crate::server::db::Db;
use crate::server::now_ms;
use crate::webhooks::server::Subscriptions;
use crate::workflows::contract::ContractCache;
use crate::workflows::server::Workflow;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

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
    let contract = contract_for(cache, workflow)?;
    let routed = prepare(workflow, &contract, &sub)?;
    let mut tx = db.begin_write().await?;
    let subscriptions = Subscriptions::load(&mut tx, workflow.id).await?;
    let result = insert(&mut tx, workflow, &subscriptions, &sub, routed).await?;
    tx.commit().await?;
    Ok(result)
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
    let mut seen = std::collections::HashMap::new();
    for (index, sub) in subs.iter().enumerate() {
        match prepare(workflow, &contract, sub) {
            Ok(r) => routes.push(r),
            Err(e) => problems.push(problem(index, sub, &e)),
        }
        // The same external_id twice in one batch must carry the same body.
        if let Some(first) = seen.insert(sub.external_id.clone(), sub.digest())
            && first != sub.digest()
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
    let mut tx = db.begin_write().await?;
    let subscriptions = Subscriptions::load(&mut tx, workflow.id).await?;
    let mut results = Vec::with_capacity(subs.len());
    for (index, (sub, routed)) in subs.iter().zip(routes).enumerate() {
        match insert(&mut tx, workflow, &subscriptions, sub, routed).await {
            Ok(result) => results.push(result),
            Err(e @ AppError::Conflict { .. }) => problems.push(problem(index, sub, &e)),
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

async fn insert(
    conn: &mut AnyConnection,
    workflow: &Workflow,
    subscriptions: &Subscriptions,
    sub: &Submission,
    routed: Route,
) -> Result<Ingested, AppError> {
    let now = now_ms();
    let digest = sub.digest();
    let state = state_for(routed.destination);
    let auto = routed.destination == Destination::AutoApproved;
    let inserted: Option<(i64,)> = sqlx::query_as(
        "insert into items (workflow_id, external_id, request_hash, payload, prediction, confidence, model_version, \
         priority, metadata, state, route_reason, review_probability, routing, settings_version, outcome, \
         final_output, created_at, updated_at, decided_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18) \
         on conflict (workflow_id, external_id) do nothing returning id",
    )
    .bind(workflow.id)
    .bind(&sub.external_id)
    .bind(&digest)
    .bind(sub.payload.to_string())
    .bind(sub.prediction.to_string())
    .bind(sub.confidence)
    .bind(&sub.model_version)
    .bind(sub.priority)
    .bind(sub.metadata.as_ref().map(Value::to_string))
    .bind(state)
    .bind(routed.reason.as_str())
    .bind(routed.review_probability)
    .bind(json!(workflow.routing()).to_string())
    .bind(workflow.settings_version)
    .bind(auto.then_some("auto_approved"))
    .bind(auto.then(|| sub.prediction.to_string()))
    .bind(now)
    .bind(auto.then_some(now))
    .fetch_optional(&mut *conn)
    .await?;

    let Some((id,)) = inserted else {
        // Already there: a retry of the same body gets the original; anything else conflicts.
        let (id, stored_digest): (i64, String) =
            sqlx::query_as("select id, request_hash from items where workflow_id = $1 and external_id = $2")
                .bind(workflow.id)
                .bind(&sub.external_id)
                .fetch_one(&mut *conn)
                .await?;
        if stored_digest != digest {
            return Err(AppError::conflict(format!(
                "An item with external_id '{}' already exists with a different body.",
                sub.external_id
            )));
        }
        let item = load_view(conn, workflow.slug(), id).await?.ok_or_else(|| AppError::internal("item vanished"))?;
        return Ok(Ingested { item, created: false });
    };
    let mut decisions = Vec::new();
    if auto {
        let (decision_id,): (i64,) = sqlx::query_as(
            "insert into decisions (item_id, workflow_id, actor_label, kind, output, final, created_at) \
             values ($1, $2, 'system', 'auto_approve', $3, 1, $4) returning id",
        )
        .bind(id)
        .bind(workflow.id)
        .bind(sub.prediction.to_string())
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        decisions.push(DecisionView {
            id: decision_id,
            item_id: id,
            kind: "auto_approve".into(),
            actor: "system".into(),
            reason_code: None,
            note: None,
            output: Some(sub.prediction.clone()),
            time_spent_ms: None,
            at: rfc3339(now),
        });
    }
    // Built from what was just written (reading it back would cost two more round trips on the
    // hot path); `get` returns the same view.
    let item = ItemView {
        id,
        workflow: workflow.slug().to_owned(),
        external_id: sub.external_id.clone(),
        state: state.to_owned(),
        outcome: auto.then(|| "auto_approved".to_owned()),
        route: routed,
        confidence: sub.confidence,
        model_version: sub.model_version.clone(),
        priority: sub.priority,
        metadata: sub.metadata.clone(),
        final_output: auto.then(|| sub.prediction.clone()),
        created_at: rfc3339(now),
        decided_at: auto.then(|| rfc3339(now)),
        decisions,
    };
    let event = match routed.destination {
        Destination::AutoApproved => Some("item.auto_approved"),
        Destination::Escalation => Some("item.escalated"),
        Destination::Review => None,
    };
    if let Some(event) = event {
        crate::webhooks::server::enqueue(conn, subscriptions, event, &json!(item)).await?;
    }
    Ok(Ingested { item, created: true })
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
