//! Monitoring's arithmetic (docs/DESIGN.md, "Monitoring"): which route an item took as the
//! dashboard groups them, the time range a view covers and the buckets its charts are drawn in,
//! and rates with their exact confidence intervals. Pure: the counts come in from the hourly
//! rollups the database keeps.

use super::binomial;
use super::routing::RouteReason;
use serde::{Deserialize, Serialize};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The routes of the dashboard: how an item was sent when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Above the auto-approve threshold and not sampled.
    AutoApproved,
    /// Below the auto-reject threshold and not sampled.
    AutoRejected,
    /// Below the threshold (or held back while paused or while the breaker is open): reviewed.
    Reviewed,
    /// Sampled for review from an automated band, to measure it.
    Audit,
    /// Held back for review by a rollout share.
    Rollout,
    /// Below `escalate_below`: straight to the leads.
    Escalated,
}

impl Route {
    pub const ALL: [Route; 6] =
        [Route::AutoApproved, Route::AutoRejected, Route::Reviewed, Route::Audit, Route::Rollout, Route::Escalated];

    pub fn of(reason: RouteReason) -> Self {
        match reason {
            RouteReason::AboveThreshold => Route::AutoApproved,
            RouteReason::BelowRejectThreshold => Route::AutoRejected,
            RouteReason::Paused | RouteReason::Breaker | RouteReason::BelowThreshold => Route::Reviewed,
            RouteReason::Audit | RouteReason::RejectAudit => Route::Audit,
            RouteReason::RolloutHoldout => Route::Rollout,
            RouteReason::LowConfidence => Route::Escalated,
        }
    }

    /// The route of a stored route reason; an unknown one (a reason a newer version wrote) counts
    /// as reviewed, where a person saw it.
    pub fn of_stored(raw: &str) -> Self {
        RouteReason::parse(raw).map_or(Route::Reviewed, Route::of)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Route::AutoApproved => "auto_approved",
            Route::AutoRejected => "auto_rejected",
            Route::Reviewed => "reviewed",
            Route::Audit => "audit",
            Route::Rollout => "rollout",
            Route::Escalated => "escalated",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Route::AutoApproved => "Auto-approved",
            Route::AutoRejected => "Auto-rejected",
            Route::Reviewed => "Reviewed",
            Route::Audit => "Audit sample",
            Route::Rollout => "Rollout holdout",
            Route::Escalated => "Escalated",
        }
    }

    /// Whether no person saw the item on its way in.
    pub fn automated(self) -> bool {
        matches!(self, Route::AutoApproved | Route::AutoRejected)
    }
}

/// Items counted by route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteCounts([u64; 6]);

impl RouteCounts {
    pub fn add(&mut self, route: Route, n: u64) {
        self.0[route as usize] += n;
    }

    pub fn get(&self, route: Route) -> u64 {
        self.0[route as usize]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The share of items no person saw; `None` with no items.
    pub fn automation_rate(&self) -> Option<f64> {
        let total = self.total();
        let automated = self.get(Route::AutoApproved) + self.get(Route::AutoRejected);
        (total > 0).then(|| automated as f64 / total as f64)
    }
}

/// A proportion with its exact two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub events: u64,
    pub trials: u64,
    /// `events / trials`; `None` with no trials.
    pub rate: Option<f64>,
    /// The Clopper-Pearson interval at [`INTERVAL`] (0 to 1 with no trials).
    pub low: f64,
    pub high: f64,
}

/// The confidence of every interval shown: 95 %, two-sided.
pub const INTERVAL: f64 = 0.95;

impl Rate {
    pub fn new(events: u64, trials: u64) -> Self {
        let events = events.min(trials);
        let tail = (1.0 - INTERVAL) / 2.0;
        let high = binomial::upper_bound(events, trials, tail);
        let low = if trials == 0 { 0.0 } else { 1.0 - binomial::upper_bound(trials - events, trials, tail) };
        Rate { events, trials, rate: (trials > 0).then(|| events as f64 / trials as f64), low, high }
    }
}

/// How wide a chart's bucket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn ms(self) -> i64 {
        match self {
            Bucket::Hour => HOUR_MS,
            Bucket::Day => DAY_MS,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }
}

/// The longest range a view may cover.
pub const MAX_RANGE_MS: i64 = 400 * DAY_MS;

/// A view's time range, whole UTC hours (the rollups' grain): `from` rounded down, `to` up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The first hour in it (Unix ms / [`HOUR_MS`]).
    pub from_hour: i64,
    /// The first hour after it.
    pub to_hour: i64,
}

/// Why a range cannot be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    Reversed,
    TooLong,
}

impl std::fmt::Display for RangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RangeError::Reversed => f.write_str("The range ends before it starts."),
            RangeError::TooLong => f.write_str("A range covers at most 400 days."),
        }
    }
}

impl Range {
    pub fn new(from_ms: i64, to_ms: i64) -> Result<Self, RangeError> {
        if to_ms <= from_ms {
            return Err(RangeError::Reversed);
        }
        if to_ms - from_ms > MAX_RANGE_MS {
            return Err(RangeError::TooLong);
        }
        Ok(Range { from_hour: from_ms.div_euclid(HOUR_MS), to_hour: (to_ms + HOUR_MS - 1).div_euclid(HOUR_MS) })
    }

    /// The `days` before `now`, up to the end of the current hour.
    pub fn last(now_ms: i64, days: i64) -> Self {
        let to_hour = now_ms.div_euclid(HOUR_MS) + 1;
        Range { from_hour: to_hour - days * 24, to_hour }
    }

    pub fn from_ms(self) -> i64 {
        self.from_hour * HOUR_MS
    }

    pub fn to_ms(self) -> i64 {
        self.to_hour * HOUR_MS
    }

    /// Hours for a range of two days or less, days beyond.
    pub fn bucket(self) -> Bucket {
        if self.to_hour - self.from_hour <= 48 { Bucket::Hour } else { Bucket::Day }
    }

    /// The start (Unix ms) of every bucket of the range, in order. Day buckets are UTC days; the
    /// first and last may be partly outside the range.
    pub fn buckets(self) -> Vec<i64> {
        let size = self.bucket().ms();
        let first = self.from_ms().div_euclid(size) * size;
        (0..).map(|i| first + i * size).take_while(|&start| start < self.to_ms()).collect()
    }

    /// The index in [`Range::buckets`] of the bucket holding `hour`.
    pub fn bucket_of(self, hour: i64) -> usize {
        let size = self.bucket().ms();
        let first = self.from_ms().div_euclid(size);
        ((hour * HOUR_MS).div_euclid(size) - first).max(0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_reason_has_a_route() {
        assert_eq!(Route::of_stored("above_threshold"), Route::AutoApproved);
        assert_eq!(Route::of_stored("below_reject_threshold"), Route::AutoRejected);
        assert_eq!(Route::of_stored("below_threshold"), Route::Reviewed);
        assert_eq!(Route::of_stored("paused"), Route::Reviewed);
        assert_eq!(Route::of_stored("breaker"), Route::Reviewed);
        assert_eq!(Route::of_stored("audit"), Route::Audit);
        assert_eq!(Route::of_stored("reject_audit"), Route::Audit);
        assert_eq!(Route::of_stored("rollout_holdout"), Route::Rollout);
        assert_eq!(Route::of_stored("low_confidence"), Route::Escalated);
        assert_eq!(Route::of_stored("something_new"), Route::Reviewed);
    }

    #[test]
    fn automation_counts_both_automated_bands() {
        let mut counts = RouteCounts::default();
        assert_eq!(counts.automation_rate(), None);
        counts.add(Route::AutoApproved, 6);
        counts.add(Route::AutoRejected, 2);
        counts.add(Route::Reviewed, 1);
        counts.add(Route::Audit, 1);
        assert_eq!(counts.total(), 10);
        assert_eq!(counts.automation_rate(), Some(0.8));
    }

    #[test]
    fn rate_intervals_are_exact_clopper_pearson() {
        // 0 of 10: the upper end solves (1 - p)^10 = 0.025, the lower is 0.
        let none = Rate::new(0, 10);
        assert_eq!(none.rate, Some(0.0));
        assert_eq!(none.low, 0.0);
        assert!((none.high - (1.0 - 0.025f64.powf(0.1))).abs() < 1e-9, "{}", none.high);
        // 10 of 10 mirrors it.
        let all = Rate::new(10, 10);
        assert!((all.low - 0.025f64.powf(0.1)).abs() < 1e-9, "{}", all.low);
        assert_eq!(all.high, 1.0);
        // 5 of 10: the textbook interval 0.1871 to 0.8129.
        let half = Rate::new(5, 10);
        assert!((half.low - 0.187_086).abs() < 1e-5, "{}", half.low);
        assert!((half.high - 0.812_914).abs() < 1e-5, "{}", half.high);
        // 1 of 20: 0.00127 to 0.24873.
        let one = Rate::new(1, 20);
        assert!((one.low - 0.001_265).abs() < 1e-5, "{}", one.low);
        assert!((one.high - 0.248_733).abs() < 1e-5, "{}", one.high);
        let empty = Rate::new(0, 0);
        assert_eq!((empty.rate, empty.low, empty.high), (None, 0.0, 1.0));
    }

    #[test]
    fn ranges_are_whole_hours() {
        let r = Range::new(HOUR_MS + 1, 3 * HOUR_MS + 1).unwrap();
        assert_eq!((r.from_hour, r.to_hour), (1, 4));
        assert_eq!(Range::new(5, 5), Err(RangeError::Reversed));
        assert_eq!(Range::new(0, MAX_RANGE_MS + 1), Err(RangeError::TooLong));
        let day = Range::last(10 * DAY_MS + 30 * 60_000, 1);
        assert_eq!(day.to_hour - day.from_hour, 24);
        assert_eq!(day.to_ms(), 10 * DAY_MS + HOUR_MS);
    }

    #[test]
    fn buckets_are_hours_up_to_two_days_then_utc_days() {
        let day = Range::last(10 * DAY_MS + 30 * 60_000, 1);
        assert_eq!(day.bucket(), Bucket::Hour);
        assert_eq!(day.buckets().len(), 24);
        assert_eq!(day.bucket_of(day.from_hour), 0);
        assert_eq!(day.bucket_of(day.to_hour - 1), 23);
        let week = Range::last(10 * DAY_MS + 30 * 60_000, 7);
        assert_eq!(week.bucket(), Bucket::Day);
        // Seven days back from 00:30 on day 10 to 01:00 starts at 01:00 on day 3: days 3 to 10.
        let starts = week.buckets();
        assert_eq!(starts.first(), Some(&(3 * DAY_MS)));
        assert_eq!(starts.last(), Some(&(10 * DAY_MS)));
        assert_eq!(starts.len(), 8);
        assert_eq!(week.bucket_of(week.from_hour), 0);
        assert_eq!(week.bucket_of(10 * 24), 7);
    }
}
