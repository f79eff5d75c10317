//! Reading the audit log: the filters, checked, and one page of events by an index (by workflow,
//! actor or action with the id; by time), newest first.

use super::{AuditEntry, AuditPage, MAX_PAGE};
use crate::domain::text::is_one_line;
use crate::error::AppError;
use crate::storage::clock::{parse_rfc3339, rfc3339};
use crate::storage::db::Db;
use crate::storage::dialect::id_list;

/// What to show; every part optional. Times are RFC 3339, `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// A workflow's slug.
    pub workflow: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Which workflows' events the reader may see: all (an admin) or these (an admin-scoped key's).
#[derive(Debug, Clone)]
pub enum Readable {
    All,
    Workflows(Vec<i64>),
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn time(field: &str, raw: Option<&str>) -> Result<Option<i64>, AppError> {
    raw.map(|r| {
        parse_rfc3339(r)
            .ok_or_else(|| AppError::invalid(field, format!("'{r}' is not an RFC 3339 time (2026-12-01T00:00:00Z).")))
    })
    .transpose()
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    at: i64,
    actor_label: String,
    action: String,
    subject: String,
    detail: String,
    slug: Option<String>,
}

/// One page of the events `readable` allows that match `filter`, newest first. A workflow that
/// does not exist (or is not readable) matches nothing, as any other filter would.
pub async fn list(db: &Db, readable: &Readable, filter: &Filter) -> Result<AuditPage, AppError> {
    for (field, value) in [("actor", &filter.actor), ("action", &filter.action), ("workflow", &filter.workflow)] {
        if value.as_deref().is_some_and(|v| !is_one_line(v)) {
            return Err(AppError::invalid(field, "It holds a control character."));
        }
    }
    let from = time("from", given(&filter.from))?;
    let to = time("to", given(&filter.to))?;
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        return Err(AppError::invalid("to", "The range ends before it starts."));
    }
    let cursor = given(&filter.cursor)
        .map(|c| {
            c.parse::<i64>().map_err(|_| AppError::invalid("cursor", format!("'{c}' is not a cursor from this log.")))
        })
        .transpose()?;
    let limit = filter.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AppError::invalid("limit", format!("A page holds 1 to {MAX_PAGE} events.")));
    }
    // Every value is bound; the numbered placeholders follow the conditions in order.
    let mut conditions = Vec::new();
    let mut texts: Vec<&str> = Vec::new();
    let mut numbers: Vec<i64> = Vec::new();
    let mut next = 1;
    let mut placeholder = || {
        let p = format!("${next}");
        next += 1;
        p
    };
    // Texts first, then numbers: the binds below go in that order.
    if let Some(actor) = given(&filter.actor) {
        conditions.push(format!("e.actor_label = {}", placeholder()));
        texts.push(actor);
    }
    if let Some(action) = given(&filter.action) {
        conditions.push(format!("e.action = {}", placeholder()));
        texts.push(action);
    }
    if let Some(slug) = given(&filter.workflow) {
        conditions.push(format!("e.workflow_id = (select id from workflows where slug = {})", placeholder()));
        texts.push(slug);
    }
    for (column, op, value) in [("e.at", ">=", from), ("e.at", "<", to), ("e.id", "<", cursor)] {
        if let Some(value) = value {
            conditions.push(format!("{column} {op} {}", placeholder()));
            numbers.push(value);
        }
    }
    if let Readable::Workflows(ids) = readable {
        conditions.push(if ids.is_empty() {
            "1 = 0".to_owned()
        } else {
            format!("e.workflow_id in ({})", id_list(ids.iter().copied()))
        });
    }
    let limit_at = placeholder();
    let filter_sql = if conditions.is_empty() { String::new() } else { format!("where {}", conditions.join(" and ")) };
    let sql = format!(
        "select e.id, e.at, e.actor_label, e.action, e.subject, e.detail, w.slug from audit_events e \
         left join workflows w on w.id = e.workflow_id {filter_sql} order by e.id desc limit {limit_at}"
    );
    let mut query = sqlx::query_as::<_, Row>(&sql);
    for text in texts {
        query = query.bind(text);
    }
    for number in numbers {
        query = query.bind(number);
    }
    let mut rows = query.bind(limit + 1).fetch_all(db.pool()).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(|r| r.id.to_string()) } else { None };
    let events = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: rfc3339(r.at),
            actor: r.actor_label,
            action: r.action,
            subject: r.subject,
            workflow: r.slug,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::String(r.detail)),
        })
        .collect();
    Ok(AuditPage { events, next_cursor })
}
