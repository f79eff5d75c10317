//! The item display as HTML text. It is static content (the `<details>` of nested levels open
//! and close without script), so it is written as text, the same on the server and in the
//! browser, instead of as views: as views it cost the review page 11.5 KB of compressed
//! WebAssembly, as text 5 KB (docs/BENCHMARKS.md, Page weight). Everything from an item is escaped here, and
//! only http(s) URLs become links: nothing from a payload runs as HTML or script.

use crate::components::format::when;
use crate::domain::text::push_escaped;
use crate::items::{HistoryLine, kind_text, route_reason_text};
use serde_json::Value;
use std::fmt::Write;

/// A safe link target: only http(s) URLs, never `javascript:` or `data:`.
pub fn safe_url(text: &str) -> Option<&str> {
    let t = text.trim();
    let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && !t.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    ok.then_some(t)
}

/// A fraction as a whole percent, for a meter's value and its text.
fn percent(fraction: f64) -> String {
    format!("{:.0}", fraction * 100.0)
}

/// Any JSON value, readable: objects as tables, arrays as lists, nested levels collapsible (open
/// to the second level), long text wrapped, URLs as links that open safely. Fields named in
/// `low_fields` are marked "low confidence", in text.
pub fn json(out: &mut String, value: &Value, depth: usize, low_fields: &[String]) {
    let nested_open = if depth < 2 { " open" } else { "" };
    match value {
        Value::Object(map) if map.is_empty() => out.push_str(r#"<span class="json-empty">{ }</span>"#),
        Value::Object(map) => {
            if depth > 0 {
                let plural = if map.len() == 1 { "" } else { "s" };
                let _ = write!(
                    out,
                    r#"<details class="json-nested"{nested_open}><summary>{} field{plural}</summary>"#,
                    map.len()
                );
            }
            out.push_str(r#"<table class="kv"><tbody>"#);
            for (key, v) in map {
                let low = low_fields.iter().any(|f| f == key);
                out.push_str(if low {
                    r#"<tr class="low-confidence"><th scope="row">"#
                } else {
                    r#"<tr><th scope="row">"#
                });
                push_escaped(out, key);
                if low {
                    out.push_str(r#" <span class="badge warn">low confidence</span>"#);
                }
                out.push_str("</th><td>");
                json(out, v, depth + 1, low_fields);
                out.push_str("</td></tr>");
            }
            out.push_str("</tbody></table>");
            if depth > 0 {
                out.push_str("</details>");
            }
        }
        Value::Array(list) if list.is_empty() => out.push_str(r#"<span class="json-empty">[ ]</span>"#),
        Value::Array(list) => {
            let plural = if list.len() == 1 { "" } else { "s" };
            let _ = write!(
                out,
                r#"<details class="json-nested"{nested_open}><summary>{} item{plural}</summary><ol class="json-list">"#,
                list.len()
            );
            for v in list {
                out.push_str("<li>");
                json(out, v, depth + 1, low_fields);
                out.push_str("</li>");
            }
            out.push_str("</ol></details>");
        }
        Value::String(text) => match safe_url(text) {
            Some(url) => {
                out.push_str(r#"<a class="json-link" href=""#);
                push_escaped(out, url);
                out.push_str(r#"" target="_blank" rel="noopener noreferrer nofollow">"#);
                push_escaped(out, url);
                out.push_str("</a>");
            }
            None => {
                out.push_str(r#"<span class="json-text">"#);
                push_escaped(out, text);
                out.push_str("</span>");
            }
        },
        Value::Null => out.push_str(r#"<span class="json-null">empty</span>"#),
        other => {
            out.push_str(r#"<span class="json-scalar">"#);
            push_escaped(out, &other.to_string());
            out.push_str("</span>");
        }
    }
}

/// The model's confidence as a meter, low below the auto-approve threshold, and in text.
fn confidence_bar(out: &mut String, confidence: f64, threshold: f64) {
    let value = percent(confidence.clamp(0.0, 1.0));
    let _ = write!(
        out,
        r#"<div class="confidence"><label for="confidence-meter">Confidence</label><meter id="confidence-meter" min="0" max="100" low="{}" optimum="100" value="{value}">{value} %</meter><strong>{value} %</strong></div>"#,
        percent(threshold)
    );
}

/// Per-field confidences, each below the threshold marked "low" (in text, not colour alone).
fn field_confidence_list(out: &mut String, confidences: &Value, threshold: f64) {
    let Value::Object(map) = confidences else { return };
    out.push_str(r#"<h3 class="subhead">Field confidences</h3><ul class="field-confidences">"#);
    for (field, c) in map.iter().filter_map(|(field, value)| value.as_f64().map(|c| (field, c))) {
        let low = c < threshold;
        out.push_str(if low {
            r#"<li class="low"><span class="field-name">"#
        } else {
            r#"<li><span class="field-name">"#
        });
        push_escaped(out, field);
        let _ = write!(
            out,
            r#"</span><meter class="mini" min="0" max="100" low="{}" optimum="100" value="{}" aria-hidden="true"></meter><span>{} %</span>"#,
            percent(threshold),
            percent(c.clamp(0.0, 1.0)),
            percent(c)
        );
        if low {
            out.push_str(r#"<span class="badge warn">low</span>"#);
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

/// What the payload and prediction panels show.
pub struct Panels<'a> {
    pub payload: &'a Value,
    pub prediction: &'a Value,
    pub confidence: f64,
    pub model_version: Option<&'a str>,
    pub route_reason: &'a str,
    pub review_probability: f64,
    pub low_confidence_below: f64,
}

/// The payload and the prediction, side by side (the content of `.review-grid`). Fields whose
/// confidence is below `low_confidence_below` (the auto-approve threshold) are marked in the
/// prediction; the per-field confidences show under it rather than in it.
pub fn panels(item: &Panels) -> String {
    let field_confidences = item.prediction.get(crate::domain::correction::FIELD_CONFIDENCES);
    let mut shown_prediction = item.prediction.clone();
    if let Some(map) = shown_prediction.as_object_mut() {
        map.remove(crate::domain::correction::FIELD_CONFIDENCES);
    }
    let low_fields: Vec<String> = field_confidences
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_f64().is_some_and(|c| c < item.low_confidence_below))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut out = String::with_capacity(2048);
    out.push_str(r#"<section class="panel" aria-labelledby="payload-heading"><h2 id="payload-heading">Payload</h2>"#);
    json(&mut out, item.payload, 0, &[]);
    out.push_str(r#"</section><section class="panel" aria-labelledby="prediction-heading"><h2 id="prediction-heading">Prediction</h2>"#);
    confidence_bar(&mut out, item.confidence, item.low_confidence_below);
    out.push_str(r#"<dl class="facts"><div><dt>Model</dt><dd>"#);
    push_escaped(&mut out, item.model_version.unwrap_or("not given"));
    out.push_str(r#"</dd></div><div><dt>Why you see it</dt><dd data-route=""#);
    push_escaped(&mut out, item.route_reason);
    out.push_str(r#"">"#);
    push_escaped(&mut out, route_reason_text(item.route_reason));
    let _ = write!(
        out,
        "</dd></div><div><dt>Chance of review</dt><dd>{} %</dd></div></dl>",
        percent(item.review_probability)
    );
    json(&mut out, &shown_prediction, 0, &low_fields);
    if let Some(confidences) = field_confidences {
        field_confidence_list(&mut out, confidences, item.low_confidence_below);
    }
    out.push_str("</section>");
    out
}

/// An item's history, oldest first (the content of `ol.history`); an undone decision says so.
pub fn history(lines: &[HistoryLine]) -> String {
    let mut out = String::with_capacity(256 * lines.len());
    for line in lines {
        out.push_str(if line.undone { r#"<li class="undone"><strong>"# } else { "<li><strong>" });
        push_escaped(&mut out, kind_text(&line.kind));
        out.push_str("</strong> by ");
        push_escaped(&mut out, &line.actor);
        out.push_str(" · ");
        push_escaped(&mut out, &when(line.at_ms));
        if line.undone {
            out.push_str(" (undone)");
        }
        let detail =
            [line.reason_code.as_deref(), line.note.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" — ");
        if !detail.is_empty() {
            out.push_str(r#"<p class="history-detail">"#);
            push_escaped(&mut out, &detail);
            out.push_str("</p>");
        }
        out.push_str("</li>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_http_links_are_links() {
        assert_eq!(safe_url("https://example.com/a?b=1"), Some("https://example.com/a?b=1"));
        assert_eq!(safe_url("HTTP://EXAMPLE.COM"), Some("HTTP://EXAMPLE.COM"));
        assert_eq!(safe_url("javascript:alert(1)"), None);
        assert_eq!(safe_url("JaVaScRiPt:alert(1)"), None);
        assert_eq!(safe_url("data:text/html,<script>"), None);
        assert_eq!(safe_url("https://x.com/\"onmouseover=alert(1)"), None);
        assert_eq!(safe_url("see https://example.com"), None);
    }

    #[test]
    fn nothing_from_an_item_is_markup() {
        let mut out = String::new();
        let value = json!({ "<b>key</b>": "<script>alert('x')</script> & \"quotes\"", "n": 1.5, "none": null });
        json(&mut out, &value, 0, &["<b>key</b>".to_owned()]);
        assert!(!out.contains("<script>") && !out.contains("<b>"), "{out}");
        assert!(out.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"), "{out}");
        assert!(out.contains(r#"<tr class="low-confidence"><th scope="row">&lt;b&gt;key&lt;/b&gt; <span class="badge warn">low confidence</span>"#), "{out}");
        assert!(
            out.contains(r#"<span class="json-scalar">1.5</span>"#)
                && out.contains(r#"<span class="json-null">empty</span>"#),
            "{out}"
        );
    }

    #[test]
    fn nested_levels_fold_and_links_are_safe() {
        let mut out = String::new();
        let value =
            json!({ "a": { "b": { "c": [] } }, "list": ["https://example.com/x?a=1&b=2", "javascript:alert(1)"] });
        json(&mut out, &value, 0, &[]);
        assert!(out.contains(r#"<details class="json-nested" open><summary>1 field</summary>"#), "{out}");
        assert!(
            out.contains(r#"<details class="json-nested"><summary>1 field</summary>"#),
            "the third level starts closed: {out}"
        );
        assert!(out.contains(r#"<span class="json-empty">[ ]</span>"#), "{out}");
        assert!(out.contains(r#"<a class="json-link" href="https://example.com/x?a=1&amp;b=2" target="_blank" rel="noopener noreferrer nofollow">"#), "{out}");
        assert!(out.contains(r#"<span class="json-text">javascript:alert(1)</span>"#), "{out}");
    }

    #[test]
    fn the_panels_show_confidence_reason_and_low_fields_in_text() {
        let prediction =
            json!({ "total": 120.5, "label": "invoice", "field_confidences": { "total": 0.42, "label": 0.97 } });
        let html = panels(&Panels {
            payload: &json!({ "invoice_number": "INV-4" }),
            prediction: &prediction,
            confidence: 0.554,
            model_version: None,
            route_reason: "low_confidence",
            review_probability: 1.0,
            low_confidence_below: 0.9,
        });
        assert!(html.contains(r#"low="90" optimum="100" value="55">55 %</meter><strong>55 %</strong>"#), "{html}");
        assert!(html.contains("<dd>not given</dd>"), "{html}");
        assert!(html.contains(r#"<dd data-route="low_confidence">"#), "{html}");
        assert!(html.contains("<dt>Chance of review</dt><dd>100 %</dd>"), "{html}");
        assert!(
            html.contains(
                r#"<tr class="low-confidence"><th scope="row">total <span class="badge warn">low confidence</span>"#
            ),
            "{html}"
        );
        assert!(
            !html.contains(r#"<th scope="row">field_confidences"#),
            "shown under the prediction, not in it: {html}"
        );
        assert!(html.contains(r#"<li class="low"><span class="field-name">total</span>"#), "{html}");
        assert!(html.contains(r#"<li><span class="field-name">label</span>"#), "{html}");
    }
}
