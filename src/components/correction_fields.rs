//! The fields of a correction form: one input per field of the prediction, typed by its current
//! value, the workflow's labels as a choice for `label` (see [`crate::domain::correction`]).

use crate::domain::correction::{EditableField, editable_fields};
use leptos::prelude::*;
use serde_json::Value;

/// The inputs to correct `prediction`, named `fields[<pointer>]` as the server reads them.
pub fn correction_fields(prediction: &Value, labels: &[String]) -> AnyView {
    let fields = editable_fields(prediction, labels);
    if fields.is_empty() {
        return view! { <p class="muted">"This prediction has no fields to edit."</p> }.into_any();
    }
    fields.into_iter().enumerate().map(|(n, field)| input(field, n)).collect_view().into_any()
}

fn input(field: EditableField, n: usize) -> AnyView {
    let id = format!("fix-{n}");
    let name = field.form_name();
    let label = field.label();
    let control = match (&field.value, field.choices.is_empty()) {
        (Value::String(current), false) => {
            let options = field
                .choices
                .into_iter()
                .map(|c| {
                    let selected = &c == current;
                    let text = c.clone();
                    view! { <option value=c selected=selected>{text}</option> }
                })
                .collect_view();
            view! { <select id=id.clone() name=name>{options}</select> }.into_any()
        }
        (Value::Bool(current), _) => view! {
            <select id=id.clone() name=name>
                <option value="true" selected=*current>"true"</option>
                <option value="false" selected=!*current>"false"</option>
            </select>
        }
        .into_any(),
        (Value::Number(n), _) => {
            view! { <input id=id.clone() name=name type="text" inputmode="decimal" value=n.to_string() /> }.into_any()
        }
        (Value::String(s), _) => view! { <input id=id.clone() name=name type="text" value=s.clone() /> }.into_any(),
        (Value::Null, _) => view! { <input id=id.clone() name=name type="text" value="" /> }.into_any(),
        (other, _) => {
            view! { <textarea id=id.clone() name=name class="mono" rows="3">{other.to_string()}</textarea> }.into_any()
        }
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {control}
        </div>
    }
    .into_any()
}
