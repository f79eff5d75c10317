//! A workflow as its settings pages show and post it: the list's summary, the edit form's text
//! fields, and the form read back into a spec (each error naming its field).

use super::server::Workflow;
use super::{WorkflowForm, WorkflowSummary};
use crate::domain::workflow::{Slug, WorkflowSpec};
use crate::error::AppError;
use serde_json::{Value, json};

impl Workflow {
    pub fn summary(&self) -> WorkflowSummary {
        WorkflowSummary {
            slug: self.spec.slug.to_string(),
            name: self.spec.name.clone(),
            auto_approve_at: self.spec.auto_approve_at,
            escalate_below: self.spec.escalate_below,
            audit_rate: self.spec.audit_rate,
            rollout_share: self.spec.rollout_share,
            paused: self.spec.paused,
            breaker_open: self.breaker_open,
            settings_version: self.settings_version,
            members: self.spec.members.len(),
        }
    }

    pub fn form(&self) -> WorkflowForm {
        let s = &self.spec;
        let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        WorkflowForm {
            slug: s.slug.to_string(),
            name: s.name.clone(),
            description: s.description.clone(),
            owner: s.owner.clone().unwrap_or_default(),
            members: s.members.join("\n"),
            payload_schema: serde_json::to_string_pretty(&s.payload_schema).unwrap_or_default(),
            prediction_schema: serde_json::to_string_pretty(&s.prediction_schema).unwrap_or_default(),
            labels: s.labels.join(", "),
            reason_codes: s.reason_codes.join(", "),
            auto_approve_at: number(s.auto_approve_at),
            escalate_below: number(s.escalate_below),
            auto_reject_below: number(s.auto_reject_below),
            audit_rate: s.audit_rate.to_string(),
            rollout_share: s.rollout_share.to_string(),
            rollout_from: number(s.rollout_from),
            target_error_rate: s.target_error_rate.to_string(),
            confidence: s.confidence.to_string(),
            tune_auto_reject: s.tune_auto_reject,
            review_sla_minutes: (s.review_sla_secs / 60).to_string(),
            escalation_sla_minutes: (s.escalation_sla_secs / 60).to_string(),
            lease_minutes: (s.lease_secs / 60).to_string(),
            paused: s.paused,
            escalate_after_lease_expiries: s.escalate_after_lease_expiries.to_string(),
            escalate_on_reasons: s.escalate_on_reasons.join(", "),
        }
    }
}

fn list_of(raw: &str) -> Vec<String> {
    raw.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Reads the edit form into a spec; each error names the form field.
pub fn spec_from_form(form: &WorkflowForm) -> Result<WorkflowSpec, AppError> {
    let slug = Slug::parse(form.slug.trim()).map_err(|e| AppError::invalid("slug", e))?;
    let optional = |field: &str, raw: &str| -> Result<Option<f64>, AppError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        raw.parse::<f64>().map(Some).map_err(|_| AppError::invalid(field, format!("{field}: '{raw}' is not a number")))
    };
    let required = |field: &str, raw: &str| -> Result<f64, AppError> {
        optional(field, raw)?.ok_or_else(|| AppError::invalid(field, format!("{field} is required")))
    };
    let minutes = |field: &str, raw: &str| -> Result<i64, AppError> {
        raw.trim()
            .parse::<i64>()
            .map(|m| m.saturating_mul(60))
            .map_err(|_| AppError::invalid(field, format!("{field}: give a whole number of minutes")))
    };
    let schema = |field: &str, raw: &str| -> Result<Value, AppError> {
        if raw.trim().is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_str(raw).map_err(|e| AppError::invalid(field, format!("{field} is not valid JSON: {e}")))
    };
    let owner = form.owner.trim();
    Ok(WorkflowSpec {
        slug,
        name: form.name.trim().to_owned(),
        description: form.description.trim().to_owned(),
        owner: (!owner.is_empty()).then(|| owner.to_owned()),
        members: list_of(&form.members),
        payload_schema: schema("payload_schema", &form.payload_schema)?,
        prediction_schema: schema("prediction_schema", &form.prediction_schema)?,
        labels: list_of(&form.labels),
        reason_codes: list_of(&form.reason_codes),
        auto_approve_at: optional("auto_approve_at", &form.auto_approve_at)?,
        escalate_below: optional("escalate_below", &form.escalate_below)?,
        auto_reject_below: optional("auto_reject_below", &form.auto_reject_below)?,
        audit_rate: required("audit_rate", &form.audit_rate)?,
        rollout_share: required("rollout_share", &form.rollout_share)?,
        rollout_from: optional("rollout_from", &form.rollout_from)?,
        target_error_rate: required("target_error_rate", &form.target_error_rate)?,
        confidence: required("confidence", &form.confidence)?,
        tune_auto_reject: form.tune_auto_reject,
        review_sla_secs: minutes("review_sla_minutes", &form.review_sla_minutes)?,
        escalation_sla_secs: minutes("escalation_sla_minutes", &form.escalation_sla_minutes)?,
        lease_secs: minutes("lease_minutes", &form.lease_minutes)?,
        paused: form.paused,
        escalate_after_lease_expiries: form.escalate_after_lease_expiries.trim().parse::<u32>().map_err(|_| {
            AppError::invalid(
                "escalate_after_lease_expiries",
                "escalate_after_lease_expiries: give a whole number (0 for never)",
            )
        })?,
        escalate_on_reasons: list_of(&form.escalate_on_reasons),
    })
}
