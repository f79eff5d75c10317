//! Workflows by slug, kept briefly: the ingest path, the machine API and every reviewer's
//! decision read their workflow (contract, routing, reason codes, members) without a query.
//! A change made through this instance clears it at once; one made elsewhere (another
//! instance, the command line) is seen within the cache's time (see `crate::state::ApiCaches`).

use super::server::{Workflow, require_by_slug};
use crate::error::AppError;
use crate::storage::db::Db;
use crate::storage::ttl_cache::TtlCache;
use std::sync::Arc;

pub type WorkflowCache = TtlCache<String, Arc<Workflow>>;

/// The workflow named `slug`, from the cache while fresh; a 404 naming it when there is none.
pub async fn by_slug(db: &Db, cache: &WorkflowCache, slug: &str) -> Result<Arc<Workflow>, AppError> {
    cache.get_or_load(&slug.to_owned(), async { require_by_slug(db, slug).await.map(Arc::new) }).await
}
