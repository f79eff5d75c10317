//! The breaker: a watcher over the audit sample. Per workflow and model version it takes the
//! latest [`WINDOW`] human verdicts on audited items (auto-approvals sampled for review) and, when
//! their override rate is significantly above the target (`crate::domain::tuning::breaker_trips`:
//! a one-sided exact binomial test at the workflow's confidence), opens the breaker: auto-approval
//! stops, new items go to review with reason `breaker`, `workflow.breaker_opened` is sent, and
//! admins see a banner on every page. Only an admin closes it, with a reason
//! (`workflow.breaker_closed`); verdicts from before the close no longer count.

use crate::domain::tuning::{Target, breaker_trips};
use crate::error::AppError;
use crate::storage::audit::{self, Actor};
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::webhooks::outbox::{self, Subscriptions};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Audit verdicts per model version the test looks at (the latest).
pub const WINDOW: usize = 200;
/// How far back, in decisions of all kinds, a pass looks for them.
const LOOKBACK: i64 = 50_000;

/// A breaker that opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub slug: String,
    pub model_version: String,
    pub overridden: u64,
    pub audited: u64,
}

#[derive(sqlx::FromRow)]
struct Watched {
    id: i64,
    slug: String,
    target_error_rate: f64,
    tuning_confidence: f64,
    breaker_watermark: i64,
}

/// One pass over every workflow that auto-approves with its breaker closed; the breakers it
/// opened. Several instances may run it at once: opening is a conditional update, so only one of
/// them opens a breaker and sends its event.
pub async fn check(db: &Db) -> Result<Vec<Opened>, AppError> {
    let watched: Vec<Watched> = sqlx::query_as(
        "select id, slug, target_error_rate, tuning_confidence, breaker_watermark from workflows \
         where breaker_open = 0 and auto_approve_at is not null order by id",
    )
    .fetch_all(db.pool())
    .await?;
    let (newest,): (Option<i64>,) = sqlx::query_as("select max(id) from decisions").fetch_one(db.pool()).await?;
    let Some(newest) = newest else { return Ok(Vec::new()) };
    let mut opened = Vec::new();
    for w in watched {
        let Ok(target) = Target::new(w.target_error_rate, w.tuning_confidence) else { continue };
        let since = w.breaker_watermark.max(newest - LOOKBACK);
        let verdicts: Vec<(String, String)> = sqlx::query_as(
            "select coalesce(i.model_version, ''), d.kind from decisions d join items i on i.id = d.item_id \
             where d.workflow_id = $1 and d.final = 1 and d.id > $2 and d.kind in ('approve', 'reject', 'correct') \
             and i.route_reason = 'audit' and not exists (select 1 from decisions u where u.undoes = d.id) \
             order by d.id desc",
        )
        .bind(w.id)
        .bind(since)
        .fetch_all(db.pool())
        .await?;
        let mut windows: HashMap<String, (u64, u64)> = HashMap::new();
        for (model_version, kind) in verdicts {
            let (audited, overridden) = windows.entry(model_version).or_default();
            if *audited < WINDOW as u64 {
                *audited += 1;
                *overridden += u64::from(kind != "approve");
            }
        }
        let mut tripped: Vec<(String, u64, u64)> = windows
            .into_iter()
            .filter(|(_, (audited, overridden))| breaker_trips(*overridden, *audited, target))
            .map(|(version, (audited, overridden))| (version, overridden, audited))
            .collect();
        tripped.sort();
        if let Some((model_version, overridden, audited)) = tripped.into_iter().next()
            && open(db, w.id, &w.slug, &model_version, overridden, audited, target).await?
        {
            opened.push(Opened { slug: w.slug, model_version, overridden, audited });
        }
    }
    Ok(opened)
}

async fn open(
    db: &Db,
    workflow_id: i64,
    slug: &str,
    model_version: &str,
    overridden: u64,
    audited: u64,
    target: Target,
) -> Result<bool, AppError> {
    let now = now_ms();
    let version = if model_version.is_empty() { "(none)" } else { model_version };
    let reason = format!(
        "{overridden} of the last {audited} audited auto-approvals of model {version} were overridden, significantly \
         more than the target {:.2} % at {:.0} % confidence.",
        target.alpha * 100.0,
        target.confidence() * 100.0
    );
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "update workflows set breaker_open = 1, breaker_opened_at = $1, breaker_reason = $2 \
         where id = $3 and breaker_open = 0",
    )
    .bind(now)
    .bind(&reason)
    .bind(workflow_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let detail = json!({ "workflow": slug, "model_version": model_version, "overridden": overridden,
                         "audited": audited, "target_error_rate": target.alpha, "reason": reason });
    audit::record(&mut tx, &Actor::System, Some(workflow_id), "workflow.breaker_opened", slug, detail.clone()).await?;
    let subscriptions = Subscriptions::load(&mut tx, workflow_id).await?;
    outbox::enqueue(&mut tx, &subscriptions, "workflow.breaker_opened", &detail).await?;
    tx.commit().await?;
    tracing::warn!(workflow = slug, model_version, overridden, audited, "breaker opened: auto-approval stopped");
    Ok(true)
}

/// Closes an open breaker (an admin's action; the caller checks the role): auto-approval
/// resumes and only verdicts from now on count towards the next opening.
pub async fn close(db: &Db, actor: &Actor, workflow_id: i64, slug: &str, reason: &str) -> Result<(), AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || !crate::domain::text::is_lines(reason) {
        return Err(AppError::invalid("reason", "Say why the breaker can close (at most 500 characters)."));
    }
    let _turn = db.write_turn().await;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "update workflows set breaker_open = 0, breaker_reason = null, \
         breaker_watermark = (select coalesce(max(id), 0) from decisions) where id = $1 and breaker_open = 1",
    )
    .bind(workflow_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::conflict("The breaker is not open."));
    }
    let detail = json!({ "workflow": slug, "reason": reason, "closed_by": actor.label() });
    audit::record(&mut tx, actor, Some(workflow_id), "workflow.breaker_closed", slug, detail.clone()).await?;
    let subscriptions = Subscriptions::load(&mut tx, workflow_id).await?;
    outbox::enqueue(&mut tx, &subscriptions, "workflow.breaker_closed", &detail).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Breaker {
    breaker_open: i64,
    breaker_opened_at: Option<i64>,
    breaker_reason: Option<String>,
}

/// Why the breaker of a workflow is open (`None`: it is closed).
pub async fn open_reason(db: &Db, workflow_id: i64) -> Result<Option<(i64, String)>, AppError> {
    let row: Option<Breaker> =
        sqlx::query_as("select breaker_open, breaker_opened_at, breaker_reason from workflows where id = $1")
            .bind(workflow_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.and_then(|b| {
        (b.breaker_open != 0).then(|| (b.breaker_opened_at.unwrap_or(0), b.breaker_reason.unwrap_or_default()))
    }))
}

/// Runs [`check`] every `every` until the server stops.
pub async fn watch(db: Db, every: Duration) {
    let mut ticker = tokio::time::interval(every.max(Duration::from_millis(500)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = check(&db).await {
            tracing::warn!(%error, "breaker check failed");
        }
    }
}
