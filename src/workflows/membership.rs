//! Who may work a workflow's items: its members (admins add themselves like anyone else).
//! Every claim and decision checks membership on the server.

use super::server::Workflow;
use crate::domain::Role;
use crate::error::AppError;
use crate::storage::db::{Backend, Db};
use crate::users::server::UserRecord;
use sqlx::AnyConnection;

/// A workflow someone answers for, as the team page, the dashboard and item search list it.
#[derive(sqlx::FromRow)]
pub struct AnsweredWorkflow {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

/// The workflows `user` answers for, by name: every one for an admin, those they are a member of
/// otherwise (the team page, the dashboard, item search).
pub async fn answered_for(db: &Db, user: &UserRecord) -> Result<Vec<AnsweredWorkflow>, AppError> {
    Ok(sqlx::query_as(
        "select w.id, w.slug, w.name from workflows w where ($1 = 1 or exists (select 1 from workflow_members m \
         where m.workflow_id = w.id and m.user_id = $2)) order by w.name, w.slug",
    )
    .bind(i64::from(user.role == Role::Admin))
    .bind(user.id)
    .fetch_all(db.pool())
    .await?)
}

/// Whether the user is a member of the workflow, as stored now.
pub async fn is_member(conn: &mut AnyConnection, workflow_id: i64, user_id: i64) -> Result<bool, AppError> {
    let (n,): (i64,) = sqlx::query_as("select count(*) from workflow_members where workflow_id = $1 and user_id = $2")
        .bind(workflow_id)
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(n > 0)
}

/// [`is_member`], or 403.
pub async fn require_member(conn: &mut AnyConnection, workflow: &Workflow, user: &UserRecord) -> Result<(), AppError> {
    if is_member(conn, workflow.id, user.id).await? { Ok(()) } else { Err(refused(workflow, user.id)) }
}

/// [`require_member`] that, on PostgreSQL, also locks the membership row until the transaction
/// ends: two claims of one reviewer in one workflow (a double submit answers with a claim too)
/// then run one after the other, and the second finds the item the first leased instead of
/// leasing another. SQLite serialises writers already.
pub async fn lock_membership(
    conn: &mut AnyConnection,
    backend: Backend,
    workflow: &Workflow,
    user_id: i64,
) -> Result<(), AppError> {
    let row: Option<(i64,)> = sqlx::query_as(&format!(
        "select user_id from workflow_members where workflow_id = $1 and user_id = $2{}",
        backend.for_update()
    ))
    .bind(workflow.id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_some() { Ok(()) } else { Err(refused(workflow, user_id)) }
}

/// Membership as the (briefly cached) workflow lists it: no query.
pub fn require_listed(workflow: &Workflow, user: &UserRecord) -> Result<(), AppError> {
    if workflow.spec.members.iter().any(|m| m == &user.email) { Ok(()) } else { Err(refused(workflow, user.id)) }
}

fn refused(workflow: &Workflow, user_id: i64) -> AppError {
    tracing::warn!(user_id, workflow = workflow.slug(), "refused: not a member");
    AppError::Forbidden
}
