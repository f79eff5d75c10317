//! Items: automation outputs submitted for routing and review, and their decisions. The types
//! here are what the pages show of any item (its history, why it was routed); the machine API's
//! views, ingest and reads are server only.

pub mod api;
#[cfg(feature = "ssr")]
pub mod decisions;
#[cfg(feature = "ssr")]
pub mod escalation_steps;
#[cfg(feature = "ssr")]
pub mod export;
#[cfg(feature = "ssr")]
pub mod ingest;
#[cfg(feature = "ssr")]
mod insert;
#[cfg(feature = "ssr")]
pub mod list;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod search;
#[cfg(feature = "ssr")]
pub mod submission;
#[cfg(feature = "ssr")]
pub mod view;
#[cfg(feature = "ssr")]
pub mod writer;

use serde::{Deserialize, Serialize};

/// One item in the search's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundItem {
    pub id: i64,
    pub external_id: String,
    pub state: String,
    pub route_reason: String,
    pub confidence: f64,
    pub model_version: Option<String>,
    pub created_at_ms: i64,
    pub outcome: Option<String>,
}

/// A page of the item search, newest first, with what its form offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemSearch {
    /// `(slug, name)` of the workflows the caller answers for; the first is searched by default.
    pub workflows: Vec<(String, String)>,
    pub slug: String,
    pub items: Vec<FoundItem>,
    /// The cursor of the next (older) page.
    pub next_cursor: Option<String>,
}

/// One item with its whole history, for a lead or an admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub id: i64,
    pub slug: String,
    pub workflow: String,
    pub external_id: String,
    pub state: String,
    pub outcome: Option<String>,
    pub payload: serde_json::Value,
    pub prediction: serde_json::Value,
    pub final_output: Option<serde_json::Value>,
    pub confidence: f64,
    pub model_version: Option<String>,
    pub route_reason: String,
    pub review_probability: f64,
    pub low_confidence_below: f64,
    pub created_at_ms: i64,
    pub history: Vec<HistoryLine>,
}

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

/// How a route reason reads to a reviewer.
pub fn route_reason_text(reason: &str) -> &'static str {
    match reason {
        "below_threshold" => "Confidence below the auto-approve threshold",
        "audit" => "Audit sample: confident, checked at random to measure accuracy",
        "rollout_holdout" => "Rollout holdout: confident, held back while auto-approval is rolled out",
        "low_confidence" => "Confidence below the escalation threshold",
        "below_reject_threshold" => "Confidence below the auto-reject threshold: rejected unseen",
        "reject_audit" => "Reject audit: below the auto-reject threshold, checked at random to measure accuracy",
        "paused" => "The workflow is paused: every item is reviewed",
        "breaker" => "The breaker is open: auto-approval stopped because audits found too many errors",
        _ => "Routed for review",
    }
}

/// How a decision kind reads in a history or an undo banner.
pub fn kind_text(kind: &str) -> &'static str {
    match kind {
        "auto_approve" => "Auto-approved",
        "auto_reject" => "Auto-rejected",
        "approve" => "Approved",
        "reject" => "Rejected",
        "correct" => "Corrected",
        "escalate" => "Escalated",
        "release" => "Skipped",
        "lease_expired" => "Lease expired",
        "assign" => "Assigned",
        "undo" => "Undone",
        "send_back" => "Sent back to the queue",
        "climb" => "Climbed to the admins",
        "flag" => "Flagged overdue",
        _ => "Recorded",
    }
}
