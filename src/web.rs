//! HTTP plumbing, server only: security headers, the same-origin check, the refusal of
//! control characters and the compression of pages for the site, and
//! for the machine API under `/api/v1` its router, error shape and request extractors. The
//! handlers themselves live in each area's `rest.rs`.

pub mod api_error;
pub mod assets;
pub mod compression;
pub mod control_chars;
pub mod extract;
pub mod machine_api;
pub mod metrics;
pub mod security;
