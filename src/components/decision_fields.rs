//! The fields of a rejection, shared by every page that decides an item (the review page and
//! an escalation's page): the workflow's reasons as a required choice, and an optional note.

use leptos::prelude::*;

/// The reason (`reason_code`) and note (`note`) of a rejection.
#[component]
pub fn RejectFields(reason_codes: Vec<String>) -> impl IntoView {
    let codes = if reason_codes.is_empty() { vec!["other".to_owned()] } else { reason_codes };
    view! {
        <div class="field">
            <label for="reject-reason">"Reason"</label>
            <select id="reject-reason" name="reason_code" required>
                <option value="">"Choose a reason…"</option>
                {codes.into_iter().map(|code| view! { <option value=code.clone()>{code.replace('_', " ")}</option> }).collect_view()}
            </select>
        </div>
        <div class="field">
            <label for="reject-note">"Note " <span class="muted">"(optional)"</span></label>
            <textarea id="reject-note" name="note" rows="2"></textarea>
        </div>
    }
}
