use super::config::ServeArgs;
use super::db::Db;
use super::ttl_cache::TtlCache;
use crate::api_keys::server::KeyScope;
use crate::workflows::contract::ContractCache;
use crate::workflows::server::Workflow;
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
    /// Hot-path lookups of the machine API; see [`ApiCaches`].
    pub api_caches: ApiCaches,
    /// Single submits go through it: group commit (see [`crate::items::writer`]).
    pub ingestor: crate::items::writer::Ingestor,
    /// Reviewers' decisions are written through it: group commit on SQLite (see
    /// [`crate::review::writer`]).
    pub decider: crate::review::writer::Decider,
}

/// API-key scopes and workflows, cached for [`API_CACHE_TTL`]: a revoked key or a settings change
/// made through this instance applies at once (the cache is cleared), one made elsewhere (another
/// instance, the CLI) within that time.
#[derive(Clone)]
pub struct ApiCaches {
    pub keys: TtlCache<String, KeyScope>,
    pub workflows: TtlCache<String, Arc<Workflow>>,
}

pub const API_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl Default for ApiCaches {
    fn default() -> Self {
        Self { keys: TtlCache::new(API_CACHE_TTL), workflows: TtlCache::new(API_CACHE_TTL) }
    }
}
