//! Words the tuning report for its page: numbers formatted, charts drawn, the what-if answered.

use super::TuningPage;
use super::charts;
use super::report::TuningReport;
use crate::domain::tuning::point_at;
use crate::storage::clock::rfc3339;

fn percent(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

fn maybe_percent(v: Option<f64>) -> String {
    v.map(percent).unwrap_or_else(|| "no verdicts".into())
}

fn threshold_text(t: Option<f64>) -> String {
    t.map(|t| t.to_string()).unwrap_or_else(|| "none".into())
}

fn version_label(v: &str) -> String {
    if v.is_empty() { "(no model version)".to_owned() } else { v.to_owned() }
}

/// The page of `report`, with the what-if for `what_if` (as typed) when asked.
pub fn page(report: &TuningReport, what_if: Option<&str>) -> TuningPage {
    let r = &report.recommendation;
    let current = report.current_threshold.and_then(|t| point_at(&report.curve, t));
    let recommended = r.threshold.and_then(|t| point_at(&report.curve, t));
    let confidence = format!("{:.0} %", report.confidence * 100.0);
    let what_if = what_if.map(str::trim).filter(|w| !w.is_empty()).map(|typed| {
        let answer = match typed.parse::<f64>().ok().filter(|t| (0.0..=1.0).contains(t)) {
            None => Err("Give a threshold between 0 and 1.".to_owned()),
            Some(t) => point_at(&report.curve, t).ok_or_else(|| "Give a threshold between 0 and 1.".to_owned()).map(|p| {
                format!(
                    "At {t}: automates {} ({} items), estimated error {}, upper bound {} ({} verdicts, {} of them errors).",
                    percent(p.automation),
                    p.volume,
                    maybe_percent(p.estimated_error),
                    percent(p.upper_bound),
                    p.reviewed,
                    p.errors
                )
            }),
        };
        (typed.to_owned(), answer)
    });
    let per_day = |v: f64| format!("{v:.0}");
    let w = &report.workload;
    let e = &report.evidence;
    TuningPage {
        slug: report.slug.clone(),
        workflow: report.workflow.clone(),
        target: format!(
            "Target: at most {} errors among automated items, with {confidence} confidence. Settings version {}.",
            percent(report.alpha),
            report.settings_version
        ),
        settings_version: report.settings_version,
        model_version: report.model_version.clone(),
        model_versions: report.model_versions.iter().map(|v| (v.clone(), version_label(v))).collect(),
        recommended: r.threshold.map(|t| t.to_string()),
        headline: match r.threshold {
            Some(t) => format!("Auto-approve at {t}: automates {} of items", percent(r.automation)),
            None => "No threshold can be recommended yet".to_owned(),
        },
        reason: r.reason.clone(),
        numbers: r.threshold.map(|_| {
            format!(
                "Estimated error {}; upper bound {}.",
                maybe_percent(r.estimated_error),
                r.upper_bound.map(percent).unwrap_or_default()
            )
        }),
        current: format!(
            "Current threshold: {}.",
            report.current_threshold.map(|t| t.to_string()).unwrap_or_else(|| "none (nothing is auto-approved)".into())
        ),
        current_threshold: report.current_threshold.map(|t| t.to_string()).unwrap_or_default(),
        workload_caption: format!(
            "Daily review workload at the last 7 days' volume ({} items a day)",
            per_day(w.items_per_day)
        ),
        workload: vec![
            vec!["Now".into(), threshold_text(report.current_threshold), per_day(w.reviews_per_day_now)],
            vec![
                "Recommended".into(),
                threshold_text(r.threshold),
                w.reviews_per_day_recommended.map(per_day).unwrap_or_else(|| "—".into()),
            ],
        ],
        band_note: format!(
            "The line is the estimated error (each verdict weighted by the inverse of its review probability); the band \
             reaches up to the upper bound that holds with {confidence} confidence."
        ),
        tradeoff_svg: charts::tradeoff(&report.curve, report.alpha, current.as_ref(), recommended.as_ref()),
        calibration_svg: charts::calibration(&report.calibration),
        what_if,
        curve: report
            .curve
            .iter()
            .filter(|p| p.volume > 0)
            .map(|p| {
                vec![
                    p.threshold.to_string(),
                    percent(p.automation),
                    p.volume.to_string(),
                    p.reviewed.to_string(),
                    p.errors.to_string(),
                    maybe_percent(p.estimated_error),
                    percent(p.upper_bound),
                ]
            })
            .collect(),
        calibration: report
            .calibration
            .iter()
            .map(|b| {
                vec![
                    format!("{:.1} – {:.1}", b.lower, b.upper),
                    b.volume.to_string(),
                    b.reviewed.to_string(),
                    maybe_percent(b.observed_accuracy),
                ]
            })
            .collect(),
        rollout: report.rollout.map(|o| {
            format!(
                "{} of would-be auto-approvals are automated; the rest are held out for review. Reviewed above the \
                 threshold so far: {} verdicts, {} wrong, observed error {}.",
                percent(o.share),
                o.reviewed,
                o.wrong,
                maybe_percent(o.observed_error)
            )
        }),
        widen_to: report.rollout.map(|o| (o.share * 2.0).min(1.0).to_string()),
        evidence: format!(
            "Model {}: {} items, {} with a verdict, {} of them wrong. At least {} reviewed items above a threshold are \
             needed before it can be recommended. The audit rate is {}.",
            version_label(&e.model_version),
            e.volume,
            e.reviewed,
            e.wrong,
            e.min_sample,
            percent(report.audit_rate)
        ),
        strata: e
            .strata
            .iter()
            .map(|s| {
                vec![
                    if s.above_threshold { "At or above the threshold" } else { "Below the threshold" }.to_owned(),
                    percent(s.review_probability),
                    s.volume.to_string(),
                    s.reviewed.to_string(),
                    s.wrong.to_string(),
                ]
            })
            .collect(),
        breaker: report.breaker.as_ref().map(|b| (rfc3339(b.opened_at_ms), b.reason.clone())),
        reject: report.reject.as_ref().map(|band| {
            let r = &band.recommendation;
            let finding = match r.threshold {
                Some(t) => format!(
                    "Items below {t} could be rejected without review: {} of items, upper bound on wrongly rejected {}.",
                    percent(r.automation),
                    r.upper_bound.map(percent).unwrap_or_default()
                ),
                None => "No auto-reject band can be recommended yet.".to_owned(),
            };
            let current = match report.current_reject_below {
                Some(c) => format!(" Now items below {c} are rejected unseen."),
                None => " Nothing is rejected unseen now.".to_owned(),
            };
            (finding + &current, r.reason.clone())
        }),
        reject_threshold: report
            .reject
            .as_ref()
            .and_then(|b| b.recommendation.threshold)
            .or(report.current_reject_below)
            .map(|t| t.to_string())
            .unwrap_or_default(),
    }
}
