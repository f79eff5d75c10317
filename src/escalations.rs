//! Escalations: items that need more than a reviewer, and the leads' inbox of them.
//!
//! The triggers: a reviewer's escalation and a rejection for an escalating reason (the review
//! area's decisions), a low confidence at ingest (routing), a lease that ran out as often as the
//! workflow allows (the lease sweeper), and a wait past the review SLA ([`server`]'s sweeper),
//! which also keeps each escalation's level. The rules themselves are pure:
//! `crate::domain::escalation`.

pub mod api;
#[cfg(feature = "ssr")]
pub mod inbox;
#[cfg(feature = "ssr")]
pub mod server;

use serde::{Deserialize, Serialize};

/// How many escalations one page of the inbox lists.
pub const PAGE: i64 = 50;

/// One open escalation as the inbox lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationRow {
    pub item_id: i64,
    pub external_id: String,
    pub slug: String,
    pub workflow: String,
    /// The trigger (`crate::domain::escalation::Reason`), as stored.
    pub reason: String,
    /// 1: the workflow's leads; 2: the admins.
    pub level: i64,
    pub opened_at_ms: i64,
    /// When the current level's escalation SLA runs out.
    pub due_at_ms: i64,
    pub escalation_sla_ms: i64,
    /// Overdue at the top level since then.
    pub flagged_at_ms: Option<i64>,
    /// Who escalated it (the system's triggers name none) and their note.
    pub escalated_by: Option<String>,
    pub note: Option<String>,
    pub assignee: Option<String>,
}

/// A filtered page of the inbox: its rows (soonest due first), how many match in all, the
/// cursor of the next page, and the workflows the caller may filter by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    pub rows: Vec<EscalationRow>,
    pub total: i64,
    pub next_cursor: Option<String>,
    /// (slug, name) of each workflow whose escalations the caller sees.
    pub workflows: Vec<(String, String)>,
    /// (slug, email) of each enabled member of those workflows, whom an item can be assigned to.
    pub members: Vec<(String, String)>,
    pub now_ms: i64,
}
