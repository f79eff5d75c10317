//! The dashboard's server function: leads and admins only; a lead sees the workflows they are a
//! member of.

use super::DashboardPage;
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

/// The dashboard of one workflow (by slug; empty: the first the caller answers for), one model
/// version (`*` or empty: all) and a range (`24h`, `7d`, `30d`, or `custom` from one date
/// through another, YYYY-MM-DD).
#[server(endpoint = "monitoring/dashboard", output = JsonText)]
pub async fn load_dashboard(
    workflow: Option<String>,
    model_version: Option<String>,
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<DashboardPage, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Lead).await?;
    let ask = super::dashboard::Ask { workflow, model_version, range, from, to };
    super::dashboard::dashboard(ctx.db(), &ctx.state.api_caches.workflows, &user, ask).await
}
