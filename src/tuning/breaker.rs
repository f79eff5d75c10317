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
use crate::storage::seen::Seen;
use crate::webhooks::outbox::{self, Subscriptions};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
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

/// The latest audit verdicts of one workflow, per model version: by decision, whether the
/// verdict overrode the model. At most [`WINDOW`] a version, none at or below the floor.
#[derive(Debug, Default, Clone, PartialEq)]
struct Windows(HashMap<String, BTreeMap<i64, bool>>);

impl Windows {
    fn add(&mut self, model_version: String, decision: i64, overridden: bool) {
        self.0.entry(model_version).or_default().insert(decision, overridden);
    }

    /// Forgets an undone verdict. False when the window it left was full: an older verdict,
    /// not held, now belongs in it, and the windows must be read again.
    fn forget(&mut self, decision: i64) -> bool {
        for window in self.0.values_mut() {
            let full = window.len() >= WINDOW;
            if window.remove(&decision).is_some() {
                return !full;
            }
        }
        true
    }

    /// Drops the verdicts at or below `floor` and keeps each version's latest [`WINDOW`].
    fn keep_latest(&mut self, floor: i64) {
        for window in self.0.values_mut() {
            *window = window.split_off(&(floor + 1));
            while window.len() > WINDOW {
                window.pop_first();
            }
        }
        self.0.retain(|_, window| !window.is_empty());
    }

    /// Each version's verdicts and overrides: (version, audited, overridden), by version.
    fn counts(&self) -> Vec<(&str, u64, u64)> {
        let mut counts: Vec<_> = self
            .0
            .iter()
            .map(|(version, window)| {
                (version.as_str(), window.len() as u64, window.values().filter(|o| **o).count() as u64)
            })
            .collect();
        counts.sort();
        counts
    }
}

/// What a watcher remembers between passes: how far it has read the decisions, and each
/// watched workflow's windows as of its last close of the breaker. Bounded: a workflow no
/// longer watched is dropped, and the windows of all workflows together hold at most
/// [`LOOKBACK`] verdicts, each a different decision above `newest - LOOKBACK`.
#[derive(Debug, Default)]
pub struct Watch {
    seen: Seen<1>,
    workflows: HashMap<i64, (i64, Windows)>,
}

/// One pass over every workflow that auto-approves with its breaker closed, reading everything
/// (a watcher that has seen nothing yet); the breakers it opened. See [`check_since`].
pub async fn check(db: &Db) -> Result<Vec<Opened>, AppError> {
    check_since(db, &mut Watch::default()).await
}

/// One pass over every workflow that auto-approves with its breaker closed; the breakers it
/// opened. Reads only the verdicts and undos newer than `watch` has seen (see [`Seen`]: back
/// over two passes, everything every so often) and keeps each workflow's windows between
/// passes: a pass over a busy workflow reads a few hundred decisions, not the latest 50,000
/// joined to their items, and a pass with nothing new reads almost nothing. Several instances
/// may run it at once: opening is a conditional update, so only one of them opens a breaker
/// and sends its event.
pub async fn check_since(db: &Db, watch: &mut Watch) -> Result<Vec<Opened>, AppError> {
    let watched: Vec<Watched> = sqlx::query_as(
        "select id, slug, target_error_rate, tuning_confidence, breaker_watermark from workflows \
         where breaker_open = 0 and auto_approve_at is not null order by id",
    )
    .fetch_all(db.pool())
    .await?;
    let (newest,): (Option<i64>,) = sqlx::query_as("select max(id) from decisions").fetch_one(db.pool()).await?;
    let newest = newest.unwrap_or(0);
    let [from] = watch.seen.looks_from();
    let mut remembered = std::mem::take(&mut watch.workflows);
    let mut opened = Vec::new();
    for w in watched {
        let floor = w.breaker_watermark.max(newest - LOOKBACK);
        // A workflow seen for the first time, or whose breaker was closed since (the verdicts
        // before the close no longer count), is read from its floor.
        let (mut windows, mut read_from) = match remembered.remove(&w.id) {
            Some((watermark, windows)) if watermark == w.breaker_watermark && from > 0 => (windows, from),
            _ => (Windows::default(), 0),
        };
        if read_from > 0 && !forget_undone(db, w.id, read_from, &mut windows).await? {
            (windows, read_from) = (Windows::default(), 0);
        }
        for (model_version, decision, overridden) in verdicts(db, w.id, floor.max(read_from)).await? {
            windows.add(model_version, decision, overridden);
        }
        windows.keep_latest(floor);
        let target = Target::new(w.target_error_rate, w.tuning_confidence);
        let tripped = target.ok().and_then(|target| {
            windows
                .counts()
                .into_iter()
                .find(|(_, audited, overridden)| breaker_trips(*overridden, *audited, target))
                .map(|(version, audited, overridden)| (version.to_owned(), audited, overridden, target))
        });
        match tripped {
            Some((model_version, audited, overridden, target)) => {
                if open(db, w.id, &w.slug, &model_version, overridden, audited, target).await? {
                    opened.push(Opened { slug: w.slug, model_version, overridden, audited });
                }
            }
            None => {
                watch.workflows.insert(w.id, (w.breaker_watermark, windows));
            }
        }
    }
    watch.seen.passed([newest]);
    Ok(opened)
}

/// The final verdicts on audited items of a workflow above decision `above`, not undone:
/// (model version, decision, whether it overrode the model). Planned for its values each time:
/// a generic plan of `id > $2` may read every decision of the workflow.
async fn verdicts(db: &Db, workflow_id: i64, above: i64) -> Result<Vec<(String, i64, bool)>, AppError> {
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "select coalesce(i.model_version, ''), d.id, d.kind from decisions d join items i on i.id = d.item_id \
         where d.workflow_id = $1 and d.final = 1 and d.id > $2 and d.kind in ('approve', 'reject', 'correct') \
         and i.route_reason = 'audit' and not exists (select 1 from decisions u where u.undoes = d.id)",
    )
    .persistent(false)
    .bind(workflow_id)
    .bind(above)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(version, decision, kind)| (version, decision, kind != "approve")).collect())
}

/// Forgets from `windows` the verdicts undone by undos of a workflow above decision `above`.
/// False when one left a full window (the windows must be read again).
async fn forget_undone(db: &Db, workflow_id: i64, above: i64, windows: &mut Windows) -> Result<bool, AppError> {
    // An undo is never final: the decisions' feed index (workflow, final, id) bounds the read.
    let undone: Vec<(i64,)> = sqlx::query_as(
        "select undoes from decisions where workflow_id = $1 and final = 0 and id > $2 and undoes is not null",
    )
    .persistent(false)
    .bind(workflow_id)
    .bind(above)
    .fetch_all(db.pool())
    .await?;
    Ok(undone.into_iter().fold(true, |whole, (decision,)| windows.forget(decision) && whole))
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

/// Runs [`check_since`] every `every` until the server stops.
pub async fn watch(db: Db, every: Duration) {
    let mut ticker = tokio::time::interval(every.max(Duration::from_millis(500)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watch = Watch::default();
    loop {
        ticker.tick().await;
        if let Err(error) = check_since(&db, &mut watch).await {
            tracing::warn!(%error, "breaker check failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(verdicts: &[(&str, i64, bool)]) -> Windows {
        let mut windows = Windows::default();
        for (version, decision, overridden) in verdicts {
            windows.add((*version).to_owned(), *decision, *overridden);
        }
        windows
    }

    #[test]
    fn the_windows_keep_each_versions_latest_verdicts_above_the_floor() {
        let mut w = windows(&[("v1", 5, true), ("v1", 7, false), ("v2", 6, true), ("v1", 7, false)]);
        assert_eq!(w.counts(), vec![("v1", 2, 1), ("v2", 1, 1)], "a verdict read twice counts once");
        w.keep_latest(5);
        assert_eq!(w.counts(), vec![("v1", 1, 0), ("v2", 1, 1)], "at or below the floor, gone");
        w.keep_latest(6);
        assert_eq!(w.counts(), vec![("v1", 1, 0)], "a version with no verdict left is dropped");

        let mut full = Windows::default();
        for decision in 1..=WINDOW as i64 + 10 {
            full.add("v".into(), decision, decision <= 10);
        }
        full.keep_latest(0);
        assert_eq!(full.counts(), vec![("v", WINDOW as u64, 0)], "only the latest WINDOW: the 10 overrides were older");
        // A verdict that committed late, older than the window, changes nothing.
        full.add("v".into(), 3, true);
        full.keep_latest(0);
        assert_eq!(full.counts(), vec![("v", WINDOW as u64, 0)]);
    }

    #[test]
    fn the_windows_hold_at_most_lookback_verdicts_in_all() {
        // Verdicts of 1,000 model versions, 60,000 decisions, the newest 60,000: the floor is
        // 10,000.
        let mut w = Windows::default();
        for decision in 1..=60_000 {
            w.add(format!("v{}", decision % 1000), decision, false);
        }
        w.keep_latest(60_000 - LOOKBACK);
        let held: u64 = w.counts().iter().map(|(_, audited, _)| audited).sum();
        assert!(held <= LOOKBACK as u64, "{held}");
        assert_eq!(held, 50_000, "each version keeps its 50 verdicts above the floor");
    }

    #[test]
    fn an_undone_verdict_is_forgotten_and_a_full_window_asks_to_be_read_again() {
        let mut w = windows(&[("v1", 5, true), ("v1", 7, false)]);
        assert!(w.forget(5), "the window was not full: nothing older is missing");
        assert_eq!(w.counts(), vec![("v1", 1, 0)]);
        assert!(w.forget(99), "a verdict not held (not audited, or older) changes nothing");
        assert_eq!(w.counts(), vec![("v1", 1, 0)]);

        let mut full = Windows::default();
        for decision in 1..=WINDOW as i64 {
            full.add("v".into(), decision, false);
        }
        assert!(!full.forget(WINDOW as i64), "an older verdict, not held, belongs in the window now");
    }
}
