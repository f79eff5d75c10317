//! The tuning page's two charts, drawn as SVG text from numbers only (no text from users goes
//! in): the trade-off curve, automation share against error with the bound as a band, and the
//! calibration, stated confidence against observed accuracy. Colours come from the page's
//! custom properties, so the charts follow dark mode; each has a title and a description, and
//! the page shows its numbers in a table beneath.

use crate::domain::tuning::{CalibrationBin, CurvePoint};
use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;

fn x_of(share: f64) -> f64 {
    LEFT + share.clamp(0.0, 1.0) * (W - LEFT - RIGHT)
}

fn y_of(value: f64, max: f64) -> f64 {
    TOP + (1.0 - (value / max).clamp(0.0, 1.0)) * (H - TOP - BOTTOM)
}

fn percent(v: f64) -> String {
    let p = v * 100.0;
    if p < 10.0 && p.fract() != 0.0 { format!("{p:.1} %") } else { format!("{p:.0} %") }
}

/// Axes, grid lines and their labels.
fn frame(svg: &mut String, y_max: f64, y_ticks: &[f64], x_label: &str, y_label: &str, x_ticks: &[(f64, String)]) {
    for &t in y_ticks {
        let y = y_of(t, y_max);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            percent(t)
        );
    }
    for (at, label) in x_ticks {
        let x = x_of(*at);
        let _ = write!(
            svg,
            r#"<text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            H - BOTTOM + 16.0
        );
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}"/><text class="label" x="{:.1}" y="{:.1}" text-anchor="middle">{x_label}</text><text class="label" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{y_label}</text>"#,
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM,
        (LEFT + W - RIGHT) / 2.0,
        H - 6.0,
        (TOP + H - BOTTOM) / 2.0
    );
}

fn open(svg: &mut String, id: &str, title: &str, desc: &str) {
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>"#
    );
}

/// A vertical marker at an automation share, labelled.
fn marker(svg: &mut String, class: &str, share: f64, label: &str, y_text: f64) {
    let x = x_of(share);
    let anchor = if share > 0.8 { "end" } else { "start" };
    let dx = if share > 0.8 { -4.0 } else { 4.0 };
    let _ = write!(
        svg,
        r#"<line class="{class}" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}"/><text class="{class}-label" x="{:.1}" y="{y_text:.1}" text-anchor="{anchor}">{label}</text>"#,
        H - BOTTOM,
        x + dx
    );
}

/// The trade-off curve: for each candidate with volume, its automation share (x) against the
/// estimated error (line) and the upper bound (the band above it), the target as a dashed line,
/// the current and recommended thresholds marked.
pub fn tradeoff(
    curve: &[CurvePoint],
    alpha: f64,
    current: Option<&CurvePoint>,
    recommended: Option<&CurvePoint>,
) -> String {
    let points: Vec<&CurvePoint> = curve.iter().filter(|p| p.volume > 0).collect();
    let y_max = (alpha * 3.0).max(0.01);
    let mut svg = String::with_capacity(4096);
    let desc = format!(
        "Automation share against error for {} candidate thresholds; the target error {} is the dashed line.{}{}",
        points.len(),
        percent(alpha),
        recommended
            .map(|p| format!(" Recommended: {}, automating {}.", p.threshold, percent(p.automation)))
            .unwrap_or_default(),
        current
            .map(|p| format!(" Current: {}, automating {}.", p.threshold, percent(p.automation)))
            .unwrap_or_default(),
    );
    open(&mut svg, "tradeoff", "Automation against error", &desc);
    let ticks = [0.0, y_max / 3.0, 2.0 * y_max / 3.0, y_max];
    let x_ticks: Vec<(f64, String)> = (0..=4).map(|i| (f64::from(i) / 4.0, format!("{} %", i * 25))).collect();
    frame(&mut svg, y_max, &ticks, "Share of items automated", "Error among them", &x_ticks);
    if !points.is_empty() {
        // The band: along the bound, then back along the estimate.
        let mut band = String::new();
        for (i, p) in points.iter().enumerate() {
            let _ = write!(
                band,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                x_of(p.automation),
                y_of(p.upper_bound, y_max)
            );
        }
        for p in points.iter().rev() {
            let _ = write!(band, "L{:.1},{:.1} ", x_of(p.automation), y_of(p.estimated_error.unwrap_or(0.0), y_max));
        }
        let _ = write!(svg, r#"<path class="band" d="{band}Z"/>"#);
        let mut line = String::new();
        for (i, p) in points.iter().filter(|p| p.estimated_error.is_some()).enumerate() {
            let _ = write!(
                line,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                x_of(p.automation),
                y_of(p.estimated_error.unwrap_or(0.0), y_max)
            );
        }
        let _ = write!(svg, r#"<path class="estimate" d="{line}"/>"#);
    }
    let y = y_of(alpha, y_max);
    let _ = write!(
        svg,
        r#"<line class="target" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="target-label" x="{:.1}" y="{:.1}" text-anchor="end">target {}</text>"#,
        W - RIGHT,
        W - RIGHT - 4.0,
        y - 5.0,
        percent(alpha)
    );
    if let Some(p) = current {
        marker(&mut svg, "current", p.automation, &format!("current {}", p.threshold), TOP + 12.0);
    }
    if let Some(p) = recommended {
        marker(&mut svg, "recommended", p.automation, &format!("recommended {}", p.threshold), TOP + 28.0);
    }
    svg.push_str("</svg>");
    svg
}

/// Calibration: per tenth of stated confidence, the observed accuracy as a bar, the diagonal of
/// perfect calibration as a dashed line, and the number of verdicts under each bar.
pub fn calibration(bins: &[CalibrationBin]) -> String {
    let mut svg = String::with_capacity(4096);
    let seen = bins.iter().filter(|b| b.observed_accuracy.is_some()).count();
    let desc = format!(
        "Observed accuracy of reviewed items in each tenth of stated confidence ({seen} of {} tenths have verdicts); \
         the dashed diagonal is where accuracy equals confidence.",
        bins.len()
    );
    open(&mut svg, "calibration", "Stated confidence against observed accuracy", &desc);
    let x_ticks: Vec<(f64, String)> =
        (0..=5).map(|i| (f64::from(i) / 5.0, format!("{:.1}", f64::from(i) / 5.0))).collect();
    frame(&mut svg, 1.0, &[0.0, 0.25, 0.5, 0.75, 1.0], "Stated confidence", "Observed accuracy", &x_ticks);
    let slot = (W - LEFT - RIGHT) / bins.len().max(1) as f64;
    for bin in bins {
        let x = x_of(bin.lower) + slot * 0.12;
        if let Some(accuracy) = bin.observed_accuracy {
            let y = y_of(accuracy, 1.0);
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"/>"#,
                slot * 0.76,
                H - BOTTOM - y
            );
        }
        // On a bar tall enough to hold it, in the bar's own contrast colour.
        let on_bar = bin.observed_accuracy.is_some_and(|a| a > 0.12);
        let _ = write!(
            svg,
            r#"<text class="count{}" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            if on_bar { " on-bar" } else { "" },
            x + slot * 0.38,
            H - BOTTOM - 6.0,
            bin.reviewed
        );
    }
    let _ = write!(
        svg,
        r#"<line class="diagonal" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{TOP}"/></svg>"#,
        H - BOTTOM,
        W - RIGHT
    );
    svg
}
