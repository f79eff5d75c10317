//! Server functions of the escalations inbox. Each checks on the server that the caller is a
//! lead (or an admin), and shows a lead only the workflows they are a member of.

use super::Inbox;
use crate::error::AppError;
use leptos::prelude::*;

/// The open escalations the caller answers for, filtered, soonest due first, a page at a time.
/// Every filter is optional; `level` is 1 or 2; `assignee` an email, or `none` for unassigned.
#[server(endpoint = "escalations/inbox")]
pub async fn load_inbox(
    workflow: Option<String>,
    reason: Option<String>,
    level: Option<String>,
    assignee: Option<String>,
    cursor: Option<String>,
) -> Result<Inbox, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Lead).await?;
    let filter = super::inbox::Filter::parse(workflow, reason, level, assignee, cursor)?;
    super::inbox::list(ctx.db(), &user, &filter).await
}
