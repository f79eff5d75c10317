//! The audit log made readable: every change Gatehouse records (who, what, which workflow, when),
//! filtered and a page at a time, for admins on `/settings/audit` ([`api`]) and for admin-scoped
//! keys at `GET /api/v1/audit` ([`rest`]). It is read only: nothing in Gatehouse changes or
//! deletes an event ([`crate::storage::audit`] appends them inside each change's transaction).

pub mod api;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod server;

use serde::{Deserialize, Serialize};

/// The most events one page holds.
pub const MAX_PAGE: i64 = 200;

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who: a user's email, `cli` or `system`.
    pub actor: String,
    /// What, as `area.verb` (`item.approve`, `workflow.update`, `user.set_role`, …).
    pub action: String,
    /// What it was done to (an email, a workflow's slug, `item:42`, …).
    pub subject: String,
    /// The workflow it concerns, if any (its slug).
    pub workflow: Option<String>,
    /// The change's details, as recorded (JSON).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// One page of events, newest first, and the cursor of the next (older) page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The audit page: its events and the workflows to filter by (`(slug, name)`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub page: AuditPage,
    pub workflows: Vec<(String, String)>,
}
