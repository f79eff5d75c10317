//! Outbound webhooks: per-workflow endpoints, a durable outbox written with each change, and a
//! delivery worker with retries, a dead-letter list and replay (Standard Webhooks signatures).

pub mod api;
#[cfg(feature = "ssr")]
pub mod delivery;
#[cfg(feature = "ssr")]
pub mod endpoints;
#[cfg(feature = "ssr")]
pub mod outbox;

use serde::{Deserialize, Serialize};

/// The events an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] =
    &["item.auto_approved", "item.approved", "item.rejected", "item.corrected", "item.escalated"];

/// An endpoint as the workflow's settings page lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointView {
    pub id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub failing: bool,
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
