//! A workflow's numbers over a time range: what `GET /workflows/{slug}/stats` answers and the
//! dashboard is drawn from. Every count comes from the hourly rollups the database keeps in the
//! writers' transactions (migration 0013: `item_hours`, `decision_hours`, `reviewer_hours`,
//! `escalation_hours`) or from the queue's per-minute counts, so a view costs the hours it
//! covers, never the items stored.

use crate::domain::monitoring::{DAY_MS, HOUR_MS, Range, Rate, Route, RouteCounts};
use crate::error::AppError;
use crate::review::queues;
use crate::storage::clock::{now_ms, parse_rfc3339, rfc3339};
use crate::storage::db::Db;
use crate::workflows::server::Workflow;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Items by the route they took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Volume {
    pub total: u64,
    pub auto_approved: u64,
    pub auto_rejected: u64,
    pub reviewed: u64,
    pub audit: u64,
    pub rollout: u64,
    pub escalated: u64,
}

impl From<&RouteCounts> for Volume {
    fn from(c: &RouteCounts) -> Self {
        Volume {
            total: c.total(),
            auto_approved: c.get(Route::AutoApproved),
            auto_rejected: c.get(Route::AutoRejected),
            reviewed: c.get(Route::Reviewed),
            audit: c.get(Route::Audit),
            rollout: c.get(Route::Rollout),
            escalated: c.get(Route::Escalated),
        }
    }
}

/// How often people overturned the model: verdicts (approve, reject, correct) on the items of one
/// route, and those that rejected or corrected, with the exact 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Override {
    pub verdicts: u64,
    pub overridden: u64,
    /// `overridden / verdicts`; null with no verdicts.
    pub rate: Option<f64>,
    pub low: f64,
    pub high: f64,
}

impl From<Rate> for Override {
    fn from(r: Rate) -> Self {
        Override { verdicts: r.trials, overridden: r.events, rate: r.rate, low: r.low, high: r.high }
    }
}

/// Override rates by route: items below the threshold (reviewed), the audit sample of the
/// automated bands, the rollout holdout, and items escalated at ingest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Overrides {
    pub reviewed: Override,
    pub audit: Override,
    pub rollout: Override,
    pub escalated: Override,
}

/// What waits now (not limited to the range).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Backlog {
    pub waiting: i64,
    /// Waiting past the review SLA.
    pub overdue: i64,
    /// When the oldest waiting item arrived (RFC 3339); null when nothing waits.
    pub oldest_waiting_at: Option<String>,
    pub oldest_age_secs: Option<i64>,
    /// Open escalations at level 1 (the leads) and 2 (the admins).
    pub escalations_level_1: i64,
    pub escalations_level_2: i64,
}

/// Service levels missed in the range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Breaches {
    /// Items escalated because they waited past the review SLA.
    pub review_sla: u64,
    /// Escalations that climbed a level past the escalation SLA (dated when the climb fell due).
    pub escalation_sla: u64,
    /// Escalations flagged past the top level's SLA.
    pub flagged: u64,
}

/// Escalations opened in the range for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
}

/// One person's decisions in the range (undone ones not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReviewerDecisions {
    pub reviewer: String,
    pub approve: u64,
    pub reject: u64,
    pub correct: u64,
    pub escalate: u64,
    pub total: u64,
}

/// One bucket (an hour, or a UTC day) of the range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Point {
    /// Its start (RFC 3339).
    pub start: String,
    pub volume: Volume,
    /// Verdicts on reviewed and audited items in it, and how many overturned the model.
    pub verdicts: u64,
    pub overridden: u64,
    /// Rejections by reason code (`""`: none given).
    pub rejects: BTreeMap<String, u64>,
}

/// One model version's numbers in the range, for side-by-side comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VersionStats {
    /// The model version (`""`: items sent without one).
    pub model_version: String,
    /// The hour its first item arrived, ever (RFC 3339).
    pub first_seen: String,
    pub volume: Volume,
    pub automation_rate: Option<f64>,
    pub overrides: Overrides,
}

/// A workflow's numbers over a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Stats {
    pub workflow: String,
    /// The model version the numbers are limited to; null for all.
    pub model_version: Option<String>,
    /// The range, in whole UTC hours (RFC 3339; `to` is the first instant after it).
    pub from: String,
    pub to: String,
    /// `hour` or `day`: the width of each entry of `series`.
    pub bucket: String,
    pub volume: Volume,
    /// The share no person saw on its way in (auto-approved and auto-rejected); null with no items.
    pub automation_rate: Option<f64>,
    pub overrides: Overrides,
    pub backlog: Backlog,
    pub breaches: Breaches,
    pub escalations_by_reason: Vec<ReasonCount>,
    /// Everyone who decided in the range, most decisions first (all model versions).
    pub reviewers: Vec<ReviewerDecisions>,
    /// Rejections by reason code, most first (`""`: none given).
    pub reject_reasons: Vec<ReasonCount>,
    pub series: Vec<Point>,
    /// Every model version with items in the range, newest first (not limited by `model_version`).
    pub model_versions: Vec<VersionStats>,
}

#[derive(sqlx::FromRow)]
struct VolumeRow {
    hour: i64,
    model_version: String,
    route_reason: String,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct VerdictRow {
    hour: i64,
    model_version: String,
    route_reason: String,
    kind: String,
    reason_code: String,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct EscalatedRow {
    reason: String,
    opened: i64,
    climbed: i64,
    flagged: i64,
}

#[derive(sqlx::FromRow)]
struct ReviewerRow {
    email: String,
    kind: String,
    decisions: i64,
}

/// Verdicts and overrides by route, summed.
#[derive(Default, Clone, Copy)]
struct VerdictCounts {
    verdicts: [u64; 6],
    overridden: [u64; 6],
}

impl VerdictCounts {
    fn add(&mut self, route: Route, kind: &str, n: u64) {
        if matches!(kind, "approve" | "reject" | "correct") {
            self.verdicts[route as usize] += n;
            if kind != "approve" {
                self.overridden[route as usize] += n;
            }
        }
    }

    fn rate(&self, route: Route) -> Override {
        Rate::new(self.overridden[route as usize], self.verdicts[route as usize]).into()
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            reviewed: self.rate(Route::Reviewed),
            audit: self.rate(Route::Audit),
            rollout: self.rate(Route::Rollout),
            escalated: self.rate(Route::Escalated),
        }
    }
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

/// The numbers of `workflow` over `range`, for one model version or all.
pub async fn stats(db: &Db, workflow: &Workflow, range: Range, model_version: Option<&str>) -> Result<Stats, AppError> {
    let now = now_ms();
    let id = workflow.id;
    let (from, to) = (range.from_hour, range.to_hour);
    let buckets = range.buckets();
    let mut series: Vec<Point> =
        buckets.iter().map(|&start| Point { start: rfc3339(start), ..Default::default() }).collect();
    let mut series_routes = vec![RouteCounts::default(); buckets.len()];

    // Every read is an index range over (workflow_id, hour): the hours of the range, summed by
    // bucket in the database (UTC days start at whole multiples of 24 hours).
    let per = range.bucket().ms() / HOUR_MS;
    let volumes: Vec<VolumeRow> = sqlx::query_as(
        "select hour / $4 * $4 as hour, model_version, route_reason, cast(sum(volume) as bigint) as n from item_hours \
         where workflow_id = $1 and hour >= $2 and hour < $3 group by hour / $4, model_version, route_reason",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(per)
    .fetch_all(db.pool())
    .await?;
    let verdicts: Vec<VerdictRow> = sqlx::query_as(
        "select hour / $4 * $4 as hour, model_version, route_reason, kind, reason_code, \
           cast(sum(decisions) as bigint) as n \
         from decision_hours where workflow_id = $1 and hour >= $2 and hour < $3 \
         group by hour / $4, model_version, route_reason, kind, reason_code",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(per)
    .fetch_all(db.pool())
    .await?;

    let wanted = |version: &str| model_version.is_none_or(|m| m == version);
    let mut routes = RouteCounts::default();
    let mut by_version: BTreeMap<String, (RouteCounts, VerdictCounts)> = BTreeMap::new();
    for row in &volumes {
        let (route, n) = (Route::of_stored(&row.route_reason), count(row.n));
        by_version.entry(row.model_version.clone()).or_default().0.add(route, n);
        if wanted(&row.model_version) {
            routes.add(route, n);
            series_routes[range.bucket_of(row.hour).min(buckets.len() - 1)].add(route, n);
        }
    }
    let mut counted = VerdictCounts::default();
    let mut rejects: HashMap<String, u64> = HashMap::new();
    for row in &verdicts {
        let (route, n) = (Route::of_stored(&row.route_reason), count(row.n));
        by_version.entry(row.model_version.clone()).or_default().1.add(route, &row.kind, n);
        if !wanted(&row.model_version) {
            continue;
        }
        counted.add(route, &row.kind, n);
        let point = &mut series[range.bucket_of(row.hour).min(buckets.len() - 1)];
        if matches!(route, Route::Reviewed | Route::Audit)
            && matches!(row.kind.as_str(), "approve" | "reject" | "correct")
        {
            point.verdicts += n;
            point.overridden += u64::from(row.kind != "approve") * n;
        }
        if row.kind == "reject" && n > 0 {
            *point.rejects.entry(row.reason_code.clone()).or_default() += n;
            *rejects.entry(row.reason_code.clone()).or_default() += n;
        }
    }
    for (point, counts) in series.iter_mut().zip(&series_routes) {
        point.volume = counts.into();
    }

    // When each version first arrived, over all time (one row per version and hour: small).
    let first_seen: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "select model_version, min(hour) from item_hours where workflow_id = $1 group by model_version",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .collect();
    let mut model_versions: Vec<VersionStats> = by_version
        .into_iter()
        .filter(|(_, (routes, _))| routes.total() > 0)
        .map(|(version, (routes, verdicts))| VersionStats {
            first_seen: rfc3339(first_seen.get(&version).copied().unwrap_or(from) * HOUR_MS),
            model_version: version,
            volume: (&routes).into(),
            automation_rate: routes.automation_rate(),
            overrides: verdicts.overrides(),
        })
        .collect();
    model_versions.sort_by(|a, b| b.first_seen.cmp(&a.first_seen).then_with(|| a.model_version.cmp(&b.model_version)));

    let escalated: Vec<EscalatedRow> = {
        let mut sql = String::from(
            "select reason, cast(sum(opened) as bigint) as opened, cast(sum(climbed) as bigint) as climbed, \
               cast(sum(flagged) as bigint) as flagged \
             from escalation_hours where workflow_id = $1 and hour >= $2 and hour < $3",
        );
        if model_version.is_some() {
            sql.push_str(" and model_version = $4");
        }
        sql.push_str(" group by reason");
        let mut query = sqlx::query_as(&sql).bind(id).bind(from).bind(to);
        if let Some(version) = model_version {
            query = query.bind(version);
        }
        query.fetch_all(db.pool()).await?
    };
    let mut breaches = Breaches::default();
    let mut escalations_by_reason = Vec::new();
    for EscalatedRow { reason, opened, climbed, flagged } in escalated {
        if reason == crate::domain::escalation::Reason::ReviewSla.as_str() {
            breaches.review_sla += count(opened);
        }
        breaches.escalation_sla += count(climbed);
        breaches.flagged += count(flagged);
        if opened > 0 {
            escalations_by_reason.push(ReasonCount { reason, count: count(opened) });
        }
    }
    escalations_by_reason.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));

    let people: Vec<ReviewerRow> = sqlx::query_as(
        "select u.email, r.kind, cast(sum(r.decisions) as bigint) as decisions from reviewer_hours r \
         join users u on u.id = r.actor_id \
         where r.workflow_id = $1 and r.hour >= $2 and r.hour < $3 group by u.email, r.kind",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .fetch_all(db.pool())
    .await?;
    let mut reviewers: BTreeMap<String, ReviewerDecisions> = BTreeMap::new();
    for ReviewerRow { email, kind, decisions: n } in people {
        let entry = reviewers
            .entry(email.clone())
            .or_insert_with(|| ReviewerDecisions { reviewer: email, ..Default::default() });
        let n = count(n);
        match kind.as_str() {
            "approve" => entry.approve += n,
            "reject" => entry.reject += n,
            "correct" => entry.correct += n,
            "escalate" => entry.escalate += n,
            _ => continue,
        }
        entry.total += n;
    }
    let mut reviewers: Vec<ReviewerDecisions> = reviewers.into_values().filter(|r| r.total > 0).collect();
    reviewers.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.reviewer.cmp(&b.reviewer)));

    let mut reject_reasons: Vec<ReasonCount> =
        rejects.into_iter().filter(|(_, n)| *n > 0).map(|(reason, count)| ReasonCount { reason, count }).collect();
    reject_reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));

    let mut conn = db.pool().acquire().await?;
    let depth = queues::depth(&mut conn, id, workflow.spec.review_sla_secs, now).await?;
    let open: Vec<(i64, i64)> = sqlx::query_as(
        "select level, count(*) from escalations where workflow_id = $1 and resolved_at is null group by level",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let open_at = |level: i64| open.iter().find(|(l, _)| *l == level).map_or(0, |(_, n)| *n);
    let backlog = Backlog {
        waiting: depth.waiting,
        overdue: depth.overdue,
        oldest_waiting_at: depth.oldest.map(rfc3339),
        oldest_age_secs: depth.oldest.map(|at| (now - at).max(0) / 1000),
        escalations_level_1: open_at(1),
        escalations_level_2: open_at(2),
    };

    Ok(Stats {
        workflow: workflow.slug().to_owned(),
        model_version: model_version.map(str::to_owned),
        from: rfc3339(range.from_ms()),
        to: rfc3339(range.to_ms()),
        bucket: range.bucket().as_str().to_owned(),
        volume: (&routes).into(),
        automation_rate: routes.automation_rate(),
        overrides: counted.overrides(),
        backlog,
        breaches,
        escalations_by_reason,
        reviewers,
        reject_reasons,
        series,
        model_versions,
    })
}

/// A time given in a query, or why not.
pub fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<i64>, AppError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) => parse_rfc3339(r)
            .map(Some)
            .ok_or_else(|| AppError::invalid(field, format!("'{r}' is not an RFC 3339 time (2026-12-01T00:00:00Z)."))),
    }
}

/// The range from `from` and `to` as given (either may be missing), or why it cannot be shown.
pub fn range_of(from: Option<&str>, to: Option<&str>) -> Result<Range, AppError> {
    let to_ms = parse_time("to", to)?.unwrap_or_else(now_ms);
    let from_ms = parse_time("from", from)?.unwrap_or(to_ms - 7 * DAY_MS);
    Range::new(from_ms, to_ms).map_err(|e| AppError::invalid("from", e.to_string()))
}
