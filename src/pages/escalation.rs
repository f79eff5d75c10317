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
use crate::escalations::api::{AssignSelected, DecideEscalation, SendBack, load_escalation};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn EscalationPage() -> impl IntoView {
    // Made here, outside the sign-in check, whose content the server renders more than once:
    // made inside it, the escalation would be read as many times.
    let params = use_params_map();
    let item_id = move || params.with(|p| p.get("item").and_then(|i| i.parse::<i64>().ok()));
    let actions = Actions { assign: ServerAction::new(), decide: ServerAction::new(), send_back: ServerAction::new() };
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
        <Protected role=Role::Lead>
            <EscalationLoader item actions />
        </Protected>
    }
}

/// The forms of the page, whose answers reload it (or lead back to the inbox).
#[derive(Clone, Copy)]
struct Actions {
    assign: ServerAction<AssignSelected>,
    decide: ServerAction<DecideEscalation>,
    send_back: ServerAction<SendBack>,
}

#[component]
fn EscalationLoader(item: Resource<Result<EscalationItem, AppError>>, actions: Actions) -> impl IntoView {
    let errors = [action_error(actions.assign), action_error(actions.decide), action_error(actions.send_back)];
    let error = Signal::derive(move || errors.iter().find_map(|e| e.get()));
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
        actions.assign.pending().get() || actions.decide.pending().get() || actions.send_back.pending().get()
    });
    let running = actionable || state == "claimed";
    // Each fact a line of the same shape: a label, and a value with a badge's class or none.
    let about = open.map(|row| {
        let level = if row.flagged_at_ms.is_some() {
            (format!("{}, flagged", row.level_text()), "badge danger")
        } else {
            (row.level_text().to_owned(), "")
        };
        let mut facts = vec![
            ("Reason", row.reason_text(), ""),
            ("Level", level.0, level.1),
            ("Escalated", format!("{} ago", age(now_ms - row.opened_at_ms)), ""),
        ];
        // Once decided, the clock has stopped (the sweeper closes the row a moment later).
        if running {
            facts.push(("Time left", row.standing(now_ms).label(), row.standing_class(now_ms)));
        }
        facts.push(("Escalated by", row.escalated_by_text(), ""));
        view! {
            <dl class="facts escalation-facts" aria-label="The escalation">
                {facts.into_iter().map(|(label, value, class)| view! {
                    <div><dt>{label}</dt><dd><span class=class>{value}</span></dd></div>
                }).collect_view()}
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
    let verdict = move |verdict: &'static str| {
        view! {
            <input type="hidden" name="item_id" value=item_id.to_string() />
            <input type="hidden" name="verdict" value=verdict />
        }
    };
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
                    // One item of the inbox's "Assign selected", with a note.
                    <ActionForm action=actions.assign attr:class="stack">
                        <input type="hidden" name=format!("selected[{item_id}]") value="on" />
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
                    <ActionForm action=actions.decide attr:class="inline-form">
                        {verdict("approve")}
                        <button type="submit" class="button primary" disabled=pending>"Approve"</button>
                    </ActionForm>
                    <details class="decision-box">
                        <summary>"Reject"</summary>
                        <ActionForm action=actions.decide attr:class="stack">
                            {verdict("reject")}
                            <RejectFields reason_codes />
                            <button type="submit" class="button danger" disabled=pending>"Reject item"</button>
                        </ActionForm>
                    </details>
                    <details class="decision-box">
                        <summary>"Correct"</summary>
                        <ActionForm action=actions.decide attr:class="stack">
                            {verdict("correct")}
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
