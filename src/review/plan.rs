//! A decision ready to be written, and what writing it did. A [`Plan`] is made by
//! [`super::decide`] (checked and validated, outside any lock) and written by the group writer
//! ([`super::writer`]), which only writes.

use crate::domain::item_state::{Action, ItemState};
use crate::storage::audit::Actor;
use crate::workflows::server::Workflow;
use serde_json::{Value, json};
use std::sync::Arc;

/// A decision ready to be written: checked and validated, needing only the write lock.
pub struct Plan {
    pub item_id: i64,
    pub user_id: i64,
    pub actor: Actor,
    /// The lease it was made under; the write happens only while it is still the item's.
    pub token: String,
    pub action: Action,
    pub next_state: ItemState,
    pub reason_code: Option<String>,
    pub note: Option<String>,
    /// The output it settles on, as JSON.
    pub output: Option<String>,
    pub time_spent: Option<i64>,
    /// When it can no longer be undone (its webhook is sent then).
    pub settles_at: i64,
    pub now: i64,
    /// An item the next claim must pass over (the one just skipped), or 0.
    pub skipped: i64,
    pub workflow: Arc<Workflow>,
}

impl Plan {
    /// What the item becomes: the outcome, final output and decision time when the decision
    /// ends its life (all `None` otherwise).
    pub fn item_outcome(&self) -> (Option<&'static str>, Option<String>, Option<i64>) {
        let terminal = self.next_state.is_terminal();
        (
            terminal.then(|| self.next_state.as_str()),
            if terminal { self.output.clone() } else { None },
            terminal.then_some(self.now),
        )
    }

    /// The audit entry's detail: `{"decision": id, "reason_code": …, "time_spent_ms": …}`.
    pub fn audit_detail(&self, decision_id: i64) -> Value {
        json!({ "decision": decision_id, "reason_code": self.reason_code, "time_spent_ms": self.time_spent })
    }

    /// The audit entry's action: `item.approve`, … (a skip is not audited).
    pub fn audit_action(&self) -> Option<String> {
        (self.action != Action::Release).then(|| format!("item.{}", self.action.as_str()))
    }

    /// The audit entry's subject.
    pub fn audit_subject(&self) -> String {
        format!("item:{}", self.item_id)
    }
}

/// What writing a [`Plan`] did.
#[derive(Debug, Clone)]
pub enum Written {
    /// Recorded, and the reviewer's next item leased (if the queue had one).
    Decided { decision_id: i64, next: Option<Box<super::item_view::Claimed>> },
    /// The lease was no longer the one the plan was made under; nothing was written.
    NotHeld,
}
