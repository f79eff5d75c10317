//! The climb and flag pass: each open escalation whose escalation SLA ran out climbs from the
//! leads to the admins, and one overdue at the top is flagged, each step dated when it fell due
//! on the escalation's row (which the item's history reads it from:
//! [`crate::items::escalation_steps`]) and counted in the hourly rollup of breaches.

use super::pass::{CHUNK, Workflow};
use crate::domain::escalation::{Due, Level, Rules};
use crate::error::AppError;
use crate::storage::db::Backend;
use crate::storage::dialect;
use sqlx::AnyConnection;

#[derive(sqlx::FromRow)]
struct Open {
    id: i64,
    level: i64,
    level_since: i64,
}

/// Climbs and flags the open escalations of the workflow due by `now` (a chunk of them, under
/// SKIP LOCKED on PostgreSQL), each step dated when it fell due by the domain's rules. Nearly
/// all of a chunk's escalations come out alike (the same steps at the same offsets from their
/// own `level_since`), so each such group costs one update and its rollup; nothing is bound per
/// escalation. How many climbed, how many were flagged, and how many it looked at.
pub(super) async fn climb_due(
    conn: &mut AnyConnection,
    backend: Backend,
    workflow: Workflow<'_>,
    rules: &Rules,
    now: i64,
) -> Result<(usize, usize, usize), AppError> {
    let due: Vec<Open> = sqlx::query_as(&format!(
        "select id, level, level_since from escalations where workflow_id = $1 and resolved_at is null \
         and flagged_at is null and due_at <= $2 order by due_at limit $3{}",
        backend.skip_locked()
    ))
    .bind(workflow.id)
    .bind(now)
    .bind(CHUNK)
    .fetch_all(&mut *conn)
    .await?;
    let mut alike: std::collections::BTreeMap<Outcome, Vec<i64>> = Default::default();
    let (mut climbed, mut flagged) = (0, 0);
    for open in &due {
        let Some(start) = Level::from_number(open.level) else { continue };
        let (mut level, mut since, mut flagged_at) = (start, open.level_since, None);
        let mut steps = Vec::new();
        loop {
            match rules.due_by(level, since, now) {
                Due::Climb { to, at } => {
                    steps.push((Step::Climb, at - open.level_since));
                    (level, since) = (to, at);
                }
                Due::Overdue { since: at } => {
                    steps.push((Step::Flag, at - open.level_since));
                    flagged_at = Some(at);
                    break;
                }
                Due::Nothing { .. } => break,
            }
        }
        climbed += usize::from(level != start);
        flagged += usize::from(flagged_at.is_some());
        let outcome = Outcome {
            steps,
            level: level.number(),
            since: since - open.level_since,
            due: rules.escalation_due_at(since) - open.level_since,
            flagged: flagged_at.map(|at| at - open.level_since),
        };
        alike.entry(outcome).or_default().push(open.id);
    }
    for (outcome, ids) in alike {
        if outcome.steps.is_empty() {
            continue;
        }
        let ids = dialect::id_list(ids);
        count_climbs(conn, backend, &ids, &outcome).await?;
        let flagged_at = if outcome.flagged.is_some() { "level_since + $4" } else { "null" };
        let sql = format!(
            "update escalations set level = $1, level_since = level_since + $2, due_at = level_since + $3, \
             flagged_at = {flagged_at} where id in ({ids}) and resolved_at is null"
        );
        let mut query = sqlx::query(&sql).persistent(false).bind(outcome.level).bind(outcome.since).bind(outcome.due);
        if let Some(flagged) = outcome.flagged {
            query = query.bind(flagged);
        }
        query.execute(&mut *conn).await?;
    }
    Ok((climbed, flagged, due.len()))
}

/// Counts the climbs and the flag of the escalations `ids`, which came out alike as `outcome`,
/// into the hourly rollup (the dashboard's breaches), each at the hour it fell due; before their
/// update, while `level_since` is still the one the offsets count from. One statement for both
/// steps, each escalation's model version looked up once by its item's key: a join let PostgreSQL
/// read every item for a chunk of 2,000 (half of a climb's time). On PostgreSQL each connection
/// writes its own shard (its backend id modulo 8, as the triggers do), in the rollup's key order:
/// two sweepers wait on each other only when their shards are the same, and never deadlock.
async fn count_climbs(
    conn: &mut AnyConnection,
    backend: Backend,
    ids: &str,
    outcome: &Outcome,
) -> Result<(), AppError> {
    let shard = match backend {
        Backend::Sqlite => "0",
        Backend::Postgres => "pg_backend_pid() % 8",
    };
    let climbs = outcome.steps.iter().filter(|(step, _)| *step == Step::Climb).count() as i64;
    // Each step as (offset from `level_since`, climbs, flags).
    let steps: Vec<(i64, i64, i64)> = (climbs > 0)
        .then_some((outcome.since, climbs, 0))
        .into_iter()
        .chain(outcome.flagged.map(|at| (at, 0, 1)))
        .collect();
    if steps.is_empty() {
        return Ok(());
    }
    let rows = (0..steps.len())
        .map(|n| format!("select ${} as at, ${} as climbed, ${} as flagged", 3 * n + 1, 3 * n + 2, 3 * n + 3))
        .collect::<Vec<_>>()
        .join(" union all ");
    let sql = format!(
        "with e as materialized (select workflow_id, level_since, reason, \
         (select coalesce(i.model_version, '') from items i where i.id = item_id) as model_version \
         from escalations where id in ({ids})) \
         insert into escalation_hours (workflow_id, hour, model_version, reason, shard, climbed, flagged) \
         select e.workflow_id, (e.level_since + s.at) / 3600000, e.model_version, e.reason, {shard}, \
         sum(s.climbed), sum(s.flagged) from e cross join ({rows}) s where true \
         group by 1, 2, 3, 4 order by 1, 2, 3, 4 \
         on conflict (workflow_id, hour, model_version, reason, shard) \
         do update set climbed = escalation_hours.climbed + excluded.climbed, \
         flagged = escalation_hours.flagged + excluded.flagged"
    );
    let mut query = sqlx::query(&sql).persistent(false);
    for (at, climbed, flagged) in steps {
        query = query.bind(at).bind(climbed).bind(flagged);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// A step of an escalation's climb, each a line of its item's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Climb,
    Flag,
}

/// Where a sweep leaves an escalation, relative to the time its level began before the sweep:
/// its steps on the way, the level, when it began, when it falls due, when it was flagged (if
/// it was).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Outcome {
    steps: Vec<(Step, i64)>,
    level: i64,
    since: i64,
    due: i64,
    flagged: Option<i64>,
}
