//! Any JSON value as people read it: objects as tables, arrays as lists, nested levels
//! collapsible, long text wrapped, http(s) URLs as links that open safely. Text is always text:
//! nothing from a payload runs as HTML or script.

use leptos::prelude::*;
use serde_json::Value;

/// A safe link target: only http(s) URLs, never `javascript:` or `data:`.
pub fn safe_url(text: &str) -> Option<&str> {
    let t = text.trim();
    let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && !t.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>');
    ok.then_some(t)
}

/// Any JSON value, readable: objects as tables, arrays as lists, nested levels collapsible, long
/// text wrapped, URLs as links that open safely. Text is always text: nothing runs.
pub fn json_view(value: &Value, depth: usize, low_fields: &[String]) -> AnyView {
    match value {
        Value::Object(map) if map.is_empty() => view! { <span class="json-empty">"{ }"</span> }.into_any(),
        Value::Object(map) => {
            let rows = map
                .iter()
                .map(|(key, v)| {
                    let low = low_fields.iter().any(|f| f == key);
                    view! {
                        <tr class:low-confidence=low>
                            <th scope="row">
                                {key.clone()}
                                {low.then(|| view! { " " <span class="badge warn">"low confidence"</span> })}
                            </th>
                            <td>{json_view(v, depth + 1, low_fields)}</td>
                        </tr>
                    }
                })
                .collect_view();
            let table = view! { <table class="kv"><tbody>{rows}</tbody></table> };
            if depth == 0 {
                table.into_any()
            } else {
                let summary = format!("{} field{}", map.len(), if map.len() == 1 { "" } else { "s" });
                view! { <details class="json-nested" open=depth < 2><summary>{summary}</summary>{table}</details> }
                    .into_any()
            }
        }
        Value::Array(list) if list.is_empty() => view! { <span class="json-empty">"[ ]"</span> }.into_any(),
        Value::Array(list) => {
            let items = list.iter().map(|v| view! { <li>{json_view(v, depth + 1, low_fields)}</li> }).collect_view();
            let summary = format!("{} item{}", list.len(), if list.len() == 1 { "" } else { "s" });
            view! { <details class="json-nested" open=depth < 2><summary>{summary}</summary><ol class="json-list">{items}</ol></details> }
                .into_any()
        }
        Value::String(text) => match safe_url(text) {
            Some(url) => view! {
                <a class="json-link" href=url.to_owned() target="_blank" rel="noopener noreferrer nofollow">{url.to_owned()}</a>
            }
            .into_any(),
            None => view! { <span class="json-text">{text.clone()}</span> }.into_any(),
        },
        Value::Null => view! { <span class="json-null">"empty"</span> }.into_any(),
        other => view! { <span class="json-scalar">{other.to_string()}</span> }.into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
