//! Workflows: one automation whose outputs are reviewed, with its contract and routing.

#[cfg(feature = "ssr")]
pub mod contract;
#[cfg(feature = "ssr")]
pub mod server;
