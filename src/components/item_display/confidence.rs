//! How sure the model was: overall, and per field when the prediction says.

use leptos::prelude::*;
use serde_json::Value;

/// The model's confidence as a meter, low below the auto-approve threshold.
#[component]
pub fn ConfidenceBar(confidence: f64, threshold: f64) -> impl IntoView {
    let percent = (confidence * 100.0).clamp(0.0, 100.0);
    view! {
        <div class="confidence">
            <label for="confidence-meter">"Confidence"</label>
            <meter
                id="confidence-meter"
                min="0"
                max="100"
                low=format!("{:.0}", threshold * 100.0)
                optimum="100"
                value=format!("{percent:.0}")
            >
                {format!("{percent:.0} %")}
            </meter>
            <strong>{format!("{percent:.0} %")}</strong>
        </div>
    }
}

/// Per-field confidences, each below the threshold marked "low" (in text, not colour alone).
#[component]
pub fn FieldConfidences(confidences: Value, threshold: f64) -> impl IntoView {
    let Value::Object(map) = confidences else { return ().into_any() };
    view! {
        <h3 class="subhead">"Field confidences"</h3>
        <ul class="field-confidences">
            {map
                .into_iter()
                .filter_map(|(field, value)| value.as_f64().map(|c| (field, c)))
                .map(|(field, c)| {
                    let low = c < threshold;
                    view! {
                        <li class:low=low>
                            <span class="field-name">{field}</span>
                            <meter class="mini" min="0" max="100" low=format!("{:.0}", threshold * 100.0) optimum="100" value=format!("{:.0}", (c * 100.0).clamp(0.0, 100.0)) aria-hidden="true"></meter>
                            <span>{format!("{:.0} %", c * 100.0)}</span>
                            {low.then(|| view! { <span class="badge warn">"low"</span> })}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
