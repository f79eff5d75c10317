//! The steps an item's escalations took on their own (a climb to the admins when the escalation
//! SLA ran out, a flag once overdue at the top), as lines of the item's history among its
//! decisions. They are not decisions and are not stored as such: an escalation's row already
//! holds when each fell due (`level_since` once at level 2, `flagged_at`), and writing them as
//! decisions too was most of the sweeper's time (docs/BENCHMARKS.md, Escalations at scale).

use super::HistoryLine;
use super::decisions::SYSTEM;
use crate::domain::escalation::duration_words;
use crate::error::AppError;
use sqlx::AnyConnection;

/// The note of a climb, which names the escalation SLA that ran out.
fn climb_note(sla_ms: i64) -> String {
    format!("Climbed to level 2: the escalation SLA of {} ran out.", duration_words(sla_ms))
}

/// The note of a flag.
const FLAG_NOTE: &str = "Overdue at the top level: nobody is left to climb to.";

/// What an escalation's row says of its steps: opened at level 1, at `level` since
/// `level_since` (a climb is dated when it fell due, so at level 2 the SLA that ran out is
/// `level_since - opened_at`), flagged at `flagged_at`.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
struct Escalation {
    opened_at: i64,
    level: i64,
    level_since: i64,
    flagged_at: Option<i64>,
}

impl Escalation {
    fn steps(self) -> impl Iterator<Item = HistoryLine> {
        let line = |kind: &str, at_ms: i64, note: String| HistoryLine {
            kind: kind.to_owned(),
            actor: SYSTEM.to_owned(),
            at_ms,
            reason_code: None,
            note: Some(note),
            undone: false,
        };
        let climbed =
            (self.level > 1).then(|| line("climb", self.level_since, climb_note(self.level_since - self.opened_at)));
        let flagged = self.flagged_at.map(|at| line("flag", at, FLAG_NOTE.to_owned()));
        climbed.into_iter().chain(flagged)
    }
}

/// The item's history `lines` (its decisions, oldest first) with the steps of its escalations
/// among them, each after the lines dated no later than it.
pub async fn with_steps(
    conn: &mut AnyConnection,
    item_id: i64,
    lines: Vec<HistoryLine>,
) -> Result<Vec<HistoryLine>, AppError> {
    // Only escalations that took a step, by the index of escalations by item.
    let escalations: Vec<Escalation> = sqlx::query_as(
        "select opened_at, level, level_since, flagged_at from escalations \
         where item_id = $1 and (level > 1 or flagged_at is not null) order by id",
    )
    .bind(item_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(merged(lines, escalations.into_iter().flat_map(Escalation::steps)))
}

/// `lines` with each of `steps` (in time order) placed after the lines dated no later than it;
/// the order of `lines` is kept.
fn merged(lines: Vec<HistoryLine>, steps: impl Iterator<Item = HistoryLine>) -> Vec<HistoryLine> {
    let mut out = Vec::with_capacity(lines.len());
    let mut lines = lines.into_iter().peekable();
    for step in steps {
        while let Some(line) = lines.next_if(|line| line.at_ms <= step.at_ms) {
            out.push(line);
        }
        out.push(step);
    }
    out.extend(lines);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn decision(kind: &str, at_ms: i64) -> HistoryLine {
        HistoryLine {
            kind: kind.into(),
            actor: "lead@example.com".into(),
            at_ms,
            reason_code: None,
            note: None,
            undone: false,
        }
    }

    fn kinds(lines: &[HistoryLine]) -> Vec<(&str, i64)> {
        lines.iter().map(|l| (l.kind.as_str(), l.at_ms)).collect()
    }

    #[test]
    fn an_escalation_at_level_one_took_no_step() {
        let open = Escalation { opened_at: 0, level: 1, level_since: 0, flagged_at: None };
        assert_eq!(open.steps().count(), 0);
    }

    #[test]
    fn a_climb_names_the_sla_that_ran_out_and_a_flag_follows_it() {
        let top = Escalation { opened_at: HOUR, level: 2, level_since: 9 * HOUR, flagged_at: Some(17 * HOUR) };
        let steps: Vec<HistoryLine> = top.steps().collect();
        assert_eq!(kinds(&steps), [("climb", 9 * HOUR), ("flag", 17 * HOUR)]);
        assert_eq!(steps[0].note.as_deref(), Some("Climbed to level 2: the escalation SLA of 8 h ran out."));
        assert_eq!(steps[1].note.as_deref(), Some(FLAG_NOTE));
        assert!(steps.iter().all(|s| s.actor == SYSTEM && !s.undone));
    }

    #[test]
    fn steps_go_among_the_decisions_by_time_and_the_decisions_keep_their_order() {
        // The escalate decision is dated before the assignment, which came after the climb;
        // the two last decisions share a time and keep their order.
        let lines = vec![decision("escalate", HOUR), decision("assign", 5 * HOUR), decision("approve", 5 * HOUR)];
        let steps = Escalation { opened_at: HOUR, level: 2, level_since: 3 * HOUR, flagged_at: Some(5 * HOUR) }.steps();
        assert_eq!(
            kinds(&merged(lines, steps)),
            [("escalate", HOUR), ("climb", 3 * HOUR), ("assign", 5 * HOUR), ("approve", 5 * HOUR), ("flag", 5 * HOUR)]
        );
        let none = merged(vec![decision("escalate", HOUR)], std::iter::empty());
        assert_eq!(kinds(&none), [("escalate", HOUR)]);
        let only = merged(vec![], Escalation { opened_at: 0, level: 2, level_since: HOUR, flagged_at: None }.steps());
        assert_eq!(kinds(&only), [("climb", HOUR)]);
    }
}
