//! The navigation's counts: what needs the signed-in user now. Two counts on indexes (open
//! escalations by workflow, assignee and level; items by assignee), and for admins the open
//! breakers, asked every half minute by each open page.

use super::Counts;
use crate::domain::Role;
use crate::domain::item_state::state_sql;
use crate::error::AppError;
use crate::storage::db::Db;
use crate::users::server::UserRecord;

/// The counts of `user`: escalations only for leads and admins.
pub async fn counts(db: &Db, user: &UserRecord) -> Result<Counts, AppError> {
    let (assigned,): (i64,) =
        sqlx::query_as(concat!("select count(*) from items where assigned_to = $1 and state = ", state_sql!(Assigned)))
            .bind(user.id)
            .fetch_one(db.pool())
            .await?;
    let escalations = if user.role.includes(Role::Lead) {
        let (n,): (i64,) = sqlx::query_as(
            "select count(*) from escalations e where e.resolved_at is null and e.assignee_id is null \
             and (($2 = 1 and e.level = 2) or e.workflow_id in \
             (select m.workflow_id from workflow_members m where m.user_id = $1))",
        )
        .bind(user.id)
        .bind(i64::from(user.role == Role::Admin))
        .fetch_one(db.pool())
        .await?;
        n
    } else {
        0
    };
    let breakers = if user.role == Role::Admin {
        sqlx::query_as("select slug, name from workflows where breaker_open = 1 order by slug")
            .fetch_all(db.pool())
            .await?
    } else {
        Vec::new()
    };
    Ok(Counts { escalations, assigned, breakers })
}
