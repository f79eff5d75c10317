//! One escalated item as its page shows it to a lead: the item and its history (the review
//! page's view of it), its open escalation, whom it is assigned to, and whom it can be.

use super::EscalationItem;
use super::inbox::open_escalation;
use super::resolve::{require_lead_of, workflow_of};
use crate::error::AppError;
use crate::review::item_view::shown_item;
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::cache::WorkflowCache;

/// The escalation page of `item_id`, for a lead of its workflow or an admin.
pub async fn load(
    db: &Db,
    workflows: &WorkflowCache,
    user: &UserRecord,
    item_id: i64,
) -> Result<EscalationItem, AppError> {
    let workflow = workflow_of(db, workflows, item_id).await?;
    require_lead_of(&mut *db.pool().acquire().await?, &workflow, user).await?;
    let (item, state, assigned_to) = shown_item(db, &workflow, item_id).await?;
    let open = open_escalation(db, item_id).await?;
    let members: Vec<(i64, String)> = sqlx::query_as(
        "select u.id, u.email from workflow_members m join users u on u.id = m.user_id \
         where m.workflow_id = $1 and u.disabled_at is null order by u.email",
    )
    .bind(workflow.id)
    .fetch_all(db.pool())
    .await?;
    let assignee = match assigned_to {
        Some(id) => match members.iter().find(|(member, _)| *member == id) {
            Some((_, email)) => Some(email.clone()),
            None => {
                let email: Option<(String,)> =
                    sqlx::query_as("select email from users where id = $1").bind(id).fetch_optional(db.pool()).await?;
                email.map(|(e,)| e)
            }
        },
        None => None,
    };
    Ok(EscalationItem {
        item,
        state: state.as_str().to_owned(),
        open,
        assignee,
        members: members.into_iter().map(|(_, email)| email).collect(),
    })
}
