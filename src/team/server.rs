//! The team page's queries. Each reads an index by member or by workflow and time (decisions by
//! actor and time, items in hand by holder or assignee, escalations by workflow and opening), so
//! none grows with the whole history: this week's decisions of the members shown, and the last
//! 30 days' escalations.

use super::{ESCALATION_DAYS, MEDIAN_OVER, MemberLoad, Team};
use crate::domain::item_state::state_sql;
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

/// An escalation a member asked for, whether it was rejected, and the state its item is in now.
#[derive(sqlx::FromRow)]
struct AskedEscalation {
    actor_id: i64,
    rejected: i64,
    state: String,
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
    let in_members = id_list(members.iter().map(|m| m.id));
    let (today, week) = (day_start(now), week_start(now));

    // The escalations by reason are counted beside the members' work, on a connection of their own.
    let by_reason = async {
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "select reason, count(*) as n from escalations where workflow_id in ({in_workflows}) and opened_at >= $1 \
             group by reason order by n desc, reason"
        ))
        .bind(now - ESCALATION_DAYS * 86_400_000)
        .fetch_all(db.pool())
        .await?;
        Ok::<_, AppError>(rows)
    };
    let workload = async {
        let counted: Vec<DecisionCounts> = if members.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(&format!(
                "select d.actor_id, count(*) as this_week, sum(case when d.created_at >= $1 then 1 else 0 end) as today \
             from decisions d \
             where d.actor_id in ({in_members}) and d.created_at >= $2 and d.workflow_id in ({in_workflows}) \
             and {DECIDED} group by d.actor_id"
            ))
            .bind(today)
            .bind(week)
            .fetch_all(db.pool())
            .await?
        };
        let counted: HashMap<i64, (i64, i64)> =
            counted.into_iter().map(|c| (c.actor_id, (c.this_week, c.today))).collect();

        let in_hand: Vec<(i64, i64)> = if members.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(&format!(
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
            .await?
        };
        let mut held: HashMap<i64, i64> = HashMap::new();
        for (id, n) in in_hand {
            *held.entry(id).or_default() += n;
        }

        // The escalations members asked for this week, with how their items ended.
        let asked: Vec<AskedEscalation> = if members.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(&format!(
                "select d.actor_id, case when d.reason_code is null then 0 else 1 end as rejected, i.state from decisions d \
             join items i on i.id = d.item_id where d.actor_id in ({in_members}) and d.created_at >= $1 \
             and d.workflow_id in ({in_workflows}) and d.kind = 'escalate' \
             and not exists (select 1 from decisions u where u.undoes = d.id)"
            ))
            .bind(week)
            .fetch_all(db.pool())
            .await?
        };
        let mut overturned: HashMap<i64, i64> = HashMap::new();
        for AskedEscalation { actor_id, rejected, state } in asked {
            if overturns(rejected == 1, &state) {
                *overturned.entry(actor_id).or_default() += 1;
            }
        }

        let mut loads = Vec::with_capacity(members.len());
        for member in members {
            let (this_week, today) = counted.get(&member.id).copied().unwrap_or_default();
            let median_ms = if this_week == 0 {
                None
            } else {
                let mut spent: Vec<i64> = sqlx::query_scalar(&format!(
                    "select d.time_spent_ms from decisions d where d.actor_id = $1 and d.created_at >= $2 \
                 and d.workflow_id in ({in_workflows}) and d.time_spent_ms is not null and {DECIDED} \
                 order by d.created_at desc limit $3"
                ))
                .bind(member.id)
                .bind(week)
                .bind(MEDIAN_OVER)
                .fetch_all(db.pool())
                .await?;
                median(&mut spent)
            };
            loads.push(MemberLoad {
                in_hand: held.get(&member.id).copied().unwrap_or_default(),
                decisions_today: today,
                decisions_this_week: this_week,
                median_ms,
                overturned: overturned.get(&member.id).copied().unwrap_or_default(),
                email: member.email,
                name: member.name,
                role: member.role,
            });
        }
        Ok::<_, AppError>(loads)
    };
    let (escalations_by_reason, loads) = tokio::try_join!(by_reason, workload)?;
    Ok(Team { members: loads, escalations_by_reason, workflows: workflows_shown, now_ms: now })
}
