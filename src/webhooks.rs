//! Outbound webhooks: per-workflow endpoints, a durable outbox written with each change, and a
//! delivery worker with retries, a dead-letter list and replay (Standard Webhooks signatures).

pub mod api;
#[cfg(feature = "ssr")]
pub mod delivery;
#[cfg(feature = "ssr")]
pub mod destination;
#[cfg(feature = "ssr")]
pub mod endpoints;
#[cfg(feature = "ssr")]
pub mod outbox;

use serde::{Deserialize, Serialize};

/// The events an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "item.auto_approved",
    "item.auto_rejected",
    "item.approved",
    "item.rejected",
    "item.corrected",
    "item.escalated",
    "escalation.assigned",
    "workflow.breaker_opened",
    "workflow.breaker_closed",
    "escalation.resolved",
];

/// The event "Send test event" sends to one endpoint (never retried, never dead-lettered).
pub const TEST_EVENT: &str = "webhook.test";

/// How many of an endpoint's latest attempts its page shows.
pub const SHOWN_ATTEMPTS: i64 = 10;

/// An endpoint as the workflow's settings page lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointView {
    pub id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub failing: bool,
    /// Until when the secret replaced by a rotation still signs too (Unix ms), if it does.
    pub previous_secret_until_ms: Option<i64>,
    /// The latest delivery attempts, newest first.
    pub attempts: Vec<AttemptView>,
}

/// One delivery attempt to an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptView {
    pub at_ms: i64,
    pub event_type: String,
    /// The receiver's HTTP status; none when no answer came.
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

impl AttemptView {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// An event given up on, as the settings page lists it with its Replay button.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterView {
    pub id: i64,
    pub url: String,
    pub event_type: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}
