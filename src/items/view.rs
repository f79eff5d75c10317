//! Items and their decisions as the machine API shows them, and the reads that build those
//! views.

use crate::domain::item_state::ItemState;
use crate::domain::routing::{Destination, Route, RouteReason};
use crate::error::AppError;
use crate::storage::clock::rfc3339;
use crate::storage::db::Db;
use crate::workflows::server::Workflow;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::AnyConnection;

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
    /// What was submitted as `metadata`: any JSON value.
    #[schema(value_type = Option<Value>)]
    pub metadata: Option<Value>,
    /// The corrected output, or the prediction once approved.
    #[schema(value_type = Option<Object>)]
    pub final_output: Option<Value>,
    pub created_at: String,
    pub decided_at: Option<String>,
    /// The item's decisions, oldest first (on reads; on ingest, the auto-approval if any).
    pub decisions: Vec<DecisionView>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ItemRow {
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

pub(super) const ITEM_COLUMNS: &str = "id, external_id, state, outcome, route_reason, review_probability, confidence, \
     model_version, priority, metadata, final_output, created_at, decided_at";

#[derive(sqlx::FromRow)]
pub(super) struct DecisionRow {
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

pub(super) const DECISION_COLUMNS: &str =
    "id, item_id, kind, actor_label, reason_code, note, output, time_spent_ms, created_at";

fn json_opt(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

impl DecisionRow {
    pub(super) fn view(self) -> DecisionView {
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
    pub(super) fn view(self, workflow: &str, decisions: Vec<DecisionView>) -> ItemView {
        let destination = match ItemState::parse(&self.state) {
            Some(ItemState::AutoApproved) => Destination::AutoApproved,
            Some(ItemState::AutoRejected) => Destination::AutoRejected,
            Some(ItemState::Escalated) => Destination::Escalation,
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

/// An item and its decisions as the API shows them, read on the caller's connection.
pub async fn load_view(conn: &mut AnyConnection, workflow: &str, id: i64) -> Result<Option<ItemView>, AppError> {
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

/// The result of one submission: the item, and whether this call created it.
#[derive(Debug)]
pub struct Ingested {
    pub item: ItemView,
    pub created: bool,
}
