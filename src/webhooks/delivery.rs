//! The delivery worker: every instance runs one; they share the outbox through row leases
//! (`SKIP LOCKED` on PostgreSQL). Each delivery is signed (Standard Webhooks), a failure is
//! retried with backoff and jitter, and an event that keeps failing becomes a dead letter.

use crate::error::AppError;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use sha2::Sha256;
use std::time::Duration;

/// Waits between attempts, in units of the base delay (5 s by default): 5 s, 30 s, 2 min,
/// 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h — about a day in all, then the event is dead.
const BACKOFF_STEPS: &[u64] = &[1, 6, 24, 120, 360, 720, 1440, 2880, 5760, 5760];

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
        #[derive(sqlx::FromRow)]
        struct ClaimedEvent {
            id: i64,
            endpoint_id: i64,
            message_id: String,
            payload: String,
            attempts: i64,
        }
        let skip_locked = self.db.backend().skip_locked();
        let mut tx = self.db.begin_write().await?;
        let claimed: Vec<ClaimedEvent> = sqlx::query_as(&format!(
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
        for event in claimed {
            let (url, secret): (String, String) =
                sqlx::query_as("select url, secret from webhook_endpoints where id = $1")
                    .bind(event.endpoint_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let ClaimedEvent { id, endpoint_id, message_id, payload, attempts } = event;
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
}
