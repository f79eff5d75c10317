//! API keys for automation systems: shown once, stored hashed, scoped to workflows, revocable.

#[cfg(feature = "ssr")]
pub mod server;
