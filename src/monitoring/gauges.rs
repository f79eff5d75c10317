//! The gauges `GET /metrics` reports of what the database holds, set at each scrape: every
//! workflow's queue (depth, past the review SLA, the oldest's age), its open escalations by
//! level and its breaker, the webhook outbox, and this process's database pool. Each is read from
//! an index or a small table (the queue's per-minute counts), so a scrape costs the same however
//! many items are stored. Several instances report the same database's gauges.

use crate::error::AppError;
use crate::review::queues;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::storage::metrics::Metrics;

#[derive(sqlx::FromRow)]
struct GaugedWorkflow {
    id: i64,
    slug: String,
    review_sla_secs: i64,
    breaker_open: i64,
}

#[derive(sqlx::FromRow)]
struct OpenEscalations {
    workflow_id: i64,
    level: i64,
    n: i64,
}

/// Sets every gauge from the database as it is now.
pub async fn refresh(db: &Db, metrics: &Metrics) -> Result<(), AppError> {
    let now = now_ms();
    let mut conn = db.pool().acquire().await?;
    let workflows: Vec<GaugedWorkflow> =
        sqlx::query_as("select id, slug, review_sla_secs, breaker_open from workflows order by id")
            .fetch_all(&mut *conn)
            .await?;
    let open: Vec<OpenEscalations> = sqlx::query_as(
        "select workflow_id, level, count(*) as n from escalations where resolved_at is null group by workflow_id, level",
    )
    .fetch_all(&mut *conn)
    .await?;
    for workflow in &workflows {
        let depth = queues::depth(&mut conn, workflow.id, workflow.review_sla_secs, now).await?;
        let slug = workflow.slug.as_str();
        let labels = [("workflow", slug)];
        metrics.gauge("gatehouse_queue_depth", &labels, depth.waiting as f64);
        metrics.gauge("gatehouse_queue_overdue", &labels, depth.overdue as f64);
        let age = depth.oldest.map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
        metrics.gauge("gatehouse_queue_oldest_age_seconds", &labels, age);
        metrics.gauge("gatehouse_breaker_open", &labels, if workflow.breaker_open != 0 { 1.0 } else { 0.0 });
        for level in [1, 2] {
            let n = open.iter().find(|o| o.workflow_id == workflow.id && o.level == level).map_or(0, |o| o.n);
            let level = level.to_string();
            metrics.gauge("gatehouse_escalations_open", &[("workflow", slug), ("level", &level)], n as f64);
        }
    }
    let (pending, dead): (i64, i64) = sqlx::query_as(
        "select (select count(*) from webhook_outbox where status = 'pending'), \
                (select count(*) from webhook_outbox where status = 'dead')",
    )
    .fetch_one(&mut *conn)
    .await?;
    metrics.gauge("gatehouse_webhook_outbox", &[("status", "pending")], pending as f64);
    metrics.gauge("gatehouse_webhook_outbox", &[("status", "dead")], dead as f64);
    drop(conn);
    let (size, idle) = (db.pool().size(), db.pool().num_idle() as u32);
    metrics.gauge("gatehouse_db_pool_connections", &[("state", "idle")], f64::from(idle));
    metrics.gauge("gatehouse_db_pool_connections", &[("state", "in_use")], f64::from(size.saturating_sub(idle)));
    Ok(())
}
