use crate::api_keys::server::KeyScope;
use crate::config::ServeArgs;
use crate::storage::db::Db;
use crate::storage::session_store::DbSessionStore;
use crate::storage::ttl_cache::TtlCache;
use crate::users::server::UserRecord;
use crate::workflows::cache::WorkflowCache;
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
    /// The session store the session layer uses: the account page lists and ends a person's
    /// sessions through it, so that this instance forgets them at once.
    pub sessions: DbSessionStore,
    /// Compiled workflow data contracts, by workflow and settings version.
    pub contracts: ContractCache,
    /// Hot-path lookups (the machine API, signed-in users); see [`ApiCaches`].
    pub api_caches: ApiCaches,
    /// Single submits go through it: group commit (see [`crate::items::writer`]).
    pub ingestor: crate::items::writer::Ingestor,
    /// Reviewers' decisions are written through it: group commit on SQLite (see
    /// [`crate::review::writer`]).
    pub decider: crate::review::writer::Decider,
    /// This application's metrics (`GET /metrics`).
    pub metrics: crate::storage::metrics::Metrics,
}

/// Lookups made on every request of a hot path, cached briefly: API-key scopes and workflows for
/// [`API_CACHE_TTL`], signed-in users for [`USER_CACHE_TTL`], each up to a stated number of
/// entries ([`KEY_CACHE_MAX`], [`WORKFLOW_CACHE_MAX`], [`USER_CACHE_MAX`]). A change made through this instance
/// (a revoked key, new workflow settings, a disabled user) applies at once, since the instance
/// clears the cache; one made elsewhere (another instance, the CLI) within that time.
#[derive(Clone)]
pub struct ApiCaches {
    pub keys: TtlCache<String, KeyScope>,
    pub workflows: WorkflowCache,
    /// Users by id, as every signed-in request checks them (role, disabled, sign-in epoch).
    pub users: TtlCache<i64, Option<UserRecord>>,
}

pub const API_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
/// The most API keys kept: each entry is a key's scope (a few workflow ids), well under 1 KB.
pub const KEY_CACHE_MAX: usize = 10_000;
/// The most workflows kept: each is its settings and members, a few KB.
pub const WORKFLOW_CACHE_MAX: usize = 1_000;
/// The most signed-in users kept: each is one user's record, well under 1 KB.
pub const USER_CACHE_MAX: usize = 10_000;
/// Shorter than [`API_CACHE_TTL`]: a user disabled on one instance is signed out on the others
/// within a second.
pub const USER_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl AppState {
    /// What deciding an item needs of the application (see [`crate::review::decide`]).
    pub fn review_ctx(&self) -> crate::review::decide::ReviewCtx<'_> {
        crate::review::decide::ReviewCtx {
            db: &self.db,
            contracts: &self.contracts,
            workflows: &self.api_caches.workflows,
            decider: &self.decider,
            undo_window_ms: i64::try_from(self.settings.undo_window_ms).unwrap_or(i64::MAX),
        }
    }
}

impl Default for ApiCaches {
    fn default() -> Self {
        Self {
            keys: TtlCache::new(API_CACHE_TTL, KEY_CACHE_MAX),
            workflows: TtlCache::new(API_CACHE_TTL, WORKFLOW_CACHE_MAX),
            users: TtlCache::new(USER_CACHE_TTL, USER_CACHE_MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hot_path_cache_is_bounded_at_its_stated_maximum() {
        let caches = ApiCaches::default();
        assert_eq!(caches.keys.max_entries(), KEY_CACHE_MAX);
        assert_eq!(caches.workflows.max_entries(), WORKFLOW_CACHE_MAX);
        assert_eq!(caches.users.max_entries(), USER_CACHE_MAX);
        // A flood of distinct users (the key and workflow caches are the same cache type).
        for id in 0..(USER_CACHE_MAX as i64 + 5_000) {
            caches.users.insert(id, None);
        }
        assert!(caches.users.len() <= USER_CACHE_MAX, "{} users kept", caches.users.len());
    }
}
