//! An item as a person judges it: the payload, the prediction beside it with the model's
//! confidence (overall and per field), why it was routed to a person, and its history. The
//! review page, the escalation page and an item's page show it. Its content is written as HTML
//! text (`html`), the same on the server and in the browser: it is static, and as views it
//! weighed on every reviewer's first load.

mod html;

use crate::items::HistoryLine;
use leptos::prelude::*;
use serde_json::Value;

pub use html::safe_url;

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
    let content = html::panels(&html::Panels {
        payload: &payload,
        prediction: &prediction,
        confidence,
        model_version: model_version.as_deref(),
        route_reason: &route_reason,
        review_probability,
        low_confidence_below,
    });
    view! { <div class="review-grid" inner_html=content></div> }
}

/// An item's history, oldest first; an undone decision says so.
#[component]
pub fn ItemHistory(lines: Vec<HistoryLine>) -> impl IntoView {
    if lines.is_empty() {
        return view! { <p class="muted">"Nothing yet: you are the first to see this item."</p> }.into_any();
    }
    view! { <ol class="history" inner_html=html::history(&lines)></ol> }.into_any()
}
