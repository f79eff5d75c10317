//! The tuning report: what `GET /workflows/{slug}/tuning` answers and the tuning page is made
//! from. Server-side only: the page receives it already worded ([`super::TuningPage`]).

use crate::domain::tuning::{CalibrationBin, CurvePoint, Recommendation};
use serde::{Deserialize, Serialize};

/// The counts of one stratum (items sharing a review probability).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StratumEvidence {
    pub review_probability: f64,
    /// Whether these items are at or above the current auto-approve threshold.
    pub above_threshold: bool,
    pub volume: u64,
    pub reviewed: u64,
    pub wrong: u64,
}

/// What the recommendation rests on, for one model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EvidenceSummary {
    /// The model version (empty: items sent without one).
    pub model_version: String,
    pub volume: u64,
    pub reviewed: u64,
    pub wrong: u64,
    /// The fewest verdicts, all right, that could support any threshold at this target.
    pub min_sample: u64,
    /// By band (above or below the current threshold) and stratum.
    pub strata: Vec<StratumEvidence>,
}

/// One band's curve and its recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BandTuning {
    pub recommendation: Recommendation,
    /// Every candidate on the grid, strictest first.
    pub curve: Vec<CurvePoint>,
}

/// How the daily review workload would change, at the last 7 days' volume.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Workload {
    /// Items a day over the last 7 days (all model versions).
    pub items_per_day: f64,
    /// Items a day people review under the current settings.
    pub reviews_per_day_now: f64,
    /// Items a day people would review under the recommendation (`None` without one).
    pub reviews_per_day_recommended: Option<f64>,
}

/// The gradual expansion under way: the share of the automatable band automated so far, and
/// what the reviewed part of that band (the audit sample and the held-out items) shows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Rollout {
    pub share: f64,
    pub reviewed: u64,
    pub wrong: u64,
    pub observed_error: Option<f64>,
}

/// Everything the tuning page and `GET /workflows/{slug}/tuning` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TuningReport {
    pub slug: String,
    pub workflow: String,
    /// The target error rate tuned for.
    pub alpha: f64,
    /// 1 - delta.
    pub confidence: f64,
    /// The model version tuned (empty: items without one).
    pub model_version: String,
    /// Every model version with evidence, newest first.
    pub model_versions: Vec<String>,
    pub current_threshold: Option<f64>,
    /// Below this items are rejected unseen (`None`: never).
    pub current_reject_below: Option<f64>,
    pub audit_rate: f64,
    pub settings_version: i64,
    pub recommendation: Recommendation,
    pub curve: Vec<CurvePoint>,
    /// The auto-reject band, when the workflow tunes one.
    pub reject: Option<BandTuning>,
    pub calibration: Vec<CalibrationBin>,
    pub evidence: EvidenceSummary,
    pub workload: Workload,
    /// While rolling out (a rollout share below 1).
    pub rollout: Option<Rollout>,
    /// While the breaker is open.
    pub breaker: Option<OpenBreaker>,
}

/// An open breaker: since when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OpenBreaker {
    pub opened_at_ms: i64,
    pub reason: String,
}
