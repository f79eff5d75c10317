//! Routing at ingest: where an item goes, given its confidence and the workflow's settings.
//! See docs/DESIGN.md, "Routing bands". Pure and deterministic: the same item always lands the same way.

use serde::{Deserialize, Serialize};

/// The routing settings of a workflow, as stamped on every item that arrives under them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoutingSettings {
    /// At or above this confidence an item is auto-approved (`None`: never).
    pub auto_approve_at: Option<f64>,
    /// Below this confidence an item goes straight to a lead (`None`: never).
    pub escalate_below: Option<f64>,
    /// Below this confidence an item is rejected without review, but for the audit sample
    /// (`None`: never). At or under `escalate_below`.
    #[serde(default)]
    pub auto_reject_below: Option<f64>,
    /// Share of would-be auto-approvals sent to review as an audit sample, in [0, 1].
    pub audit_rate: f64,
    /// Share of would-be auto-approvals actually auto-approved while rolling out, in [0, 1].
    pub rollout_share: f64,
    /// While a lowered threshold rolls out: the threshold before it. Items at or above it are
    /// automated as before; the rollout share holds back only the newly automatable band below.
    /// `None`: the share applies to every would-be auto-approval.
    #[serde(default)]
    pub rollout_from: Option<f64>,
    pub paused: bool,
    pub breaker_open: bool,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            auto_approve_at: None,
            escalate_below: None,
            auto_reject_below: None,
            audit_rate: 0.05,
            rollout_share: 1.0,
            rollout_from: None,
            paused: false,
            breaker_open: false,
        }
    }
}

/// Why a setting is refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub field: &'static str,
    pub message: String,
}

impl RoutingSettings {
    pub fn validate(&self) -> Result<(), SettingError> {
        let unit = |field: &'static str, value: f64| {
            if value.is_finite() && (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(SettingError { field, message: format!("{field} must be between 0 and 1 (was {value})") })
            }
        };
        if let Some(a) = self.auto_approve_at {
            unit("auto_approve_at", a)?;
        }
        if let Some(e) = self.escalate_below {
            unit("escalate_below", e)?;
        }
        if let Some(r) = self.auto_reject_below {
            unit("auto_reject_below", r)?;
            let ceiling = self.escalate_below.or(self.auto_approve_at);
            if let Some(c) = ceiling.filter(|c| r > *c) {
                return Err(SettingError {
                    field: "auto_reject_below",
                    message: format!(
                        "auto_reject_below ({r}) must not be above escalate_below or auto_approve_at ({c})"
                    ),
                });
            }
        }
        unit("audit_rate", self.audit_rate)?;
        unit("rollout_share", self.rollout_share)?;
        if let Some(from) = self.rollout_from {
            unit("rollout_from", from)?;
            if self.auto_approve_at.is_none_or(|a| from <= a) {
                return Err(SettingError {
                    field: "rollout_from",
                    message: format!(
                        "rollout_from ({from}) must be above auto_approve_at: the band rolling out lies between"
                    ),
                });
            }
        }
        if let (Some(a), Some(e)) = (self.auto_approve_at, self.escalate_below)
            && e > a
        {
            return Err(SettingError {
                field: "escalate_below",
                message: format!("escalate_below ({e}) must not be above auto_approve_at ({a})"),
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    AutoApproved,
    AutoRejected,
    Review,
    Escalation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RouteReason {
    Paused,
    Breaker,
    AboveThreshold,
    Audit,
    RolloutHoldout,
    LowConfidence,
    BelowThreshold,
    /// Below the auto-reject threshold: rejected unseen.
    BelowRejectThreshold,
    /// Below the auto-reject threshold, sampled for review to measure the band's accuracy.
    RejectAudit,
}

impl RouteReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteReason::Paused => "paused",
            RouteReason::Breaker => "breaker",
            RouteReason::AboveThreshold => "above_threshold",
            RouteReason::Audit => "audit",
            RouteReason::RolloutHoldout => "rollout_holdout",
            RouteReason::LowConfidence => "low_confidence",
            RouteReason::BelowThreshold => "below_threshold",
            RouteReason::BelowRejectThreshold => "below_reject_threshold",
            RouteReason::RejectAudit => "reject_audit",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            RouteReason::Paused,
            RouteReason::Breaker,
            RouteReason::AboveThreshold,
            RouteReason::Audit,
            RouteReason::RolloutHoldout,
            RouteReason::LowConfidence,
            RouteReason::BelowThreshold,
            RouteReason::BelowRejectThreshold,
            RouteReason::RejectAudit,
        ]
        .into_iter()
        .find(|r| r.as_str() == raw)
    }
}

/// Where one item goes and why, with the probability that an item like it (same band, same
/// settings) is seen by a human: 1 below the threshold, and above it the chance of being
/// sampled for audit or held out of the rollout. Threshold tuning weights verdicts by its inverse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Route {
    pub destination: Destination,
    pub reason: RouteReason,
    pub review_probability: f64,
}

/// A uniform number in [0, 1) from a workflow, an external id and a salt. Stable across
/// processes and versions (FNV-1a then a SplitMix64 finaliser), so a retried submission lands in
/// the same band.
pub fn uniform(workflow: &str, external_id: &str, salt: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [salt.as_bytes(), &[0xff], workflow.as_bytes(), &[0xff], external_id.as_bytes()] {
        for byte in part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Routes one item. `confidence` must already be validated to lie in [0, 1].
pub fn route(settings: &RoutingSettings, workflow: &str, external_id: &str, confidence: f64) -> Route {
    let review = |reason| Route { destination: Destination::Review, reason, review_probability: 1.0 };
    if settings.paused {
        return review(RouteReason::Paused);
    }
    if settings.breaker_open {
        return review(RouteReason::Breaker);
    }
    if let Some(threshold) = settings.auto_approve_at
        && confidence >= threshold
    {
        let s = settings.audit_rate;
        // Above where auto-approval began before the threshold was lowered, nothing is held out.
        let r = match settings.rollout_from {
            Some(from) if confidence >= from => 1.0,
            _ => settings.rollout_share,
        };
        // Audited with probability s; otherwise held out with probability 1 - r.
        let review_probability = 1.0 - (1.0 - s) * r;
        let reason = if uniform(workflow, external_id, "audit") < s {
            Some(RouteReason::Audit)
        } else if uniform(workflow, external_id, "rollout") >= r {
            Some(RouteReason::RolloutHoldout)
        } else {
            None
        };
        return match reason {
            Some(reason) => Route { destination: Destination::Review, reason, review_probability },
            None => Route {
                destination: Destination::AutoApproved,
                reason: RouteReason::AboveThreshold,
                review_probability,
            },
        };
    }
    if let Some(floor) = settings.auto_reject_below
        && confidence < floor
    {
        // Audited at the audit rate, like auto-approvals: the band's evidence keeps coming.
        let s = settings.audit_rate;
        return if uniform(workflow, external_id, "reject-audit") < s {
            Route { destination: Destination::Review, reason: RouteReason::RejectAudit, review_probability: s }
        } else {
            Route {
                destination: Destination::AutoRejected,
                reason: RouteReason::BelowRejectThreshold,
                review_probability: s,
            }
        };
    }
    if let Some(floor) = settings.escalate_below
        && confidence < floor
    {
        return Route {
            destination: Destination::Escalation,
            reason: RouteReason::LowConfidence,
            review_probability: 1.0,
        };
    }
    review(RouteReason::BelowThreshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(a: f64, e: f64, s: f64, r: f64) -> RoutingSettings {
        RoutingSettings {
            auto_approve_at: Some(a),
            escalate_below: Some(e),
            auto_reject_below: None,
            audit_rate: s,
            rollout_share: r,
            rollout_from: None,
            paused: false,
            breaker_open: false,
        }
    }

    #[test]
    fn below_the_reject_threshold_items_are_rejected_unseen_but_for_the_audit() {
        let s = RoutingSettings { auto_reject_below: Some(0.1), ..settings(0.9, 0.3, 0.1, 1.0) };
        assert!(s.validate().is_ok());
        let n = 20_000;
        let routes: Vec<Route> = (0..n).map(|i| route(&s, "wf", &i.to_string(), 0.05)).collect();
        let audited = routes.iter().filter(|r| r.reason == RouteReason::RejectAudit).count() as f64 / f64::from(n);
        assert!((audited - 0.1).abs() < 0.01, "{audited}");
        assert!(routes.iter().all(|r| r.review_probability == 0.1));
        assert!(routes.iter().any(|r| r.destination == Destination::AutoRejected));
        assert_eq!(route(&s, "wf", "x", 0.1).reason, RouteReason::LowConfidence, "the floor is exclusive");
        let bad = RoutingSettings { auto_reject_below: Some(0.4), ..s };
        assert_eq!(bad.validate().unwrap_err().field, "auto_reject_below");
        let mut paused = s;
        paused.paused = true;
        assert_eq!(route(&paused, "wf", "x", 0.05).reason, RouteReason::Paused, "a pause reviews everything");
    }

    #[test]
    fn a_rollout_holds_back_only_the_newly_automatable_band() {
        // Lowered from 0.9 to 0.7, a quarter of the new band automated: above 0.9 as before.
        let s = RoutingSettings { rollout_from: Some(0.9), ..settings(0.7, 0.1, 0.0, 0.25) };
        assert!(s.validate().is_ok());
        let n = 20_000;
        let above = (0..n).filter(|i| route(&s, "wf", &i.to_string(), 0.95).destination == Destination::AutoApproved);
        assert_eq!(above.count(), n as usize, "nothing above the old threshold is held out");
        let band: Vec<Route> = (0..n).map(|i| route(&s, "wf", &i.to_string(), 0.8)).collect();
        let auto = band.iter().filter(|r| r.destination == Destination::AutoApproved).count() as f64 / f64::from(n);
        assert!((auto - 0.25).abs() < 0.015, "a quarter of the new band is automated: {auto}");
        assert!(band.iter().all(|r| (r.review_probability - 0.75).abs() < 1e-12));
        assert_eq!(route(&s, "wf", "x", 0.95).review_probability, 0.0);
        let bad = RoutingSettings { rollout_from: Some(0.6), ..s };
        assert_eq!(bad.validate().unwrap_err().field, "rollout_from");
    }

    #[test]
    fn every_band_and_its_boundaries() {
        let s = settings(0.9, 0.3, 0.0, 1.0);
        assert_eq!(route(&s, "wf", "1", 0.95).destination, Destination::AutoApproved);
        assert_eq!(route(&s, "wf", "1", 0.9).destination, Destination::AutoApproved, "a is inclusive");
        assert_eq!(route(&s, "wf", "1", 0.899_999).reason, RouteReason::BelowThreshold);
        assert_eq!(route(&s, "wf", "1", 0.3).reason, RouteReason::BelowThreshold, "e is exclusive");
        let low = route(&s, "wf", "1", 0.299_999);
        assert_eq!((low.destination, low.reason), (Destination::Escalation, RouteReason::LowConfidence));
        assert_eq!(route(&s, "wf", "1", 0.0).destination, Destination::Escalation);
        assert_eq!(route(&s, "wf", "1", 1.0).destination, Destination::AutoApproved);
    }

    #[test]
    fn pause_and_breaker_send_everything_to_review() {
        let mut s = settings(0.5, 0.2, 0.0, 1.0);
        s.paused = true;
        assert_eq!(route(&s, "wf", "1", 0.99).reason, RouteReason::Paused);
        assert_eq!(route(&s, "wf", "1", 0.01).reason, RouteReason::Paused);
        s.paused = false;
        s.breaker_open = true;
        let r = route(&s, "wf", "1", 0.99);
        assert_eq!((r.destination, r.reason, r.review_probability), (Destination::Review, RouteReason::Breaker, 1.0));
    }

    #[test]
    fn no_thresholds_means_everything_is_reviewed() {
        let s = RoutingSettings::default();
        let r = route(&s, "wf", "1", 1.0);
        assert_eq!((r.destination, r.reason), (Destination::Review, RouteReason::BelowThreshold));
    }

    /// Pinned values: the sampling must not change between processes or versions (a retried
    /// submission has to land in the band it landed in before), so a change of the hash, its
    /// seed or the way the parts are joined fails here. Computed once, outside this crate.
    #[test]
    fn sampling_is_deterministic() {
        for (workflow, external_id, salt, expected) in [
            ("wf", "x", "audit", 0.12689720090095025),
            ("wf", "x", "rollout", 0.6151059332373358),
            ("wf2", "x", "audit", 0.8421864001602346),
            ("wf", "", "audit", 0.3164361221031212),
            ("invoices", "inv-1", "audit", 0.7192068638938824),
            ("invoices", "inv-1", "rollout", 0.7265880754711577),
            ("invoices", "inv-2", "audit", 0.3847848541919311),
            ("invoices", "inv-2", "rollout", 0.13997922269098972),
            ("invoices", "inv-5", "audit", 0.2468272147348285),
            ("receipts", "inv-1", "audit", 0.10543400040581574),
        ] {
            assert_eq!(
                uniform(workflow, external_id, salt),
                expected,
                "uniform({workflow:?}, {external_id:?}, {salt:?})"
            );
        }

        // Audited below 0.3 on the audit draw; otherwise held out at 0.6 or more on the rollout draw.
        let s = settings(0.8, 0.2, 0.3, 0.6);
        let audited = (Destination::Review, RouteReason::Audit);
        let held_out = (Destination::Review, RouteReason::RolloutHoldout);
        let approved = (Destination::AutoApproved, RouteReason::AboveThreshold);
        for (workflow, external_id, confidence, expected) in [
            ("invoices", "inv-1", 0.9, held_out),
            ("invoices", "inv-2", 0.95, approved),
            ("invoices", "inv-4", 0.85, held_out),
            ("invoices", "inv-5", 0.8, audited),
            ("invoices", "inv-6", 0.99, held_out),
            ("receipts", "inv-1", 0.9, audited),
            ("wf2", "x", 1.0, approved),
            ("invoices", "inv-3", 0.5, (Destination::Review, RouteReason::BelowThreshold)),
            ("invoices", "inv-3", 0.1, (Destination::Escalation, RouteReason::LowConfidence)),
        ] {
            let r = route(&s, workflow, external_id, confidence);
            assert_eq!((r.destination, r.reason), expected, "route of {workflow}/{external_id} at {confidence}");
            let probability = if confidence >= 0.8 { 1.0 - 0.7 * 0.6 } else { 1.0 };
            assert!((r.review_probability - probability).abs() < 1e-12, "{r:?}");
        }
        assert_ne!(uniform("wf", "x", "audit"), uniform("wf2", "x", "audit"), "the workflow is part of the hash");
    }

    #[test]
    fn audit_rate_holds_over_100k_ids() {
        let s = settings(0.5, 0.1, 0.05, 1.0);
        let n = 100_000;
        let audited =
            (0..n).filter(|i| route(&s, "invoices", &format!("inv-{i}"), 0.8).reason == RouteReason::Audit).count();
        let rate = audited as f64 / f64::from(n);
        // Binomial sd = sqrt(0.05*0.95/1e5) ≈ 0.00069; 5 sd ≈ 0.0035.
        assert!((rate - 0.05).abs() < 0.0035, "audit rate {rate}");
    }

    #[test]
    fn rollout_share_holds_and_probabilities_are_stamped() {
        let s = settings(0.5, 0.1, 0.1, 0.6);
        let n = 100_000;
        let routes: Vec<Route> = (0..n).map(|i| route(&s, "wf", &format!("{i}"), 0.7)).collect();
        let auto = routes.iter().filter(|r| r.destination == Destination::AutoApproved).count() as f64 / f64::from(n);
        // Auto-approved share is (1 - s) * r = 0.54.
        assert!((auto - 0.54).abs() < 0.008, "auto-approved share {auto}");
        let expected = 1.0 - 0.9 * 0.6;
        assert!(routes.iter().all(|r| (r.review_probability - expected).abs() < 1e-12));
        assert!(routes.iter().any(|r| r.reason == RouteReason::RolloutHoldout));
        assert!(routes.iter().any(|r| r.reason == RouteReason::Audit));
    }

    #[test]
    fn uniform_is_spread_evenly() {
        let mut buckets = [0u32; 10];
        for i in 0..100_000 {
            buckets[(uniform("wf", &i.to_string(), "audit") * 10.0) as usize] += 1;
        }
        assert!(buckets.iter().all(|b| (9_500..10_500).contains(b)), "{buckets:?}");
    }

    #[test]
    fn settings_are_validated() {
        assert!(settings(0.9, 0.3, 0.05, 1.0).validate().is_ok());
        assert_eq!(settings(0.3, 0.9, 0.05, 1.0).validate().unwrap_err().field, "escalate_below");
        assert_eq!(settings(1.2, 0.3, 0.05, 1.0).validate().unwrap_err().field, "auto_approve_at");
        assert_eq!(settings(0.9, 0.3, -0.1, 1.0).validate().unwrap_err().field, "audit_rate");
        assert_eq!(settings(0.9, 0.3, 0.1, f64::NAN).validate().unwrap_err().field, "rollout_share");
    }
}
