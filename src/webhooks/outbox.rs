//! The durable outbox: events are written inside the transaction of the change they report, so
//! an event exists exactly when its change does. Events given up on become dead letters, which an
//! admin can replay; delivered events are kept for the retention period, then purged.

use super::{DeadLetterView, TEST_EVENT};
use crate::error::AppError;
use crate::storage::audit::{self, Actor};
use crate::storage::clock::{now_ms, rfc3339};
use crate::storage::db::Db;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::AnyConnection;
use std::time::Duration;

/// The enabled endpoints of a workflow and the events each wants; loaded once per transaction
/// that may emit events.
pub struct Subscriptions(Vec<(i64, Vec<String>)>);

impl Subscriptions {
    pub async fn load(conn: &mut AnyConnection, workflow_id: i64) -> Result<Self, AppError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("select id, event_types from webhook_endpoints where workflow_id = $1 and enabled = 1")
                .bind(workflow_id)
                .fetch_all(&mut *conn)
                .await?;
        Ok(Self(rows.into_iter().map(|(id, events)| (id, serde_json::from_str(&events).unwrap_or_default())).collect()))
    }

    /// Whether any endpoint wants `event_type` (callers skip building the event otherwise).
    pub fn wants(&self, event_type: &str) -> bool {
        self.0.iter().any(|(_, events)| events.iter().any(|t| t == event_type))
    }
}

/// Queues `event_type` for every enabled endpoint of the workflow that wants it, inside the
/// caller's transaction: the event exists exactly when the change it reports does.
pub async fn enqueue(
    conn: &mut AnyConnection,
    subscriptions: &Subscriptions,
    event_type: &str,
    data: &Value,
) -> Result<(), AppError> {
    enqueue_at(conn, subscriptions, event_type, data, now_ms(), None).await
}

/// [`enqueue`], first sent at `send_at` (Unix ms) and tied to the decision it reports, so that
/// an undo within the window can withdraw it before it is sent.
pub async fn enqueue_at(
    conn: &mut AnyConnection,
    subscriptions: &Subscriptions,
    event_type: &str,
    data: &Value,
    send_at: i64,
    decision_id: Option<i64>,
) -> Result<(), AppError> {
    let wanted: Vec<i64> = subscriptions
        .0
        .iter()
        .filter(|(_, events)| events.iter().any(|t| t == event_type))
        .map(|(id, _)| *id)
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let message_id = new_message_id();
    let payload = json!({ "type": event_type, "timestamp": rfc3339(now), "data": data }).to_string();
    for endpoint_id in wanted {
        insert(conn, endpoint_id, &message_id, event_type, &payload, send_at, decision_id).await?;
    }
    Ok(())
}

fn new_message_id() -> String {
    format!("msg_{}", hex::encode(rand::random::<[u8; 12]>()))
}

/// The one insert into the outbox.
async fn insert(
    conn: &mut AnyConnection,
    endpoint_id: i64,
    message_id: &str,
    event_type: &str,
    payload: &str,
    send_at: i64,
    decision_id: Option<i64>,
) -> Result<(), AppError> {
    sqlx::query(
        "insert into webhook_outbox (endpoint_id, message_id, event_type, payload, status, next_attempt_at, \
         created_at, decision_id) values ($1, $2, $3, $4, 'pending', $5, $6, $7)",
    )
    .bind(endpoint_id)
    .bind(message_id)
    .bind(event_type)
    .bind(payload)
    .bind(send_at)
    .bind(now_ms())
    .bind(decision_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues a test event for one endpoint ("Send test event"); delivered once, never retried.
pub async fn enqueue_test(db: &Db, actor: &Actor, endpoint_id: i64) -> Result<(), AppError> {
    let now = now_ms();
    let payload = json!({
        "type": TEST_EVENT,
        "timestamp": rfc3339(now),
        "data": { "endpoint_id": endpoint_id, "sent_by": actor.label() },
    })
    .to_string();
    let mut tx = db.begin_write().await?;
    insert(&mut tx, endpoint_id, &new_message_id(), TEST_EVENT, &payload, now, None).await?;
    let workflow = super::endpoints::endpoint_workflow(&mut tx, endpoint_id).await?;
    audit::record(&mut tx, actor, workflow, "webhook.test", &endpoint_id.to_string(), json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes delivered events, and attempts, older than `cutoff` (Unix ms), `batch` rows a
/// statement so that no one statement holds the tables long; how many events it deleted.
pub async fn purge(db: &Db, cutoff: i64, batch: i64) -> Result<u64, AppError> {
    let mut deleted = 0;
    loop {
        // A statement a turn: other writers go between two.
        let _turn = db.write_turn().await;
        let done = sqlx::query(
            "delete from webhook_outbox where id in (select id from webhook_outbox \
             where status = 'delivered' and delivered_at < $1 order by delivered_at limit $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(db.pool())
        .await?
        .rows_affected();
        deleted += done;
        if done < batch.max(1) as u64 {
            break;
        }
    }
    loop {
        let _turn = db.write_turn().await;
        let done = sqlx::query(
            "delete from webhook_attempts where id in (select id from webhook_attempts \
             where attempted_at < $1 order by attempted_at limit $2)",
        )
        .bind(cutoff)
        .bind(batch)
        .execute(db.pool())
        .await?
        .rows_affected();
        if done < batch.max(1) as u64 {
            break;
        }
    }
    Ok(deleted)
}

/// Runs [`purge`] every `every` for what is older than `retention`, until the process ends.
pub async fn purge_every(db: Db, retention: Duration, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let cutoff = now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        match purge(&db, cutoff, 1000).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "delivered webhook events past their retention purged"),
            Err(error) => tracing::warn!(%error, "webhook purge failed; retrying"),
        }
    }
}

/// An event that was given up on.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub endpoint_url: String,
    pub message_id: String,
    pub event_type: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
}

impl DeadLetter {
    pub fn view(&self) -> DeadLetterView {
        DeadLetterView {
            id: self.id,
            url: self.endpoint_url.clone(),
            event_type: self.event_type.clone(),
            attempts: self.attempts,
            last_error: self.last_error.clone(),
        }
    }
}

/// A workflow's dead letters, newest first (the 200 most recent).
pub async fn dead_letters(db: &Db, workflow_id: i64) -> Result<Vec<DeadLetter>, AppError> {
    let letters = sqlx::query_as(
        "select o.id, e.url as endpoint_url, o.message_id, o.event_type, o.attempts, o.last_error, \
         o.created_at as created_at_ms \
         from webhook_outbox o join webhook_endpoints e on e.id = o.endpoint_id \
         where e.workflow_id = $1 and o.status = 'dead' and o.event_type <> $2 order by o.id desc limit 200",
    )
    .bind(workflow_id)
    .bind(TEST_EVENT)
    .fetch_all(db.pool())
    .await?;
    Ok(letters)
}

/// Sends a dead event again from the start of the retry schedule (same message id, so a
/// receiver that did get it can tell).
pub async fn replay(db: &Db, actor: &Actor, outbox_id: i64) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "update webhook_outbox set status = 'pending', attempts = 0, next_attempt_at = $1, locked_until = null \
         where id = $2 and status = 'dead'",
    )
    .bind(now_ms())
    .bind(outbox_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found("That dead-lettered event"));
    }
    let (workflow,): (Option<i64>,) = sqlx::query_as(
        "select e.workflow_id from webhook_outbox o join webhook_endpoints e on e.id = o.endpoint_id where o.id = $1",
    )
    .bind(outbox_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(&mut tx, actor, workflow, "webhook.replay", &outbox_id.to_string(), json!({})).await?;
    tx.commit().await?;
    Ok(())
}
