use super::EVENT_TYPES;
use crate::error::AppError;
use crate::server::audit::{self, Actor};
use crate::server::db::{Backend, Db};
use crate::server::now_ms;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::AnyConnection;
use std::time::Duration;

/// Waits between attempts, in units of the base delay (5 s by default): 5 s, 30 s, 2 min,
/// 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h — about a day in all, then the event is dead.
const BACKOFF_STEPS: &[u64] = &[1, 6, 24, 120, 360, 720, 1440, 2880, 5760, 5760];

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: i64,
    pub workflow_id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub failing_since_ms: Option<i64>,
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
pub async fn create_endpoint(
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

pub async fn endpoints(db: &Db, workflow_id: i64) -> Result<Vec<Endpoint>, AppError> {
    let rows: Vec<(i64, String, String, i64, Option<i64>)> = sqlx::query_as(
        "select id, url, event_types, enabled, failing_since from webhook_endpoints where workflow_id = $1 order by id",
    )
    .bind(workflow_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(id, url, events, enabled, failing_since_ms)| {
            Ok(Endpoint {
                id,
                workflow_id,
                url,
                event_types: serde_json::from_str(&events).map_err(AppError::internal)?,
                enabled: enabled != 0,
                failing_since_ms,
            })
        })
        .collect()
}

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
    let message_id = format!("msg_{}", hex::encode(rand::random::<[u8; 12]>()));
    let payload =
        json!({ "type": event_type, "timestamp": crate::items::server::rfc3339(now), "data": data }).to_string();
    for endpoint_id in wanted {
        sqlx::query(
            "insert into webhook_outbox (endpoint_id, message_id, event_type, payload, status, next_attempt_at, \
             created_at, decision_id) values ($1, $2, $3, $4, 'pending', $5, $6, $7)",
        )
        .bind(endpoint_id)
        .bind(&message_id)
        .bind(event_type)
        .bind(&payload)
        .bind(send_at)
        .bind(now)
        .bind(decision_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The `webhook-signature` value for a message (Standard Webhooks, v1 = HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` with the secret's key bytes, base64).
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Result<String, AppError> {
    let key = BASE64.decode(secret.trim_start_matches("whsec_")).map_err(AppError::internal)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(AppError::internal)?;
    mac.update(format!("{message_id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// Delivers due events; run by every instance, coordinated through row leases.
#[derive(Clone)]
pub struct Deliverer {
    db: Db,
    client: reqwest::Client,
    base_delay_ms: u64,
    max_attempts: u32,
    poll: Duration,
}

/// Attempts before an event is dead: the first, then one after each backoff step.
pub const DEFAULT_MAX_ATTEMPTS: u32 = BACKOFF_STEPS.len() as u32 + 1;

struct Due {
    id: i64,
    endpoint_id: i64,
    message_id: String,
    payload: String,
    attempts: i64,
    url: String,
    secret: String,
}

impl Deliverer {
    pub fn new(db: Db, base_delay_ms: u64, max_attempts: u32, poll: Duration) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            // A redirect could lead anywhere: it counts as a failed attempt.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Gatehouse-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS backend is compiled in");
        Self { db, client, base_delay_ms, max_attempts: max_attempts.clamp(1, DEFAULT_MAX_ATTEMPTS), poll }
    }

    pub async fn run(self) {
        loop {
            match self.deliver_due().await {
                Ok(0) => tokio::time::sleep(self.poll).await,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery round failed");
                    tokio::time::sleep(self.poll).await;
                }
            }
        }
    }

    /// One round: claims up to 20 due events, delivers them, records the results.
    pub async fn deliver_due(&self) -> Result<usize, AppError> {
        let due = self.claim(20).await?;
        let count = due.len();
        let deliveries = due.into_iter().map(|event| async move {
            let outcome = self.send(&event).await;
            (event, outcome)
        });
        for (event, outcome) in futures_util::future::join_all(deliveries).await {
            self.record(&event, outcome).await?;
        }
        Ok(count)
    }

    async fn claim(&self, limit: i64) -> Result<Vec<Due>, AppError> {
        let now = now_ms();
        let skip_locked = match self.db.backend() {
            Backend::Postgres => " for update skip locked",
            Backend::Sqlite => "",
        };
        let mut tx = self.db.begin_write().await?;
        let claimed: Vec<(i64, i64, String, String, i64)> = sqlx::query_as(&format!(
            "update webhook_outbox set locked_until = $1 where id in (\
               select id from webhook_outbox where status = 'pending' and next_attempt_at <= $2 \
               and (locked_until is null or locked_until <= $2) order by id limit $3{skip_locked}) \
             returning id, endpoint_id, message_id, payload, attempts"
        ))
        .bind(now + 60_000)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(claimed.len());
        for (id, endpoint_id, message_id, payload, attempts) in claimed {
            let (url, secret): (String, String) =
                sqlx::query_as("select url, secret from webhook_endpoints where id = $1")
                    .bind(endpoint_id)
                    .fetch_one(&mut *tx)
                    .await?;
            due.push(Due { id, endpoint_id, message_id, payload, attempts, url, secret });
        }
        tx.commit().await?;
        Ok(due)
    }

    async fn send(&self, event: &Due) -> Result<(), String> {
        let timestamp = now_ms() / 1000;
        let signature = sign(&event.secret, &event.message_id, timestamp, &event.payload).map_err(|e| e.to_string())?;
        let response = self
            .client
            .post(&event.url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(event.payload.clone())
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if response.status().is_success() { Ok(()) } else { Err(format!("answered {}", response.status())) }
    }

    fn delay_ms(&self, attempts: i64) -> Option<i64> {
        if attempts >= i64::from(self.max_attempts) {
            return None;
        }
        let step = *BACKOFF_STEPS.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
        let base = (step * self.base_delay_ms) as f64;
        // ±20 % jitter, so endpoints recovering from an outage are not hit all at once.
        Some((base * rand::thread_rng().gen_range(0.8..1.2)) as i64)
    }

    async fn record(&self, event: &Due, outcome: Result<(), String>) -> Result<(), AppError> {
        let now = now_ms();
        let attempts = event.attempts + 1;
        let mut tx = self.db.begin_write().await?;
        match outcome {
            Ok(()) => {
                sqlx::query(
                    "update webhook_outbox set status = 'delivered', attempts = $1, delivered_at = $2, \
                     locked_until = null, last_error = null where id = $3",
                )
                .bind(attempts)
                .bind(now)
                .bind(event.id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("update webhook_endpoints set failing_since = null where id = $1")
                    .bind(event.endpoint_id)
                    .execute(&mut *tx)
                    .await?;
            }
            Err(error) => {
                tracing::info!(message_id = %event.message_id, attempts, %error, "webhook delivery failed");
                match self.delay_ms(attempts) {
                    Some(delay) => {
                        sqlx::query(
                            "update webhook_outbox set attempts = $1, next_attempt_at = $2, locked_until = null, \
                             last_error = $3 where id = $4",
                        )
                        .bind(attempts)
                        .bind(now + delay)
                        .bind(&error)
                        .bind(event.id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        tracing::warn!(message_id = %event.message_id, "webhook given up: moved to the dead letters");
                        sqlx::query(
                            "update webhook_outbox set status = 'dead', attempts = $1, locked_until = null, \
                             last_error = $2 where id = $3",
                        )
                        .bind(attempts)
                        .bind(&error)
                        .bind(event.id)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query(
                            "update webhook_endpoints set failing_since = coalesce(failing_since, $1) where id = $2",
                        )
                        .bind(now)
                        .bind(event.endpoint_id)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(())
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

pub async fn dead_letters(db: &Db, workflow_id: i64) -> Result<Vec<DeadLetter>, AppError> {
    let letters = sqlx::query_as(
        "select o.id, e.url as endpoint_url, o.message_id, o.event_type, o.attempts, o.last_error, \
         o.created_at as created_at_ms \
         from webhook_outbox o join webhook_endpoints e on e.id = o.endpoint_id \
         where e.workflow_id = $1 and o.status = 'dead' order by o.id desc limit 200",
    )
    .bind(workflow_id)
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
    audit::record(&mut tx, actor, "webhook.replay", &outbox_id.to_string(), json!({})).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_follows_standard_webhooks() {
        // The example from the Standard Webhooks specification.
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn urls_are_checked() {
        assert!(validate_url("https://hooks.example.com/gatehouse").is_ok());
        assert!(validate_url("http://127.0.0.1:9000/x").is_ok());
        assert!(validate_url("ftp://x").is_err());
        assert!(validate_url("https://").is_err());
        assert!(validate_url("https://a b").is_err());
    }
}
