//! PostgreSQL: a whole group of decisions written as one statement, so one round trip and one
//! executor start serve a group rather than a decision. The writes are those SQLite makes a
//! statement at a time ([`super::writer`]): the item's new state while the lease is still the
//! plan's, the decision, its audit entry, and the reviewer's next item.

use super::item_view::CLAIMED_COLUMNS;
use super::lease::new_token;
use super::plan::{Plan, Written};
use crate::domain::item_state::state_sql;
use crate::error::AppError;
use crate::items::decisions;
use serde_json::{Value, json};
use sqlx::AnyConnection;

/// What one row of the statement's answer says: which plan (`ord`), its decision, and the next
/// item leased to its reviewer as JSON.
#[derive(sqlx::FromRow)]
struct Decided {
    ord: i64,
    decision_id: i64,
    next: Option<String>,
}

/// Writes `plans` in one statement. The plans go in as a JSON array, in lock order (`order`).
/// The statement's parts see one snapshot: the decided items are still `claimed` there, so no
/// claim picks one of them, and nothing is claimed or recorded for a plan whose conditional
/// update did not match. Each workflow's waiting items are locked (skipping those other groups
/// are claiming) and handed to its decided plans in order. What each did, in the plans' order.
pub async fn decide_group_in_one_statement(
    conn: &mut AnyConnection,
    plans: &[Plan],
    order: &[usize],
) -> Result<Vec<Written>, AppError> {
    let input: Vec<Value> = order
        .iter()
        .map(|&i| {
            let plan = &plans[i];
            let (outcome, final_output, decided_at) = plan.item_outcome();
            // The audit detail with the decision's id left to the statement: `{"decision":` id `,` tail.
            let detail = plan.audit_detail(0).to_string();
            let tail = detail.strip_prefix(r#"{"decision":0,"#).ok_or_else(|| AppError::internal("audit detail"))?;
            let audit_action = plan.audit_action();
            Ok(json!({
                "ord": i,
                "item_id": plan.item_id,
                "user_id": plan.user_id,
                "token": plan.token,
                "now": plan.now,
                "next_state": plan.next_state.as_str(),
                "outcome": outcome,
                "final_output": final_output,
                "decided_at": decided_at,
                "workflow_id": plan.workflow.id,
                "actor_label": plan.actor.label(),
                "kind": plan.action.as_str(),
                "reason_code": plan.reason_code,
                "note": plan.note,
                "output": plan.output,
                "time_spent": plan.time_spent,
                "final": i32::from(plan.action.is_final()),
                "settles_at": plan.settles_at,
                "audited": audit_action.is_some(),
                "audit_action": audit_action.unwrap_or_default(),
                "audit_subject": plan.audit_subject(),
                "audit_tail": tail,
                "new_token": new_token(),
                "lease_until": plan.now + plan.workflow.spec.lease_secs * 1000,
            }))
        })
        .collect::<Result<_, AppError>>()?;
    // The decisions, in the columns' order of `decisions::COLUMNS`.
    let insert_decisions = decisions::insert_select(
        "select p.item_id, p.workflow_id, p.user_id, p.actor_label, p.kind, p.reason_code, p.note, p.output, \
           p.time_spent, p.final, p.now, p.token, null::bigint, p.settles_at \
         from decided d join plans p on p.ord = d.ord order by p.ord",
    );
    let rows: Vec<Decided> = sqlx::query_as(&format!(
        concat!(
            "with plans as materialized ( \
               select * from json_to_recordset($1::json) as p(ord bigint, item_id bigint, user_id bigint, \
                 token text, now bigint, next_state text, outcome text, final_output text, decided_at bigint, \
                 workflow_id bigint, actor_label text, kind text, reason_code text, note text, output text, \
                 time_spent bigint, final bigint, settles_at bigint, audited boolean, audit_action text, \
                 audit_subject text, audit_tail text, new_token text, lease_until bigint)), \
             decided as ( \
               update items i set state = p.next_state, leased_by = null, lease_token = null, \
                 lease_expires_at = null, claimed_at = null, outcome = p.outcome, final_output = p.final_output, \
                 decided_at = p.decided_at, updated_at = p.now \
               from plans p \
               where i.id = p.item_id and i.state = ",
            state_sql!(Claimed),
            " and i.leased_by = p.user_id and i.lease_token = p.token \
                 and i.lease_expires_at > p.now \
               returning p.ord, p.token), \
             decision as ({insert_decisions} returning id, lease_token), \
             audited as ( \
               insert into audit_events (at, actor_id, actor_label, action, subject, detail, workflow_id) \
               select p.now, p.user_id, p.actor_label, p.audit_action, p.audit_subject, \
                 '{{\"decision\":' || n.id || ',' || p.audit_tail, p.workflow_id \
               from decision n join decided d on d.token = n.lease_token join plans p on p.ord = d.ord \
               where p.audited order by p.ord \
               returning id), \
             wanted as ( \
               select p.ord, p.workflow_id, p.user_id, p.new_token, p.lease_until, p.now, \
                 row_number() over (partition by p.workflow_id order by p.ord) as n \
               from decided d join plans p on p.ord = d.ord), \
             picked as ( \
               select w.workflow_id, c.id, \
                 row_number() over (partition by w.workflow_id order by c.priority desc, c.id) as n \
               from (select workflow_id, count(*) as wanted from wanted group by workflow_id) w \
               cross join lateral ( \
                 select id, priority from items where workflow_id = w.workflow_id and state = ",
            state_sql!(Queued),
            " order by priority desc, id limit w.wanted for update skip locked) c), \
             next as ( \
               update items set state = ",
            state_sql!(Claimed),
            ", leased_by = w.user_id, lease_token = w.new_token, \
                 lease_expires_at = w.lease_until, claimed_at = w.now, updated_at = w.now \
               from wanted w join picked k on k.workflow_id = w.workflow_id and k.n = w.n \
               where items.id = k.id and items.state = ",
            state_sql!(Queued),
            " returning w.ord, {claimed_columns}) \
             select d.ord, n.id as decision_id, (select row_to_json(x)::text from next x where x.ord = d.ord) as next \
             from decided d join decision n on n.lease_token = d.token"
        ),
        insert_decisions = insert_decisions,
        claimed_columns = CLAIMED_COLUMNS,
    ))
    .bind(Value::Array(input).to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut written = vec![Written::NotHeld; plans.len()];
    for row in rows {
        let slot = usize::try_from(row.ord).ok().and_then(|i| written.get_mut(i));
        let slot = slot.ok_or_else(|| AppError::internal("a decision of no plan"))?;
        let next = row.next.map(|json| serde_json::from_str(&json)).transpose().map_err(AppError::internal)?;
        *slot = Written::Decided { decision_id: row.decision_id, next };
    }
    Ok(written)
}
