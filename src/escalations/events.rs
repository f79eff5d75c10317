//! The escalation webhooks, `escalation.assigned` and `escalation.resolved`: the item as every
//! other event carries it, queued through the outbox in the caller's transaction.

use crate::error::AppError;
use crate::items::view::load_view;
use crate::webhooks::outbox::{self, Subscriptions};
use serde_json::json;
use sqlx::AnyConnection;

pub const ASSIGNED: &str = "escalation.assigned";
pub const RESOLVED: &str = "escalation.resolved";

/// The item an event is about.
#[derive(Debug, Clone, Copy)]
pub struct About<'a> {
    pub workflow_id: i64,
    pub slug: &'a str,
    pub item_id: i64,
}

/// Queues `event` about the item for the endpoints that want it, to be sent at `send_at` (a
/// decision's event waits for its undo window) and withdrawn if `decision_id` is undone.
pub async fn emit(
    conn: &mut AnyConnection,
    about: About<'_>,
    event: &str,
    send_at: i64,
    decision_id: Option<i64>,
) -> Result<(), AppError> {
    let subscriptions = Subscriptions::load(conn, about.workflow_id).await?;
    if !subscriptions.wants(event) {
        return Ok(());
    }
    let view =
        load_view(conn, about.slug, about.item_id).await?.ok_or_else(|| AppError::internal("the item vanished"))?;
    outbox::enqueue_at(conn, &subscriptions, event, &json!(view), send_at, decision_id).await
}
