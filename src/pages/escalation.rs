//! `/escalations/:item`: one escalated item, for a lead of its workflow or an admin. The item
//! as the review page shows it, its escalation (why, level, time left, who escalated and their
//! note), and what a lead can do: assign it to a member (themselves too) with a note, decide it
//! directly with the review page's forms, or send it back to the normal queue. Every form
//! works without JavaScript; its history is at the foot.

use crate::components::correction_fields::correction_fields;
use crate::components::decision_fields::RejectFields;
use crate::components::form::{ErrorAlert, action_error};
use crate::components::format::{age, when};
use crate::components::item_display::{ItemHistory, ItemPanels};
use crate::components::layout::{ErrorPanel, Protected};
use crate::domain::Role;
use crate::error::AppError;
use crate::escalations::EscalationItem;
use crate::escalations::api::{
    ApproveEscalation, AssignEscalation, CorrectEscalation, RejectEscalation, SendBack, load_escalation,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn EscalationPage() -> impl IntoView {
    view! {
        <Protected role=Role::Lead>
            <EscalationLoader />
        </Protected>
    }
}

/// The forms of the page, whose answers reload it (or lead back to the inbox).
#[derive(Clone, Copy)]
struct Actions {
    assign: ServerAction<AssignEscalation>,
    approve: ServerAction<ApproveEscalation>,
    reject: ServerAction<RejectEscalation>,
    correct: ServerAction<CorrectEscalation>,
    send_back: ServerAction<SendBack>,
}

#[component]
fn EscalationLoader() -> impl IntoView {
    let params = use_params_map();
    let item_id = move || params.with(|p| p.get("item").and_then(|i| i.parse::<i64>().ok()));
    let actions = Actions {
        assign: ServerAction::new(),
        approve: ServerAction::new(),
        reject: ServerAction::new(),
        correct: ServerAction::new(),
        send_back: ServerAction::new(),
    };
    let errors = [
        action_error(actions.assign),
        action_error(actions.approve),
        action_error(actions.reject),
        action_error(actions.correct),
        action_error(actions.send_back),
    ];
    let error = Signal::derive(move || errors.iter().find_map(|e| e.get()));
    let item = Resource::new(
        move || (item_id(), actions.assign.version().get()),
        |(item_id, _)| async move {
            match item_id {
                Some(id) => load_escalation(id).await,
                None => Err(AppError::not_found("That item")),
            }
        },
    );
    view! {
        <ErrorAlert error id="escalation-error" />
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the escalation…"</p> }>
            {move || Suspend::new(async move {
                match item.await {
                    Ok(item) => view! { <EscalationView item actions /> }.into_any(),
                    Err(error) => {
                        #[cfg(feature = "ssr")]
                        crate::components::layout::set_status(error.status());
                        view! { <Title text="Escalation not found" /> <ErrorPanel error /> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn EscalationView(item: EscalationItem, actions: Actions) -> impl IntoView {
    let actionable = item.actionable();
    let EscalationItem { item, state, open, assignee, members } = item;
    let now_ms = item.now_ms;
    let item_id = item.item_id;
    let pending = Signal::derive(move || {
        actions.assign.pending().get()
            || actions.approve.pending().get()
            || actions.reject.pending().get()
            || actions.correct.pending().get()
            || actions.send_back.pending().get()
    });
    let running = actionable || state == "claimed";
    let about = open.map(|row| {
        let (class, standing) = (row.standing_class(now_ms), row.standing(now_ms).label());
        view! {
            <dl class="facts escalation-facts" aria-label="The escalation">
                <div><dt>"Reason"</dt><dd>{row.reason_text()}</dd></div>
                <div>
                    <dt>"Level"</dt>
                    <dd>{row.level_text()}{row.flagged_at_ms.map(|_| view! { " " <span class="badge danger">"Flagged"</span> })}</dd>
                </div>
                <div><dt>"Escalated"</dt><dd>{age(now_ms - row.opened_at_ms)} " ago"</dd></div>
                // Once decided, the clock has stopped (the sweeper closes the row a moment later).
                {running.then(|| view! { <div><dt>"Time left"</dt><dd><span class=class>{standing}</span></dd></div> })}
                <div><dt>"Escalated by"</dt><dd>{row.escalated_by_text()}</dd></div>
            </dl>
        }
    });
    let status = if actionable {
        None
    } else if state == "claimed" {
        Some(format!(
            "{} is reviewing it now: their decision resolves the escalation.",
            assignee.clone().unwrap_or_else(|| "A reviewer".to_owned())
        ))
    } else {
        Some(format!("This escalation is closed: the item is {}.", state.replace('_', " ")))
    };
    let correction = correction_fields(&item.prediction, &item.labels);
    let reason_codes = item.reason_codes.clone();
    let hidden = move || view! { <input type="hidden" name="item_id" value=item_id.to_string() /> };
    view! {
        <Title text=format!("Escalation {}", item.external_id) />
        <div class="page-header">
            <p class="breadcrumb"><a href="/escalations">"Escalations"</a>" / "{item.workflow.clone()}</p>
            <h1>{item.external_id.clone()}</h1>
            <ul class="meta-line" aria-label="About this item">
                <li>"Received " {when(item.created_at_ms)} " (" {age(now_ms - item.created_at_ms)} " ago)"</li>
                <li>"State: " <span data-state=state.clone()>{state.replace('_', " ")}</span></li>
                <li>"Assigned to " {assignee.clone().unwrap_or_else(|| "nobody".to_owned())}</li>
            </ul>
        </div>
        {status.map(|text| view! { <p class="alert info" role="status">{text}</p> })}
        {about}
        <ItemPanels
            payload=item.payload.clone()
            prediction=item.prediction.clone()
            confidence=item.confidence
            model_version=item.model_version.clone()
            route_reason=item.route_reason.clone()
            review_probability=item.review_probability
            low_confidence_below=item.low_confidence_below
        />
        {actionable.then(|| view! {
            <div class="review-grid">
                <section class="panel" aria-labelledby="assign-heading">
                    <h2 id="assign-heading">"Assign"</h2>
                    <ActionForm action=actions.assign attr:class="stack">
                        {hidden()}
                        <div class="field">
                            <label for="assign-to">"Assign to"</label>
                            <select id="assign-to" name="assignee" required>
                                {members.into_iter().map(|email| {
                                    let current = assignee.as_deref() == Some(email.as_str());
                                    view! { <option value=email.clone() selected=current>{email.clone()}</option> }
                                }).collect_view()}
                            </select>
                        </div>
                        <div class="field">
                            <label for="assign-note">"Note for them " <span class="muted">"(optional)"</span></label>
                            <textarea id="assign-note" name="note" rows="2"></textarea>
                        </div>
                        <button type="submit" class="button primary" disabled=pending>"Assign"</button>
                    </ActionForm>
                    <ActionForm action=actions.send_back attr:class="stack send-back">
                        {hidden()}
                        <div class="field">
                            <label for="send-back-note">"Note for the queue " <span class="muted">"(optional)"</span></label>
                            <textarea id="send-back-note" name="note" rows="2"></textarea>
                        </div>
                        <button type="submit" class="button" disabled=pending>"Send back to queue"</button>
                    </ActionForm>
                </section>
                <section class="panel decision-panel" aria-labelledby="decide-heading">
                    <h2 id="decide-heading">"Decide it yourself"</h2>
                    <p class="hint">"A lead's decision resolves the escalation at once; it has no undo."</p>
                    <ActionForm action=actions.approve attr:class="inline-form">
                        {hidden()}
                        <button type="submit" class="button primary" disabled=pending>"Approve"</button>
                    </ActionForm>
                    <details class="decision-box">
                        <summary>"Reject"</summary>
                        <ActionForm action=actions.reject attr:class="stack">
                            {hidden()}
                            <RejectFields reason_codes />
                            <button type="submit" class="button danger" disabled=pending>"Reject item"</button>
                        </ActionForm>
                    </details>
                    <details class="decision-box">
                        <summary>"Correct"</summary>
                        <ActionForm action=actions.correct attr:class="stack">
                            {hidden()}
                            <p class="hint">"Edit the fields that are wrong. The correction is checked against the workflow's contract."</p>
                            {correction}
                            <button type="submit" class="button primary" disabled=pending>"Save correction"</button>
                        </ActionForm>
                    </details>
                </section>
            </div>
        })}
        <section class="panel" aria-labelledby="history-heading">
            <h2 id="history-heading">"History"</h2>
            <ItemHistory lines=item.history.clone() />
        </section>
    }
}
