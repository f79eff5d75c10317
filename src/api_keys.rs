//! API keys for automation systems: shown once, stored hashed, scoped to workflows, revocable.

pub mod api;
#[cfg(feature = "ssr")]
pub mod server;

use serde::{Deserialize, Serialize};

/// A key as the admin page lists it (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySummary {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub workflows: Vec<String>,
    /// Whether it may also import history and read tuning for its workflows.
    pub admin: bool,
    pub created_at_ms: i64,
    pub created_by: String,
    pub last_used_at_ms: Option<i64>,
    pub revoked: bool,
}
