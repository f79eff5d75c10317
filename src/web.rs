//! HTTP plumbing, server only: security headers and the same-origin check for the site, and
//! for the machine API under `/api/v1` its router, error shape and request extractors. The
//! handlers themselves live in each area's `rest.rs`.

pub mod api_error;
pub mod assets;
pub mod extract;
pub mod machine_api;
pub mod security;
