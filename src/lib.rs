//! Gatehouse: a human-in-the-loop review gateway for AI automations.
//!
//! One crate, two builds: with `ssr` it is the server (axum + Leptos SSR), with `hydrate` it is
//! the WebAssembly that makes the pages interactive. See `docs/ARCHITECTURE.md`.

pub mod api_keys;
pub mod app;
pub mod auth;
pub mod components;
pub mod domain;
pub mod error;
pub mod items;
#[cfg(feature = "ssr")]
pub mod machine_api;
pub mod pages;
pub mod review;
#[cfg(feature = "ssr")]
pub mod server;
pub mod users;
pub mod webhooks;
pub mod workflows;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
