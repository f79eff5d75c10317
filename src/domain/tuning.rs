//! Threshold tuning from the decision history (docs/DESIGN.md, "Threshold tuning"): the
//! trade-off curve of every candidate threshold, a recommendation with a statistical guarantee,
//! the model's calibration, and the breaker's test. Pure: the evidence comes in as counts.
//!
//! The evidence of one model version is a set of [`Cell`]s: items counted by confidence bin and
//! by stratum (their stamped review probability), with how many got a human verdict and how
//! many of those found the model wrong. A candidate threshold on the fixed grid of [`STEPS`]
//! automates every bin at or above it. For each candidate:
//!
//! - the automation share is its volume over the whole volume;
//! - the estimated error is inverse-probability weighted: each verdict counts 1/p, p its
//!   stratum's review probability, and the weighted errors are divided by the weighted verdicts;
//! - the upper bound is exact: a Clopper-Pearson bound for each stratum at level delta/S (S the
//!   strata with volume), so that all hold together with probability 1 - delta, combined by the
//!   strata's shares of the candidate's volume.
//!
//! Candidates are tested in a fixed order, strictest first, and testing stops at the first whose
//! bound is above the target (fixed-sequence testing): the whole walk spends delta once.
//!
//! Over 500 lines with its unit tests (the code is about 440): the tests stay beside the
//! statistics they pin down, so that a change to a bound and the cases that check it are read
//! together.

use super::binomial;
use serde::{Deserialize, Serialize};

/// Confidence bins on [0, 1]: bin b holds confidences in [b/STEPS, (b+1)/STEPS); bin STEPS holds 1.
pub const STEPS: u32 = 200;

/// Review probabilities are grouped into strata in millionths.
pub const STRATUM_SCALE: f64 = 1_000_000.0;

/// The bin of a confidence in [0, 1]. A hair of slack keeps a confidence that is exactly a grid
/// value (0.7 is 139.99999999999997 steps in binary) in the bin that starts there; the SQL
/// that keeps the counts computes the same.
pub fn bin_of(confidence: f64) -> u32 {
    ((confidence * f64::from(STEPS) + 1e-9).floor()).clamp(0.0, f64::from(STEPS)) as u32
}

/// The threshold at the bottom of a bin.
pub fn threshold_of(bin: u32) -> f64 {
    f64::from(bin.min(STEPS)) / f64::from(STEPS)
}

/// The stratum of a review probability (in millionths).
pub fn stratum_of(review_probability: f64) -> u32 {
    (review_probability.clamp(0.0, 1.0) * STRATUM_SCALE).round() as u32
}

/// What a stratum value stands for.
pub fn probability_of(stratum: u32) -> f64 {
    f64::from(stratum) / STRATUM_SCALE
}

/// Items counted together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Items routed.
    pub volume: u64,
    /// Of those, items with a human verdict (approved, rejected or corrected, not undone).
    pub reviewed: u64,
    /// Of those, verdicts that found the model wrong (rejected or corrected).
    pub wrong: u64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.volume += other.volume;
        self.reviewed += other.reviewed;
        self.wrong += other.wrong;
    }
}

/// The items of one confidence bin and one stratum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub bin: u32,
    pub stratum: u32,
    pub counts: Counts,
}

/// The error rate to stay under and how sure to be of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The error rate accepted among automated items.
    pub alpha: f64,
    /// The chance allowed that the guarantee fails (1 - confidence).
    pub delta: f64,
}

impl Target {
    pub fn new(alpha: f64, confidence: f64) -> Result<Self, String> {
        if !(alpha.is_finite() && alpha > 0.0 && alpha < 1.0) {
            return Err(format!("alpha must be between 0 and 1 exclusive (was {alpha})"));
        }
        if !(confidence.is_finite() && (0.5..1.0).contains(&confidence)) {
            return Err(format!("the confidence must be at least 0.5 and below 1 (was {confidence})"));
        }
        Ok(Self { alpha, delta: 1.0 - confidence })
    }

    pub fn confidence(self) -> f64 {
        1.0 - self.delta
    }

    /// The least number of verdicts, all right, that can support any threshold.
    pub fn min_sample(self) -> u64 {
        binomial::min_sample(self.alpha, self.delta)
    }
}

/// Which band is tuned: auto-approval above a threshold, or auto-rejection below one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Items at or above the threshold are approved unseen; an error is a verdict of "wrong".
    Approve,
    /// Items below the threshold are rejected unseen; an error is a verdict of "right".
    Reject,
}

/// One candidate threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CurvePoint {
    pub threshold: f64,
    /// Share of all volume it would automate.
    pub automation: f64,
    /// Inverse-probability-weighted error among what it would automate (`None` without verdicts).
    pub estimated_error: Option<f64>,
    /// Upper bound on that error at the target's confidence (1 without evidence).
    pub upper_bound: f64,
    pub volume: u64,
    pub reviewed: u64,
    /// Verdicts that would have been errors of the automation.
    pub errors: u64,
}

/// What the walk recommends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Recommendation {
    /// `None` when even the strictest candidate fails.
    pub threshold: Option<f64>,
    pub automation: f64,
    pub estimated_error: Option<f64>,
    pub upper_bound: Option<f64>,
    /// Why, in a sentence.
    pub reason: String,
    /// When there is not enough evidence: how many more error-free verdicts the strictest
    /// candidate needs at the least.
    pub more_verdicts_needed: Option<u64>,
}

/// The curve, strictest candidate first, and the recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    pub band: Band,
    pub recommendation: Recommendation,
    pub curve: Vec<CurvePoint>,
}

/// The candidates of a band, strictest first: for approval 1.0 down to one step above 0, for
/// rejection one step above 0 up to one step below 1.
fn candidates(band: Band) -> Vec<u32> {
    match band {
        Band::Approve => (1..=STEPS).rev().collect(),
        Band::Reject => (1..STEPS).collect(),
    }
}

/// The cells of each bin, by stratum.
fn by_bin(cells: &[Cell]) -> Vec<Vec<(u32, Counts)>> {
    let mut bins: Vec<Vec<(u32, Counts)>> = vec![Vec::new(); STEPS as usize + 1];
    for cell in cells {
        let strata = &mut bins[cell.bin.min(STEPS) as usize];
        match strata.iter_mut().find(|(s, _)| *s == cell.stratum) {
            Some((_, counts)) => counts.add(cell.counts),
            None => strata.push((cell.stratum, cell.counts)),
        }
    }
    bins
}

/// Errors of the automation among some verdicts.
fn errors_of(band: Band, counts: Counts) -> u64 {
    let wrong = counts.wrong.min(counts.reviewed);
    match band {
        Band::Approve => wrong,
        Band::Reject => counts.reviewed - wrong,
    }
}

/// The running strata of a candidate, with each stratum's bound kept until its counts or the
/// level change (most steps of the walk touch one or two strata).
struct Strata {
    band: Band,
    delta: f64,
    strata: Vec<(u32, Counts, Option<f64>)>,
    level_strata: usize,
}

impl Strata {
    fn new(band: Band, delta: f64) -> Self {
        Self { band, delta, strata: Vec::new(), level_strata: 0 }
    }

    fn add(&mut self, stratum: u32, counts: Counts) {
        match self.strata.iter_mut().find(|(s, _, _)| *s == stratum) {
            Some((_, c, bound)) => {
                c.add(counts);
                *bound = None;
            }
            None => self.strata.push((stratum, counts, None)),
        }
    }

    fn point(&mut self, threshold: f64, total_volume: u64) -> CurvePoint {
        let with_volume = self.strata.iter().filter(|(_, c, _)| c.volume > 0).count();
        if with_volume != self.level_strata {
            self.level_strata = with_volume;
            for (_, _, bound) in &mut self.strata {
                *bound = None;
            }
        }
        let level = self.delta / with_volume.max(1) as f64;
        let band = self.band;
        let (mut volume, mut reviewed, mut errors) = (0u64, 0u64, 0u64);
        let (mut weighted_errors, mut weighted_verdicts) = (0.0f64, 0.0f64);
        for (stratum, counts, _) in &self.strata {
            let e = errors_of(band, *counts);
            volume += counts.volume;
            reviewed += counts.reviewed;
            errors += e;
            let p = probability_of(*stratum);
            if p > 0.0 && counts.reviewed > 0 {
                weighted_errors += e as f64 / p;
                weighted_verdicts += counts.reviewed as f64 / p;
            }
        }
        let mut upper_bound = 0.0;
        if volume > 0 {
            for (_, counts, bound) in &mut self.strata {
                if counts.volume == 0 {
                    continue;
                }
                let e = errors_of(band, *counts);
                let b = *bound.get_or_insert_with(|| binomial::upper_bound(e, counts.reviewed, level));
                upper_bound += counts.volume as f64 / volume as f64 * b;
            }
        } else {
            upper_bound = 1.0;
        }
        CurvePoint {
            threshold,
            automation: if total_volume == 0 { 0.0 } else { volume as f64 / total_volume as f64 },
            estimated_error: (weighted_verdicts > 0.0).then(|| weighted_errors / weighted_verdicts),
            upper_bound: upper_bound.min(1.0),
            volume,
            reviewed,
            errors,
        }
    }
}

/// The curve of a band and its recommendation, for one model version's evidence.
pub fn tune(cells: &[Cell], target: Target, band: Band) -> Tuning {
    let bins = by_bin(cells);
    let total_volume: u64 = cells.iter().map(|c| c.counts.volume).sum();
    let mut strata = Strata::new(band, target.delta);
    let mut curve = Vec::with_capacity(STEPS as usize);
    for bin in candidates(band) {
        // Each step adds one bin: approving from `bin` up adds `bin`; rejecting below it adds the
        // bin beneath.
        let added = match band {
            Band::Approve => bin,
            Band::Reject => bin - 1,
        };
        for (stratum, counts) in &bins[added as usize] {
            strata.add(*stratum, *counts);
        }
        curve.push(strata.point(threshold_of(bin), total_volume));
    }
    let recommendation = recommend(&curve, target, band);
    Tuning { band, recommendation, curve }
}

/// Walks the curve strictest first while the bound holds; the last candidate passed is
/// recommended. A candidate with fewer verdicts than [`Target::min_sample`] cannot pass, so it
/// is not tested: which candidates are skipped depends on the sample sizes alone, never on the
/// verdicts, so the tested ones still form a sequence fixed in advance of the outcomes (and as
/// the candidates' sets grow down the walk, only a sparse strict end is ever skipped).
fn recommend(curve: &[CurvePoint], target: Target, band: Band) -> Recommendation {
    let min = target.min_sample();
    let mut passed: Option<&CurvePoint> = None;
    let mut first_failure: Option<&CurvePoint> = None;
    for point in curve {
        if point.volume == 0 || point.reviewed < min {
            continue;
        }
        if point.upper_bound <= target.alpha {
            passed = Some(point);
        } else {
            first_failure = Some(point);
            break;
        }
    }
    let percent = |x: f64| format!("{:.2} %", x * 100.0);
    let confidence = percent(target.confidence());
    let side = match band {
        Band::Approve => "at or above",
        Band::Reject => "below",
    };
    if let Some(point) = passed {
        let reason = match first_failure {
            Some(next) => format!(
                "Automating items {side} {} keeps the error under {} with {confidence} confidence (bound {}); \
                 the next candidate, {}, has a bound of {}.",
                point.threshold,
                percent(target.alpha),
                percent(point.upper_bound),
                next.threshold,
                percent(next.upper_bound)
            ),
            None => format!(
                "Every candidate keeps the error under {} with {confidence} confidence; the laxest is {}.",
                percent(target.alpha),
                point.threshold
            ),
        };
        return Recommendation {
            threshold: Some(point.threshold),
            automation: point.automation,
            estimated_error: point.estimated_error,
            upper_bound: Some(point.upper_bound),
            reason,
            more_verdicts_needed: None,
        };
    }
    if let Some(strictest) = first_failure {
        return Recommendation {
            threshold: None,
            automation: 0.0,
            estimated_error: strictest.estimated_error,
            upper_bound: Some(strictest.upper_bound),
            reason: format!(
                "Even the strictest candidate with enough evidence, {}, fails: its error bound is {}, above the \
                 target {} ({} error(s) in {} verdicts).",
                strictest.threshold,
                percent(strictest.upper_bound),
                percent(target.alpha),
                strictest.errors,
                strictest.reviewed
            ),
            more_verdicts_needed: None,
        };
    }
    // Nothing testable: the most verdicts any candidate has is the laxest's.
    let most = curve.iter().map(|p| p.reviewed).max().unwrap_or(0);
    let reason = if curve.iter().all(|p| p.volume == 0) {
        format!(
            "No evidence yet: no items of this model version. At least {min} reviewed items {side} a threshold \
             are needed for a {} target at {confidence} confidence.",
            percent(target.alpha)
        )
    } else {
        format!(
            "Not enough evidence: no candidate has more than {most} reviewed item(s) {side} it; at least {min} are \
             needed for a {} target at {confidence} confidence ({} more).",
            percent(target.alpha),
            min - most
        )
    };
    Recommendation {
        threshold: None,
        automation: 0.0,
        estimated_error: None,
        upper_bound: None,
        reason,
        more_verdicts_needed: Some(min - most),
    }
}

/// The candidate of a curve whose bin holds `threshold` (`None` off the grid's candidates).
pub fn point_at(curve: &[CurvePoint], threshold: f64) -> Option<CurvePoint> {
    let bin = bin_of(threshold.clamp(0.0, 1.0));
    curve.iter().find(|p| bin_of(p.threshold) == bin).copied()
}

/// The curve's numbers at any threshold: the candidate whose bin holds it, or past the grid's
/// lax end the laxest candidate of the band.
pub fn at_threshold(curve: &[CurvePoint], band: Band, threshold: f64) -> Option<CurvePoint> {
    point_at(curve, threshold).or_else(|| match band {
        Band::Approve => curve.last().copied(),
        Band::Reject => curve.first().copied(),
    })
}

/// Stated confidence against observed accuracy, in bins of a tenth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub volume: u64,
    pub reviewed: u64,
    /// Inverse-probability-weighted share of verdicts that found the model right.
    pub observed_accuracy: Option<f64>,
}

pub fn calibration(cells: &[Cell]) -> Vec<CalibrationBin> {
    let per = STEPS / 10;
    (0..10u32)
        .map(|tenth| {
            let (mut volume, mut reviewed, mut right, mut verdicts) = (0u64, 0u64, 0.0f64, 0.0f64);
            for cell in cells.iter().filter(|c| (c.bin / per).min(9) == tenth) {
                volume += cell.counts.volume;
                reviewed += cell.counts.reviewed;
                let p = probability_of(cell.stratum);
                if p > 0.0 {
                    let wrong = cell.counts.wrong.min(cell.counts.reviewed);
                    right += (cell.counts.reviewed - wrong) as f64 / p;
                    verdicts += cell.counts.reviewed as f64 / p;
                }
            }
            CalibrationBin {
                lower: f64::from(tenth) / 10.0,
                upper: f64::from(tenth + 1) / 10.0,
                volume,
                reviewed,
                observed_accuracy: (verdicts > 0.0).then(|| right / verdicts),
            }
        })
        .collect()
}

/// The breaker's test: is the override rate of `overridden` in `audited` audit verdicts
/// significantly above `alpha`? One-sided exact binomial test at level delta: the chance of
/// seeing that many overrides or more, were the true rate `alpha`, is at most delta.
pub fn breaker_trips(overridden: u64, audited: u64, target: Target) -> bool {
    audited > 0 && binomial::upper_tail(overridden, audited, target.alpha) <= target.delta
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::new(0.02, 0.95).unwrap()
    }

    fn cell(confidence: f64, p: f64, volume: u64, reviewed: u64, wrong: u64) -> Cell {
        Cell { bin: bin_of(confidence), stratum: stratum_of(p), counts: Counts { volume, reviewed, wrong } }
    }

    #[test]
    fn bins_and_thresholds() {
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(0.7), 140, "a grid value starts its own bin");
        assert_eq!(bin_of(0.704_999), 140);
        assert_eq!(bin_of(0.705), 141);
        assert_eq!(bin_of(0.999_999), 199);
        assert_eq!(bin_of(1.0), 200);
        assert_eq!(threshold_of(140), 0.7);
        for bin in 0..=STEPS {
            assert_eq!(bin_of(threshold_of(bin)), bin, "bin {bin}");
        }
        assert_eq!(stratum_of(0.05), 50_000);
        assert_eq!(stratum_of(1.0), 1_000_000);
    }

    #[test]
    fn targets_are_checked() {
        assert!(Target::new(0.0, 0.95).is_err());
        assert!(Target::new(0.02, 1.0).is_err());
        assert!(Target::new(f64::NAN, 0.95).is_err());
        assert_eq!(target().min_sample(), 149);
        assert!((target().delta - 0.05).abs() < 1e-15);
    }

    #[test]
    fn no_evidence_asks_for_the_minimum() {
        let tuning = tune(&[], target(), Band::Approve);
        assert_eq!(tuning.recommendation.threshold, None);
        assert_eq!(tuning.recommendation.more_verdicts_needed, Some(149));
        assert_eq!(tuning.curve.len(), STEPS as usize);
        assert_eq!(tuning.curve[0].threshold, 1.0);
        assert_eq!(tuning.curve.last().unwrap().threshold, 0.005);
    }

    #[test]
    fn too_few_verdicts_say_how_many_more() {
        // 100 items at 0.95, all reviewed and right: the bound 1 - 0.05^(1/100) = 2.95 % fails.
        let tuning = tune(&[cell(0.95, 1.0, 100, 100, 0)], target(), Band::Approve);
        let r = &tuning.recommendation;
        assert_eq!(r.threshold, None);
        assert_eq!(r.more_verdicts_needed, Some(49));
        assert!(r.reason.contains("49 more"), "{}", r.reason);
        // 149 of them pass: 1 - 0.05^(1/149) = 1.99 %.
        let tuning = tune(&[cell(0.95, 1.0, 149, 149, 0)], target(), Band::Approve);
        assert_eq!(tuning.recommendation.threshold, Some(0.005), "no item below, so every candidate passes");
        assert!((tuning.recommendation.upper_bound.unwrap() - 0.019_904_816).abs() < 1e-8);
    }

    /// Worked by hand. Two strata above 0.9: 1,000 items audited at p = 0.1 (100 verdicts, 1
    /// wrong) and 200 items reviewed at p = 1 (200 verdicts, 2 wrong), all in the 0.95 bin.
    /// IPW: errors 1/0.1 + 2/1 = 12 over verdicts 100/0.1 + 200/1 = 1,200: 1 %.
    /// Bound, each stratum at 0.05/2 = 0.025: CP(1, 100) and CP(2, 200), weighted 1000/1200
    /// and 200/1200.
    #[test]
    fn weighted_example() {
        let cells = [cell(0.95, 0.1, 1000, 100, 1), cell(0.95, 1.0, 200, 200, 2), cell(0.5, 1.0, 800, 800, 200)];
        let tuning = tune(&cells, target(), Band::Approve);
        let at = at_threshold(&tuning.curve, tuning.band, 0.95).unwrap();
        assert_eq!(at.volume, 1200);
        assert_eq!((at.reviewed, at.errors), (300, 3));
        assert!((at.automation - 0.6).abs() < 1e-12);
        assert!((at.estimated_error.unwrap() - 0.01).abs() < 1e-12);
        let expected = 1000.0 / 1200.0 * binomial::upper_bound(1, 100, 0.025)
            + 200.0 / 1200.0 * binomial::upper_bound(2, 200, 0.025);
        assert!((at.upper_bound - expected).abs() < 1e-12);
        // CP(1, 100) at 2.5 % is 5.446 %, CP(2, 200) is 3.566 %: the bound is 5.133 %, over 2 %.
        assert!((binomial::upper_bound(1, 100, 0.025) - 0.054_459_4).abs() < 1e-6);
        assert!((binomial::upper_bound(2, 200, 0.025) - 0.035_654_7).abs() < 1e-6);
        assert!((at.upper_bound - 0.051_325_3).abs() < 1e-6, "{}", at.upper_bound);
        assert_eq!(tuning.recommendation.threshold, None);
        assert!(tuning.recommendation.reason.contains("fails"), "{}", tuning.recommendation.reason);
    }

    #[test]
    fn the_walk_stops_at_the_first_failure() {
        // Clean above 0.9, bad at 0.8, clean again at 0.6: the walk must not jump the bad band.
        let cells =
            [cell(0.95, 1.0, 2000, 2000, 0), cell(0.8, 1.0, 500, 500, 100), cell(0.6, 1.0, 100_000, 100_000, 0)];
        let tuning = tune(&cells, target(), Band::Approve);
        assert_eq!(tuning.recommendation.threshold, Some(0.805));
        let lax = at_threshold(&tuning.curve, tuning.band, 0.6).unwrap();
        assert!(lax.upper_bound <= 0.02, "the laxest candidate alone would pass: {}", lax.upper_bound);
        assert!(tuning.recommendation.reason.contains("0.8"), "{}", tuning.recommendation.reason);
    }

    #[test]
    fn unreviewed_volume_is_never_counted_right() {
        // 10,000 auto-approved with no audit (p = 0): no verdict can speak for them.
        let cells = [cell(0.97, 0.0, 10_000, 0, 0), cell(0.92, 1.0, 5000, 5000, 0)];
        let tuning = tune(&cells, target(), Band::Approve);
        let top = at_threshold(&tuning.curve, tuning.band, 0.97).unwrap();
        assert_eq!(top.upper_bound, 1.0);
        assert_eq!(top.estimated_error, None);
        assert_eq!(tuning.recommendation.threshold, None);
    }

    #[test]
    fn the_reject_band_counts_approvals_as_errors() {
        let cells =
            [cell(0.02, 1.0, 3000, 3000, 3000), cell(0.3, 1.0, 1000, 1000, 900), cell(0.9, 1.0, 1000, 1000, 10)];
        let tuning = tune(&cells, target(), Band::Reject);
        // Rejecting below 0.3 rejects only the bin of 0.02, all wrong predictions: no error.
        assert_eq!(tuning.recommendation.threshold, Some(0.3));
        let below_mid = at_threshold(&tuning.curve, tuning.band, 0.305).unwrap();
        assert_eq!((below_mid.reviewed, below_mid.errors), (4000, 100));
        assert!(below_mid.upper_bound > 0.02);
    }

    #[test]
    fn calibration_weights_by_review_probability() {
        let cells = [cell(0.95, 0.1, 1000, 100, 10), cell(0.95, 1.0, 100, 100, 0)];
        let bins = calibration(&cells);
        assert_eq!(bins.len(), 10);
        let top = bins[9];
        assert_eq!((top.volume, top.reviewed), (1100, 200));
        // Right: 90/0.1 + 100 = 1000 of 100/0.1 + 100 = 1100.
        assert!((top.observed_accuracy.unwrap() - 1000.0 / 1100.0).abs() < 1e-12);
        assert_eq!(bins[0].observed_accuracy, None);
        assert_eq!(calibration(&[cell(1.0, 1.0, 5, 5, 0)])[9].volume, 5, "confidence 1 is in the top tenth");
    }

    #[test]
    fn breaker_test() {
        // 2 % target at 95 %: 200 audits. P(X >= 8 | 200, 0.02) = 0.0493; P(X >= 7) = 0.1086.
        assert!(breaker_trips(8, 200, target()));
        assert!(!breaker_trips(7, 200, target()));
        assert!(!breaker_trips(0, 0, target()));
        assert!(breaker_trips(3, 10, target()));
    }

    /// A small random number generator, so the simulation is the same on every run.
    struct SplitMix(u64);
    impl SplitMix {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// On synthetic streams whose error falls with confidence (a quarter wrong at 0.5, falling
    /// with the cube of the distance to 1; the truth is known for every item), routed as a workflow auto-approving above 0.9
    /// with a 10 % audit: what the recommendation automates must be at most 2 % wrong in at
    /// least 95 % of 1,000 trials. The recommendation must also be useful (it exists, and it is
    /// below the current 0.9, in most trials), or the guarantee would be empty.
    #[test]
    fn the_guarantee_holds_in_simulation() {
        let target = target();
        let mut rng = SplitMix(20_261_201);
        let (trials, items) = (1000, 20_000);
        let (mut violations, mut useful) = (0, 0);
        for _ in 0..trials {
            // Counted per bin, audited stratum first, then the fully reviewed one.
            let mut grid = vec![[Counts::default(); 2]; STEPS as usize + 1];
            let mut truth: Vec<(f64, bool)> = Vec::with_capacity(items);
            for _ in 0..items {
                let confidence = 0.5 + 0.5 * rng.next();
                let error = 0.25 * ((1.0 - confidence) / 0.5).powi(3);
                let wrong = rng.next() < error;
                let (p, seen) = if confidence >= 0.9 { (0.1, rng.next() < 0.1) } else { (1.0, true) };
                let counts = Counts { volume: 1, reviewed: u64::from(seen), wrong: u64::from(seen && wrong) };
                grid[bin_of(confidence) as usize][usize::from(p == 1.0)].add(counts);
                truth.push((confidence, wrong));
            }
            let cells: Vec<Cell> = (0..=STEPS)
                .flat_map(|bin| {
                    let strata = grid[bin as usize];
                    [(0.1, strata[0]), (1.0, strata[1])].map(|(p, counts)| Cell { bin, stratum: stratum_of(p), counts })
                })
                .filter(|c| c.counts.volume > 0)
                .collect();
            let Some(threshold) = tune(&cells, target, Band::Approve).recommendation.threshold else {
                continue;
            };
            if threshold < 0.9 {
                useful += 1;
            }
            let automated: Vec<bool> =
                truth.iter().filter(|(c, _)| bin_of(*c) >= bin_of(threshold)).map(|(_, w)| *w).collect();
            let realised = automated.iter().filter(|w| **w).count() as f64 / automated.len().max(1) as f64;
            if realised > target.alpha {
                violations += 1;
            }
        }
        assert!(violations <= 50, "{violations} of {trials} trials automated more than 2 % errors");
        assert!(useful >= 900, "only {useful} of {trials} trials recommended lowering the threshold");
    }
}
