//! Threshold tuning: the evidence each workflow keeps, the recommendation drawn from it, and
//! applying a threshold.
//!
//! The counts are kept by the database as items and verdicts are written (migration 0012's
//! triggers) and by [`import`] for a team's past items; [`server`] reads them into the pure
//! recommender (`crate::domain::tuning`) and applies a threshold as a settings version with the
//! evidence it was chosen on; [`rest`] serves both to admin-scoped keys as a [`report`]; [`api`] to the
//! admin's tuning page, worded by [`page`] with [`charts`] drawn on the server; [`breaker`] stops auto-approval when the audit sample shows the model drifting.

pub mod api;
#[cfg(feature = "ssr")]
pub mod breaker;
#[cfg(feature = "ssr")]
pub mod charts;
#[cfg(feature = "ssr")]
pub mod import;
#[cfg(feature = "ssr")]
pub mod page;
#[cfg(feature = "ssr")]
pub mod report;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod server;

use serde::{Deserialize, Serialize};

/// The tuning page as the server words it: every number already formatted and both charts
/// drawn, so that the browser's bundle carries none of the report's types or arithmetic (the
/// page is for admins; every reviewer would download what it needed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TuningPage {
    pub slug: String,
    pub workflow: String,
    /// The target, the confidence and the settings version, in a sentence.
    pub target: String,
    pub settings_version: i64,
    pub model_version: String,
    /// `(value, label)` of every model version with evidence.
    pub model_versions: Vec<(String, String)>,
    /// Whether a threshold is recommended (the recommendation's box is green, else amber).
    pub recommended: Option<String>,
    pub headline: String,
    pub reason: String,
    pub numbers: Option<String>,
    pub current: String,
    /// The current threshold as the form shows it (empty: none).
    pub current_threshold: String,
    pub workload_caption: String,
    /// Rows of (settings, threshold, reviewed a day).
    pub workload: Vec<Vec<String>>,
    pub band_note: String,
    pub tradeoff_svg: String,
    pub calibration_svg: String,
    /// The what-if asked (as typed) and its answer, or why there is none.
    pub what_if: Option<(String, Result<String, String>)>,
    /// Every candidate with items: threshold, automated, items, verdicts, errors, estimate, bound.
    pub curve: Vec<Vec<String>>,
    /// Per tenth: range, items, verdicts, observed accuracy.
    pub calibration: Vec<Vec<String>>,
    pub rollout: Option<String>,
    /// The next rollout share the widen form suggests, while rolling out.
    pub widen_to: Option<String>,
    pub evidence: String,
    /// Band, review probability, items, verdicts, wrong.
    pub strata: Vec<Vec<String>>,
    /// `(since, why)` while the breaker is open.
    pub breaker: Option<(String, String)>,
    /// The auto-reject band's finding and its reason, when the workflow tunes one.
    pub reject: Option<(String, String)>,
    /// The threshold its form offers: the recommended one, else the current one (empty: none).
    pub reject_threshold: String,
}
