//! Reading a workflow's evidence into a tuning report, and applying a threshold as a settings
//! version that keeps the evidence it was chosen on.

use super::report::{BandTuning, EvidenceSummary, OpenBreaker, Rollout, StratumEvidence, TuningReport, Workload};
use crate::domain::tuning::{self, Band, Cell, Counts, Target, bin_of, probability_of, stratum_of};
use crate::error::AppError;
use crate::storage::audit::Actor;
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use crate::workflows::server::{self as workflows, Workflow};
use serde_json::{Value, json};

/// The model versions with evidence in a workflow: the newest item's first, then by volume.
pub async fn model_versions(db: &Db, workflow_id: i64) -> Result<Vec<String>, AppError> {
    let mut versions: Vec<(String,)> = sqlx::query_as(
        "select model_version from tuning_evidence where workflow_id = $1 \
         group by model_version order by sum(volume) desc, model_version",
    )
    .bind(workflow_id)
    .fetch_all(db.pool())
    .await?;
    let newest: Option<(Option<String>,)> =
        sqlx::query_as("select model_version from items where workflow_id = $1 order by id desc limit 1")
            .bind(workflow_id)
            .fetch_optional(db.pool())
            .await?;
    if let Some((newest,)) = newest {
        let newest = newest.unwrap_or_default();
        if let Some(at) = versions.iter().position(|(v,)| *v == newest) {
            let entry = versions.remove(at);
            versions.insert(0, entry);
        }
    }
    Ok(versions.into_iter().map(|(v,)| v).collect())
}

/// One bin and stratum of a model version's evidence, its shards summed.
#[derive(sqlx::FromRow)]
struct EvidenceRow {
    bin: i64,
    stratum: i64,
    volume: i64,
    reviewed: i64,
    wrong: i64,
}

/// The evidence cells of one model version (the shards summed).
pub async fn evidence(db: &Db, workflow_id: i64, model_version: &str) -> Result<Vec<Cell>, AppError> {
    let rows: Vec<EvidenceRow> = sqlx::query_as(
        "select bin, stratum, cast(sum(volume) as bigint) as volume, cast(sum(reviewed) as bigint) as reviewed, \
           cast(sum(wrong) as bigint) as wrong \
         from tuning_evidence where workflow_id = $1 and model_version = $2 group by bin, stratum",
    )
    .bind(workflow_id)
    .bind(model_version)
    .fetch_all(db.pool())
    .await?;
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(rows
        .into_iter()
        .map(|row| Cell {
            bin: u32::try_from(row.bin).unwrap_or(0),
            stratum: u32::try_from(row.stratum).unwrap_or(0),
            counts: Counts { volume: count(row.volume), reviewed: count(row.reviewed), wrong: count(row.wrong) },
        })
        .collect())
}

/// Items a day over the last 7 UTC days, today included.
async fn items_per_day(db: &Db, workflow_id: i64, now: i64) -> Result<f64, AppError> {
    let today = now / 86_400_000;
    let (volume,): (i64,) = sqlx::query_as(
        "select cast(coalesce(sum(volume), 0) as bigint) from item_days where workflow_id = $1 and day > $2",
    )
    .bind(workflow_id)
    .bind(today - 7)
    .fetch_one(db.pool())
    .await?;
    Ok(volume as f64 / 7.0)
}

/// What tuning is asked for: a target other than the workflow's, another model version.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    pub alpha: Option<f64>,
    pub confidence: Option<f64>,
    pub model_version: Option<String>,
}

/// The tuning report of a workflow.
#[tracing::instrument(skip(db, workflow), fields(slug = workflow.slug()))]
pub async fn report(db: &Db, workflow: &Workflow, ask: Ask) -> Result<TuningReport, AppError> {
    let spec = &workflow.spec;
    let alpha = ask.alpha.unwrap_or(spec.target_error_rate);
    let confidence = ask.confidence.unwrap_or(spec.confidence);
    let target = Target::new(alpha, confidence)
        .map_err(|m| AppError::invalid(if m.starts_with("alpha") { "alpha" } else { "delta" }, m))?;
    let model_versions = model_versions(db, workflow.id).await?;
    let model_version = match ask.model_version {
        Some(v) if model_versions.contains(&v) => v,
        Some(v) => return Err(AppError::not_found(format!("Evidence of the model version '{v}'"))),
        None => model_versions.first().cloned().unwrap_or_default(),
    };
    let cells = evidence(db, workflow.id, &model_version).await?;
    let approve = tuning::tune(&cells, target, Band::Approve);
    let reject = spec.tune_auto_reject.then(|| {
        let t = tuning::tune(&cells, target, Band::Reject);
        BandTuning { recommendation: t.recommendation, curve: t.curve }
    });
    let threshold_bin = spec.auto_approve_at.map(bin_of);
    let summary = summarise(&cells, threshold_bin, &model_version, target);

    let per_day = items_per_day(db, workflow.id, now_ms()).await?;
    let automated = |threshold: Option<f64>| {
        threshold
            .and_then(|t| tuning::at_threshold(&approve.curve, Band::Approve, t))
            .map(|p| p.automation)
            .unwrap_or(0.0)
    };
    let unseen = 1.0 - spec.audit_rate;
    let workload = Workload {
        items_per_day: per_day,
        reviews_per_day_now: per_day * (1.0 - automated(spec.auto_approve_at) * unseen * spec.rollout_share),
        reviews_per_day_recommended: approve
            .recommendation
            .threshold
            .map(|t| per_day * (1.0 - automated(Some(t)) * unseen)),
    };
    let rollout = match spec.rollout_share < 1.0 {
        false => None,
        true => {
            // The band rolling out (from the threshold up to where auto-approval began before,
            // or all above it), counted in the strata its held-out items were sampled in: one
            // for each share (and audit rate) it has been widened through since the threshold
            // came down, so that the verdicts of earlier shares still count. Other evidence of
            // the band (items reviewed whole before the threshold moved, audits of an earlier
            // threshold, imported history) is not the rollout's.
            let strata = rollout_strata(db, workflow).await?;
            let below = spec.rollout_from.map_or(u32::MAX, bin_of);
            let mut counts = Counts::default();
            for cell in &cells {
                if threshold_bin.is_some_and(|t| cell.bin >= t) && cell.bin < below && strata.contains(&cell.stratum) {
                    counts.add(cell.counts);
                }
            }
            Some(Rollout {
                share: spec.rollout_share,
                reviewed: counts.reviewed,
                wrong: counts.wrong,
                observed_error: (counts.reviewed > 0).then(|| counts.wrong as f64 / counts.reviewed as f64),
            })
        }
    };
    Ok(TuningReport {
        slug: workflow.slug().to_owned(),
        workflow: spec.name.clone(),
        alpha,
        confidence,
        model_version,
        model_versions,
        current_threshold: spec.auto_approve_at,
        current_reject_below: spec.auto_reject_below,
        audit_rate: spec.audit_rate,
        settings_version: workflow.settings_version,
        recommendation: approve.recommendation,
        curve: approve.curve,
        reject,
        calibration: tuning::calibration(&cells),
        evidence: summary,
        workload,
        rollout,
        breaker: super::breaker::open_reason(db, workflow.id)
            .await?
            .map(|(opened_at_ms, reason)| OpenBreaker { opened_at_ms, reason }),
    })
}

fn summarise(cells: &[Cell], threshold_bin: Option<u32>, model_version: &str, target: Target) -> EvidenceSummary {
    let mut strata: Vec<StratumEvidence> = Vec::new();
    let mut total = Counts::default();
    for cell in cells {
        total.add(cell.counts);
        let above = threshold_bin.is_some_and(|t| cell.bin >= t);
        let p = probability_of(cell.stratum);
        match strata.iter_mut().find(|s| s.above_threshold == above && stratum_of(s.review_probability) == cell.stratum)
        {
            Some(s) => {
                s.volume += cell.counts.volume;
                s.reviewed += cell.counts.reviewed;
                s.wrong += cell.counts.wrong;
            }
            None => strata.push(StratumEvidence {
                review_probability: p,
                above_threshold: above,
                volume: cell.counts.volume,
                reviewed: cell.counts.reviewed,
                wrong: cell.counts.wrong,
            }),
        }
    }
    strata.sort_by(|a, b| {
        b.above_threshold.cmp(&a.above_threshold).then(a.review_probability.total_cmp(&b.review_probability))
    });
    EvidenceSummary {
        model_version: model_version.to_owned(),
        volume: total.volume,
        reviewed: total.reviewed,
        wrong: total.wrong,
        min_sample: target.min_sample(),
        strata,
    }
}

/// The strata a workflow's current rollout has sampled its band in: walking its settings
/// versions back from the newest while the threshold and the band stay as they are now, the
/// review probability each version gave a would-be auto-approval of the band.
async fn rollout_strata(db: &Db, workflow: &Workflow) -> Result<Vec<u32>, AppError> {
    let versions: Vec<(String,)> = sqlx::query_as(
        "select new_settings from workflow_settings_history where workflow_id = $1 order by version desc limit 100",
    )
    .bind(workflow.id)
    .fetch_all(db.pool())
    .await?;
    let spec = &workflow.spec;
    let mut strata = Vec::new();
    for (settings,) in versions {
        let Ok(version) = serde_json::from_str::<crate::domain::workflow::WorkflowSpec>(&settings) else { break };
        if version.auto_approve_at != spec.auto_approve_at
            || version.rollout_from != spec.rollout_from
            || version.rollout_share >= 1.0
        {
            break;
        }
        strata.push(stratum_of(1.0 - (1.0 - version.audit_rate) * version.rollout_share));
    }
    Ok(strata)
}

/// A threshold to apply from the tuning page.
#[derive(Debug, Clone)]
pub struct NewThreshold {
    /// `None`: stop auto-approving.
    pub threshold: Option<f64>,
    /// The share of would-be auto-approvals automated at first (1: all at once).
    pub rollout_share: f64,
    pub reason: String,
    /// "recommendation", "manual" or "widen": how the admin came to it.
    pub how: &'static str,
}

/// Applies a threshold (and rollout share) as a new settings version, storing beside it the
/// evidence the tuning report showed at that moment. Admin only: the caller checks the role.
pub async fn apply_threshold(
    db: &Db,
    actor: &Actor,
    workflow: &Workflow,
    change: NewThreshold,
) -> Result<Workflow, AppError> {
    if change.reason.trim().is_empty() {
        return Err(AppError::invalid("reason", "Say why: the reason is kept in the settings history."));
    }
    if let Some(t) = change.threshold
        && !(t.is_finite() && (0.0..=1.0).contains(&t))
    {
        return Err(AppError::invalid("threshold", format!("The threshold must be between 0 and 1 (was {t}).")));
    }
    if !(change.rollout_share.is_finite() && change.rollout_share > 0.0 && change.rollout_share <= 1.0) {
        return Err(AppError::invalid("rollout_share", "The rollout share must be above 0 and at most 1."));
    }
    let report = report(db, workflow, Ask::default()).await?;
    let at = change.threshold.and_then(|t| tuning::at_threshold(&report.curve, Band::Approve, t));
    let label = match change.how {
        "recommendation" => "Applied the recommendation",
        "widen" => "Widened the rollout",
        "reject" => "Set the auto-reject band",
        _ => "Set by hand",
    };
    if change.how == "reject" {
        let reject = report.reject.as_ref().map(|b| &b.curve);
        let at = change.threshold.zip(reject).and_then(|(t, curve)| tuning::at_threshold(curve, Band::Reject, t));
        let summary = match (change.threshold, at) {
            (Some(t), Some(p)) => format!(
                "{label}: below {t}, {:.1} % of items rejected unseen, bound on wrongly rejected {:.2} % ({} verdicts).",
                p.automation * 100.0,
                p.upper_bound * 100.0,
                p.reviewed
            ),
            (Some(t), None) => format!("{label}: below {t}."),
            (None, _) => format!("{label}: nothing is rejected unseen."),
        };
        let evidence = json!({ "summary": summary, "how": "reject", "threshold": change.threshold, "at_threshold": at,
                               "reject": report.reject, "evidence": report.evidence });
        let mut spec = workflow.spec.clone();
        spec.auto_reject_below = change.threshold;
        let (applied, _) =
            workflows::apply_with_evidence(db, actor, spec, change.reason.trim(), Some(&evidence)).await?;
        return Ok(applied);
    }
    let summary = match (change.threshold, at) {
        (Some(t), Some(p)) => format!(
            "{label}: {t} automates {:.1} % of {} items of model {}, estimated error {}, bound {:.2} % at {:.0} % \
             ({} verdicts, {} wrong); the recommendation was {}.",
            p.automation * 100.0,
            report.evidence.volume,
            if report.model_version.is_empty() { "(none)" } else { &report.model_version },
            p.estimated_error.map(|e| format!("{:.2} %", e * 100.0)).unwrap_or_else(|| "unknown".into()),
            p.upper_bound * 100.0,
            report.confidence * 100.0,
            p.reviewed,
            p.errors,
            report.recommendation.threshold.map(|t| t.to_string()).unwrap_or_else(|| "none".into()),
        ),
        _ => format!("{label}: auto-approval off."),
    };
    let evidence = json!({
        "summary": summary,
        "how": change.how,
        "threshold": change.threshold,
        "rollout_share": change.rollout_share,
        "at_threshold": at,
        "recommendation": report.recommendation,
        "evidence": report.evidence,
        "alpha": report.alpha,
        "confidence": report.confidence,
        "model_version": report.model_version,
    });
    let mut spec = workflow.spec.clone();
    // A rollout holds back only the band newly automated: below the threshold before, when the
    // new one is lower. Widening keeps that band; a full share ends the rollout.
    spec.rollout_from = match (change.how, change.threshold, spec.auto_approve_at) {
        _ if change.rollout_share >= 1.0 => None,
        ("widen", _, _) => spec.rollout_from,
        (_, Some(new), Some(old)) if old > new => Some(old),
        _ => None,
    };
    spec.auto_approve_at = change.threshold;
    spec.rollout_share = change.rollout_share;
    let (applied, _) =
        workflows::apply_with_evidence(db, actor, spec, change.reason.trim(), Some(&evidence as &Value)).await?;
    Ok(applied)
}
