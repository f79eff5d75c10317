//! The review pages: `/review/:slug` (a queue with nothing left for you) and
//! `/review/:slug/:item` (an item leased to you). Every decision is a form that works without
//! JavaScript; with it, single keys drive them (`?` lists them), the lease is renewed, and a
//! decision's answer carries the next item, so the page moves on without another request.

use crate::components::form::{ErrorAlert, action_error};
use crate::components::format::when;
use crate::components::layout::Protected;
use crate::domain::Role;
use crate::error::AppError;
use crate::pages::queues::age;
use crate::review::api::{
    Approve, Correct, Escalate, Reject, Skip, StartReviewing, Undo, load_review_item, load_undo_offer, renew_lease,
};
use crate::review::{HistoryLine, Receipt, ReviewItem, UndoOffer, kind_text, route_reason_text};
use leptos::html;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use serde_json::Value;

/// What a decision's answer brought for the page it leads to: the next item and the undo banner.
/// The pages take them from here instead of asking the server again. Provided once by the app,
/// so it outlives the page that made the decision.
#[derive(Clone, Copy)]
pub struct Handoff {
    item: StoredValue<Option<ReviewItem>>,
    /// The offer, and when it arrived on the browser's clock.
    undo: StoredValue<Option<(UndoOffer, i64)>>,
}

impl Handoff {
    pub fn provide() {
        provide_context(Handoff { item: StoredValue::new(None), undo: StoredValue::new(None) });
    }

    /// Keeps what `receipt` brought and goes where it leads.
    fn follow(self, receipt: Receipt, navigate: &impl Fn(&str, NavigateOptions)) {
        let href = receipt.next_href();
        self.item.set_value(receipt.next);
        self.undo.set_value(receipt.undo.map(|offer| (offer, js_now())));
        navigate(&href, NavigateOptions::default());
    }

    /// The item, once: a later visit to its page asks the server.
    fn take_item(self, item_id: i64) -> Option<ReviewItem> {
        self.item.try_update_value(|slot| slot.take_if(|item| item.item_id == item_id)).flatten()
    }

    /// The offer, as often as asked (a page visited again asks again), its clock moved on by
    /// the time since it arrived, so the banner never shows more time than is left.
    fn undo(self, decision_id: i64) -> Option<UndoOffer> {
        let (offer, arrived) = self.undo.get_value().filter(|(offer, _)| offer.decision_id == decision_id)?;
        Some(UndoOffer { now_ms: offer.now_ms + (js_now() - arrived), ..offer })
    }
}

/// `/review/:slug`: shown when the queue has nothing more for this reviewer.
#[component]
pub fn ReviewQueuePage() -> impl IntoView {
    view! {
        <Protected role=Role::Reviewer>
            <QueueDone />
        </Protected>
    }
}

#[component]
fn QueueDone() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.with(|p| p.get("slug").unwrap_or_default());
    let start = ServerAction::<StartReviewing>::new();
    let error = action_error(start);
    view! {
        <Title text="Queue done" />
        <UndoBanner />
        <section class="empty-state" aria-labelledby="done-heading">
            <h1 id="done-heading">"Nothing left to review"</h1>
            <p>"No item is waiting in this queue right now. New items arrive all the time."</p>
            <ErrorAlert error id="start-error" />
            <div class="row-actions centered">
                <ActionForm action=start attr:class="inline-form">
                    <input type="hidden" name="slug" value=slug />
                    <button type="submit" class="button primary">"Check again"</button>
                </ActionForm>
                <a class="button" href="/queues">"Back to queues"</a>
            </div>
        </section>
    }
}

/// `/review/:slug/:item`: one item leased to the reviewer.
#[component]
pub fn ReviewPage() -> impl IntoView {
    view! {
        <Protected role=Role::Reviewer>
            <ReviewLoader />
        </Protected>
    }
}

#[component]
fn ReviewLoader() -> impl IntoView {
    let params = use_params_map();
    let key =
        move || params.with(|p| (p.get("slug").unwrap_or_default(), p.get("item").and_then(|i| i.parse::<i64>().ok())));
    let handoff = expect_context::<Handoff>();
    let item = Resource::new(key, move |(slug, item)| async move {
        match item {
            Some(item) => match handoff.take_item(item) {
                Some(brought) => Ok(brought),
                None => load_review_item(slug, item).await,
            },
            None => Err(AppError::not_found("That item")),
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the item…"</p> }>
            {move || Suspend::new(async move {
                match item.await {
                    // Keyed by item: the next item gets fresh forms. Rebuilt in place, a form
                    // opened and edited on the last item would stay open with its edits.
                    Ok(item) => view! {
                        <For each=move || std::iter::once(item.clone()) key=|item| item.item_id let:item>
                            <ReviewView item />
                        </For>
                    }
                    .into_any(),
                    Err(error) => view! { <NotYours error slug=key().0 /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn NotYours(error: AppError, slug: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::components::layout::set_status(error.status());
    let start = ServerAction::<StartReviewing>::new();
    view! {
        <Title text="Item not available" />
        <UndoBanner />
        <section class="empty-state" role="alert">
            <h1>"Item not available"</h1>
            <p>{error.to_string()}</p>
            <div class="row-actions centered">
                <ActionForm action=start attr:class="inline-form">
                    <input type="hidden" name="slug" value=slug />
                    <button type="submit" class="button primary">"Review the next item"</button>
                </ActionForm>
                <a class="button" href="/queues">"Back to queues"</a>
            </div>
        </section>
    }
}

/// "Approved INV-7. Undo" for a few seconds after a decision (`?undo=<decision id>`).
#[component]
fn UndoBanner() -> impl IntoView {
    // Read once: each page makes its own banner, and the page being left must not follow the
    // address to the next page's offer.
    let decision = use_query_map().with_untracked(|q| q.get("undo").and_then(|d| d.parse::<i64>().ok()));
    let handoff = expect_context::<Handoff>();
    let offer = Resource::new(
        move || decision,
        move |decision| async move {
            match decision {
                Some(id) => match handoff.undo(id) {
                    Some(brought) => Some(brought),
                    None => load_undo_offer(id).await.ok().flatten(),
                },
                None => None,
            }
        },
    );
    let undo = ServerAction::<Undo>::new();
    let error = action_error(undo);
    view! {
        <ErrorAlert error id="undo-error" />
        <Transition fallback=|| ()>
            {move || Suspend::new(async move { offer.await.map(|offer| view! { <UndoOfferView offer undo /> }) })}
        </Transition>
    }
}

#[component]
fn UndoOfferView(offer: UndoOffer, undo: ServerAction<Undo>) -> impl IntoView {
    let left_ms = offer.undo_until_ms - offer.now_ms;
    let remaining = RwSignal::new(left_ms);
    Effect::new(move |_| {
        let started = js_now();
        if let Ok(handle) = set_interval_with_handle(
            move || remaining.set(left_ms - (js_now() - started)),
            std::time::Duration::from_millis(250),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let text = format!("{} {}.", kind_text(&offer.kind), offer.external_id);
    view! {
        <Show when=move || { remaining.get() > 0 }>
            <div class="alert info undo-banner" role="status">
                <span>{text.clone()}</span>
                <ActionForm action=undo attr:class="inline-form" attr:id="undo-form">
                    <input type="hidden" name="decision_id" value=offer.decision_id.to_string() />
                    <button type="submit" class="button small">"Undo " <kbd>"u"</kbd></button>
                </ActionForm>
                <span class="muted">{move || format!("{} s left", (remaining.get() + 999) / 1000)}</span>
            </div>
        </Show>
    }
}

/// Milliseconds on the browser's clock (0 on the server, where nothing ticks).
fn js_now() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys_now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

#[cfg(feature = "hydrate")]
fn js_sys_now() -> i64 {
    leptos::web_sys::js_sys::Date::now() as i64
}

#[component]
fn ReviewView(item: ReviewItem) -> impl IntoView {
    let approve = ServerAction::<Approve>::new();
    let reject = ServerAction::<Reject>::new();
    let correct = ServerAction::<Correct>::new();
    let escalate = ServerAction::<Escalate>::new();
    let skip = ServerAction::<Skip>::new();
    let errors = [
        action_error(approve),
        action_error(reject),
        action_error(correct),
        action_error(escalate),
        action_error(skip),
    ];
    let error = Signal::derive(move || errors.iter().find_map(|e| e.get()));
    // The answer to a decision leads to the next item, which it carries.
    let (handoff, navigate) = (expect_context::<Handoff>(), use_navigate());
    for answer in [approve.value(), reject.value(), correct.value(), escalate.value(), skip.value()] {
        let navigate = navigate.clone();
        Effect::new(move |_| {
            if let Some(Ok(receipt)) = answer.get() {
                handoff.follow(receipt, &navigate);
            }
        });
    }
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
    let pending = Signal::derive(move || {
        approve.pending().get()
            || reject.pending().get()
            || correct.pending().get()
            || escalate.pending().get()
            || skip.pending().get()
    });
    let field_confidences = prediction.get("field_confidences").cloned();
    let mut shown_prediction = prediction.clone();
    if let Some(map) = shown_prediction.as_object_mut() {
        map.remove("field_confidences");
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
    let correction_fields = correction_inputs(&prediction, &labels);
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
        <section class="panel decision-panel" aria-labelledby="decide-heading">
            <h2 id="decide-heading">"Decision"</h2>
            <ErrorAlert error id="decision-error" />
            <div class="decision-row">
                <ActionForm action=approve node_ref=approve_form attr:class="inline-form">
                    {hidden(0)}
                    <button type="submit" class="button primary" disabled=pending>"Approve " <kbd>"a"</kbd></button>
                </ActionForm>
                <ActionForm action=skip node_ref=skip_form attr:class="inline-form">
                    {hidden(1)}
                    <button type="submit" class="button" disabled=pending>"Skip " <kbd>"s"</kbd></button>
                </ActionForm>
            </div>
            <details class="decision-box" node_ref=reject_box>
                <summary>"Reject " <kbd>"r"</kbd></summary>
                <ActionForm action=reject attr:class="stack">
                    {hidden(2)}
                    <div class="field">
                        <label for="reject-reason">"Reason"</label>
                        <select id="reject-reason" name="reason_code" required>
                            <option value="">"Choose a reason…"</option>
                            {reason_options(&reason_codes)}
                        </select>
                    </div>
                    <div class="field">
                        <label for="reject-note">"Note " <span class="muted">"(optional)"</span></label>
                        <textarea id="reject-note" name="note" rows="2"></textarea>
                    </div>
                    <button type="submit" class="button danger" disabled=pending>"Reject item"</button>
                </ActionForm>
            </details>
            <details class="decision-box" node_ref=correct_box>
                <summary>"Correct " <kbd>"c"</kbd></summary>
                <ActionForm action=correct attr:class="stack">
                    {hidden(3)}
                    <p class="hint">"Edit the fields that are wrong. The correction is checked against the workflow's contract."</p>
                    {correction_fields}
                    <button type="submit" class="button primary" disabled=pending>"Save correction"</button>
                </ActionForm>
            </details>
            <details class="decision-box" node_ref=escalate_box>
                <summary>"Escalate " <kbd>"e"</kbd></summary>
                <ActionForm action=escalate attr:class="stack">
                    {hidden(4)}
                    <div class="field">
                        <label for="escalate-note">"Note for the lead"</label>
                        <textarea id="escalate-note" name="note" rows="3" required></textarea>
                    </div>
                    <button type="submit" class="button" disabled=pending>"Escalate to a lead"</button>
                </ActionForm>
            </details>
        </section>
        <section class="panel" aria-labelledby="history-heading">
            <h2 id="history-heading">"History"</h2>
            <History lines=history />
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

/// The hidden fields every decision form carries: which item, under which lease.
fn lease_fields(item_id: i64, token: &str) -> impl IntoView + use<> {
    view! {
        <input type="hidden" name="item_id" value=item_id.to_string() />
        <input type="hidden" name="lease_token" value=token.to_owned() />
    }
}

fn reason_options(codes: &[String]) -> impl IntoView + use<> {
    let codes = if codes.is_empty() { vec!["other".to_owned()] } else { codes.to_vec() };
    codes.into_iter().map(|code| view! { <option value=code.clone()>{code.replace('_', " ")}</option> }).collect_view()
}

#[component]
fn ConfidenceBar(confidence: f64, threshold: f64) -> impl IntoView {
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

#[component]
fn FieldConfidences(confidences: Value, threshold: f64) -> impl IntoView {
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

#[component]
fn History(lines: Vec<HistoryLine>) -> impl IntoView {
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
fn json_view(value: &Value, depth: usize, low_fields: &[String]) -> AnyView {
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

/// The correction form: one input per field of the prediction, typed by its current value; the
/// workflow's labels as a choice for `label`.
fn correction_inputs(prediction: &Value, labels: &[String]) -> AnyView {
    let mut inputs = Vec::new();
    collect_inputs(prediction, String::new(), labels, &mut inputs);
    if inputs.is_empty() {
        return view! { <p class="muted">"This prediction has no fields to edit."</p> }.into_any();
    }
    inputs.into_iter().enumerate().map(|(n, input)| input.render(n)).collect_view().into_any()
}

struct CorrectionInput {
    pointer: String,
    value: Value,
    choices: Vec<String>,
}

fn collect_inputs(value: &Value, pointer: String, labels: &[String], out: &mut Vec<CorrectionInput>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if pointer.is_empty() && key == "field_confidences" {
                    continue;
                }
                let escaped = key.replace('~', "~0").replace('/', "~1");
                collect_inputs(v, format!("{pointer}/{escaped}"), labels, out);
            }
        }
        other => {
            let choices = if pointer == "/label" && !labels.is_empty() { labels.to_vec() } else { Vec::new() };
            out.push(CorrectionInput { pointer, value: other.clone(), choices });
        }
    }
}

impl CorrectionInput {
    fn render(self, n: usize) -> AnyView {
        let id = format!("fix-{n}");
        let name = format!("fields[{}]", self.pointer);
        let label = self.pointer.trim_start_matches('/').replace('/', " › ").replace("~1", "/").replace("~0", "~");
        let label = if label.is_empty() { "value".to_owned() } else { label };
        let control = match (&self.value, self.choices.is_empty()) {
            (Value::String(current), false) => {
                let options = self
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
                view! { <input id=id.clone() name=name type="text" inputmode="decimal" value=n.to_string() /> }
                    .into_any()
            }
            (Value::String(s), _) => view! { <input id=id.clone() name=name type="text" value=s.clone() /> }.into_any(),
            (Value::Null, _) => view! { <input id=id.clone() name=name type="text" value="" /> }.into_any(),
            (other, _) => {
                view! { <textarea id=id.clone() name=name class="mono" rows="3">{other.to_string()}</textarea> }
                    .into_any()
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
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
struct Shortcuts {
    approve_form: NodeRef<html::Form>,
    skip_form: NodeRef<html::Form>,
    reject_box: NodeRef<html::Details>,
    correct_box: NodeRef<html::Details>,
    escalate_box: NodeRef<html::Details>,
    help_box: NodeRef<html::Details>,
}

/// Single-key shortcuts while focus is not in a text field.
#[cfg(feature = "hydrate")]
fn keyboard_shortcuts(keys: Shortcuts) {
    use wasm_bindgen::JsCast;
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
            return;
        }
        let typing = ev
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        let key = ev.key();
        if key == "Escape" {
            for b in [keys.reject_box, keys.correct_box, keys.escalate_box, keys.help_box] {
                if let Some(b) = b.get_untracked() {
                    b.set_open(false);
                }
            }
            return;
        }
        if typing {
            return;
        }
        let open = |details: NodeRef<html::Details>| {
            if let Some(d) = details.get_untracked() {
                d.set_open(true);
                if let Ok(Some(first)) = d.query_selector("select, input:not([type=hidden]), textarea")
                    && let Ok(first) = first.dyn_into::<leptos::web_sys::HtmlElement>()
                {
                    let _ = first.focus();
                }
            }
        };
        let submit = |form: NodeRef<html::Form>| {
            if let Some(f) = form.get_untracked() {
                let _ = f.request_submit();
            }
        };
        match key.as_str() {
            "a" => submit(keys.approve_form),
            "s" => submit(keys.skip_form),
            "r" => open(keys.reject_box),
            "c" => open(keys.correct_box),
            "e" => open(keys.escalate_box),
            "u" => {
                if let Some(form) = document().get_element_by_id("undo-form")
                    && let Ok(form) = form.dyn_into::<leptos::web_sys::HtmlFormElement>()
                {
                    let _ = form.request_submit();
                }
            }
            "?" => {
                if let Some(d) = keys.help_box.get_untracked() {
                    d.set_open(!d.open());
                }
            }
            _ => return,
        }
        ev.prevent_default();
    });
    on_cleanup(move || handle.remove());
}

#[cfg(not(feature = "hydrate"))]
fn keyboard_shortcuts(_keys: Shortcuts) {}

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

    #[test]
    fn correction_fields_follow_the_prediction() {
        let prediction = serde_json::json!({
            "label": "invoice", "fields": { "total": 12.5, "paid": false, "a/b": "x" }, "field_confidences": { "total": 0.4 }
        });
        let mut inputs = Vec::new();
        collect_inputs(&prediction, String::new(), &["invoice".into(), "receipt".into()], &mut inputs);
        let pointers: Vec<_> = inputs.iter().map(|i| i.pointer.as_str()).collect();
        assert_eq!(pointers, vec!["/fields/a~1b", "/fields/paid", "/fields/total", "/label"]);
        assert_eq!(inputs[3].choices, vec!["invoice", "receipt"]);
        assert!(inputs[0].choices.is_empty());
    }
}
