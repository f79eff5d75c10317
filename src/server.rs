//! Everything that only runs on the server: configuration, storage, HTTP wiring, the CLI.

pub mod audit;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod group_commit;
pub mod security;
pub mod session_store;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod ttl_cache;

/// Milliseconds since the Unix epoch: how every time is stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
