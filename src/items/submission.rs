//! What an automation submits, checked and routed before anything is written: field checks,
//! the workflow's data contract, and the routing decision (all without IO).

use crate::domain::routing::{Route, route};
use crate::error::AppError;
use crate::workflows::contract::{Contract, ContractCache};
use crate::workflows::server::Workflow;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;

const MAX_EXTERNAL_ID: usize = 256;

/// One submitted item, as the automation sends it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// Your id for the item, unique per workflow: submitting it again is idempotent. 1 to 256
    /// bytes, no control characters.
    #[schema(example = "inv-2026-0001", min_length = 1, max_length = 256)]
    pub external_id: String,
    /// What a reviewer needs to judge the output; must satisfy the workflow's payload schema.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The model's output; must satisfy the workflow's prediction schema (and label set).
    #[schema(value_type = Object)]
    pub prediction: Value,
    /// The model's confidence, from 0 to 1.
    #[schema(minimum = 0.0, maximum = 1.0, example = 0.93)]
    pub confidence: f64,
    /// The model that made the prediction: at most 200 bytes, no control characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub model_version: Option<String>,
    /// Higher is reviewed first (-1000 to 1000).
    #[serde(default)]
    #[schema(minimum = -1000, maximum = 1000)]
    pub priority: i32,
    /// Anything you want back with the decision: any JSON value.
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    pub metadata: Option<Value>,
}

impl Submission {
    /// Field checks that need no database; JSON paths name what failed.
    pub(super) fn check(&self) -> Result<(), AppError> {
        if self.external_id.trim().is_empty() || self.external_id.len() > MAX_EXTERNAL_ID {
            return Err(AppError::invalid(
                "/external_id",
                format!("/external_id must be 1 to {MAX_EXTERNAL_ID} bytes"),
            ));
        }
        if !(self.confidence.is_finite() && (0.0..=1.0).contains(&self.confidence)) {
            return Err(AppError::invalid(
                "/confidence",
                format!("/confidence must be between 0 and 1 (was {})", self.confidence),
            ));
        }
        if self.model_version.as_ref().is_some_and(|v| v.len() > 200) {
            return Err(AppError::invalid("/model_version", "/model_version must be at most 200 bytes"));
        }
        // Stored as text and shown to people: a NUL (which PostgreSQL cannot store in text) or
        // another control character is refused on both backends alike.
        for (path, text) in [("/external_id", Some(&self.external_id)), ("/model_version", self.model_version.as_ref())]
        {
            if text.is_some_and(|t| t.chars().any(char::is_control)) {
                return Err(AppError::invalid(
                    path,
                    format!("{path} must not contain control characters (such as NUL)"),
                ));
            }
        }
        if !(-1000..=1000).contains(&self.priority) {
            return Err(AppError::invalid("/priority", "/priority must be between -1000 and 1000"));
        }
        Ok(())
    }

    /// A digest of the submission, to tell a retry (same body) from a conflict (other body).
    pub(super) fn digest(&self) -> String {
        hex::encode(Sha256::digest(serde_json::to_vec(self).unwrap_or_default()))
    }
}

/// A submission that passed every check and was routed, with what the write needs computed once
/// (outside the write transaction and the group writer).
#[derive(Debug)]
pub struct Prepared {
    pub(super) sub: Submission,
    pub(super) route: Route,
    pub(super) digest: String,
    pub(super) payload: String,
    pub(super) prediction: String,
    pub(super) metadata: Option<String>,
}

impl Prepared {
    pub(super) fn new(sub: Submission, route: Route) -> Self {
        let digest = sub.digest();
        Self::with_digest(sub, route, digest)
    }

    pub(super) fn with_digest(sub: Submission, route: Route, digest: String) -> Self {
        Self {
            digest,
            payload: sub.payload.to_string(),
            prediction: sub.prediction.to_string(),
            metadata: sub.metadata.as_ref().map(Value::to_string),
            sub,
            route,
        }
    }

    pub fn external_id(&self) -> &str {
        &self.sub.external_id
    }
}

/// Validates one submission against the workflow's contract and routes it (no IO).
pub(super) fn prepare(workflow: &Workflow, contract: &Contract, sub: &Submission) -> Result<Route, AppError> {
    sub.check()?;
    contract.check(&sub.payload, &sub.prediction)?;
    Ok(route(&workflow.routing(), workflow.slug(), &sub.external_id, sub.confidence))
}

/// Validates and routes one submission for the group writer (no IO).
pub fn prepare_one(cache: &ContractCache, workflow: &Workflow, sub: Submission) -> Result<Prepared, AppError> {
    let contract = contract_for(cache, workflow)?;
    let route = prepare(workflow, &contract, &sub)?;
    Ok(Prepared::new(sub, route))
}

/// The workflow's contract, compiled once per settings version.
pub(super) fn contract_for(cache: &ContractCache, workflow: &Workflow) -> Result<Arc<Contract>, AppError> {
    cache.get_or_compile((workflow.id, workflow.settings_version), || workflow.contract())
}
