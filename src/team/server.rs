//! The team page's queries. None grows with the whole history, and none with the week's
//! decisions one by one where a rollup already counts them:
//! - the decisions of this week and today, summed from the hourly rollup `reviewer_hours`
//!   (a week and a day start on an hour, so the sums are exact);
//! - the escalations of the last 30 days by reason, summed from `escalation_hours`, with the
//!   part of the first hour that falls inside the 30 days counted from the escalations;
//! - items in hand, by holder and by assignee;
//! - the escalations members asked for this week, from an index of escalate decisions alone
//!   (migration 0018);
//! - each member's latest decisions of the week, for the median time, ranked in the database.
//!
//! The reads run side by side, each on a connection of its own; the medians a few at a time.

use super::{ESCALATION_DAYS, MEDIAN_OVER, MemberLoad, Team};
use crate::domain::item_state::state_sql;
use crate::domain::monitoring::{DAY_MS, HOUR_MS};
use crate::domain::workload::{day_start, median, overturns, week_start};
use crate::error::AppError;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::storage::dialect::id_list;
use crate::users::server::UserRecord;
use std::collections::HashMap;

/// The decisions a person makes on an item (not a skip, an assignment or an undo), not undone.
const DECIDED: &str = "d.kind in ('approve', 'reject', 'correct', 'escalate') \
     and not exists (select 1 from decisions u where u.undoes = d.id)";

/// How many members' medians are read at once.
const MEDIANS_AT_ONCE: usize = 3;

#[derive(sqlx::FromRow)]
struct Member {
    id: i64,
    email: String,
    name: String,
    role: String,
}

/// A member's decisions since the start of the week, and of those, today's.
#[derive(sqlx::FromRow)]
struct DecisionCounts {
    actor_id: i64,
    this_week: i64,
    today: i64,
}

/// How many escalations a member asked for that were rejected (or not) and whose items are
/// now in one state.
#[derive(sqlx::FromRow)]
struct AskedEscalations {
    actor_id: i64,
    rejected: i64,
    state: String,
    n: i64,
}

/// The workload of the members of the workflows `user` answers for (every workflow for an
/// admin; those they are a member of for a lead), or of one of them by slug.
pub async fn team(db: &Db, user: &UserRecord, only: Option<&str>) -> Result<Team, AppError> {
    let now = now_ms();
    let workflows = crate::workflows::membership::answered_for(db, user).await?;
    let chosen: Vec<i64> = workflows.iter().filter(|w| only.is_none_or(|o| o == w.slug)).map(|w| w.id).collect();
    let workflows_shown = workflows.into_iter().map(|w| (w.slug, w.name)).collect();
    if chosen.is_empty() {
        return Ok(Team {
            members: Vec::new(),
            escalations_by_reason: Vec::new(),
            workflows: workflows_shown,
            now_ms: now,
        });
    }
    let in_workflows = id_list(chosen.iter().copied());
    let members: Vec<Member> = sqlx::query_as(&format!(
        "select distinct u.id, u.email, u.name, u.role from workflow_members m join users u on u.id = m.user_id \
         where m.workflow_id in ({in_workflows}) and u.disabled_at is null order by u.email"
    ))
    .fetch_all(db.pool())
    .await?;
    let escalations_by_reason = escalations_by_reason(db, &in_workflows, now - ESCALATION_DAYS * DAY_MS);
    if members.is_empty() {
        return Ok(Team {
            members: Vec::new(),
            escalations_by_reason: escalations_by_reason.await?,
            workflows: workflows_shown,
            now_ms: now,
        });
    }
    let in_members = id_list(members.iter().map(|m| m.id));
    let week = week_start(now);
    let (escalations_by_reason, counted, held, overturned, medians) = tokio::try_join!(
        escalations_by_reason,
        decision_counts(db, &in_members, &in_workflows, day_start(now), week),
        in_hand(db, &in_members, &in_workflows, now),
        overturned(db, &in_members, &in_workflows, week),
        medians(db, &members, &in_workflows, week),
    )?;
    let members = members
        .into_iter()
        .map(|member| {
            let (this_week, today) = counted.get(&member.id).copied().unwrap_or_default();
            MemberLoad {
                in_hand: held.get(&member.id).copied().unwrap_or_default(),
                decisions_today: today,
                decisions_this_week: this_week,
                median_ms: medians.get(&member.id).copied().flatten(),
                overturned: overturned.get(&member.id).copied().unwrap_or_default(),
                email: member.email,
                name: member.name,
                role: member.role,
            }
        })
        .collect();
    Ok(Team { members, escalations_by_reason, workflows: workflows_shown, now_ms: now })
}

/// (reason, count) of the escalations of the workflows opened since `since`, most first: the
/// whole hours after the one `since` falls in from the rollup, and that hour's part from the
/// escalations themselves.
async fn escalations_by_reason(db: &Db, in_workflows: &str, since: i64) -> Result<Vec<(String, i64)>, AppError> {
    let first_hour = since.div_euclid(HOUR_MS);
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "select reason, cast(sum(n) as bigint) as n from (\
         select reason, opened as n from escalation_hours where workflow_id in ({in_workflows}) and hour > $1 \
         union all select reason, 1 as n from escalations where workflow_id in ({in_workflows}) \
         and opened_at >= $2 and opened_at < $3) opened group by reason having sum(n) > 0 order by n desc, reason"
    ))
    .bind(first_hour)
    .bind(since)
    .bind((first_hour + 1) * HOUR_MS)
    .fetch_all(db.pool())
    .await?;
    Ok(rows)
}

/// Each member's decisions this week and today, by member id, from the hourly rollup the
/// decision writers keep (migration 0013): it counts the same decisions as [`DECIDED`] (an undo
/// takes its decision back out of the hour it was made in).
async fn decision_counts(
    db: &Db,
    in_members: &str,
    in_workflows: &str,
    today: i64,
    week: i64,
) -> Result<HashMap<i64, (i64, i64)>, AppError> {
    let counted: Vec<DecisionCounts> = sqlx::query_as(&format!(
        "select actor_id, cast(sum(decisions) as bigint) as this_week, \
         cast(sum(case when hour >= $1 then decisions else 0 end) as bigint) as today from reviewer_hours \
         where actor_id in ({in_members}) and workflow_id in ({in_workflows}) and hour >= $2 \
         and kind in ('approve', 'reject', 'correct', 'escalate') group by actor_id"
    ))
    .bind(today / HOUR_MS)
    .bind(week / HOUR_MS)
    .fetch_all(db.pool())
    .await?;
    Ok(counted.into_iter().map(|c| (c.actor_id, (c.this_week, c.today))).collect())
}

/// The items each member holds under a lease, and those assigned to them not yet claimed.
async fn in_hand(db: &Db, in_members: &str, in_workflows: &str, now: i64) -> Result<HashMap<i64, i64>, AppError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
        concat!(
            "select leased_by, count(*) from items where state = ",
            state_sql!(Claimed),
            " and leased_by in ({members}) and workflow_id in ({workflows}) and lease_expires_at > $1 \
             group by leased_by union all select assigned_to, count(*) from items where state = ",
            state_sql!(Assigned),
            " and assigned_to in ({members}) and workflow_id in ({workflows}) group by assigned_to"
        ),
        members = in_members,
        workflows = in_workflows
    ))
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    let mut held: HashMap<i64, i64> = HashMap::new();
    for (id, n) in rows {
        *held.entry(id).or_default() += n;
    }
    Ok(held)
}

/// Of the escalations each member asked for this week, how many a lead overturned (by how
/// their items ended). Counted by kind in the database, so a few rows come back however many
/// were asked for; `d.kind = 'escalate'` lets both databases read the index of escalate
/// decisions alone.
async fn overturned(db: &Db, in_members: &str, in_workflows: &str, week: i64) -> Result<HashMap<i64, i64>, AppError> {
    let asked: Vec<AskedEscalations> = sqlx::query_as(&format!(
        "select d.actor_id, case when d.reason_code is null then 0 else 1 end as rejected, i.state, count(*) as n \
         from decisions d join items i on i.id = d.item_id where d.actor_id in ({in_members}) \
         and d.created_at >= $1 and d.workflow_id in ({in_workflows}) and d.kind = 'escalate' \
         and not exists (select 1 from decisions u where u.undoes = d.id) group by 1, 2, 3"
    ))
    .bind(week)
    .fetch_all(db.pool())
    .await?;
    let mut overturned: HashMap<i64, i64> = HashMap::new();
    for AskedEscalations { actor_id, rejected, state, n } in asked {
        if overturns(rejected == 1, &state) {
            *overturned.entry(actor_id).or_default() += n;
        }
    }
    Ok(overturned)
}

/// Each member's median time per decision over their latest [`MEDIAN_OVER`] decisions this
/// week (none without one), by member id. The database ranks them and returns the middle one or
/// two, of which [`median`] takes the mean: one or two rows a member rather than 500.
async fn medians(
    db: &Db,
    members: &[Member],
    in_workflows: &str,
    week: i64,
) -> Result<HashMap<i64, Option<i64>>, AppError> {
    let sql = format!(
        "select time_spent_ms from (select time_spent_ms, row_number() over (order by time_spent_ms) as r, \
         count(*) over () as n from (select d.time_spent_ms from decisions d where d.actor_id = $1 \
         and d.created_at >= $2 and d.workflow_id in ({in_workflows}) and d.time_spent_ms is not null \
         and {DECIDED} order by d.created_at desc limit $3) latest) ranked where r in ((n + 1) / 2, (n + 2) / 2)"
    );
    let at_once = tokio::sync::Semaphore::new(MEDIANS_AT_ONCE);
    let mut reads = Vec::with_capacity(members.len());
    for member in members {
        let (sql, at_once) = (&sql, &at_once);
        reads.push(async move {
            let _turn = at_once.acquire().await.map_err(|_| AppError::internal("the medians' turns were closed"))?;
            let mut spent: Vec<i64> =
                sqlx::query_scalar(sql).bind(member.id).bind(week).bind(MEDIAN_OVER).fetch_all(db.pool()).await?;
            Ok::<_, AppError>((member.id, median(&mut spent)))
        });
    }
    Ok(futures_util::future::try_join_all(reads).await?.into_iter().collect())
}
