use super::config::ServeArgs;
use super::db::Db;
use crate::workflows::contract::ContractCache;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// What every handler and server function can reach. No globals: tests build their own.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub settings: Arc<ServeArgs>,
    /// Compiled workflow data contracts, by workflow and settings version.
    pub contracts: ContractCache,
}
