//! A team's workload as a lead reads it: the calendar it is counted by (days and weeks in
//! UTC, weeks from Monday), the median time a reviewer spends on a decision, and which of a
//! reviewer's decisions a lead overturned. Pure: the time is always given.

const DAY_MS: i64 = 86_400_000;

/// Midnight UTC of the day of `now_ms`.
pub fn day_start(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(DAY_MS)
}

/// Midnight UTC of the Monday of the week of `now_ms`. (1970-01-01 was a Thursday.)
pub fn week_start(now_ms: i64) -> i64 {
    let day = now_ms.div_euclid(DAY_MS);
    let monday_based = (day + 3).rem_euclid(7);
    (day - monday_based) * DAY_MS
}

/// The median of `values` (the mean of the middle two for an even count); none when empty.
pub fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2 })
}

/// A reviewer's rejection for a reason the workflow escalates on goes to a lead; the lead
/// overturns it by settling the item otherwise (approving or correcting it). Approvals and
/// corrections settle an item for good, so a rejection sent to a lead is the one decision a
/// lead can overturn.
pub fn overturns(reviewer_rejected: bool, final_state: &str) -> bool {
    reviewer_rejected && matches!(final_state, "approved" | "corrected")
}

/// `part` of `whole` as a share from 0 to 1; none of nothing.
pub fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01 (a Tuesday) 15:30 UTC.
    const TUESDAY: i64 = 1_796_139_000_000;

    #[test]
    fn days_and_weeks_start_at_midnight_utc_weeks_on_monday() {
        assert_eq!(day_start(TUESDAY), 1_796_083_200_000, "2026-12-01 00:00");
        assert_eq!(week_start(TUESDAY), 1_796_083_200_000 - DAY_MS, "Monday 2026-11-30 00:00");
        let monday = week_start(TUESDAY);
        assert_eq!(week_start(monday), monday, "a Monday's midnight starts its own week");
        assert_eq!(week_start(monday - 1), monday - 7 * DAY_MS, "Sunday's last millisecond is the week before");
        assert_eq!(week_start(0), -3 * DAY_MS, "1970-01-01, a Thursday, in the week of Monday 1969-12-29");
    }

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7]), Some(7));
        assert_eq!(median(&mut [9, 1, 5]), Some(5));
        assert_eq!(median(&mut [10, 2, 4, 8]), Some(6));
    }

    #[test]
    fn only_a_rejection_settled_otherwise_is_overturned() {
        assert!(overturns(true, "approved"));
        assert!(overturns(true, "corrected"));
        assert!(!overturns(true, "rejected"), "the lead agreed");
        assert!(!overturns(false, "approved"), "an escalation asks; it is not a verdict");
        assert_eq!(share(1, 4), Some(0.25));
        assert_eq!(share(0, 0), None);
    }
}
