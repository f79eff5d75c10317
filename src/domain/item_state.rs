//! The life of an item (docs/DESIGN.md, Item life), as a pure state machine.
//!
//! `queued -> claimed -> decided`, `claimed -> queued` on release or lease expiry,
//! `queued | claimed -> escalated -> assigned -> claimed -> decided`; a lead decides an
//! escalated or assigned item directly, or sends it back to the queue. The storage layer asks
//! [`ItemState::apply`] before every change, so a refused transition changes nothing.

use super::routing::Destination;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A state as an SQL literal (`state_sql!(Queued)` is `'queued'`), for statement text fixed at
/// compile time (`concat!`). Statements name states this way rather than binding them because
/// the queue indexes are partial (`where state = 'queued'`), and a planner can use such an index
/// only when the query names the same literal. Checked against [`ItemState::as_str`] below.
#[cfg(any(feature = "ssr", test))]
macro_rules! state_sql {
    (Queued) => {
        "'queued'"
    };
    (Claimed) => {
        "'claimed'"
    };
    (Escalated) => {
        "'escalated'"
    };
    (Assigned) => {
        "'assigned'"
    };
    (AutoApproved) => {
        "'auto_approved'"
    };
    (AutoRejected) => {
        "'auto_rejected'"
    };
    (Approved) => {
        "'approved'"
    };
    (Rejected) => {
        "'rejected'"
    };
    (Corrected) => {
        "'corrected'"
    };
}
#[cfg(any(feature = "ssr", test))]
pub(crate) use state_sql;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Queued,
    Claimed,
    Escalated,
    Assigned,
    AutoApproved,
    AutoRejected,
    Approved,
    Rejected,
    Corrected,
}

/// What someone (or the system) does to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Claim,
    /// The reviewer skips the item: it goes back to where it waited.
    Release,
    /// Nobody renewed the lease in time.
    ExpireLease,
    Approve,
    Reject,
    Correct,
    Escalate,
    /// A lead hands an item to one reviewer.
    Assign,
    /// The reviewer takes back their last decision within the undo window.
    Undo,
    /// A lead sends an escalated (or assigned) item back to the normal queue.
    SendBack,
}

/// Why a transition is refused, in words a reviewer understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub state: ItemState,
    pub action: Action,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.state {
            s if s.is_terminal() => "it has already been decided",
            ItemState::Claimed => "another reviewer holds it",
            ItemState::Escalated => "it has been escalated to a lead",
            ItemState::Assigned => "a lead has assigned it",
            _ => "nobody holds it",
        };
        write!(f, "This item cannot be {} because {why}.", self.action.past_tense())
    }
}

impl std::error::Error for Refused {}

impl ItemState {
    pub const ALL: [ItemState; 9] = [
        ItemState::Queued,
        ItemState::Claimed,
        ItemState::Escalated,
        ItemState::Assigned,
        ItemState::AutoApproved,
        ItemState::AutoRejected,
        ItemState::Approved,
        ItemState::Rejected,
        ItemState::Corrected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Queued => "queued",
            ItemState::Claimed => "claimed",
            ItemState::Escalated => "escalated",
            ItemState::Assigned => "assigned",
            ItemState::AutoApproved => "auto_approved",
            ItemState::AutoRejected => "auto_rejected",
            ItemState::Approved => "approved",
            ItemState::Rejected => "rejected",
            ItemState::Corrected => "corrected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Where an item starts, by where routing sent it.
    pub fn on_arrival(destination: Destination) -> Self {
        match destination {
            Destination::AutoApproved => ItemState::AutoApproved,
            Destination::AutoRejected => ItemState::AutoRejected,
            Destination::Review => ItemState::Queued,
            Destination::Escalation => ItemState::Escalated,
        }
    }

    /// Decided for good: the outcome an automation acts on.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ItemState::AutoApproved
                | ItemState::AutoRejected
                | ItemState::Approved
                | ItemState::Rejected
                | ItemState::Corrected
        )
    }

    /// The state after `action`, or why it is refused. `assigned` says whether a lead assigned
    /// the item, which decides where a released or expired item goes back to.
    pub fn apply(self, action: Action, assigned: bool) -> Result<ItemState, Refused> {
        use Action as A;
        use ItemState as S;
        let back = if assigned { S::Assigned } else { S::Queued };
        let next = match (self, action) {
            (S::Queued | S::Assigned, A::Claim) => S::Claimed,
            (S::Claimed, A::Release | A::ExpireLease) => back,
            (S::Claimed, A::Approve) => S::Approved,
            (S::Claimed, A::Reject) => S::Rejected,
            (S::Claimed, A::Correct) => S::Corrected,
            (S::Queued | S::Claimed, A::Escalate) => S::Escalated,
            (S::Queued | S::Escalated | S::Assigned, A::Assign) => S::Assigned,
            // A lead decides an escalation directly, without a lease: nobody else holds it.
            (S::Escalated | S::Assigned, A::Approve) => S::Approved,
            (S::Escalated | S::Assigned, A::Reject) => S::Rejected,
            (S::Escalated | S::Assigned, A::Correct) => S::Corrected,
            (S::Escalated | S::Assigned, A::SendBack) => S::Queued,
            // Undo puts a human decision back in the hands of the reviewer who made it.
            (S::Approved | S::Rejected | S::Corrected | S::Escalated, A::Undo) => S::Claimed,
            (state, action) => return Err(Refused { state, action }),
        };
        Ok(next)
    }
}

impl fmt::Display for ItemState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    pub const ALL: [Action; 10] = [
        Action::Claim,
        Action::Release,
        Action::ExpireLease,
        Action::Approve,
        Action::Reject,
        Action::Correct,
        Action::Escalate,
        Action::Assign,
        Action::Undo,
        Action::SendBack,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Claim => "claim",
            Action::Release => "release",
            Action::ExpireLease => "lease_expired",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Correct => "correct",
            Action::Escalate => "escalate",
            Action::Assign => "assign",
            Action::Undo => "undo",
            Action::SendBack => "send_back",
        }
    }

    pub fn past_tense(self) -> &'static str {
        match self {
            Action::Claim => "claimed",
            Action::Release => "released",
            Action::ExpireLease => "expired",
            Action::Approve => "approved",
            Action::Reject => "rejected",
            Action::Correct => "corrected",
            Action::Escalate => "escalated",
            Action::Assign => "assigned",
            Action::Undo => "undone",
            Action::SendBack => "sent back to the queue",
        }
    }

    /// A decision that settles the item's outcome (sent to webhooks and pollers).
    pub fn is_final(self) -> bool {
        matches!(self, Action::Approve | Action::Reject | Action::Correct)
    }

    /// A reviewer's decision that may be taken back within the undo window.
    pub fn is_undoable(self) -> bool {
        self.is_final() || self == Action::Escalate
    }

    /// The webhook event a decision emits, if any.
    pub fn event(self) -> Option<&'static str> {
        match self {
            Action::Approve => Some("item.approved"),
            Action::Reject => Some("item.rejected"),
            Action::Correct => Some("item.corrected"),
            Action::Escalate => Some("item.escalated"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use ItemState as S;

    const ACTIONS: [Action; 10] = Action::ALL;

    /// Every allowed transition, written out once more by hand: anything not listed is refused.
    fn expected(state: S, action: A, assigned: bool) -> Option<S> {
        let back = if assigned { S::Assigned } else { S::Queued };
        Some(match (state, action) {
            (S::Queued, A::Claim) => S::Claimed,
            (S::Assigned, A::Claim) => S::Claimed,
            (S::Claimed, A::Release) => back,
            (S::Claimed, A::ExpireLease) => back,
            (S::Claimed, A::Approve) => S::Approved,
            (S::Claimed, A::Reject) => S::Rejected,
            (S::Claimed, A::Correct) => S::Corrected,
            (S::Claimed, A::Escalate) => S::Escalated,
            (S::Queued, A::Escalate) => S::Escalated,
            (S::Queued, A::Assign) => S::Assigned,
            (S::Escalated, A::Assign) => S::Assigned,
            (S::Assigned, A::Assign) => S::Assigned,
            (S::Approved, A::Undo) => S::Claimed,
            (S::Rejected, A::Undo) => S::Claimed,
            (S::Corrected, A::Undo) => S::Claimed,
            (S::Escalated, A::Undo) => S::Claimed,
            (S::Escalated, A::Approve) => S::Approved,
            (S::Assigned, A::Approve) => S::Approved,
            (S::Escalated, A::Reject) => S::Rejected,
            (S::Assigned, A::Reject) => S::Rejected,
            (S::Escalated, A::Correct) => S::Corrected,
            (S::Assigned, A::Correct) => S::Corrected,
            (S::Escalated, A::SendBack) => S::Queued,
            (S::Assigned, A::SendBack) => S::Queued,
            _ => return None,
        })
    }

    #[test]
    fn every_transition_is_allowed_or_refused_as_designed() {
        let mut allowed = 0;
        for state in S::ALL {
            for action in ACTIONS {
                for assigned in [false, true] {
                    let got = state.apply(action, assigned);
                    match expected(state, action, assigned) {
                        Some(next) => {
                            assert_eq!(got, Ok(next), "{state} --{}--> (assigned={assigned})", action.as_str());
                            allowed += 1;
                        }
                        None => assert_eq!(got, Err(Refused { state, action }), "{state} --{}-->", action.as_str()),
                    }
                }
            }
        }
        assert_eq!(allowed, 48, "24 allowed transitions, each with and without an assignee");
    }

    #[test]
    fn terminal_states_accept_nothing_but_an_undo_of_a_human_decision() {
        for state in S::ALL.into_iter().filter(|s| s.is_terminal()) {
            for action in ACTIONS.into_iter().filter(|a| *a != A::Undo) {
                assert!(state.apply(action, false).is_err(), "{state} accepted {}", action.as_str());
            }
        }
        assert!(S::AutoApproved.apply(A::Undo, false).is_err(), "an auto-approval is not a reviewer's to undo");
    }

    #[test]
    fn released_items_go_back_where_they_waited() {
        assert_eq!(S::Claimed.apply(A::Release, false), Ok(S::Queued));
        assert_eq!(S::Claimed.apply(A::ExpireLease, true), Ok(S::Assigned));
    }

    #[test]
    fn refusals_say_why_in_plain_words() {
        let e = S::Approved.apply(A::Reject, false).unwrap_err();
        assert_eq!(e.to_string(), "This item cannot be rejected because it has already been decided.");
        let e = S::Approved.apply(A::SendBack, false).unwrap_err();
        assert_eq!(e.to_string(), "This item cannot be sent back to the queue because it has already been decided.");
        let e = S::Queued.apply(A::Approve, false).unwrap_err();
        assert_eq!(e.to_string(), "This item cannot be approved because nobody holds it.");
    }

    #[test]
    fn sql_literals_name_the_states() {
        let literals = [
            (S::Queued, state_sql!(Queued)),
            (S::Claimed, state_sql!(Claimed)),
            (S::Escalated, state_sql!(Escalated)),
            (S::Assigned, state_sql!(Assigned)),
            (S::AutoApproved, state_sql!(AutoApproved)),
            (S::AutoRejected, state_sql!(AutoRejected)),
            (S::Approved, state_sql!(Approved)),
            (S::Rejected, state_sql!(Rejected)),
            (S::Corrected, state_sql!(Corrected)),
        ];
        assert_eq!(literals.len(), S::ALL.len());
        for (state, literal) in literals {
            assert_eq!(literal, format!("'{}'", state.as_str()));
        }
    }

    #[test]
    fn routing_decides_where_an_item_starts() {
        assert_eq!(S::on_arrival(Destination::AutoApproved), S::AutoApproved);
        assert_eq!(S::on_arrival(Destination::Review), S::Queued);
        assert_eq!(S::on_arrival(Destination::Escalation), S::Escalated);
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in S::ALL {
            assert_eq!(S::parse(state.as_str()), Some(state));
        }
        assert_eq!(S::parse("decided"), None);
    }

    #[test]
    fn only_outcomes_are_final_and_only_decisions_emit_events() {
        let finals: Vec<_> = ACTIONS.into_iter().filter(|a| a.is_final()).collect();
        assert_eq!(finals, vec![A::Approve, A::Reject, A::Correct]);
        assert_eq!(A::Escalate.event(), Some("item.escalated"));
        // Exactly the decisions whose resulting state accepts an undo.
        for action in ACTIONS {
            let undoable = S::Claimed.apply(action, false).is_ok_and(|next| next.apply(A::Undo, false).is_ok());
            assert_eq!(action.is_undoable(), undoable, "{}", action.as_str());
        }
        assert_eq!(A::Claim.event(), None);
    }
}
