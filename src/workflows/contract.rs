//! A workflow's data contract, compiled once per settings version and checked at ingest.

use crate::error::AppError;
use jsonschema::Validator;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub struct Contract {
    payload: Validator,
    prediction: Validator,
    labels: Vec<String>,
}

impl Contract {
    pub fn compile(payload: &Value, prediction: &Value, labels: Vec<String>) -> Result<Self, AppError> {
        let compile = |field: &str, schema: &Value| {
            jsonschema::validator_for(schema)
                .map_err(|e| AppError::invalid(field, format!("{field} is not a valid JSON Schema: {e}")))
        };
        Ok(Self {
            payload: compile("payload_schema", payload)?,
            prediction: compile("prediction_schema", prediction)?,
            labels,
        })
    }

    /// Checks one item's payload and prediction; the error names the failing JSON path, e.g.
    /// `/payload/total`.
    pub fn check(&self, payload: &Value, prediction: &Value) -> Result<(), AppError> {
        for (root, validator, value) in
            [("payload", &self.payload, payload), ("prediction", &self.prediction, prediction)]
        {
            if let Some(error) = validator.iter_errors(value).next() {
                let path = format!("/{root}{}", error.instance_path());
                return Err(AppError::invalid(&path, format!("{path}: {error}")));
            }
        }
        if !self.labels.is_empty() {
            match prediction.get("label").and_then(Value::as_str) {
                Some(label) if self.labels.iter().any(|l| l == label) => {}
                Some(label) => {
                    return Err(AppError::invalid(
                        "/prediction/label",
                        format!(
                            "/prediction/label: '{label}' is not one of the workflow's labels ({})",
                            self.labels.join(", ")
                        ),
                    ));
                }
                None => {
                    return Err(AppError::invalid("/prediction/label", "/prediction/label: a label is required"));
                }
            }
        }
        Ok(())
    }
}

/// (workflow id, settings version): a new version compiles anew.
type ContractKey = (i64, i64);

/// The most compiled contracts kept: one per workflow (a new settings version replaces the old),
/// each its two compiled JSON Schemas, typically a few KB. Past it, an arbitrary other
/// workflow's contract makes room; it is compiled again when next needed.
pub const CONTRACT_CACHE_MAX: usize = 1_000;

/// Compiled contracts, shared by every request; at most [`CONTRACT_CACHE_MAX`].
#[derive(Default, Clone)]
pub struct ContractCache {
    inner: Arc<RwLock<HashMap<ContractKey, Arc<Contract>>>>,
}

impl ContractCache {
    pub fn get_or_compile(
        &self,
        key: ContractKey,
        compile: impl FnOnce() -> Result<Contract, AppError>,
    ) -> Result<Arc<Contract>, AppError> {
        if let Some(found) = self.inner.read().ok().and_then(|map| map.get(&key).cloned()) {
            return Ok(found);
        }
        let contract = Arc::new(compile()?);
        if let Ok(mut map) = self.inner.write() {
            map.retain(|(workflow, _), _| *workflow != key.0);
            while map.len() >= CONTRACT_CACHE_MAX {
                let Some(other) = map.keys().next().copied() else { break };
                map.remove(&other);
            }
            map.insert(key, contract.clone());
        }
        Ok(contract)
    }

    /// How many compiled contracts it holds now.
    pub fn len(&self) -> usize {
        self.inner.read().map_or(0, |map| map.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contract() -> Contract {
        Contract::compile(
            &json!({"type": "object", "required": ["total"], "properties": {"total": {"type": "number"}}}),
            &json!({"type": "object"}),
            vec!["invoice".into(), "receipt".into()],
        )
        .unwrap()
    }

    #[test]
    fn holds_one_contract_per_workflow_and_at_most_its_maximum() {
        let cache = ContractCache::default();
        for version in 1..=3 {
            cache.get_or_compile((7, version), || Ok(contract())).unwrap();
        }
        assert_eq!(cache.len(), 1, "a new settings version replaces the old");
        for workflow in 0..(CONTRACT_CACHE_MAX as i64 + 500) {
            cache.get_or_compile((100 + workflow, 1), || Ok(contract())).unwrap();
            assert!(cache.len() <= CONTRACT_CACHE_MAX, "{} contracts", cache.len());
        }
        let mut compiled = false;
        cache
            .get_or_compile((100 + CONTRACT_CACHE_MAX as i64 + 499, 1), || {
                compiled = true;
                Ok(contract())
            })
            .unwrap();
        assert!(!compiled, "the newest contract is still cached");
    }

    #[test]
    fn names_the_failing_path() {
        let error = contract().check(&json!({"total": "12"}), &json!({"label": "invoice"})).unwrap_err();
        assert_eq!(error.field(), Some("/payload/total"));
        let error = contract().check(&json!({}), &json!({"label": "invoice"})).unwrap_err();
        assert_eq!(error.field(), Some("/payload"));
        assert!(error.to_string().contains("total"), "{error}");
    }

    #[test]
    fn labels_are_enforced() {
        assert!(contract().check(&json!({"total": 1}), &json!({"label": "receipt"})).is_ok());
        let error = contract().check(&json!({"total": 1}), &json!({"label": "memo"})).unwrap_err();
        assert_eq!(error.field(), Some("/prediction/label"));
        assert!(contract().check(&json!({"total": 1}), &json!({})).is_err());
    }

    #[test]
    fn invalid_schemas_are_refused() {
        let error = Contract::compile(&json!({"type": 12}), &json!({}), vec![]).err().unwrap();
        assert_eq!(error.field(), Some("payload_schema"));
    }
}
