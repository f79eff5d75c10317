//! The dashboard worded for its page: which workflows the caller answers for, the range asked
//! for, and a workflow's [`Stats`] as headline numbers, charts and tables.

use super::charts::{rate_over_time, rates_side_by_side, stacked_bars};
use super::stats::{self, Override, Point, Stats, Volume};
use super::wording::{
    age, caption, day_of, interval_cell, maybe_percent, override_text, percent, short_time, version_label,
};
use super::{Chart, DashboardPage, TextTable, Tile};
use crate::domain::Role;
use crate::domain::escalation::Reason;
use crate::domain::monitoring::{DAY_MS, Range, Route};
use crate::error::AppError;
use crate::storage::clock::{now_ms, parse_day};
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::cache::{self, WorkflowCache};
use crate::workflows::membership::answered_for;

/// What the dashboard's form asked for (every part may be missing or empty).
#[derive(Debug, Clone, Default)]
pub struct Ask {
    pub workflow: Option<String>,
    pub model_version: Option<String>,
    pub range: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A date of the custom range (YYYY-MM-DD, UTC), as Unix ms at its midnight.
fn date(field: &str, raw: Option<&str>) -> Result<Option<i64>, AppError> {
    match raw {
        None => Ok(None),
        Some(r) => {
            parse_day(r).map(Some).ok_or_else(|| AppError::invalid(field, format!("'{r}' is not a date (YYYY-MM-DD).")))
        }
    }
}

/// The range the form asked for: the last 24 hours, 7 or 30 days, or whole UTC days from one
/// date through another.
fn range_of(ask: &Ask, now: i64) -> Result<(String, Range), AppError> {
    let named = given(&ask.range).unwrap_or("7d");
    let range = match named {
        "24h" => Range::last(now, 1),
        "7d" => Range::last(now, 7),
        "30d" => Range::last(now, 30),
        "custom" => {
            let from =
                date("from", given(&ask.from))?.ok_or_else(|| AppError::invalid("from", "Give the first day."))?;
            let to = date("to", given(&ask.to))?.unwrap_or(from) + DAY_MS;
            Range::new(from, to).map_err(|e| AppError::invalid("to", e.to_string()))?
        }
        other => return Err(AppError::invalid("range", format!("'{other}' is not a range this page offers."))),
    };
    Ok((named.to_owned(), range))
}

/// The dashboard `user` (a lead or an admin) asked for. A lead asking for a workflow they do not
/// lead is refused (403, naming nothing of it); an admin asking for one that does not exist gets 404.
pub async fn dashboard(
    db: &Db,
    workflows: &WorkflowCache,
    user: &UserRecord,
    ask: Ask,
) -> Result<DashboardPage, AppError> {
    let now = now_ms();
    let (range_name, range) = range_of(&ask, now)?;
    let listed = answered_for(db, user).await?;
    let mut page = DashboardPage {
        workflows: listed.iter().map(|w| (w.slug.clone(), w.name.clone())).collect(),
        range: range_name,
        from: day_of(range.from_ms()),
        to: day_of(range.to_ms() - 1),
        caption: caption(range),
        ..Default::default()
    };
    let chosen = match given(&ask.workflow) {
        Some(slug) => listed.iter().find(|w| w.slug == slug).ok_or_else(|| {
            if user.role == Role::Admin { AppError::not_found("That workflow") } else { AppError::Forbidden }
        })?,
        None => match listed.first() {
            Some(first) => first,
            None => return Ok(page),
        },
    };
    let workflow = cache::by_slug(db, workflows, &chosen.slug).await?;
    let version = ask.model_version.as_deref().filter(|v| *v != "*");
    let stats = stats::stats(db, &workflow, range, version).await?;
    page.slug = chosen.slug.clone();
    page.workflow = chosen.name.clone();
    page.model_version = version.unwrap_or("*").to_owned();
    page.model_versions = std::iter::once(("*".to_owned(), "All model versions".to_owned()))
        .chain(stats.model_versions.iter().map(|v| (v.model_version.clone(), version_label(&v.model_version))))
        .collect();
    if let Some(v) = version.filter(|v| !stats.model_versions.iter().any(|m| m.model_version == *v)) {
        page.model_versions.push((v.to_owned(), version_label(v)));
    }
    page.api_path = format!(
        "/api/v1/workflows/{}/stats?from={}&to={}{}",
        page.slug,
        stats.from,
        stats.to,
        version.map(|v| format!("&model_version={v}")).unwrap_or_default()
    );
    page.tiles = tiles(&stats, workflow.spec.target_error_rate);
    page.charts = charts(&stats, range);
    page.tables = tables(&stats);
    Ok(page)
}

fn tile(label: &str, value: String, note: String, tone: &str) -> Tile {
    Tile { label: label.to_owned(), value, note, tone: tone.to_owned() }
}

fn tiles(s: &Stats, target: f64) -> Vec<Tile> {
    let v = &s.volume;
    let (reviewed, reviewed_note) = override_text(&s.overrides.reviewed);
    let (audit, mut audit_note) = override_text(&s.overrides.audit);
    // The audit sample measures what is automated: above target even at its interval's low end
    // means the automated band is worse than the workflow allows.
    let audit_tone = match s.overrides.audit.rate {
        Some(_) if s.overrides.audit.low > target => {
            audit_note.push_str(&format!(" Above the {} target.", percent(target)));
            "warn"
        }
        Some(_) if s.overrides.audit.high <= target => {
            audit_note.push_str(&format!(" Within the {} target.", percent(target)));
            "ok"
        }
        _ => "",
    };
    let b = &s.backlog;
    let backlog_note = match (b.oldest_age_secs, b.overdue) {
        (None, _) => "Nothing waits.".to_owned(),
        (Some(age_secs), 0) => format!("Oldest waiting {}.", age(age_secs)),
        (Some(age_secs), overdue) => format!("Oldest waiting {}; {overdue} past the review SLA.", age(age_secs)),
    };
    let breaches = s.breaches.review_sla + s.breaches.escalation_sla;
    vec![
        tile(
            "Items",
            v.total.to_string(),
            format!(
                "{} auto-approved, {} auto-rejected, {} to people.",
                v.auto_approved,
                v.auto_rejected,
                v.total - v.auto_approved - v.auto_rejected
            ),
            "",
        ),
        tile(
            "Automation rate",
            maybe_percent(s.automation_rate),
            "Items no person saw on their way in.".to_owned(),
            "",
        ),
        tile("Overridden, reviewed items", reviewed, reviewed_note, ""),
        tile("Overridden, audit sample", audit, audit_note, audit_tone),
        tile("Backlog", b.waiting.to_string(), backlog_note, if b.overdue > 0 { "warn" } else { "" }),
        tile(
            "SLA breaches",
            breaches.to_string(),
            format!(
                "{} waited past the review SLA; {} escalations climbed past the escalation SLA; {} flagged.",
                s.breaches.review_sla, s.breaches.escalation_sla, s.breaches.flagged
            ),
            if breaches > 0 { "warn" } else { "ok" },
        ),
        tile(
            "Open escalations",
            (b.escalations_level_1 + b.escalations_level_2).to_string(),
            format!("{} with the leads, {} with the admins.", b.escalations_level_1, b.escalations_level_2),
            "",
        ),
    ]
}

fn slot_labels(s: &Stats) -> Vec<String> {
    let hourly = s.bucket == "hour";
    s.series
        .iter()
        .map(|p| if hourly { p.start.get(11..16).unwrap_or_default().to_owned() } else { short_time(&p.start, false) })
        .collect()
}

fn route_values(v: &Volume, route: Route) -> u64 {
    match route {
        Route::AutoApproved => v.auto_approved,
        Route::AutoRejected => v.auto_rejected,
        Route::Reviewed => v.reviewed,
        Route::Audit => v.audit,
        Route::Rollout => v.rollout,
        Route::Escalated => v.escalated,
    }
}

fn row_label(s: &Stats, p: &Point) -> String {
    short_time(&p.start, s.bucket == "hour")
}

fn charts(s: &Stats, range: Range) -> Vec<Chart> {
    let slots = slot_labels(s);
    let unit = if range.bucket() == crate::domain::monitoring::Bucket::Hour { "hour" } else { "day" };
    let mut charts = Vec::new();

    // Volume by route.
    let series: Vec<(String, Vec<f64>)> = Route::ALL
        .iter()
        .map(|&r| (r.label().to_owned(), s.series.iter().map(|p| route_values(&p.volume, r) as f64).collect()))
        .collect();
    let busiest = s.series.iter().max_by_key(|p| p.volume.total);
    let desc = format!(
        "Items a {unit} by route: {} in all, {} auto-approved.{}",
        s.volume.total,
        s.volume.auto_approved,
        busiest
            .filter(|p| p.volume.total > 0)
            .map(|p| format!(" Busiest: {} with {}.", row_label(s, p), p.volume.total))
            .unwrap_or_default()
    );
    let mut columns = vec![unit_heading(unit)];
    columns.extend(Route::ALL.iter().map(|r| r.label().to_owned()));
    columns.push("Total".to_owned());
    let rows = s
        .series
        .iter()
        .map(|p| {
            let mut row = vec![row_label(s, p)];
            row.extend(Route::ALL.iter().map(|&r| route_values(&p.volume, r).to_string()));
            row.push(p.volume.total.to_string());
            row
        })
        .collect();
    charts.push(Chart {
        id: "volume".to_owned(),
        heading: "Volume by route".to_owned(),
        note: format!("Items as they arrived, a bar a {unit}."),
        svg: stacked_bars("volume-chart", "Items by route", &desc, &slots, &series, "Items"),
        table: TextTable { caption: format!("Items a {unit} by route"), columns, rows },
    });

    // Overrides of reviewed and audited items over time.
    let points: Vec<Option<(f64, f64, f64)>> = s
        .series
        .iter()
        .map(|p| {
            let o: Override = crate::domain::monitoring::Rate::new(p.overridden, p.verdicts).into();
            o.rate.map(|r| (r, o.low, o.high))
        })
        .collect();
    let with = points.iter().flatten().count();
    let desc = format!(
        "Share of verdicts on reviewed and audited items that rejected or corrected the model, a {unit} at a time, with 95 % intervals; {with} of {} {unit}s have verdicts.",
        points.len()
    );
    let rows = s
        .series
        .iter()
        .map(|p| {
            let o: Override = crate::domain::monitoring::Rate::new(p.overridden, p.verdicts).into();
            vec![row_label(s, p), p.verdicts.to_string(), p.overridden.to_string(), interval_cell(&o)]
        })
        .collect();
    charts.push(Chart {
        id: "overrides".to_owned(),
        heading: "Override rate over time".to_owned(),
        note: "Reviewed and audited items; the whisker is the 95 % interval.".to_owned(),
        svg: rate_over_time("overrides-chart", "Override rate over time", &desc, &slots, &points),
        table: TextTable {
            caption: format!("Verdicts and overrides a {unit}"),
            columns: vec![unit_heading(unit), "Verdicts".into(), "Overridden".into(), "Rate (95 % interval)".into()],
            rows,
        },
    });

    // Reject reasons over time: the six most frequent, the rest together.
    let codes: Vec<String> = s.reject_reasons.iter().take(6).map(|r| r.reason.clone()).collect();
    let others = s.reject_reasons.len() > 6;
    let code_label = |c: &str| if c.is_empty() { "(no reason code)".to_owned() } else { c.to_owned() };
    let mut series: Vec<(String, Vec<f64>)> = codes
        .iter()
        .map(|c| (code_label(c), s.series.iter().map(|p| p.rejects.get(c).copied().unwrap_or(0) as f64).collect()))
        .collect();
    if others {
        series.push((
            "Other codes".to_owned(),
            s.series
                .iter()
                .map(|p| p.rejects.iter().filter(|(c, _)| !codes.contains(c)).map(|(_, n)| *n as f64).sum())
                .collect(),
        ));
    }
    let total_rejects: u64 = s.reject_reasons.iter().map(|r| r.count).sum();
    let desc = format!(
        "Rejections a {unit} by reason code: {total_rejects} in all{}.",
        s.reject_reasons
            .first()
            .map(|r| format!(", most often {} ({})", code_label(&r.reason), r.count))
            .unwrap_or_default()
    );
    let mut columns = vec![unit_heading(unit)];
    columns.extend(series.iter().map(|(name, _)| name.clone()));
    let rows = s
        .series
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut row = vec![row_label(s, p)];
            row.extend(series.iter().map(|(_, v)| format!("{}", v[i])));
            row
        })
        .collect();
    charts.push(Chart {
        id: "rejects".to_owned(),
        heading: "Reject reasons over time".to_owned(),
        note: if total_rejects == 0 { "No rejections in the range.".to_owned() } else { String::new() },
        svg: stacked_bars("rejects-chart", "Rejections by reason code", &desc, &slots, &series, "Rejections"),
        table: TextTable { caption: format!("Rejections a {unit} by reason code"), columns, rows },
    });

    // Model versions side by side.
    let mut rows = Vec::new();
    let mut bars = Vec::new();
    for v in &s.model_versions {
        let name = version_label(&v.model_version);
        for (route, o) in [("reviewed", &v.overrides.reviewed), ("audit", &v.overrides.audit)] {
            bars.push((format!("{name} · {route}"), o.rate.map(|r| (r, o.low, o.high))));
        }
        rows.push(vec![
            name,
            short_time(&v.first_seen, true),
            v.volume.total.to_string(),
            maybe_percent(v.automation_rate),
            interval_cell(&v.overrides.reviewed),
            interval_cell(&v.overrides.audit),
        ]);
    }
    let desc = format!(
        "Override rate of reviewed and audited items for each of {} model versions in the range, with 95 % intervals.",
        s.model_versions.len()
    );
    charts.push(Chart {
        id: "versions".to_owned(),
        heading: "Model versions side by side".to_owned(),
        note: "All model versions with items in the range, newest first; a new version's first days against the old one's."
            .to_owned(),
        svg: rates_side_by_side("versions-chart", "Override rate by model version", &desc, &bars),
        table: TextTable {
            caption: "Model versions in the range".to_owned(),
            columns: vec![
                "Model version".into(),
                "First seen (UTC)".into(),
                "Items".into(),
                "Automation".into(),
                "Overridden, reviewed".into(),
                "Overridden, audit".into(),
            ],
            rows,
        },
    });
    charts
}

fn unit_heading(unit: &str) -> String {
    if unit == "hour" { "Hour (UTC)".to_owned() } else { "Day (UTC)".to_owned() }
}

fn tables(s: &Stats) -> Vec<(String, String, TextTable)> {
    let escalations = TextTable {
        caption: "Escalations opened in the range, by reason".to_owned(),
        columns: vec!["Reason".into(), "Opened".into()],
        rows: s
            .escalations_by_reason
            .iter()
            .map(|r| {
                vec![
                    Reason::parse(&r.reason).map_or_else(|| r.reason.clone(), |x| x.label().to_owned()),
                    r.count.to_string(),
                ]
            })
            .collect(),
    };
    let reviewers = TextTable {
        caption: "Decisions per person in the range (undone ones not counted)".to_owned(),
        columns: vec![
            "Reviewer".into(),
            "Approved".into(),
            "Rejected".into(),
            "Corrected".into(),
            "Escalated".into(),
            "Total".into(),
        ],
        rows: s
            .reviewers
            .iter()
            .map(|r| {
                vec![
                    r.reviewer.clone(),
                    r.approve.to_string(),
                    r.reject.to_string(),
                    r.correct.to_string(),
                    r.escalate.to_string(),
                    r.total.to_string(),
                ]
            })
            .collect(),
    };
    vec![
        ("escalations".to_owned(), "Escalations by reason".to_owned(), escalations),
        ("reviewers".to_owned(), "Decisions per reviewer".to_owned(), reviewers),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_from_the_form() {
        let now = 20 * DAY_MS + 5 * 60_000;
        let ask = |range: &str, from: &str, to: &str| Ask {
            range: Some(range.into()),
            from: Some(from.into()),
            to: Some(to.into()),
            ..Default::default()
        };
        let (name, day) = range_of(&Ask::default(), now).unwrap();
        assert_eq!((name.as_str(), day.to_hour - day.from_hour), ("7d", 7 * 24));
        assert_eq!(
            range_of(&ask("24h", "", ""), now).unwrap().1.to_hour
                - range_of(&ask("24h", "", ""), now).unwrap().1.from_hour,
            24
        );
        let (_, custom) = range_of(&ask("custom", "1970-01-02", "1970-01-03"), now).unwrap();
        assert_eq!((custom.from_ms(), custom.to_ms()), (DAY_MS, 3 * DAY_MS));
        assert!(matches!(range_of(&ask("custom", "yesterday", ""), now), Err(AppError::Invalid { .. })));
        assert!(matches!(range_of(&ask("custom", "1970-01-03", "1970-01-01"), now), Err(AppError::Invalid { .. })));
        assert!(matches!(range_of(&ask("90y", "", ""), now), Err(AppError::Invalid { .. })));
    }
}
