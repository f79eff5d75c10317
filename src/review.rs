//! Reviewer queues: claiming items under a lease, deciding them, undo. The types here are
//! shared by the server and the browser; the server functions are in `api`, and each service
//! has its own file: `claim`, `lease`, `decide` (with `not_held` for a lost lease), the group
//! `writer` (`plan` is what it writes, `group_statement` its PostgreSQL form), `undo`,
//! `assign`, `item_view` (an item as the review page shows it) and `queues` (the queues page).

pub mod api;
#[cfg(feature = "ssr")]
pub mod assign;
#[cfg(feature = "ssr")]
pub mod claim;
#[cfg(feature = "ssr")]
pub mod decide;
#[cfg(feature = "ssr")]
mod group_statement;
#[cfg(feature = "ssr")]
pub mod item_view;
#[cfg(feature = "ssr")]
pub mod lease;
#[cfg(feature = "ssr")]
mod not_held;
#[cfg(feature = "ssr")]
pub mod plan;
#[cfg(feature = "ssr")]
pub mod queues;
#[cfg(feature = "ssr")]
pub mod undo;
#[cfg(feature = "ssr")]
pub mod writer;

use crate::domain::item_state::Action;
use crate::items::HistoryLine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One workflow's queue as a member sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueSummary {
    pub slug: String,
    pub name: String,
    pub waiting: i64,
    /// When the oldest waiting item arrived (Unix ms).
    pub oldest_waiting_ms: Option<i64>,
    /// Waiting items whose review SLA ends within [`DUE_SOON_MS`].
    pub due_soon: i64,
    /// Waiting items already past their review SLA.
    pub overdue: i64,
    /// This reviewer's decisions in this workflow since midnight UTC.
    pub my_decisions_today: i64,
    /// The item this reviewer holds in this workflow, if any.
    pub my_item: Option<i64>,
    pub paused: bool,
}

/// One workflow's queue for its own page, and the server's clock to tell ages by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    pub queue: QueueSummary,
    pub now_ms: i64,
    /// Whether the item the reviewer just skipped is one of those waiting.
    pub skipped_waiting: bool,
}

/// An item a lead assigned to this reviewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignedItem {
    pub item_id: i64,
    pub slug: String,
    pub workflow: String,
    pub external_id: String,
    pub state: String,
    pub created_at_ms: i64,
}

/// Everything the queues page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuesOverview {
    pub queues: Vec<QueueSummary>,
    pub assigned: Vec<AssignedItem>,
    pub now_ms: i64,
}

/// The review SLA window in which a waiting item counts as due soon.
pub const DUE_SOON_MS: i64 = 30 * 60 * 1000;

/// An item leased to the reviewer, with what the review page needs to show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub item_id: i64,
    pub slug: String,
    pub workflow: String,
    pub external_id: String,
    pub payload: Value,
    pub prediction: Value,
    pub confidence: f64,
    pub model_version: Option<String>,
    pub priority: i32,
    pub route_reason: String,
    pub review_probability: f64,
    pub created_at_ms: i64,
    pub lease_token: String,
    pub lease_expires_at_ms: i64,
    pub lease_secs: i64,
    pub labels: Vec<String>,
    pub reason_codes: Vec<String>,
    /// Fields whose confidence is below this are highlighted (the auto-approve threshold).
    pub low_confidence_below: f64,
    pub history: Vec<HistoryLine>,
    pub now_ms: i64,
}

/// What a decision did, and where the reviewer goes next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub decision_id: i64,
    pub item_id: i64,
    /// The item's workflow.
    pub slug: String,
    pub kind: String,
    /// The next item now leased to the reviewer, if the queue had one.
    pub next_item: Option<i64>,
    /// Until when the decision can be undone (Unix ms).
    pub undo_until_ms: i64,
    /// The next item as its page shows it, so that the browser shows it without asking again.
    /// Only in answers to the browser's script: a plain form post is redirected to the item's
    /// page instead, which loads it.
    pub next: Option<ReviewItem>,
    /// The undo banner for this decision (none for a skip, which cannot be undone).
    pub undo: Option<UndoOffer>,
}

impl Receipt {
    /// Where the reviewer goes after this decision: the next item, with the undo banner of this
    /// decision, or the queue's page when nothing else waits for them.
    pub fn next_href(&self) -> String {
        let page = match self.next_item {
            Some(next) => item_href(&self.slug, next),
            None => format!("/review/{}", self.slug),
        };
        match &self.undo {
            Some(offer) => format!("{page}?undo={}", offer.decision_id),
            // The queue's page tells the item just skipped from the others still waiting.
            None if self.next_item.is_none() && self.kind == Action::Release.as_str() => {
                format!("{page}?skipped={}", self.item_id)
            }
            None => page,
        }
    }
}

/// A decision the reviewer may still take back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UndoOffer {
    pub decision_id: i64,
    pub item_id: i64,
    pub external_id: String,
    pub kind: String,
    pub undo_until_ms: i64,
    pub now_ms: i64,
}

/// The page of a leased item.
pub fn item_href(slug: &str, item_id: i64) -> String {
    format!("/review/{slug}/{item_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(kind: &str, next_item: Option<i64>, undo: bool) -> Receipt {
        let offer = UndoOffer {
            decision_id: 9,
            item_id: 3,
            external_id: "INV-3".into(),
            kind: kind.into(),
            undo_until_ms: 10,
            now_ms: 0,
        };
        Receipt {
            decision_id: 9,
            item_id: 3,
            slug: "invoices".into(),
            kind: kind.into(),
            next_item,
            undo_until_ms: 10,
            next: None,
            undo: undo.then_some(offer),
        }
    }

    #[test]
    fn a_decision_leads_to_the_next_item_or_the_queue() {
        assert_eq!(receipt("approve", Some(4), true).next_href(), "/review/invoices/4?undo=9");
        assert_eq!(receipt("approve", None, true).next_href(), "/review/invoices?undo=9");
        assert_eq!(receipt("release", Some(4), false).next_href(), "/review/invoices/4");
        assert_eq!(receipt("release", None, false).next_href(), "/review/invoices?skipped=3");
    }
}
