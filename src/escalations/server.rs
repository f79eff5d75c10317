//! The escalation sweeper, and this area's services that the rest of the crate calls. Each job
//! has a file of its own (escalating by the system, the review-SLA sweep, keeping escalations
//! and their climbs); callers name this one module whichever of them they use.

pub use super::keep::{Kept, Seen, keep_escalations, keep_since};
pub use super::review_sla::escalate_overdue_reviews;
pub use super::system::{Escalating, escalate_by_system};
use crate::storage::clock::now_ms;
use crate::storage::db::Db;

/// The escalation sweeper: every `every` until the process ends, [`escalate_overdue_reviews`]
/// and then [`keep_escalations`].
pub async fn sweep(db: Db, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = Seen::default();
    loop {
        ticker.tick().await;
        if let Err(error) = escalate_overdue_reviews(&db, now_ms()).await {
            tracing::warn!(%error, "review SLA sweep failed; retrying");
        }
        match keep_since(&db, now_ms(), &mut seen).await {
            Ok(kept) if kept != Kept::default() => tracing::info!(?kept, "escalations kept"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "escalation sweep failed; retrying"),
        }
    }
}
