//! The team page's numbers, for leads: each member's workload (items in hand, decisions today
//! and this week, median time per decision, the share of their decisions a lead overturned)
//! and the escalations of the last 30 days by reason. The rules they are counted by are pure:
//! `crate::domain::workload`.

pub mod api;
#[cfg(feature = "ssr")]
pub mod server;

use serde::{Deserialize, Serialize};

/// How far back the escalations by reason go.
pub const ESCALATION_DAYS: i64 = 30;

/// How many of a member's latest decisions this week the median time is taken over.
pub const MEDIAN_OVER: i64 = 500;

/// One member's workload in the workflows the lead answers for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberLoad {
    pub email: String,
    pub name: String,
    pub role: String,
    /// Items they hold under a lease, and items assigned to them not yet claimed.
    pub in_hand: i64,
    pub decisions_today: i64,
    pub decisions_this_week: i64,
    /// The median time spent on their decisions this week (ms).
    pub median_ms: Option<i64>,
    /// Of their decisions this week, those a lead then overturned.
    pub overturned: i64,
}

impl MemberLoad {
    /// The share of this week's decisions a lead overturned, from 0 to 1.
    pub fn overturned_share(&self) -> Option<f64> {
        crate::domain::workload::share(self.overturned, self.decisions_this_week)
    }
}

/// Everything the team page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub members: Vec<MemberLoad>,
    /// (reason, count) of the escalations opened in the last [`ESCALATION_DAYS`], most first.
    pub escalations_by_reason: Vec<(String, i64)>,
    /// (slug, name) of the workflows the caller answers for, to filter by.
    pub workflows: Vec<(String, String)>,
    pub now_ms: i64,
}
