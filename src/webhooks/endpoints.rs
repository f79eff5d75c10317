//! A workflow's webhook endpoints: where its events go, each with its own signing secret, which
//! can be rotated with an overlap, and the record of its latest delivery attempts.

use super::destination::{self, DestinationPolicy};
use super::{AttemptView, EVENT_TYPES, EndpointView, SHOWN_ATTEMPTS};
use crate::error::AppError;
use crate::storage::audit::{self, Actor};
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;

/// How long the secret a rotation replaces still signs (a second signature): a day to deploy the
/// new one to the receiver.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: i64,
    pub workflow_id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub failing_since_ms: Option<i64>,
    pub previous_secret_until_ms: Option<i64>,
}

impl Endpoint {
    /// The endpoint as its page shows it, with its latest attempts.
    pub fn view(&self, attempts: Vec<AttemptView>) -> EndpointView {
        EndpointView {
            id: self.id,
            url: self.url.clone(),
            event_types: self.event_types.clone(),
            failing: self.failing_since_ms.is_some(),
            previous_secret_until_ms: self.previous_secret_until_ms.filter(|&until| until > now_ms()),
            attempts,
        }
    }
}

fn validate_url(url: &str) -> Result<(), AppError> {
    destination::host_and_port(url).map(|_| ())
}

fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    format!("whsec_{}", BASE64.encode(key))
}

/// Adds an endpoint; returns it with its signing secret (shown once).
pub async fn create(
    db: &Db,
    actor: &Actor,
    workflow_id: i64,
    url: &str,
    event_types: &[String],
    policy: DestinationPolicy,
) -> Result<(Endpoint, String), AppError> {
    let url = url.trim();
    validate_url(url)?;
    if event_types.is_empty() {
        return Err(AppError::invalid("event_types", "Choose at least one event."));
    }
    if let Some(unknown) = event_types.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(AppError::invalid(
            "event_types",
            format!("'{unknown}' is not an event; use {}", EVENT_TYPES.join(", ")),
        ));
    }
    destination::check(url, policy).await?;
    let secret = new_secret();
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let (id,): (i64,) = sqlx::query_as(
        "insert into webhook_endpoints (workflow_id, url, secret, event_types, enabled, created_at, updated_at) \
         values ($1, $2, $3, $4, 1, $5, $5) returning id",
    )
    .bind(workflow_id)
    .bind(url)
    .bind(&secret)
    .bind(json!(event_types).to_string())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        Some(workflow_id),
        "webhook.create",
        url,
        json!({ "workflow_id": workflow_id, "events": event_types }),
    )
    .await?;
    tx.commit().await?;
    let endpoint = Endpoint {
        id,
        workflow_id,
        url: url.to_owned(),
        event_types: event_types.to_vec(),
        enabled: true,
        failing_since_ms: None,
        previous_secret_until_ms: None,
    };
    Ok((endpoint, secret))
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: i64,
    workflow_id: i64,
    url: String,
    event_types: String,
    enabled: i64,
    failing_since: Option<i64>,
    previous_secret_until: Option<i64>,
}

impl TryFrom<EndpointRow> for Endpoint {
    type Error = AppError;

    fn try_from(row: EndpointRow) -> Result<Self, AppError> {
        Ok(Endpoint {
            id: row.id,
            workflow_id: row.workflow_id,
            url: row.url,
            event_types: serde_json::from_str(&row.event_types).map_err(AppError::internal)?,
            enabled: row.enabled != 0,
            failing_since_ms: row.failing_since,
            previous_secret_until_ms: row.previous_secret_until,
        })
    }
}

const COLUMNS: &str = "id, workflow_id, url, event_types, enabled, failing_since, previous_secret_until";

pub async fn list(db: &Db, workflow_id: i64) -> Result<Vec<Endpoint>, AppError> {
    let rows: Vec<EndpointRow> =
        sqlx::query_as(&format!("select {COLUMNS} from webhook_endpoints where workflow_id = $1 order by id"))
            .bind(workflow_id)
            .fetch_all(db.pool())
            .await?;
    rows.into_iter().map(Endpoint::try_from).collect()
}

/// One endpoint, or a 404.
pub async fn require(db: &Db, endpoint_id: i64) -> Result<Endpoint, AppError> {
    let row: Option<EndpointRow> = sqlx::query_as(&format!("select {COLUMNS} from webhook_endpoints where id = $1"))
        .bind(endpoint_id)
        .fetch_optional(db.pool())
        .await?;
    row.ok_or_else(|| AppError::not_found("That webhook endpoint"))?.try_into()
}

/// An endpoint's latest delivery attempts, newest first.
pub async fn attempts(db: &Db, endpoint_id: i64) -> Result<Vec<AttemptView>, AppError> {
    #[derive(sqlx::FromRow)]
    struct AttemptRow {
        attempted_at: i64,
        event_type: String,
        status_code: Option<i64>,
        latency_ms: i64,
        error: Option<String>,
    }
    let rows: Vec<AttemptRow> = sqlx::query_as(
        "select attempted_at, event_type, status_code, latency_ms, error from webhook_attempts \
         where endpoint_id = $1 order by id desc limit $2",
    )
    .bind(endpoint_id)
    .bind(SHOWN_ATTEMPTS)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| AttemptView {
            at_ms: row.attempted_at,
            event_type: row.event_type,
            status: row.status_code,
            latency_ms: row.latency_ms,
            error: row.error,
        })
        .collect())
}

/// Gives the endpoint a new signing secret (returned, to be shown once). The old one keeps
/// signing beside it for [`ROTATION_OVERLAP_MS`], so the receiver can switch without losing
/// an event: every delivery meanwhile carries both signatures.
pub async fn rotate_secret(db: &Db, actor: &Actor, endpoint_id: i64) -> Result<(Endpoint, String), AppError> {
    let secret = new_secret();
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "update webhook_endpoints set previous_secret = secret, previous_secret_until = $1, secret = $2, \
         updated_at = $3 where id = $4",
    )
    .bind(now + ROTATION_OVERLAP_MS)
    .bind(&secret)
    .bind(now)
    .bind(endpoint_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found("That webhook endpoint"));
    }
    let workflow = endpoint_workflow(&mut tx, endpoint_id).await?;
    audit::record(&mut tx, actor, workflow, "webhook.rotate_secret", &endpoint_id.to_string(), json!({})).await?;
    tx.commit().await?;
    Ok((require(db, endpoint_id).await?, secret))
}

/// The workflow an endpoint belongs to (its audit events name it); `None` for no such endpoint.
pub async fn endpoint_workflow(conn: &mut AnyConnection, endpoint_id: i64) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("select workflow_id from webhook_endpoints where id = $1")
        .bind(endpoint_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(id,)| id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(validate_url("https://hooks.example.com/gatehouse").is_ok());
        assert!(validate_url("http://127.0.0.1:9000/x").is_ok());
        assert!(validate_url("ftp://x").is_err());
        assert!(validate_url("https://").is_err());
        assert!(validate_url("https://a b").is_err());
    }
}
