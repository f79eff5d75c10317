//! A workflow's declared shape: identity, data contract, routing settings and service levels.
//! Parsed and checked here, before anything is stored.

use super::routing::RoutingSettings;
use serde::{Deserialize, Serialize};

/// A URL-safe workflow name such as `invoice-extraction`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (2..=63).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "'{raw}' is not a valid slug: use 2 to 63 lowercase letters, digits and inner hyphens, e.g. invoice-extraction"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Slug::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> String {
        slug.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn default_audit_rate() -> f64 {
    0.05
}
fn default_rollout_share() -> f64 {
    1.0
}
fn default_target_error_rate() -> f64 {
    0.02
}
fn default_confidence() -> f64 {
    0.95
}
fn default_review_sla_secs() -> i64 {
    4 * 3600
}
fn default_escalation_sla_secs() -> i64 {
    8 * 3600
}
fn default_lease_secs() -> i64 {
    600
}
fn default_escalate_after_lease_expiries() -> u32 {
    3
}
fn any_object() -> serde_json::Value {
    serde_json::json!({})
}

/// Everything an admin declares about a workflow (the file `gatehouse workflow apply` reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    pub slug: Slug,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Email of the person responsible for the workflow's maintenance.
    #[serde(default)]
    pub owner: Option<String>,
    /// Emails of the reviewers and leads who may work it.
    #[serde(default)]
    pub members: Vec<String>,
    /// JSON Schema every item's `payload` must satisfy.
    #[serde(default = "any_object")]
    pub payload_schema: serde_json::Value,
    /// JSON Schema every item's `prediction` must satisfy.
    #[serde(default = "any_object")]
    pub prediction_schema: serde_json::Value,
    /// Optional label set: when given, a prediction's `label` must be one of these.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Reasons a reviewer may give for a rejection.
    #[serde(default)]
    pub reason_codes: Vec<String>,
    #[serde(default)]
    pub auto_approve_at: Option<f64>,
    #[serde(default)]
    pub escalate_below: Option<f64>,
    /// Below this confidence items are rejected without review (but for the audit sample).
    #[serde(default)]
    pub auto_reject_below: Option<f64>,
    #[serde(default = "default_audit_rate")]
    pub audit_rate: f64,
    #[serde(default = "default_rollout_share")]
    pub rollout_share: f64,
    /// While a lowered threshold rolls out, the threshold before it: the rollout share holds back
    /// only the band between (see [`RoutingSettings::rollout_from`]).
    #[serde(default)]
    pub rollout_from: Option<f64>,
    #[serde(default = "default_target_error_rate")]
    pub target_error_rate: f64,
    /// How sure threshold tuning must be that the error stays under `target_error_rate`.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Whether threshold tuning also looks for an auto-reject band below the review band.
    #[serde(default)]
    pub tune_auto_reject: bool,
    #[serde(default = "default_review_sla_secs")]
    pub review_sla_secs: i64,
    #[serde(default = "default_escalation_sla_secs")]
    pub escalation_sla_secs: i64,
    #[serde(default = "default_lease_secs")]
    pub lease_secs: i64,
    #[serde(default)]
    pub paused: bool,
    /// Escalate an item once its lease has run out this many times unrenewed (0: never).
    #[serde(default = "default_escalate_after_lease_expiries")]
    pub escalate_after_lease_expiries: u32,
    /// Reject reason codes (of `reason_codes`) that escalate the item to a lead instead of
    /// settling it.
    #[serde(default)]
    pub escalate_on_reasons: Vec<String>,
}

/// A refused field, named as in the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl WorkflowSpec {
    /// The routing part, as stamped on items (the breaker state lives elsewhere).
    pub fn routing(&self, breaker_open: bool) -> RoutingSettings {
        RoutingSettings {
            auto_approve_at: self.auto_approve_at,
            escalate_below: self.escalate_below,
            auto_reject_below: self.auto_reject_below,
            audit_rate: self.audit_rate,
            rollout_share: self.rollout_share,
            rollout_from: self.rollout_from,
            paused: self.paused,
            breaker_open,
        }
    }

    /// The escalation rules these settings give (see [`super::escalation`]).
    pub fn escalation_rules(&self) -> super::escalation::Rules {
        super::escalation::Rules {
            review_sla_ms: self.review_sla_secs.saturating_mul(1000),
            escalation_sla_ms: self.escalation_sla_secs.saturating_mul(1000),
            lease_expiry_limit: self.escalate_after_lease_expiries,
            escalate_on: self.escalate_on_reasons.clone(),
        }
    }

    /// Checks what serde cannot: ranges, orderings, non-empty names, schema shapes.
    pub fn validate(&self) -> Result<(), SpecError> {
        let err = |field: &str, message: String| Err(SpecError { field: field.to_owned(), message });
        if self.name.trim().is_empty() || self.name.chars().count() > 120 {
            return err("name", "name must be 1 to 120 characters".into());
        }
        if !super::text::is_one_line(&self.name) {
            return err("name", "name must be one line without control characters".into());
        }
        if self.description.chars().count() > 2000 || !super::text::is_lines(&self.description) {
            return err(
                "description",
                "description must be at most 2000 characters, without control characters".into(),
            );
        }
        if let Err(e) = self.routing(false).validate() {
            return err(e.field, e.message);
        }
        if !(self.target_error_rate.is_finite() && self.target_error_rate > 0.0 && self.target_error_rate < 1.0) {
            return err("target_error_rate", "target_error_rate must be between 0 and 1 (exclusive)".into());
        }
        if let Err(message) = super::tuning::Target::new(self.target_error_rate, self.confidence) {
            return err(if message.starts_with("alpha") { "target_error_rate" } else { "confidence" }, message);
        }
        for (field, secs, min) in [
            ("review_sla_secs", self.review_sla_secs, 60),
            ("escalation_sla_secs", self.escalation_sla_secs, 60),
            ("lease_secs", self.lease_secs, 30),
        ] {
            if !(min..=30 * 24 * 3600).contains(&secs) {
                return err(field, format!("{field} must be between {min} seconds and 30 days"));
            }
        }
        for (field, schema) in
            [("payload_schema", &self.payload_schema), ("prediction_schema", &self.prediction_schema)]
        {
            if !(schema.is_object() || schema.is_boolean()) {
                return err(field, format!("{field} must be a JSON Schema (an object)"));
            }
        }
        if self.escalate_after_lease_expiries > 100 {
            return err(
                "escalate_after_lease_expiries",
                "escalate_after_lease_expiries must be 0 (never) to 100".into(),
            );
        }
        if let Some(code) = self.escalate_on_reasons.iter().find(|code| !self.reason_codes.contains(code)) {
            return err(
                "escalate_on_reasons",
                format!("escalate_on_reasons names '{code}', which is not one of the reason_codes"),
            );
        }
        for (field, list) in [
            ("labels", &self.labels),
            ("reason_codes", &self.reason_codes),
            ("escalate_on_reasons", &self.escalate_on_reasons),
        ] {
            let mut seen = std::collections::HashSet::new();
            for value in list {
                if value.trim().is_empty() || value.len() > 100 || !super::text::is_one_line(value) {
                    return err(field, format!("{field} entries must be 1 to 100 characters on one line"));
                }
                if !seen.insert(value) {
                    return err(field, format!("{field} lists '{value}' twice"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WorkflowSpec {
        serde_json::from_value(serde_json::json!({
            "slug": "invoice-extraction",
            "name": "Invoice extraction",
            "auto_approve_at": 0.9,
            "escalate_below": 0.3,
        }))
        .unwrap()
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("invoice-extraction").is_ok());
        assert!(Slug::parse("a1").is_ok());
        for bad in ["", "a", "-x", "x-", "Upper", "has space", "snake_case", &"x".repeat(64)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_sensible() {
        let spec = spec();
        assert_eq!(spec.audit_rate, 0.05);
        assert_eq!(spec.rollout_share, 1.0);
        assert_eq!(spec.lease_secs, 600);
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let unknown =
            serde_json::from_value::<WorkflowSpec>(serde_json::json!({"slug": "ab", "name": "x", "thresold": 1}));
        assert!(unknown.unwrap_err().to_string().contains("unknown field"));
        let mut s = spec();
        s.escalate_below = Some(0.95);
        assert_eq!(s.validate().unwrap_err().field, "escalate_below");
        let mut s = spec();
        s.lease_secs = 5;
        assert_eq!(s.validate().unwrap_err().field, "lease_secs");
        let mut s = spec();
        s.payload_schema = serde_json::json!("string");
        assert_eq!(s.validate().unwrap_err().field, "payload_schema");
        let mut s = spec();
        s.labels = vec!["a".into(), "a".into()];
        assert_eq!(s.validate().unwrap_err().field, "labels");
        let mut s = spec();
        s.target_error_rate = 0.0;
        assert_eq!(s.validate().unwrap_err().field, "target_error_rate");
        let mut s = spec();
        assert_eq!(s.confidence, 0.95);
        s.confidence = 1.0;
        assert_eq!(s.validate().unwrap_err().field, "confidence");
    }
}
