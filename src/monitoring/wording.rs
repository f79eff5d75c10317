//! How the dashboard words its numbers: percentages and their intervals, ages, days and times
//! in UTC, model versions.

use super::stats::Override;
use crate::domain::monitoring::Range;

pub(super) fn version_label(version: &str) -> String {
    if version.is_empty() { "(no model version)".to_owned() } else { version.to_owned() }
}

pub(super) fn day_of(ms: i64) -> String {
    crate::storage::clock::rfc3339(ms).get(..10).unwrap_or_default().to_owned()
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// "1 Dec 14:00" (or "1 Dec" without the hour) from an RFC 3339 time in UTC.
pub(super) fn short_time(rfc: &str, with_hour: bool) -> String {
    let month = rfc.get(5..7).and_then(|m| m.parse::<usize>().ok()).and_then(|m| MONTHS.get(m.wrapping_sub(1)));
    let day = rfc.get(8..10).and_then(|d| d.parse::<u32>().ok());
    match (month, day) {
        (Some(month), Some(day)) if with_hour => format!("{day} {month} {}", rfc.get(11..16).unwrap_or_default()),
        (Some(month), Some(day)) => format!("{day} {month}"),
        _ => rfc.to_owned(),
    }
}

pub(super) fn caption(range: Range) -> String {
    let from = crate::storage::clock::rfc3339(range.from_ms());
    let to = crate::storage::clock::rfc3339(range.to_ms());
    let by = if range.bucket() == crate::domain::monitoring::Bucket::Hour { "by hour" } else { "by UTC day" };
    format!("From {} to {} UTC, {by}.", short_time(&from, true), short_time(&to, true))
}

pub(super) fn percent(v: f64) -> String {
    let p = v * 100.0;
    if p != 0.0 && p.abs() < 10.0 { format!("{p:.1} %") } else { format!("{p:.0} %") }
}

pub(super) fn maybe_percent(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), percent)
}

/// The override rate ("4.1 %") and what backs it ("95 % interval 3.0 % to 5.4 %; 33 of 812
/// verdicts."), or a dash and that there are none.
pub(super) fn override_text(o: &Override) -> (String, String) {
    match o.rate {
        None => ("–".to_owned(), "No verdicts in the range.".to_owned()),
        Some(rate) => (
            percent(rate),
            format!(
                "95 % interval {} to {}; {} of {} verdicts.",
                percent(o.low),
                percent(o.high),
                o.overridden,
                o.verdicts
            ),
        ),
    }
}

pub(super) fn interval_cell(o: &Override) -> String {
    match o.rate {
        None => "–".to_owned(),
        Some(rate) => format!("{} ({} to {}), n = {}", percent(rate), percent(o.low), percent(o.high), o.verdicts),
    }
}

pub(super) fn age(secs: i64) -> String {
    match secs {
        ..60 => format!("{} s", secs.max(0)),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_short() {
        assert_eq!(short_time("2026-12-01T14:00:00Z", true), "1 Dec 14:00");
        assert_eq!(short_time("2026-03-09T00:00:00Z", false), "9 Mar");
    }
}
