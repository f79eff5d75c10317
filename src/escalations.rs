//! Escalations: items that need more than a reviewer, and the leads' inbox of them.
//!
//! The triggers: a reviewer's escalation and a rejection for an escalating reason (the review
//! area's decisions), a low confidence at ingest (routing), a lease that ran out as often as the
//! workflow allows (the lease sweeper), and a wait past the review SLA (`review_sla`); the last
//! two are escalations by the system (`system`). [`server`]'s sweeper runs the review-SLA sweep
//! and keeps each escalation in step with its item (`keep`) and at its level (`climb`); the
//! rules themselves are pure: `crate::domain::escalation`. A lead assigns an escalated item (`crate::review::assign`),
//! decides it or sends it back ([`resolve`]) from its page ([`detail`]); [`events`] are the
//! escalation webhooks.

pub mod api;
#[cfg(feature = "ssr")]
mod climb;
#[cfg(feature = "ssr")]
pub mod counts;
#[cfg(feature = "ssr")]
pub mod detail;
#[cfg(feature = "ssr")]
pub mod events;
#[cfg(feature = "ssr")]
pub mod inbox;
#[cfg(feature = "ssr")]
mod keep;
#[cfg(feature = "ssr")]
mod pass;
#[cfg(feature = "ssr")]
pub mod resolve;
#[cfg(feature = "ssr")]
mod review_sla;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
mod system;

use crate::domain::escalation::{Reason, Rules, Standing};
use crate::review::ReviewItem;
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

impl EscalationRow {
    /// How it stands at `now_ms`: on time, at risk, or overdue, with the time left or past.
    pub fn standing(&self, now_ms: i64) -> Standing {
        Rules { escalation_sla_ms: self.escalation_sla_ms, ..Rules::default() }.standing(self.due_at_ms, now_ms)
    }

    /// The badge class of its standing (none when on time); the standing's label says it in words.
    pub fn standing_class(&self, now_ms: i64) -> &'static str {
        match self.standing(now_ms) {
            Standing::OnTime { .. } => "",
            Standing::AtRisk { .. } => "badge warn",
            Standing::Overdue { .. } => "badge danger",
        }
    }

    /// The trigger, in words.
    pub fn reason_text(&self) -> String {
        Reason::parse(&self.reason).map_or_else(|| self.reason.clone(), |r| r.label().to_owned())
    }

    pub fn level_text(&self) -> &'static str {
        if self.level >= 2 { "2: admins" } else { "1: leads" }
    }

    /// Who escalated it and their note; the system's triggers are Gatehouse's.
    pub fn escalated_by_text(&self) -> String {
        match (&self.escalated_by, &self.note) {
            (Some(who), Some(note)) => format!("{who}: {note}"),
            (Some(who), None) => who.clone(),
            (None, Some(note)) => format!("Gatehouse: {note}"),
            (None, None) => "Gatehouse".to_owned(),
        }
    }
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

/// An item a lead answers for, as its escalation page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationItem {
    /// The item as the review page shows it (without a lease: nobody need hold it).
    pub item: ReviewItem,
    /// The item's state (`escalated`, `assigned`, `claimed` once its assignee took it, or how
    /// it ended).
    pub state: String,
    /// Its open escalation; none once resolved (or in the second before the sweeper opens it).
    pub open: Option<EscalationRow>,
    pub assignee: Option<String>,
    /// The enabled members of its workflow, whom it can be assigned to.
    pub members: Vec<String>,
}

impl EscalationItem {
    /// Whether a lead can still act on it: assign, decide, send back.
    pub fn actionable(&self) -> bool {
        matches!(self.state.as_str(), "escalated" | "assigned")
    }
}

/// What the navigation tells the signed-in user needs them, refreshed every
/// [`COUNTS_EVERY_SECS`] while a page is open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Open escalations nobody is assigned: of the workflows a lead is a member of; for an
    /// admin also every workflow's at level 2.
    pub escalations: i64,
    /// Items a lead assigned to them, not yet claimed.
    pub assigned: i64,
    /// For admins: the workflows whose breaker is open, `(slug, name)`.
    pub breakers: Vec<(String, String)>,
}

/// How often an open page asks for [`Counts`] again (short polling: one small request, no
/// connection held open per tab).
pub const COUNTS_EVERY_SECS: u64 = 30;

/// The page of one escalated item.
pub fn escalation_href(item_id: i64) -> String {
    format!("/escalations/{item_id}")
}
