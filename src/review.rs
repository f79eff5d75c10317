//! Reviewer queues: claiming items under a lease, deciding them, undo. Types shared by the
//! server and the browser; the storage side is in `server`, the server functions in `api`.

pub mod api;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod writer;

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

/// One line of an item's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub kind: String,
    pub actor: String,
    pub at_ms: i64,
    pub reason_code: Option<String>,
    pub note: Option<String>,
    pub undone: bool,
}

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
    /// decision, or the queue's page when it is empty.
    pub fn next_href(&self) -> String {
        let page = match self.next_item {
            Some(next) => item_href(&self.slug, next),
            None => format!("/review/{}", self.slug),
        };
        match &self.undo {
            Some(offer) => format!("{page}?undo={}", offer.decision_id),
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

/// How a route reason reads to a reviewer.
pub fn route_reason_text(reason: &str) -> &'static str {
    match reason {
        "below_threshold" => "Confidence below the auto-approve threshold",
        "audit" => "Audit sample: confident, checked at random to measure accuracy",
        "rollout_holdout" => "Rollout holdout: confident, held back while auto-approval is rolled out",
        "low_confidence" => "Confidence below the escalation threshold",
        "paused" => "The workflow is paused: every item is reviewed",
        "breaker" => "The breaker is open: auto-approval stopped because audits found too many errors",
        _ => "Routed for review",
    }
}

/// How a decision kind reads in a history or an undo banner.
pub fn kind_text(kind: &str) -> &'static str {
    match kind {
        "auto_approve" => "Auto-approved",
        "approve" => "Approved",
        "reject" => "Rejected",
        "correct" => "Corrected",
        "escalate" => "Escalated",
        "release" => "Skipped",
        "lease_expired" => "Lease expired",
        "assign" => "Assigned",
        "undo" => "Undone",
        _ => "Recorded",
    }
}

/// The page of a leased item.
pub fn item_href(slug: &str, item_id: i64) -> String {
    format!("/review/{slug}/{item_id}")
}
