//! The one writer of the `decisions` table. Every decision, the system's or a person's, is
//! appended through [`insert`] or [`insert_many`], or, where it is one part of a larger
//! statement, through the text [`insert_select`] gives. A decision is never updated or deleted:
//! an item's outcome is derived from them, and an undo is a decision of its own.

use crate::error::AppError;
use crate::storage::db::Backend;
use crate::storage::dialect;
use sqlx::AnyConnection;

/// The kind of the decision the system records when it auto-approves an item at ingest (a
/// person's decisions are named by their [`crate::domain::item_state::Action`]).
pub const AUTO_APPROVE: &str = "auto_approve";

/// The kind of the decision the system records when it rejects an item below the workflow's
/// auto-reject threshold at ingest.
pub const AUTO_REJECT: &str = "auto_reject";

/// The actor label of decisions nobody made by hand.
pub const SYSTEM: &str = "system";

/// One decision to append.
#[derive(Debug, Clone, Copy)]
pub struct NewDecision<'a> {
    pub item_id: i64,
    pub workflow_id: i64,
    /// The person who decided; `None` for the system.
    pub actor_id: Option<i64>,
    pub actor_label: &'a str,
    pub kind: &'a str,
    pub reason_code: Option<&'a str>,
    pub note: Option<&'a str>,
    /// The output the decision settles on (the prediction approved, the correction), as JSON.
    pub output: Option<&'a str>,
    pub time_spent_ms: Option<i64>,
    /// Whether it settles the item's outcome (webhooks and the decision feed show it).
    pub is_final: bool,
    pub created_at: i64,
    /// The lease it was made under (a double submit of one lease records it once).
    pub lease_token: Option<&'a str>,
    /// The decision this one takes back.
    pub undoes: Option<i64>,
    /// When it can no longer be undone; `None` for one that never could be.
    pub settles_at: Option<i64>,
}

impl<'a> NewDecision<'a> {
    /// A decision of the system on an item (every optional part empty).
    pub fn system(item_id: i64, workflow_id: i64, kind: &'a str, created_at: i64) -> Self {
        Self {
            item_id,
            workflow_id,
            actor_id: None,
            actor_label: SYSTEM,
            kind,
            reason_code: None,
            note: None,
            output: None,
            time_spent_ms: None,
            is_final: false,
            created_at,
            lease_token: None,
            undoes: None,
            settles_at: None,
        }
    }
}

/// The columns every insert names, in the order [`insert_select`]'s `select` gives their values.
pub const COLUMNS: &str = "item_id, workflow_id, actor_id, actor_label, kind, reason_code, note, output, \
     time_spent_ms, final, created_at, lease_token, undoes, settles_at";

/// Appends one decision inside the caller's transaction; its id.
pub async fn insert(conn: &mut AnyConnection, backend: Backend, decision: &NewDecision<'_>) -> Result<i64, AppError> {
    let written = insert_many(conn, backend, std::slice::from_ref(decision)).await?;
    written.first().map(|&(id, _)| id).ok_or_else(|| AppError::internal("an insert returned no decision"))
}

/// Which of [`COLUMNS`] the rows of one insert fill: a column none of them fills is written as
/// `null` rather than bound once a row (the system's auto-approvals fill half of them).
fn filled(rows: &[NewDecision<'_>]) -> [bool; 14] {
    let any = |f: fn(&NewDecision<'_>) -> bool| rows.iter().any(f);
    [
        true,
        true,
        any(|d| d.actor_id.is_some()),
        true,
        true,
        any(|d| d.reason_code.is_some()),
        any(|d| d.note.is_some()),
        any(|d| d.output.is_some()),
        any(|d| d.time_spent_ms.is_some()),
        true,
        true,
        any(|d| d.lease_token.is_some()),
        any(|d| d.undoes.is_some()),
        any(|d| d.settles_at.is_some()),
    ]
}

/// Appends decisions inside the caller's transaction with multi-row inserts; `(id, item_id)` of
/// each, in no particular order (`RETURNING` promises none).
pub async fn insert_many(
    conn: &mut AnyConnection,
    backend: Backend,
    decisions: &[NewDecision<'_>],
) -> Result<Vec<(i64, i64)>, AppError> {
    let mut written = Vec::with_capacity(decisions.len());
    for range in dialect::chunks(decisions.len()) {
        let rows = &decisions[range];
        let filled = filled(rows);
        let row = format!("({})", filled.map(|f| if f { "?" } else { "null" }).join(", "));
        let sql = format!(
            "insert into decisions ({COLUMNS}) values {} returning id, item_id",
            backend.values(rows.len(), &row)
        );
        let mut query = sqlx::query_as::<_, (i64, i64)>(&sql).persistent(backend.keeps_prepared(rows.len()));
        for d in rows {
            query = query.bind(d.item_id).bind(d.workflow_id);
            if filled[2] {
                query = query.bind(d.actor_id);
            }
            query = query.bind(d.actor_label).bind(d.kind);
            if filled[5] {
                query = query.bind(d.reason_code);
            }
            if filled[6] {
                query = query.bind(d.note);
            }
            if filled[7] {
                query = query.bind(d.output);
            }
            if filled[8] {
                query = query.bind(d.time_spent_ms);
            }
            query = query.bind(i64::from(d.is_final)).bind(d.created_at);
            if filled[11] {
                query = query.bind(d.lease_token);
            }
            if filled[12] {
                query = query.bind(d.undoes);
            }
            if filled[13] {
                query = query.bind(d.settles_at);
            }
        }
        written.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(written)
}

/// `insert into decisions (…) <select>` for a statement that computes its decisions itself:
/// `select` must give the values of [`COLUMNS`], in that order.
pub fn insert_select(select: &str) -> String {
    format!("insert into decisions ({COLUMNS}) {select}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_no_row_fills_are_not_bound() {
        let auto = NewDecision { output: Some("{}"), is_final: true, ..NewDecision::system(1, 2, AUTO_APPROVE, 3) };
        let filled_by = |rows: &[NewDecision<'_>]| {
            let names: Vec<&str> = COLUMNS.split(',').map(str::trim).collect();
            names.into_iter().zip(filled(rows)).filter(|(_, f)| *f).map(|(n, _)| n).collect::<Vec<_>>()
        };
        assert_eq!(
            filled_by(&[auto]),
            ["item_id", "workflow_id", "actor_label", "kind", "output", "final", "created_at"]
        );
        let undo = NewDecision {
            actor_id: Some(7),
            undoes: Some(9),
            settles_at: Some(3),
            ..NewDecision::system(1, 2, "undo", 3)
        };
        assert_eq!(
            filled_by(&[auto, undo]),
            [
                "item_id",
                "workflow_id",
                "actor_id",
                "actor_label",
                "kind",
                "output",
                "final",
                "created_at",
                "undoes",
                "settles_at"
            ]
        );
    }
}
