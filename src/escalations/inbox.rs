//! The leads' inbox: the open escalations of the workflows a lead is a member of (every
//! workflow's, for an admin), filtered, soonest due first, a page at a time.

use super::{EscalationRow, Inbox, PAGE};
use crate::domain::escalation::Reason;
use crate::domain::{Email, Role};
use crate::error::AppError;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::users::server::UserRecord;

/// The inbox's filters, each checked (422 naming the field), and where a page starts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filter {
    pub workflow: Option<String>,
    pub reason: Option<Reason>,
    pub level: Option<i64>,
    /// An email, or `none` for escalations nobody is assigned.
    pub assignee: Option<String>,
    /// After (due, escalation id).
    pub after: Option<(i64, i64)>,
}

impl Filter {
    /// Reads the filters as a page's address gives them; an empty value is no filter.
    pub fn parse(
        workflow: Option<String>,
        reason: Option<String>,
        level: Option<String>,
        assignee: Option<String>,
        cursor: Option<String>,
    ) -> Result<Self, AppError> {
        let given = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let reason = given(reason)
            .map(|r| Reason::parse(&r).ok_or_else(|| AppError::invalid("reason", "Choose one of the listed reasons.")))
            .transpose()?;
        let level = given(level)
            .map(|l| match l.as_str() {
                "1" => Ok(1),
                "2" => Ok(2),
                _ => Err(AppError::invalid("level", "The level is 1 (leads) or 2 (admins).")),
            })
            .transpose()?;
        let assignee = given(assignee)
            .map(|a| {
                if a == "none" {
                    Ok(a)
                } else {
                    Email::parse(&a)
                        .map(|e| e.to_string())
                        .map_err(|_| AppError::invalid("assignee", "Give the assignee's email, or none."))
                }
            })
            .transpose()?;
        let after = given(cursor)
            .map(|c| {
                c.split_once(':')
                    .and_then(|(due, id)| Some((due.parse().ok()?, id.parse().ok()?)))
                    .ok_or_else(|| AppError::BadRequest { message: format!("'{c}' is not a cursor of this inbox") })
            })
            .transpose()?;
        let workflow = given(workflow).filter(|w| w.len() <= 64 && crate::domain::text::is_one_line(w));
        Ok(Self { workflow, reason, level, assignee, after })
    }
}

/// Whether the caller may see the workflow `$column` names: `$1` is 1 for an admin (every
/// workflow), else `$2` (the caller) must be a member.
macro_rules! visible {
    ($column:literal) => {
        concat!(
            "($1 = 1 or exists (select 1 from workflow_members vm where vm.workflow_id = ",
            $column,
            " and vm.user_id = $2))"
        )
    };
}

/// The open escalations a filter keeps, on the escalations alone (their partial indexes): the
/// workflows are a list of ids the caller may see, then `$1` reason, `$2` level, `$3` 1 for
/// "nobody assigned", `$4` an assignee's id.
fn matching(workflow_ids: &[i64]) -> String {
    let ids = crate::storage::dialect::id_list(workflow_ids.iter().copied());
    format!(
        "from escalations e where e.resolved_at is null and e.workflow_id in ({ids}) \
         and ($1 is null or e.reason = $1) and ($2 is null or e.level = $2) \
         and ($3 = 0 or e.assignee_id is null) and ($4 is null or e.assignee_id = $4)"
    )
}

/// What a [`Row`] reads of one page of escalations (`e`, already ordered and cut) and what
/// they point at.
const COLUMNS: &str = "e.id as escalation_id, i.id as item_id, i.external_id, w.slug, w.name as workflow, e.reason, \
     e.level, e.opened_at, e.due_at, w.escalation_sla_secs * 1000 as escalation_sla_ms, e.flagged_at, \
     d.actor_id, d.actor_label, d.note, u.email as assignee";

/// The item, workflow and assignee of each escalation `e`, and the last escalate decision,
/// which says who escalated and why (none for a low confidence).
const JOINS: &str = "join items i on i.id = e.item_id join workflows w on w.id = e.workflow_id \
     left join users u on u.id = e.assignee_id left join decisions d on d.id = \
     (select max(x.id) from decisions x where x.item_id = e.item_id and x.kind = 'escalate')";

#[derive(sqlx::FromRow)]
struct Row {
    escalation_id: i64,
    item_id: i64,
    external_id: String,
    slug: String,
    workflow: String,
    reason: String,
    level: i64,
    opened_at: i64,
    due_at: i64,
    escalation_sla_ms: i64,
    flagged_at: Option<i64>,
    actor_id: Option<i64>,
    actor_label: Option<String>,
    note: Option<String>,
    assignee: Option<String>,
}

/// A workflow whose escalations the user may see.
#[derive(sqlx::FromRow)]
struct VisibleWorkflow {
    id: i64,
    slug: String,
    name: String,
}

/// The page of `filter` that `user` (a lead or an admin) may see.
pub async fn list(db: &Db, user: &UserRecord, filter: &Filter) -> Result<Inbox, AppError> {
    let admin = i64::from(user.role == Role::Admin);
    let visible: Vec<VisibleWorkflow> = sqlx::query_as(concat!(
        "select w.id, w.slug, w.name from workflows w where ",
        visible!("w.id"),
        " order by w.name"
    ))
    .bind(admin)
    .bind(user.id)
    .fetch_all(db.pool())
    .await?;
    let members: Vec<(String, String)> = sqlx::query_as(concat!(
        "select w.slug, u.email from workflow_members m join users u on u.id = m.user_id \
         join workflows w on w.id = m.workflow_id where u.disabled_at is null and ",
        visible!("w.id"),
        " order by w.slug, u.email"
    ))
    .bind(admin)
    .bind(user.id)
    .fetch_all(db.pool())
    .await?;
    let workflow_ids: Vec<i64> =
        visible.iter().filter(|v| filter.workflow.as_deref().is_none_or(|w| w == v.slug)).map(|v| v.id).collect();
    let workflows = visible.into_iter().map(|v| (v.slug, v.name)).collect();
    // An assignee by email: their id (an email nobody has matches nothing).
    let assignee_id = match filter.assignee.as_deref() {
        None | Some("none") => None,
        Some(email) => {
            let id: Option<(i64,)> =
                sqlx::query_as("select id from users where email = $1").bind(email).fetch_optional(db.pool()).await?;
            Some(id.map_or(-1, |(id,)| id))
        }
    };
    let unassigned = i64::from(filter.assignee.as_deref() == Some("none"));
    if workflow_ids.is_empty() {
        return Ok(Inbox { rows: Vec::new(), total: 0, next_cursor: None, workflows, members, now_ms: now_ms() });
    }
    let from = matching(&workflow_ids);
    let (total,): (i64,) = sqlx::query_as(&format!("select count(*) {from}"))
        .bind(filter.reason.map(Reason::as_str))
        .bind(filter.level)
        .bind(unassigned)
        .bind(assignee_id)
        .fetch_one(db.pool())
        .await?;
    let (after_due, after_id) = filter.after.map_or((None, None), |(due, id)| (Some(due), Some(id)));
    // The page is cut on the escalations' own index (soonest due first), then joined.
    let list = format!(
        "select {COLUMNS} from (select e.* {from} and ($5 is null or e.due_at > $5 or (e.due_at = $5 and e.id > $6)) \
         order by e.due_at, e.id limit $7) e {JOINS} order by e.due_at, e.id"
    );
    let rows: Vec<Row> = sqlx::query_as(&list)
        .bind(filter.reason.map(Reason::as_str))
        .bind(filter.level)
        .bind(unassigned)
        .bind(assignee_id)
        .bind(after_due)
        .bind(after_id)
        .bind(PAGE + 1)
        .fetch_all(db.pool())
        .await?;
    let more = rows.len() as i64 > PAGE;
    let rows: Vec<Row> = rows.into_iter().take(PAGE as usize).collect();
    let next_cursor = more.then(|| rows.last().map(|r| format!("{}:{}", r.due_at, r.escalation_id))).flatten();
    let rows = rows.into_iter().map(Row::into_row).collect();
    Ok(Inbox { rows, total, next_cursor, workflows, members, now_ms: now_ms() })
}

/// The open escalation of the item, if it has one; the caller has checked that they may see it.
pub async fn open_escalation(db: &Db, item_id: i64) -> Result<Option<EscalationRow>, AppError> {
    let one = format!(
        "select {COLUMNS} from (select * from escalations where item_id = $1 and resolved_at is null) e {JOINS}"
    );
    let row: Option<Row> = sqlx::query_as(&one).bind(item_id).fetch_optional(db.pool()).await?;
    Ok(row.map(Row::into_row))
}

impl Row {
    fn into_row(self) -> EscalationRow {
        let r = self;
        EscalationRow {
            item_id: r.item_id,
            external_id: r.external_id,
            slug: r.slug,
            workflow: r.workflow,
            reason: r.reason,
            level: r.level,
            opened_at_ms: r.opened_at,
            due_at_ms: r.due_at,
            escalation_sla_ms: r.escalation_sla_ms,
            flagged_at_ms: r.flagged_at,
            escalated_by: r.actor_id.and(r.actor_label),
            note: r.note,
            assignee: r.assignee,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(workflow: &str, reason: &str, level: &str, assignee: &str, cursor: &str) -> Result<Filter, AppError> {
        let s = |v: &str| Some(v.to_owned());
        Filter::parse(s(workflow), s(reason), s(level), s(assignee), s(cursor))
    }

    #[test]
    fn empty_values_filter_nothing_and_bad_ones_name_their_field() {
        assert_eq!(parse("", "", "", "", ""), Ok(Filter::default()));
        let full = parse("invoices", "review_sla", "2", "Ann@Example.com", "123:7").unwrap();
        assert_eq!(full.workflow.as_deref(), Some("invoices"));
        assert_eq!(full.reason, Some(Reason::ReviewSla));
        assert_eq!(
            (full.level, full.assignee.as_deref(), full.after),
            (Some(2), Some("ann@example.com"), Some((123, 7)))
        );
        assert_eq!(parse("", "", "", "none", "").unwrap().assignee.as_deref(), Some("none"));
        assert_eq!(parse("", "bogus", "", "", "").unwrap_err().field(), Some("reason"));
        assert_eq!(parse("", "", "3", "", "").unwrap_err().field(), Some("level"));
        assert_eq!(parse("", "", "", "not an email", "").unwrap_err().field(), Some("assignee"));
        assert_eq!(parse("", "", "", "", "12").unwrap_err().status(), 400);
    }
}
