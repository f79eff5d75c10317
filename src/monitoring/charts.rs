//! The dashboard's charts, drawn as SVG text from numbers and fixed labels (the only text that
//! comes from users, reason codes and model versions, is escaped). Colours come from the page's
//! custom properties (`.series-N`), so the charts follow dark mode; each has a title and a
//! description, its legend names every series in words, and the page shows its numbers in a
//! table beneath.

use crate::domain::text::escaped;
use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 280.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;
const LEGEND_ROW: f64 = 20.0;

/// A rate, the low and the high end of its interval.
pub type Interval = (f64, f64, f64);

fn plot_width() -> f64 {
    W - LEFT - RIGHT
}

fn y_of(value: f64, max: f64) -> f64 {
    TOP + (1.0 - (value / max).clamp(0.0, 1.0)) * (H - TOP - BOTTOM)
}

fn open(svg: &mut String, id: &str, title: &str, desc: &str, legend_rows: usize) {
    let height = H + legend_rows as f64 * LEGEND_ROW;
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escaped(title),
        escaped(desc)
    );
}

/// A round number at or above `max` for the top of the scale, and its ticks.
fn scale(max: f64) -> (f64, Vec<f64>) {
    if max <= 0.0 {
        return (1.0, vec![0.0, 1.0]);
    }
    let magnitude = 10f64.powf(max.log10().floor());
    let top = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|t| *t >= max).unwrap_or(10.0 * magnitude);
    (top, (0..=4).map(|i| top * f64::from(i) / 4.0).collect())
}

/// [`scale`] for counts: below five, a tick for every whole number.
fn count_scale(max: f64) -> (f64, Vec<f64>) {
    if max > 0.0 && max < 5.0 {
        let top = max.ceil();
        return (top, (0..=top as i32).map(f64::from).collect());
    }
    scale(max)
}

fn count_label(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.0}k", v / 1_000.0)
    } else if v >= 1_000.0 {
        format!("{:.1}k", v / 1_000.0)
    } else {
        format!("{v:.0}")
    }
}

fn percent_label(v: f64) -> String {
    let p = v * 100.0;
    if p.fract().abs() < 1e-9 { format!("{p:.0} %") } else { format!("{p:.1} %") }
}

/// Grid lines with their labels, the axes, and at most about a dozen labels under the slots.
fn frame(svg: &mut String, top: f64, ticks: &[f64], label: fn(f64) -> String, slots: &[String], y_title: &str) {
    for &t in ticks {
        let y = y_of(t, top);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            label(t)
        );
    }
    let slot = plot_width() / slots.len().max(1) as f64;
    let every = slots.len().div_ceil(12).max(1);
    for (i, name) in slots.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(
            svg,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + slot * (i as f64 + 0.5),
            H - BOTTOM + 16.0,
            escaped(name)
        );
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{b:.1}" x2="{:.1}" y2="{b:.1}"/><line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b:.1}"/><text class="label" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        W - RIGHT,
        (TOP + H - BOTTOM) / 2.0,
        escaped(y_title),
        b = H - BOTTOM,
    );
}

/// The legend: a swatch and the name of each series, four to a row, under the chart.
fn legend(svg: &mut String, names: &[String]) {
    for (i, name) in names.iter().enumerate() {
        let (row, col) = (i / 4, i % 4);
        let x = LEFT + col as f64 * (plot_width() / 4.0);
        let y = H + row as f64 * LEGEND_ROW;
        let _ = write!(
            svg,
            r#"<rect class="series-{}" x="{x:.1}" y="{:.1}" width="12" height="12"/><text class="label" x="{:.1}" y="{:.1}">{}</text>"#,
            i % 8,
            y - 10.0,
            x + 18.0,
            y,
            escaped(name)
        );
    }
}

/// Stacked bars: one bar a slot (an hour or a day), one segment a series.
pub fn stacked_bars(
    id: &str,
    title: &str,
    desc: &str,
    slots: &[String],
    series: &[(String, Vec<f64>)],
    y_title: &str,
) -> String {
    let totals: Vec<f64> =
        (0..slots.len()).map(|i| series.iter().map(|(_, v)| v.get(i).copied().unwrap_or(0.0)).sum()).collect();
    let (top, ticks) = count_scale(totals.iter().copied().fold(0.0, f64::max));
    let legend_rows = series.len().div_ceil(4);
    let mut svg = String::with_capacity(8192);
    open(&mut svg, id, title, desc, legend_rows);
    frame(&mut svg, top, &ticks, count_label, slots, y_title);
    let slot = plot_width() / slots.len().max(1) as f64;
    for i in 0..slots.len() {
        let mut base = 0.0;
        for (s, (_, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let (y_high, y_low) = (y_of(base + v, top), y_of(base, top));
            let _ = write!(
                svg,
                r#"<rect class="series-{}" x="{:.1}" y="{y_high:.1}" width="{:.1}" height="{:.1}"/>"#,
                s % 8,
                LEFT + slot * i as f64 + slot * 0.12,
                slot * 0.76,
                (y_low - y_high).max(0.5)
            );
            base += v;
        }
    }
    let names: Vec<String> = series.iter().map(|(name, _)| name.clone()).collect();
    legend(&mut svg, &names);
    svg.push_str("</svg>");
    svg
}

/// A rate over time: one point a slot with its interval as a whisker (slots without trials left
/// empty), joined by a line.
pub fn rate_over_time(id: &str, title: &str, desc: &str, slots: &[String], points: &[Option<Interval>]) -> String {
    let highest = points.iter().flatten().map(|(r, _, h)| h.min(r * 3.0 + 0.02)).fold(0.0, f64::max);
    let (top, ticks) = scale(highest.clamp(0.01, 1.0));
    let mut svg = String::with_capacity(8192);
    open(&mut svg, id, title, desc, 0);
    frame(&mut svg, top, &ticks, percent_label, slots, "Overridden");
    let slot = plot_width() / slots.len().max(1) as f64;
    let mut line = String::new();
    for (i, point) in points.iter().enumerate() {
        let Some((rate, low, high)) = point else { continue };
        let x = LEFT + slot * (i as f64 + 0.5);
        let _ = write!(
            svg,
            r#"<line class="whisker" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"/><circle class="estimate-dot" cx="{x:.1}" cy="{:.1}" r="3.5"/>"#,
            y_of(*high, top),
            y_of(*low, top),
            y_of(*rate, top)
        );
        let _ = write!(line, "{}{x:.1},{:.1} ", if line.is_empty() { "M" } else { "L" }, y_of(*rate, top));
    }
    if !line.is_empty() {
        let _ = write!(svg, r#"<path class="estimate" d="{line}"/>"#);
    }
    svg.push_str("</svg>");
    svg
}

/// Rates side by side: one row a name (a model version and a route), the rate as a dot and its
/// interval as a bar, on one scale.
pub fn rates_side_by_side(id: &str, title: &str, desc: &str, rows: &[(String, Option<Interval>)]) -> String {
    let row_h = 28.0;
    let height = TOP + rows.len().max(1) as f64 * row_h + BOTTOM;
    let highest = rows.iter().filter_map(|(_, p)| *p).map(|(r, _, h)| h.min(r * 3.0 + 0.02)).fold(0.0, f64::max);
    let (top, ticks) = scale(highest.clamp(0.01, 1.0));
    let left = 230.0;
    let x_of = |v: f64| left + (v / top).clamp(0.0, 1.0) * (W - left - RIGHT);
    let mut svg = String::with_capacity(4096);
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escaped(title),
        escaped(desc)
    );
    let bottom = height - BOTTOM;
    for &t in &ticks {
        let x = x_of(t);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            bottom + 16.0,
            percent_label(t)
        );
    }
    for (i, (name, point)) in rows.iter().enumerate() {
        let y = TOP + row_h * (i as f64 + 0.5);
        let _ = write!(
            svg,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + 4.0,
            escaped(name)
        );
        match point {
            Some((rate, low, high)) => {
                let _ = write!(
                    svg,
                    r#"<line class="interval" x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><circle class="estimate-dot" cx="{:.1}" cy="{y:.1}" r="5"/>"#,
                    x_of(*low),
                    x_of(*high),
                    x_of(*rate)
                );
            }
            None => {
                let _ =
                    write!(svg, r#"<text class="tick" x="{:.1}" y="{:.1}">no verdicts</text>"#, left + 4.0, y + 4.0);
            }
        }
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{left}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}"/></svg>"#,
        W - RIGHT
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round() {
        assert_eq!(scale(0.0).0, 1.0);
        assert_eq!(scale(7.0).0, 10.0);
        assert_eq!(scale(180.0).0, 200.0);
        assert_eq!(scale(0.03).0, 0.05);
        assert_eq!(scale(2.5).1, vec![0.0, 0.625, 1.25, 1.875, 2.5]);
        assert_eq!(count_scale(2.0), (2.0, vec![0.0, 1.0, 2.0]), "no half rejections");
        assert_eq!(count_scale(180.0).0, 200.0);
    }

    #[test]
    fn text_from_users_is_escaped() {
        let svg = stacked_bars("t", "T", "D", &["a".into()], &[("<script>&".into(), vec![1.0])], "n");
        assert!(svg.contains("&lt;script&gt;&amp;"));
        assert!(!svg.contains("<script>"));
    }

    #[test]
    fn bars_stack_to_the_total() {
        let svg = stacked_bars(
            "t",
            "T",
            "D",
            &["a".into(), "b".into()],
            &[("x".into(), vec![1.0, 0.0]), ("y".into(), vec![3.0, 2.0])],
            "n",
        );
        // Three segments (the empty one is left out), two in the first slot.
        assert_eq!(svg.matches("<rect class=\"series-").count(), 3 + 2, "three segments and two legend swatches");
    }
}
