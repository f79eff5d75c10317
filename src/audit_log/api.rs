//! The audit page's server function: admins only.

use super::AuditView;
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

/// One page of the audit log, newest first, filtered by actor (an email, `cli` or `system`),
/// action, workflow (slug) and time (`from`, `to`: RFC 3339 or a UTC day, YYYY-MM-DD).
#[server(endpoint = "audit/list", output = JsonText)]
pub async fn load_audit(
    actor: Option<String>,
    action: Option<String>,
    workflow: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
) -> Result<AuditView, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    ctx.require(crate::domain::Role::Admin).await?;
    // The page's date fields give a day; the API takes any RFC 3339 time.
    let day = |v: Option<String>| v.map(|d| if d.len() == 10 { format!("{d}T00:00:00Z") } else { d });
    let filter =
        super::server::Filter { actor, action, workflow, from: day(from), to: day(to), cursor, limit: Some(50) };
    let page = super::server::list(ctx.db(), &super::server::Readable::All, &filter).await?;
    let workflows = crate::workflows::server::list(ctx.db())
        .await?
        .into_iter()
        .map(|w| (w.slug().to_owned(), w.spec.name.clone()))
        .collect();
    Ok(AuditView { page, workflows })
}
