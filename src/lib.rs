//! Gatehouse: a human-in-the-loop review gateway for AI automations.
//!
//! One crate, two builds: with `ssr` it is the server (axum + Leptos SSR), with `hydrate` it is
//! the WebAssembly that makes the pages interactive. The modules form layers whose imports
//! only point down (`tests/architecture.rs` holds the line; `docs/ARCHITECTURE.md` draws them):
//! `domain` and `error`, then `storage`, each area's services, the app `state`, server
//! functions (`<area>/api.rs`) and REST handlers (`<area>/rest.rs`, mounted by `web`), the
//! `components`, `pages` and `app` shell, and on top `startup` and the `cli`.

// The server's global allocator.
#[cfg(feature = "ssr")]
pub mod allocator;

// Foundation: pure rules, the one error type and the server functions' codec, in both builds.
pub mod codec;
pub mod domain;
pub mod error;

// Bottom layer (server only): database, audit log, sessions, group commit, caches, clock.
#[cfg(feature = "ssr")]
pub mod storage;

// Areas: shared types at the root of each, server functions in `api`, services beside them.
pub mod account;
pub mod api_keys;
pub mod api_reference;
pub mod audit_log;
pub mod auth;
pub mod escalations;
pub mod items;
pub mod monitoring;
pub mod review;
pub mod team;
pub mod tuning;
pub mod users;
pub mod webhooks;
pub mod workflows;

// What every request can reach, and the server's settings.
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod state;

// HTTP plumbing: security headers and checks, the machine API's router, errors and extractors.
#[cfg(feature = "ssr")]
pub mod web;

// The user interface: shared components, one page per file, the shell and its router.
pub mod app;
pub mod components;
pub mod pages;

// Top layer (server only): building and running the server, the command line.
#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod startup;
#[cfg(feature = "ssr")]
pub mod telemetry;

/// The WebAssembly's entry point. Every page is a lazy route (see `app`), so hydration is
/// asynchronous: the page's own chunk is fetched before its markup is taken over. The body is
/// marked `data-hydrated` only once all of it is, which the end-to-end tests wait for.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // (`hydrate_from_async` sets up Leptos' executor itself.)
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else { return };
        leptos::mount::hydrate_from_async(body.clone(), app::App).await.forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
