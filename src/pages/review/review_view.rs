//! The review page of one leased item: its header with the lease's time left (renewed while
//! the page is open), the item, the decision forms (each works without JavaScript), the history
//! and the keys. A decision's answer leads to the next item, which it carries.

use super::handoff::Handoff;
use super::shortcuts::{Shortcuts, keyboard_shortcuts};
use super::undo_banner::UndoBanner;
use crate::components::browser_clock::js_now;
use crate::components::correction_fields::correction_fields;
use crate::components::decision_fields::RejectFields;
use crate::components::form::ErrorAlert;
use crate::components::format::{age, when};
use crate::components::item_display::{ItemHistory, ItemPanels};
use crate::components::post_form::{FormPost, PostForm};
use crate::error::AppError;
use crate::review::api::{Approve, Correct, Escalate, Reject, Skip, renew_lease};
use crate::review::{Receipt, ReviewItem};
use leptos::html;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

/// One leased item: what it is, the time left on the lease, the item itself, the decision forms
/// and the keys.
#[component]
pub fn ReviewView(item: ReviewItem) -> impl IntoView {
    // The five decisions answer alike (a receipt), one at a time.
    let decide = FormPost::<Receipt>::new(&DECISIONS);
    let error = decide.error();
    // The answer to a decision leads to the next item, which it carries.
    let (handoff, navigate) = (expect_context::<Handoff>(), use_navigate());
    let answer = decide.answer();
    Effect::new(move |_| {
        if let Some(Ok(receipt)) = answer.get() {
            handoff.follow(receipt, &navigate);
        }
    });
    let lease_error = RwSignal::new(None::<AppError>);
    let lease_until = RwSignal::new(item.lease_expires_at_ms);
    let now = RwSignal::new(item.now_ms);

    // Keep the lease alive while the page is open; show the time left.
    let (item_id, token, lease_secs) = (item.item_id, item.lease_token.clone(), item.lease_secs);
    Effect::new(move |_| {
        let offset = item.now_ms - js_now();
        let clock = set_interval_with_handle(move || now.set(js_now() + offset), std::time::Duration::from_secs(1));
        let token = token.clone();
        let renewal = set_interval_with_handle(
            move || {
                let token = token.clone();
                leptos::task::spawn_local(async move {
                    match renew_lease(item_id, token).await {
                        Ok(until) => lease_until.set(until),
                        Err(e) => lease_error.set(Some(e)),
                    }
                });
            },
            std::time::Duration::from_secs((lease_secs / 3).clamp(5, 120) as u64),
        );
        on_cleanup(move || {
            if let Ok(h) = clock {
                h.clear();
            }
            if let Ok(h) = renewal {
                h.clear();
            }
        });
    });

    let approve_form = NodeRef::<html::Form>::new();
    let skip_form = NodeRef::<html::Form>::new();
    let reject_box = NodeRef::<html::Details>::new();
    let correct_box = NodeRef::<html::Details>::new();
    let escalate_box = NodeRef::<html::Details>::new();
    let help_box = NodeRef::<html::Details>::new();
    keyboard_shortcuts(Shortcuts { approve_form, skip_form, reject_box, correct_box, escalate_box, help_box });

    let ReviewItem {
        item_id,
        workflow,
        external_id,
        payload,
        prediction,
        confidence,
        model_version,
        priority,
        route_reason,
        review_probability,
        created_at_ms,
        lease_token,
        labels,
        reason_codes,
        low_confidence_below,
        history,
        now_ms,
        ..
    } = item;
    let pending = decide.pending();
    let correction_fields = correction_fields(&prediction, &labels);
    let lease_token = StoredValue::new(lease_token);
    let hidden = move |_: u8| lease_fields(item_id, &lease_token.get_value());
    view! {
        <Title text=format!("Review {external_id}") />
        <UndoBanner />
        <div class="page-header review-header">
            <p class="breadcrumb"><a href="/queues">"Queues"</a>" / "{workflow.clone()}</p>
            <h1>{external_id.clone()}</h1>
            <ul class="meta-line" aria-label="About this item">
                <li>"Received " {when(created_at_ms)} " (" {age(now_ms - created_at_ms)} " ago)"</li>
                <li>"Priority " {priority}</li>
                <li class="lease" aria-live="off">
                    {move || {
                        let left = lease_until.get() - now.get();
                        if left > 0 {
                            format!("Yours for {}:{:02}", left / 60_000, left / 1000 % 60)
                        } else {
                            "Lease ended".to_owned()
                        }
                    }}
                </li>
            </ul>
        </div>
        <Show when=move || lease_error.with(Option::is_some)>
            <div class="alert error" role="alert">
                {move || lease_error.get().map(|e| e.to_string()).unwrap_or_default()}
                " " <a href="/queues">"Back to queues"</a>
            </div>
        </Show>
        <ItemPanels
            payload
            prediction
            confidence
            model_version
            route_reason
            review_probability
            low_confidence_below
        />
        <section class="panel decision-panel" aria-labelledby="decide-heading">
            <h2 id="decide-heading">"Decision"</h2>
            <ErrorAlert error id="decision-error" />
            <div class="decision-row">
                <PostForm post=decide to=Approve::PATH node_ref=approve_form attr:class="inline-form">
                    {hidden(0)}
                    <button type="submit" class="button primary" disabled=pending>"Approve " <kbd>"a"</kbd></button>
                </PostForm>
                <PostForm post=decide to=Skip::PATH node_ref=skip_form attr:class="inline-form">
                    {hidden(1)}
                    <button type="submit" class="button" disabled=pending>"Skip " <kbd>"s"</kbd></button>
                </PostForm>
            </div>
            <details class="decision-box" node_ref=reject_box>
                <summary>"Reject " <kbd>"r"</kbd></summary>
                <PostForm post=decide to=Reject::PATH attr:class="stack">
                    {hidden(2)}
                    <RejectFields reason_codes />
                    <button type="submit" class="button danger" disabled=pending>"Reject item"</button>
                </PostForm>
            </details>
            <details class="decision-box" node_ref=correct_box>
                <summary>"Correct " <kbd>"c"</kbd></summary>
                <PostForm post=decide to=Correct::PATH attr:class="stack">
                    {hidden(3)}
                    <p class="hint">"Edit the fields that are wrong. The correction is checked against the workflow's contract."</p>
                    {correction_fields}
                    <button type="submit" class="button primary" disabled=pending>"Save correction"</button>
                </PostForm>
            </details>
            <details class="decision-box" node_ref=escalate_box>
                <summary>"Escalate " <kbd>"e"</kbd></summary>
                <PostForm post=decide to=Escalate::PATH attr:class="stack">
                    {hidden(4)}
                    <div class="field">
                        <label for="escalate-note">"Note for the lead"</label>
                        <textarea id="escalate-note" name="note" rows="3" required></textarea>
                    </div>
                    <button type="submit" class="button" disabled=pending>"Escalate to a lead"</button>
                </PostForm>
            </details>
        </section>
        <section class="panel" aria-labelledby="history-heading">
            <h2 id="history-heading">"History"</h2>
            <ItemHistory lines=history />
        </section>
        <details class="panel shortcuts" node_ref=help_box>
            <summary>"Keyboard shortcuts " <kbd>"?"</kbd></summary>
            <dl class="keys">
                <div><dt><kbd>"a"</kbd></dt><dd>"Approve"</dd></div>
                <div><dt><kbd>"r"</kbd></dt><dd>"Reject (choose a reason)"</dd></div>
                <div><dt><kbd>"c"</kbd></dt><dd>"Correct the prediction"</dd></div>
                <div><dt><kbd>"e"</kbd></dt><dd>"Escalate with a note"</dd></div>
                <div><dt><kbd>"s"</kbd></dt><dd>"Skip: back to the queue"</dd></div>
                <div><dt><kbd>"u"</kbd></dt><dd>"Undo the last decision (while offered)"</dd></div>
                <div><dt><kbd>"?"</kbd></dt><dd>"Show or hide these keys"</dd></div>
                <div><dt><kbd>"Esc"</kbd></dt><dd>"Close an open form"</dd></div>
            </dl>
        </details>
    }
}

/// The server functions of the five decisions.
const DECISIONS: [&str; 5] = [Approve::PATH, Skip::PATH, Reject::PATH, Correct::PATH, Escalate::PATH];

/// The hidden fields every decision form carries: which item, under which lease.
fn lease_fields(item_id: i64, token: &str) -> impl IntoView + use<> {
    view! {
        <input type="hidden" name="item_id" value=item_id.to_string() />
        <input type="hidden" name="lease_token" value=token.to_owned() />
    }
}
