//! Outbound webhooks: per-workflow endpoints, a durable outbox written with each change, and a
//! delivery worker with retries, a dead-letter list and replay (Standard Webhooks signatures).

#[cfg(feature = "ssr")]
pub mod server;

/// The events an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] =
    &["item.auto_approved", "item.approved", "item.rejected", "item.corrected", "item.escalated"];
