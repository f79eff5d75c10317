//! Correcting a prediction: which of its fields a reviewer can edit, and the prediction with
//! their edits applied. Both sides use it: the form is built from [`editable_fields`] and the
//! server applies what was posted with [`apply`].
//!
//! A field is named by its JSON pointer into the prediction (`/fields/total`); the form posts
//! it as `fields[/fields/total]`, and errors name that form field.

use crate::error::AppError;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The per-field confidences a prediction may carry; shown beside it, never edited.
pub const FIELD_CONFIDENCES: &str = "field_confidences";

/// One editable field of a prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct EditableField {
    /// JSON pointer into the prediction.
    pub pointer: String,
    /// Its current value, which also decides how the posted text is read.
    pub value: Value,
    /// The allowed values, when the field is the workflow's label.
    pub choices: Vec<String>,
}

impl EditableField {
    /// The form field's name: `fields[<pointer>]`.
    pub fn form_name(&self) -> String {
        form_name(&self.pointer)
    }

    /// A readable label: `fields › total` for `/fields/total`.
    pub fn label(&self) -> String {
        let label = self.pointer.trim_start_matches('/').replace('/', " › ").replace("~1", "/").replace("~0", "~");
        if label.is_empty() { "value".to_owned() } else { label }
    }
}

fn form_name(pointer: &str) -> String {
    format!("fields[{pointer}]")
}

/// Every leaf of the prediction, in document order, but its field confidences; the label takes
/// the workflow's labels as its choices.
pub fn editable_fields(prediction: &Value, labels: &[String]) -> Vec<EditableField> {
    let mut fields = Vec::new();
    collect(prediction, String::new(), labels, &mut fields);
    fields
}

fn collect(value: &Value, pointer: String, labels: &[String], out: &mut Vec<EditableField>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if pointer.is_empty() && key == FIELD_CONFIDENCES {
                    continue;
                }
                let escaped = key.replace('~', "~0").replace('/', "~1");
                collect(v, format!("{pointer}/{escaped}"), labels, out);
            }
        }
        other => {
            let choices = if pointer == "/label" && !labels.is_empty() { labels.to_vec() } else { Vec::new() };
            out.push(EditableField { pointer, value: other.clone(), choices });
        }
    }
}

/// The prediction with the reviewer's edits applied. Each edit's text is read as the type the
/// prediction has at its pointer; a correction that changes nothing is refused.
pub fn apply(prediction: &Value, edits: &HashMap<String, String>) -> Result<Value, AppError> {
    let mut corrected = prediction.clone();
    for (pointer, raw) in edits {
        let name = form_name(pointer);
        let slot = corrected
            .pointer_mut(pointer)
            .ok_or_else(|| AppError::invalid(&name, format!("The prediction has no field {pointer}.")))?;
        let raw = raw.trim();
        if !super::text::is_lines(raw) {
            return Err(AppError::invalid(&name, format!("{pointer} cannot contain control characters.")));
        }
        *slot = match slot {
            Value::Number(_) => raw
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(|n| if n.fract() == 0.0 && n.abs() < 9e15 { json!(n as i64) } else { json!(n) })
                .ok_or_else(|| AppError::invalid(&name, format!("{pointer} must be a number.")))?,
            Value::Bool(_) => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(AppError::invalid(&name, format!("{pointer} must be true or false."))),
            },
            Value::String(_) => Value::String(raw.to_owned()),
            Value::Null if raw.is_empty() => Value::Null,
            _ => serde_json::from_str(raw)
                .map_err(|e| AppError::invalid(&name, format!("{pointer} must be valid JSON: {e}.")))?,
        };
    }
    if corrected == *prediction {
        return Err(AppError::invalid(
            "fields",
            "The correction changes nothing: approve the item instead, or change a field.",
        ));
    }
    Ok(corrected)
}

/// A contract error about the corrected prediction (`/prediction/fields/total`), renamed for
/// the form field that holds it (`fields[/fields/total]`).
pub fn contract_error(error: AppError) -> AppError {
    match error {
        AppError::Invalid { field, message } => {
            let field = match field.strip_prefix("/prediction") {
                Some("") => "fields".to_owned(),
                Some(pointer) => form_name(pointer),
                None => field,
            };
            AppError::Invalid { field, message: format!("The correction breaks the contract: {message}") }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction() -> Value {
        json!({
            "label": "invoice",
            "fields": { "total": 12.5, "paid": false, "a/b": "x", "note": null, "lines": [1, 2] },
            "field_confidences": { "total": 0.4 }
        })
    }

    fn edits(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn fields_follow_the_prediction_without_its_confidences() {
        let fields = editable_fields(&prediction(), &["invoice".into(), "receipt".into()]);
        let pointers: Vec<_> = fields.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            vec!["/fields/a~1b", "/fields/lines", "/fields/note", "/fields/paid", "/fields/total", "/label"]
        );
        assert_eq!(fields[5].choices, vec!["invoice", "receipt"]);
        assert!(fields[0].choices.is_empty());
        assert_eq!(fields[0].label(), "fields › a/b");
        assert_eq!(fields[4].form_name(), "fields[/fields/total]");
    }

    #[test]
    fn correction_fields_follow_the_prediction() {
        let prediction = serde_json::json!({
            "label": "invoice", "fields": { "total": 12.5, "paid": false, "a/b": "x" }, "field_confidences": { "total": 0.4 }
        });
        let inputs = editable_fields(&prediction, &["invoice".into(), "receipt".into()]);
        let pointers: Vec<_> = inputs.iter().map(|i| i.pointer.as_str()).collect();
        assert_eq!(pointers, vec!["/fields/a~1b", "/fields/paid", "/fields/total", "/label"]);
        assert_eq!(inputs[3].choices, vec!["invoice", "receipt"]);
        assert!(inputs[0].choices.is_empty());
    }

    #[test]
    fn edits_are_read_as_the_type_they_replace() {
        let fixed = apply(
            &prediction(),
            &edits(&[
                ("/fields/total", " 13 "),
                ("/fields/paid", "true"),
                ("/label", "receipt"),
                ("/fields/lines", "[3]"),
            ]),
        )
        .unwrap();
        assert_eq!(fixed["fields"]["total"], json!(13));
        assert_eq!(fixed["fields"]["paid"], json!(true));
        assert_eq!(fixed["label"], json!("receipt"));
        assert_eq!(fixed["fields"]["lines"], json!([3]));
        assert_eq!(
            apply(&prediction(), &edits(&[("/fields/total", "13.25")])).unwrap()["fields"]["total"],
            json!(13.25)
        );
    }

    #[test]
    fn bad_edits_name_their_form_field() {
        let field_of =
            |pairs: &[(&str, &str)]| apply(&prediction(), &edits(pairs)).unwrap_err().field().map(str::to_owned);
        assert_eq!(field_of(&[("/fields/total", "twelve")]).as_deref(), Some("fields[/fields/total]"));
        assert_eq!(field_of(&[("/fields/total", "NaN")]).as_deref(), Some("fields[/fields/total]"));
        assert_eq!(field_of(&[("/fields/paid", "yes")]).as_deref(), Some("fields[/fields/paid]"));
        assert_eq!(field_of(&[("/fields/lines", "[")]).as_deref(), Some("fields[/fields/lines]"));
        assert_eq!(field_of(&[("/nope", "1")]).as_deref(), Some("fields[/nope]"));
        assert_eq!(
            field_of(&[("/fields/total", "12.5")]).as_deref(),
            Some("fields"),
            "a correction must change something"
        );
    }

    #[test]
    fn contract_errors_point_at_the_form() {
        let renamed = contract_error(AppError::invalid("/prediction/fields/total", "must be >= 0"));
        assert_eq!(renamed.field(), Some("fields[/fields/total]"));
        assert!(renamed.to_string().starts_with("The correction breaks the contract"));
        assert_eq!(contract_error(AppError::invalid("/prediction", "x")).field(), Some("fields"));
        assert_eq!(contract_error(AppError::Forbidden), AppError::Forbidden);
    }
}
