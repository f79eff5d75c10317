//! The delivery worker: every instance runs one. Endpoints are delivered to independently: a
//! worker takes an endpoint under a lease (so one instance at a time sends its events, and they
//! go out in order), sends its due events one after another, and gives the endpoint back when
//! none is left; up to [`DeliverySettings::max_endpoints`] endpoints at once. A receiver that
//! never answers holds up only its own events. Each delivery is signed (Standard Webhooks), each
//! attempt recorded, a failure retried with backoff and jitter (a retried event may then arrive
//! after later ones, which the convention allows: receivers order by `webhook-timestamp`), and
//! an event that keeps failing becomes a dead letter.

use super::TEST_EVENT;
use super::destination::{self, DestinationPolicy};
use crate::error::AppError;
use crate::storage::clock::now_ms;
use crate::storage::db::{Db, WriteTransaction};
use crate::storage::metrics::Metrics;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use sha2::Sha256;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Waits between attempts, in units of the base delay (5 s by default): 5 s, 30 s, 2 min,
/// 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h — about a day in all, then the event is dead.
const BACKOFF_STEPS: &[u64] = &[1, 6, 24, 120, 360, 720, 1440, 2880, 5760, 5760];

/// Attempts before an event is dead: the first, then one after each backoff step.
pub const DEFAULT_MAX_ATTEMPTS: u32 = BACKOFF_STEPS.len() as u32 + 1;

/// How long an endpoint taken for delivery stays this worker's without a renewal. Renewed before
/// a send once a third of it has passed ([`RENEW_AFTER`]), so it outlasts the longest send (the
/// 10 s timeout) with room to spare.
const ENDPOINT_LEASE_MS: i64 = 60_000;
const RENEW_AFTER: Duration = Duration::from_millis(ENDPOINT_LEASE_MS as u64 / 3);

/// Attempts are recorded together, in one transaction, at the end of each read of events or once
/// the oldest unrecorded one is this old: one write per busy endpoint's batch instead of two per
/// event, so that one endpoint keeps up with hundreds of events a second while items and
/// decisions are written too (the soak benchmark's webhook load). A crash before the record
/// sends those events again (delivery is at least once; receivers deduplicate by message id).
const RECORD_WITHIN: Duration = Duration::from_millis(500);

/// Events of one endpoint read at a time.
const EVENTS_PER_READ: i64 = 20;

/// The `webhook-signature` value for a message (Standard Webhooks, v1 = HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` with the secret's key bytes, base64).
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Result<String, AppError> {
    let key = BASE64.decode(secret.trim_start_matches("whsec_")).map_err(AppError::internal)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(AppError::internal)?;
    mac.update(format!("{message_id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: the current secret's signature and, while a rotation's
/// overlap lasts, the previous secret's beside it, space-separated as the convention allows.
pub fn signatures(secrets: &[&str], message_id: &str, timestamp: i64, body: &str) -> Result<String, AppError> {
    let signed: Result<Vec<String>, AppError> =
        secrets.iter().map(|secret| sign(secret, message_id, timestamp, body)).collect();
    Ok(signed?.join(" "))
}

/// How deliveries are made.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// Unit of the retry schedule, in milliseconds.
    pub base_delay_ms: u64,
    /// Attempts before an event is dead (at most [`DEFAULT_MAX_ATTEMPTS`]).
    pub max_attempts: u32,
    /// How often an idle worker looks for due events.
    pub poll: Duration,
    /// Endpoints delivered to at the same time by this worker.
    pub max_endpoints: usize,
    pub destinations: DestinationPolicy,
}

/// Delivers due events; run by every instance, coordinated through endpoint leases.
#[derive(Clone)]
pub struct Deliverer {
    db: Db,
    client: reqwest::Client,
    settings: DeliverySettings,
    metrics: Metrics,
}

/// The counter of delivery attempts.
const DELIVERIES: &str = "gatehouse_webhook_deliveries_total";

/// An endpoint this worker holds.
struct Taken {
    id: i64,
    url: String,
    secrets: Vec<String>,
    token: String,
}

#[derive(sqlx::FromRow)]
struct TakenRow {
    id: i64,
    url: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Due {
    id: i64,
    next_attempt_at: i64,
    message_id: String,
    event_type: String,
    payload: String,
    attempts: i64,
}

/// What one attempt came to.
struct Outcome {
    status: Option<u16>,
    latency_ms: i64,
    error: Option<String>,
}

impl Deliverer {
    pub fn new(db: Db, settings: DeliverySettings) -> Self {
        let mut client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            // A redirect could lead anywhere: it counts as a failed attempt.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Gatehouse-Webhooks/", env!("CARGO_PKG_VERSION")));
        if let Some(resolver) = destination::resolver(settings.destinations) {
            client = client.dns_resolver(resolver);
        }
        let client = client.build().expect("a TLS backend is compiled in");
        let max_attempts = settings.max_attempts.clamp(1, DEFAULT_MAX_ATTEMPTS);
        Self {
            db,
            client,
            settings: DeliverySettings { max_attempts, max_endpoints: settings.max_endpoints.max(1), ..settings },
            metrics: Metrics::default(),
        }
    }

    /// Counts its attempts in `metrics` (by outcome: delivered, failed, dead).
    pub fn with_metrics(self, metrics: Metrics) -> Self {
        Self { metrics, ..self }
    }

    /// Delivers until the process ends: endpoints with due events are taken as slots free up,
    /// each delivered to on its own.
    pub async fn run(self) {
        let mut active: JoinSet<()> = JoinSet::new();
        loop {
            let free = self.settings.max_endpoints - active.len();
            if free > 0 {
                match self.take_endpoints(free).await {
                    Ok(taken) => {
                        for endpoint in taken {
                            let worker = self.clone();
                            active.spawn(async move {
                                if let Err(error) = worker.deliver_endpoint(endpoint).await {
                                    tracing::warn!(%error, "webhook delivery to an endpoint failed");
                                }
                            });
                        }
                    }
                    Err(error) => tracing::warn!(%error, "could not look for due webhook events"),
                }
            }
            tokio::select! {
                Some(_) = active.join_next(), if !active.is_empty() => {}
                () = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    /// One pass: takes every endpoint with due events (up to the limit) and delivers each
    /// one's due events; how many events were attempted.
    pub async fn deliver_due(&self) -> Result<usize, AppError> {
        let taken = self.take_endpoints(self.settings.max_endpoints).await?;
        let done = futures_util::future::join_all(taken.into_iter().map(|e| self.deliver_endpoint(e))).await;
        done.into_iter().sum()
    }

    /// Takes up to `limit` enabled endpoints that have due events and are no other worker's.
    async fn take_endpoints(&self, limit: usize) -> Result<Vec<Taken>, AppError> {
        let now = now_ms();
        let token = hex::encode(rand::random::<[u8; 12]>());
        let _turn = self.db.write_turn().await;
        let rows: Vec<TakenRow> = sqlx::query_as(&format!(
            "update webhook_endpoints set delivery_token = $1, delivering_until = $2 where id in (\
               select e.id from webhook_endpoints e where e.enabled = 1 \
               and (e.delivering_until is null or e.delivering_until <= $3) \
               and exists (select 1 from webhook_outbox o where o.endpoint_id = e.id and o.status = 'pending' \
                           and o.next_attempt_at <= $3) \
               order by e.id limit $4{}) \
             returning id, url, secret, previous_secret, previous_secret_until",
            self.db.backend().skip_locked()
        ))
        .bind(&token)
        .bind(now + ENDPOINT_LEASE_MS)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mut secrets = vec![row.secret];
                if let Some(previous) =
                    row.previous_secret.filter(|_| row.previous_secret_until.is_some_and(|u| u > now))
                {
                    secrets.push(previous);
                }
                Taken { id: row.id, url: row.url, secrets, token: token.clone() }
            })
            .collect())
    }

    /// Keeps the endpoint this worker's a while longer; false when it is not any more.
    async fn renew(&self, endpoint: &Taken) -> Result<bool, AppError> {
        let _turn = self.db.write_turn().await;
        let done =
            sqlx::query("update webhook_endpoints set delivering_until = $1 where id = $2 and delivery_token = $3")
                .bind(now_ms() + ENDPOINT_LEASE_MS)
                .bind(endpoint.id)
                .bind(&endpoint.token)
                .execute(self.db.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sends the endpoint's due events in order until none is left, then gives it back; how many
    /// were attempted.
    async fn deliver_endpoint(&self, endpoint: Taken) -> Result<usize, AppError> {
        let mut attempted = 0;
        // The events attempted and failed in this turn wait for their retry, not for this loop.
        let mut passed: (i64, i64) = (i64::MIN, 0);
        // Taken just now, with a full lease.
        let mut renewed = Instant::now();
        loop {
            // In the order they fell due (for events never refused, the order they were written),
            // along the endpoint's index of pending events: ordered by id alone, PostgreSQL would
            // walk the primary key through every delivered event kept for the retention period
            // (130 to 200 ms a read with 300,000 of them), and fall further behind the more it kept.
            let due: Vec<Due> = sqlx::query_as(
                "select id, next_attempt_at, message_id, event_type, payload, attempts from webhook_outbox \
                 where endpoint_id = $1 and status = 'pending' and next_attempt_at <= $2 \
                 and (next_attempt_at, id) > ($3, $4) order by next_attempt_at, id limit $5",
            )
            .bind(endpoint.id)
            .bind(now_ms())
            .bind(passed.0)
            .bind(passed.1)
            .bind(EVENTS_PER_READ)
            .fetch_all(self.db.pool())
            .await?;
            if due.is_empty() {
                break;
            }
            let mut outcomes: Vec<(&Due, Outcome, i64)> = Vec::with_capacity(due.len());
            let mut oldest_unrecorded = Instant::now();
            for event in &due {
                if renewed.elapsed() >= RENEW_AFTER {
                    if !self.renew(&endpoint).await? {
                        // Another worker took the endpoint over (this one was too slow): stop here.
                        self.record(&endpoint, &outcomes).await?;
                        return Ok(attempted);
                    }
                    renewed = Instant::now();
                }
                if outcomes.is_empty() {
                    oldest_unrecorded = Instant::now();
                }
                let outcome = self.send(&endpoint, event).await;
                outcomes.push((event, outcome, now_ms()));
                attempted += 1;
                passed = (event.next_attempt_at, event.id);
                if oldest_unrecorded.elapsed() >= RECORD_WITHIN {
                    self.record(&endpoint, &outcomes).await?;
                    outcomes.clear();
                }
            }
            self.record(&endpoint, &outcomes).await?;
        }
        let _turn = self.db.write_turn().await;
        sqlx::query(
            "update webhook_endpoints set delivery_token = null, delivering_until = null \
             where id = $1 and delivery_token = $2",
        )
        .bind(endpoint.id)
        .bind(&endpoint.token)
        .execute(self.db.pool())
        .await?;
        Ok(attempted)
    }

    async fn send(&self, endpoint: &Taken, event: &Due) -> Outcome {
        let started = Instant::now();
        let failed = |error: String| Outcome { status: None, latency_ms: 0, error: Some(error) };
        if let Some(refusal) = destination::refused_literal(&endpoint.url, self.settings.destinations) {
            return failed(refusal);
        }
        let timestamp = now_ms() / 1000;
        let secrets: Vec<&str> = endpoint.secrets.iter().map(String::as_str).collect();
        let signature = match signatures(&secrets, &event.message_id, timestamp, &event.payload) {
            Ok(signature) => signature,
            Err(error) => return failed(error.to_string()),
        };
        let response = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(event.payload.clone())
            .send()
            .await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match response {
            Ok(response) if response.status().is_success() => {
                Outcome { status: Some(response.status().as_u16()), latency_ms, error: None }
            }
            Ok(response) => Outcome {
                status: Some(response.status().as_u16()),
                latency_ms,
                error: Some(format!("answered {}", response.status())),
            },
            Err(error) => {
                Outcome { status: None, latency_ms, error: Some(format!("request failed: {}", chain(&error))) }
            }
        }
    }

    fn delay_ms(&self, event: &Due, attempts: i64) -> Option<i64> {
        // A test event is sent once: its result is on the endpoint's page.
        if event.event_type == TEST_EVENT || attempts >= i64::from(self.settings.max_attempts) {
            return None;
        }
        let step = *BACKOFF_STEPS.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
        let base = (step * self.settings.base_delay_ms) as f64;
        // ±20 % jitter, so endpoints recovering from an outage are not hit all at once.
        Some((base * rand::thread_rng().gen_range(0.8..1.2)) as i64)
    }

    /// Records attempts of the endpoint's events, in the order they were made, in one
    /// transaction; each with the time it was made.
    async fn record(&self, endpoint: &Taken, outcomes: &[(&Due, Outcome, i64)]) -> Result<(), AppError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        for (event, outcome, at) in outcomes {
            self.record_one(&mut tx, endpoint, event, outcome, *at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_one(
        &self,
        tx: &mut WriteTransaction<'static>,
        endpoint: &Taken,
        event: &Due,
        outcome: &Outcome,
        now: i64,
    ) -> Result<(), AppError> {
        let attempts = event.attempts + 1;
        sqlx::query(
            "insert into webhook_attempts (endpoint_id, outbox_id, event_type, attempted_at, status_code, latency_ms, \
             error) values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(endpoint.id)
        .bind(event.id)
        .bind(&event.event_type)
        .bind(now)
        .bind(outcome.status.map(i64::from))
        .bind(outcome.latency_ms)
        .bind(&outcome.error)
        .execute(&mut **tx)
        .await?;
        match &outcome.error {
            None => {
                sqlx::query(
                    "update webhook_outbox set status = 'delivered', attempts = $1, delivered_at = $2, \
                     locked_until = null, last_error = null where id = $3",
                )
                .bind(attempts)
                .bind(now)
                .bind(event.id)
                .execute(&mut **tx)
                .await?;
                self.metrics.count(DELIVERIES, &[("outcome", "delivered")], 1);
                sqlx::query("update webhook_endpoints set failing_since = null where id = $1")
                    .bind(endpoint.id)
                    .execute(&mut **tx)
                    .await?;
            }
            Some(error) => {
                tracing::info!(message_id = %event.message_id, attempts, %error, "webhook delivery failed");
                match self.delay_ms(event, attempts) {
                    Some(delay) => {
                        self.metrics.count(DELIVERIES, &[("outcome", "failed")], 1);
                        sqlx::query(
                            "update webhook_outbox set attempts = $1, next_attempt_at = $2, locked_until = null, \
                             last_error = $3 where id = $4",
                        )
                        .bind(attempts)
                        .bind(now + delay)
                        .bind(error)
                        .bind(event.id)
                        .execute(&mut **tx)
                        .await?;
                    }
                    None => {
                        self.metrics.count(DELIVERIES, &[("outcome", "dead")], 1);
                        sqlx::query(
                            "update webhook_outbox set status = 'dead', attempts = $1, locked_until = null, \
                             last_error = $2 where id = $3",
                        )
                        .bind(attempts)
                        .bind(error)
                        .bind(event.id)
                        .execute(&mut **tx)
                        .await?;
                        if event.event_type != TEST_EVENT {
                            tracing::warn!(message_id = %event.message_id, "webhook given up: moved to the dead letters");
                            sqlx::query(
                                "update webhook_endpoints set failing_since = coalesce(failing_since, $1) where id = $2",
                            )
                            .bind(now)
                            .bind(endpoint.id)
                            .execute(&mut **tx)
                            .await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// An error with its causes, as a person reads it ("request failed: error sending request: …").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
    fn a_rotation_signs_with_both_secrets() {
        let (new, old) = ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGhlIG9sZCBzZWNyZXQga2V5IGJ5dGVz");
        let both = signatures(&[new, old], "msg_1", 1614265330, "{}").unwrap();
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(
            parts,
            [sign(new, "msg_1", 1614265330, "{}").unwrap(), sign(old, "msg_1", 1614265330, "{}").unwrap()]
        );
        assert_eq!(
            signatures(&[new], "msg_1", 1614265330, "{}").unwrap(),
            sign(new, "msg_1", 1614265330, "{}").unwrap()
        );
    }
}
