//! Workflows: one automation whose outputs are reviewed, with its contract and routing.

pub mod api;
#[cfg(feature = "ssr")]
pub mod cache;
#[cfg(feature = "ssr")]
pub mod contract;
#[cfg(feature = "ssr")]
pub mod form;
#[cfg(feature = "ssr")]
pub mod membership;
#[cfg(feature = "ssr")]
pub mod server;

use crate::webhooks::{DeadLetterView, EndpointView};
use serde::{Deserialize, Serialize};

/// A workflow in the admin list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowSummary {
    pub slug: String,
    pub name: String,
    pub auto_approve_at: Option<f64>,
    pub escalate_below: Option<f64>,
    pub audit_rate: f64,
    pub rollout_share: f64,
    pub paused: bool,
    pub breaker_open: bool,
    pub settings_version: i64,
    pub members: usize,
}

/// A workflow's settings as the edit form shows them: text, as typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowForm {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    /// One email per line (or comma-separated).
    pub members: String,
    pub payload_schema: String,
    pub prediction_schema: String,
    /// Comma-separated.
    pub labels: String,
    /// Comma-separated.
    pub reason_codes: String,
    pub auto_approve_at: String,
    pub escalate_below: String,
    /// Empty: nothing is rejected unseen.
    pub auto_reject_below: String,
    pub audit_rate: String,
    pub rollout_share: String,
    /// Empty unless a lowered threshold is rolling out.
    pub rollout_from: String,
    pub target_error_rate: String,
    /// Threshold tuning's confidence, below 1.
    pub confidence: String,
    pub tune_auto_reject: bool,
    pub review_sla_minutes: String,
    pub escalation_sla_minutes: String,
    pub lease_minutes: String,
    pub paused: bool,
    /// A whole number; 0 turns the trigger off.
    pub escalate_after_lease_expiries: String,
    /// Comma-separated, each one of `reason_codes`.
    pub escalate_on_reasons: String,
}

/// One version in a workflow's settings history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub version: i64,
    pub at_ms: i64,
    pub actor: String,
    pub reason: String,
    pub changed: Vec<String>,
    /// What a threshold was applied on, in a sentence (versions made by threshold tuning).
    pub evidence: Option<String>,
}

/// Everything the workflow settings page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowDetail {
    pub summary: WorkflowSummary,
    pub form: WorkflowForm,
    pub history: Vec<HistoryEntry>,
    pub endpoints: Vec<EndpointView>,
    pub dead_letters: Vec<DeadLetterView>,
    /// Whether endpoints on private addresses are allowed (`--allow-private-webhooks`).
    pub private_webhooks_allowed: bool,
}

/// Formats a share in [0, 1] as a percentage for people.
pub fn percent(share: f64) -> String {
    let value = share * 100.0;
    if (value - value.round()).abs() < 1e-9 { format!("{value:.0} %") } else { format!("{value:.1} %") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentages_read_well() {
        assert_eq!(super::percent(0.05), "5 %");
        assert_eq!(super::percent(0.125), "12.5 %");
        assert_eq!(super::percent(1.0), "100 %");
    }
}
