//! Escalation (docs/DESIGN.md, Domain and Item life): why an item needs more than a reviewer,
//! who must act on it (its level), and by when. Pure: every function takes the time it judges
//! by, so the rules are tested with any clock and a sweeper that was down can replay what it
//! missed.

use serde::{Deserialize, Serialize};

/// Why an item was escalated. Recorded with the escalation; each is one trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A reviewer escalated it, with a note.
    Reviewer,
    /// Its confidence was below the workflow's `escalate_below` at ingest.
    LowConfidence,
    /// It waited for review past the workflow's review SLA.
    ReviewSla,
    /// Its lease ran out unrenewed as many times as the workflow allows.
    LeaseExpiries,
    /// A reviewer rejected it with a reason code the workflow escalates on.
    RejectReason,
}

impl Reason {
    pub const ALL: [Reason; 5] =
        [Reason::Reviewer, Reason::LowConfidence, Reason::ReviewSla, Reason::LeaseExpiries, Reason::RejectReason];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Reviewer => "reviewer",
            Reason::LowConfidence => "low_confidence",
            Reason::ReviewSla => "review_sla",
            Reason::LeaseExpiries => "lease_expiries",
            Reason::RejectReason => "reject_reason",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// How a lead reads it in the inbox.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Reviewer => "Escalated by a reviewer",
            Reason::LowConfidence => "Low confidence",
            Reason::ReviewSla => "Waited past the review SLA",
            Reason::LeaseExpiries => "Lease expired repeatedly",
            Reason::RejectReason => "Rejected for a reason that escalates",
        }
    }
}

/// Who must act on an open escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// The workflow's leads.
    Leads = 1,
    /// The admins, once the leads let the escalation SLA pass.
    Admins = 2,
}

impl Level {
    pub fn number(self) -> i64 {
        self as i64
    }

    pub fn from_number(n: i64) -> Option<Self> {
        match n {
            1 => Some(Level::Leads),
            2 => Some(Level::Admins),
            _ => None,
        }
    }

    /// The level above, if there is one.
    pub fn above(self) -> Option<Self> {
        match self {
            Level::Leads => Some(Level::Admins),
            Level::Admins => None,
        }
    }
}

/// A workflow's escalation rules, as its settings give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// How long an item may wait for review before it is escalated (ms).
    pub review_sla_ms: i64,
    /// How long an escalation may stay at one level before it climbs (ms).
    pub escalation_sla_ms: i64,
    /// Expired leases after which an item is escalated; 0 turns the trigger off.
    pub lease_expiry_limit: u32,
    /// Reject reason codes that escalate the item instead of settling it.
    pub escalate_on: Vec<String>,
}

impl Rules {
    /// When an item waiting since `waiting_since_ms` breaches the review SLA.
    pub fn review_due_at(&self, waiting_since_ms: i64) -> i64 {
        waiting_since_ms.saturating_add(self.review_sla_ms)
    }

    /// Whether the `expired`-th expiry of an item's lease escalates it.
    pub fn lease_expiries_escalate(&self, expired: u32) -> bool {
        self.lease_expiry_limit > 0 && expired >= self.lease_expiry_limit
    }

    /// Whether a rejection with `reason_code` escalates the item.
    pub fn reject_escalates(&self, reason_code: &str) -> bool {
        self.escalate_on.iter().any(|code| code == reason_code)
    }

    /// When an escalation at its level since `level_since_ms` is due to be acted on.
    pub fn escalation_due_at(&self, level_since_ms: i64) -> i64 {
        level_since_ms.saturating_add(self.escalation_sla_ms)
    }

    /// What is due by `now` for an escalation at `level` since `level_since_ms`: the climb to the
    /// level above, at the time it fell due (not when somebody noticed), or, at the top level,
    /// that it is overdue. A sweeper that was down for days replays exactly this.
    pub fn due_by(&self, level: Level, level_since_ms: i64, now_ms: i64) -> Due {
        let due = self.escalation_due_at(level_since_ms);
        if now_ms < due {
            return Due::Nothing { next_at: due };
        }
        match level.above() {
            Some(next) => Due::Climb { to: next, at: due },
            None => Due::Overdue { since: due },
        }
    }

    /// How an escalation due at `due_ms` stands at `now_ms`: on time, at risk in the last quarter
    /// of its SLA, or overdue.
    pub fn standing(&self, due_ms: i64, now_ms: i64) -> Standing {
        let left = due_ms - now_ms;
        if left < 0 {
            Standing::Overdue { by_ms: -left }
        } else if left * 4 <= self.escalation_sla_ms {
            Standing::AtRisk { left_ms: left }
        } else {
            Standing::OnTime { left_ms: left }
        }
    }
}

/// What [`Rules::due_by`] finds due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Nothing {
        next_at: i64,
    },
    /// Climb to `to`, recorded at `at`; the new level's SLA runs from `at`.
    Climb {
        to: Level,
        at: i64,
    },
    /// Past the top level's SLA since `since`: flagged, nothing left to climb.
    Overdue {
        since: i64,
    },
}

/// How an open escalation stands against its SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    OnTime { left_ms: i64 },
    AtRisk { left_ms: i64 },
    Overdue { by_ms: i64 },
}

impl Standing {
    /// In words, for the inbox (never colour alone).
    pub fn label(self) -> String {
        match self {
            Standing::OnTime { left_ms } => format!("{} left", duration_words(left_ms)),
            Standing::AtRisk { left_ms } => format!("At risk: {} left", duration_words(left_ms)),
            Standing::Overdue { by_ms } => format!("Overdue by {}", duration_words(by_ms)),
        }
    }
}

/// A duration as a lead reads it: "45 min", "3 h 20 min", "2 d 4 h".
pub fn duration_words(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, h) if mins == 0 => format!("{h} h"),
        (0, h) => format!("{h} h {mins} min"),
        (d, 0) => format!("{d} d"),
        (d, h) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    fn rules() -> Rules {
        Rules {
            review_sla_ms: 4 * HOUR,
            escalation_sla_ms: 8 * HOUR,
            lease_expiry_limit: 3,
            escalate_on: vec!["fraud".into(), "legal".into()],
        }
    }

    #[test]
    fn reasons_and_levels_round_trip() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::parse("bogus"), None);
        assert_eq!(Level::from_number(Level::Leads.number()), Some(Level::Leads));
        assert_eq!(Level::from_number(2), Some(Level::Admins));
        assert_eq!(Level::from_number(3), None);
        assert_eq!(Level::Leads.above(), Some(Level::Admins));
        assert_eq!(Level::Admins.above(), None);
    }

    #[test]
    fn triggers_follow_the_rules() {
        let rules = rules();
        assert_eq!(rules.review_due_at(1_000), 1_000 + 4 * HOUR);
        assert!(!rules.lease_expiries_escalate(2));
        assert!(rules.lease_expiries_escalate(3));
        assert!(rules.lease_expiries_escalate(4), "an item past the limit (the rule changed) escalates");
        assert!(!Rules { lease_expiry_limit: 0, ..rules.clone() }.lease_expiries_escalate(100), "0 is off");
        assert!(rules.reject_escalates("fraud"));
        assert!(!rules.reject_escalates("blurry"));
        assert!(!rules.reject_escalates("Fraud"), "codes match exactly");
    }

    #[test]
    fn a_climb_is_due_at_the_end_of_the_sla_and_dated_then() {
        let rules = rules();
        let since = 10 * HOUR;
        assert_eq!(rules.due_by(Level::Leads, since, since + 8 * HOUR - 1), Due::Nothing { next_at: since + 8 * HOUR });
        assert_eq!(
            rules.due_by(Level::Leads, since, since + 8 * HOUR),
            Due::Climb { to: Level::Admins, at: since + 8 * HOUR }
        );
        // A sweeper that wakes three days late dates the climb when it fell due.
        assert_eq!(
            rules.due_by(Level::Leads, since, since + 72 * HOUR),
            Due::Climb { to: Level::Admins, at: since + 8 * HOUR }
        );
        // Replaying from there: the admins' SLA runs from the climb, so it is overdue since then + 8 h.
        let climbed = since + 8 * HOUR;
        assert_eq!(rules.due_by(Level::Admins, climbed, since + 72 * HOUR), Due::Overdue { since: climbed + 8 * HOUR });
        assert_eq!(rules.due_by(Level::Admins, climbed, climbed + HOUR), Due::Nothing { next_at: climbed + 8 * HOUR });
    }

    #[test]
    fn standing_is_on_time_at_risk_in_the_last_quarter_then_overdue() {
        let rules = rules();
        let due = 100 * HOUR;
        assert_eq!(rules.standing(due, due - 3 * HOUR), Standing::OnTime { left_ms: 3 * HOUR });
        assert_eq!(rules.standing(due, due - 2 * HOUR), Standing::AtRisk { left_ms: 2 * HOUR });
        assert_eq!(rules.standing(due, due), Standing::AtRisk { left_ms: 0 });
        assert_eq!(rules.standing(due, due + 90 * MIN), Standing::Overdue { by_ms: 90 * MIN });
        assert_eq!(rules.standing(due, due - 2 * HOUR).label(), "At risk: 2 h left");
        assert_eq!(rules.standing(due, due + 90 * MIN).label(), "Overdue by 1 h 30 min");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration_words(0), "0 min");
        assert_eq!(duration_words(45 * MIN + 59_000), "45 min");
        assert_eq!(duration_words(3 * HOUR), "3 h");
        assert_eq!(duration_words(3 * HOUR + 20 * MIN), "3 h 20 min");
        assert_eq!(duration_words(52 * HOUR), "2 d 4 h");
        assert_eq!(duration_words(48 * HOUR + 5 * MIN), "2 d");
        assert_eq!(duration_words(-5), "0 min");
    }
}
