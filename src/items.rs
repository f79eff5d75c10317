//! Items: automation outputs submitted for routing and review, and their decisions.

#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod writer;
