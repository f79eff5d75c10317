//! The audit log: an append-only record of who changed what.

use sqlx::AnyConnection;

/// Who acted: a signed-in user, or the command line.
#[derive(Debug, Clone)]
pub enum Actor {
    User {
        id: i64,
        email: String,
    },
    Cli,
    /// Gatehouse itself (the breaker, the sweepers).
    System,
}

impl Actor {
    fn id(&self) -> Option<i64> {
        match self {
            Actor::User { id, .. } => Some(*id),
            Actor::Cli | Actor::System => None,
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Actor::User { email, .. } => email,
            Actor::Cli => "cli",
            Actor::System => "system",
        }
    }
}

/// Appends one event inside the caller's transaction, so the event exists exactly when the
/// change does. `workflow` is the workflow it concerns, if any (the audit log filters on it).
pub async fn record(
    conn: &mut AnyConnection,
    actor: &Actor,
    workflow: Option<i64>,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into audit_events (at, actor_id, actor_label, action, subject, detail, workflow_id) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(super::clock::now_ms())
    .bind(actor.id())
    .bind(actor.label())
    .bind(action)
    .bind(subject)
    .bind(detail.to_string())
    .bind(workflow)
    .execute(conn)
    .await?;
    Ok(())
}
