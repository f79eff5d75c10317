//! The team page's server function: leads and admins only; a lead sees the workflows they are
//! a member of.

use super::Team;
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

/// The team's workload, in one workflow (by slug) or in all the caller answers for.
#[server(endpoint = "team/overview", output = JsonText)]
pub async fn load_team(workflow: Option<String>) -> Result<Team, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Lead).await?;
    let workflow = workflow.map(|w| w.trim().to_owned()).filter(|w| !w.is_empty());
    super::server::team(ctx.db(), &user, workflow.as_deref()).await
}
