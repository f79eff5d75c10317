//! An item as a person judges it: the payload, the prediction beside it with the model's
//! confidence (overall and per field), why it was routed to a person, and its history. The
//! review page shows it; so will a lead's escalation inbox.

mod confidence;
mod json_table;

use crate::components::format::when;
use crate::domain::correction::FIELD_CONFIDENCES;
use crate::items::{HistoryLine, kind_text, route_reason_text};
use confidence::{ConfidenceBar, FieldConfidences};
use json_table::json_view;
use leptos::prelude::*;
use serde_json::Value;

pub use json_table::safe_url;

/// The payload and the prediction, side by side. Fields whose confidence is below
/// `low_confidence_below` (the auto-approve threshold) are marked in the prediction.
#[component]
pub fn ItemPanels(
    payload: Value,
    prediction: Value,
    confidence: f64,
    model_version: Option<String>,
    route_reason: String,
    review_probability: f64,
    low_confidence_below: f64,
) -> impl IntoView {
    let field_confidences = prediction.get(FIELD_CONFIDENCES).cloned();
    let mut shown_prediction = prediction;
    if let Some(map) = shown_prediction.as_object_mut() {
        map.remove(FIELD_CONFIDENCES);
    }
    let low_fields: Vec<String> = field_confidences
        .as_ref()
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_f64().is_some_and(|c| c < low_confidence_below))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    view! {
        <div class="review-grid">
            <section class="panel" aria-labelledby="payload-heading">
                <h2 id="payload-heading">"Payload"</h2>
                {json_view(&payload, 0, &[])}
            </section>
            <section class="panel" aria-labelledby="prediction-heading">
                <h2 id="prediction-heading">"Prediction"</h2>
                <ConfidenceBar confidence threshold=low_confidence_below />
                <dl class="facts">
                    <div><dt>"Model"</dt><dd>{model_version.unwrap_or_else(|| "not given".to_owned())}</dd></div>
                    <div>
                        <dt>"Why you see it"</dt>
                        <dd data-route=route_reason.clone()>{route_reason_text(&route_reason)}</dd>
                    </div>
                    <div><dt>"Chance of review"</dt><dd>{format!("{:.0} %", review_probability * 100.0)}</dd></div>
                </dl>
                {json_view(&shown_prediction, 0, &low_fields)}
                {field_confidences.map(|fc| view! { <FieldConfidences confidences=fc threshold=low_confidence_below /> })}
            </section>
        </div>
    }
}

/// An item's history, oldest first; an undone decision says so.
#[component]
pub fn ItemHistory(lines: Vec<HistoryLine>) -> impl IntoView {
    if lines.is_empty() {
        return view! { <p class="muted">"Nothing yet: you are the first to see this item."</p> }.into_any();
    }
    view! {
        <ol class="history">
            {lines
                .into_iter()
                .map(|line| {
                    let detail = [line.reason_code.clone(), line.note.clone()].into_iter().flatten().collect::<Vec<_>>().join(" — ");
                    view! {
                        <li class:undone=line.undone>
                            <strong>{kind_text(&line.kind)}</strong>
                            " by " {line.actor.clone()} " · " {when(line.at_ms)}
                            {line.undone.then_some(" (undone)")}
                            {(!detail.is_empty()).then(|| view! { <p class="history-detail">{detail}</p> })}
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
    .into_any()
}
