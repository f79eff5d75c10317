//! The item search's server functions: leads (the workflows they lead) and admins.

// The search's form has ten fields and a server function takes them one argument each (the
// macro's generated code does not carry an attribute on the function, hence the module's).
#![allow(clippy::too_many_arguments)]

use super::{ItemRecord, ItemSearch};
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

/// A page of a workflow's items matching the filters, newest first.
#[server(endpoint = "items/search", output = JsonText)]
pub async fn search_items(
    workflow: Option<String>,
    external_id: Option<String>,
    state: Option<String>,
    route_reason: Option<String>,
    model_version: Option<String>,
    min_confidence: Option<String>,
    max_confidence: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
) -> Result<ItemSearch, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Lead).await?;
    let query = super::search::Query {
        workflow,
        external_id,
        state,
        route_reason,
        model_version,
        min_confidence,
        max_confidence,
        from,
        to,
        cursor,
    };
    super::search::search(ctx.db(), &ctx.state.api_caches.workflows, &user, &query).await
}

/// One item with its whole history.
#[server(endpoint = "items/record", output = JsonText)]
pub async fn load_item_record(item_id: i64) -> Result<ItemRecord, AppError> {
    use crate::auth::context::RequestCtx;
    let ctx = RequestCtx::from_leptos().await?;
    let user = ctx.require(crate::domain::Role::Lead).await?;
    super::search::record(ctx.db(), &ctx.state.api_caches.workflows, &user, item_id).await
}
