//! A workflow's webhook endpoints: where its events go, each with its own signing secret.

use super::{EVENT_TYPES, EndpointView};
use crate::error::AppError;
use crate::storage::audit::{self, Actor};
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: i64,
    pub workflow_id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub failing_since_ms: Option<i64>,
}

impl Endpoint {
    pub fn view(&self) -> EndpointView {
        EndpointView {
            id: self.id,
            url: self.url.clone(),
            event_types: self.event_types.clone(),
            failing: self.failing_since_ms.is_some(),
        }
    }
}

fn validate_url(url: &str) -> Result<(), AppError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let host = rest.and_then(|r| r.split(['/', '?', '#']).next()).unwrap_or("");
    if host.is_empty() || url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AppError::invalid("url", "Give an http:// or https:// URL with a host."));
    }
    Ok(())
}

/// Adds an endpoint; returns it with its signing secret (shown once).
pub async fn create(
    db: &Db,
    actor: &Actor,
    workflow_id: i64,
    url: &str,
    event_types: &[String],
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
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    let secret = format!("whsec_{}", BASE64.encode(key));
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
    audit::record(&mut tx, actor, "webhook.create", url, json!({ "workflow_id": workflow_id, "events": event_types }))
        .await?;
    tx.commit().await?;
    let endpoint = Endpoint {
        id,
        workflow_id,
        url: url.to_owned(),
        event_types: event_types.to_vec(),
        enabled: true,
        failing_since_ms: None,
    };
    Ok((endpoint, secret))
}

pub async fn list(db: &Db, workflow_id: i64) -> Result<Vec<Endpoint>, AppError> {
    #[derive(sqlx::FromRow)]
    struct EndpointRow {
        id: i64,
        url: String,
        event_types: String,
        enabled: i64,
        failing_since: Option<i64>,
    }
    let rows: Vec<EndpointRow> = sqlx::query_as(
        "select id, url, event_types, enabled, failing_since from webhook_endpoints where workflow_id = $1 order by id",
    )
    .bind(workflow_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Endpoint {
                id: row.id,
                workflow_id,
                url: row.url,
                event_types: serde_json::from_str(&row.event_types).map_err(AppError::internal)?,
                enabled: row.enabled != 0,
                failing_since_ms: row.failing_since,
            })
        })
        .collect()
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
