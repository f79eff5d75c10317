//! The webhooks part of a workflow's settings page: each endpoint with its latest delivery
//! attempts, a test event and a secret rotation; and the form that adds one.

use crate::components::form::{ErrorAlert, Field, Submit, action_error};
use crate::components::format::when;
use crate::components::table::DataTable;
use crate::webhooks::api::{AddWebhook, RotateWebhookSecret, SendTestWebhook};
use crate::webhooks::{AttemptView, EndpointView};
use leptos::prelude::*;

/// The webhook actions of the page; the page reloads its data when one has run.
#[derive(Clone, Copy)]
pub struct HookActions {
    pub add: ServerAction<AddWebhook>,
    pub test: ServerAction<SendTestWebhook>,
    pub rotate: ServerAction<RotateWebhookSecret>,
}

impl HookActions {
    pub fn new() -> Self {
        Self { add: ServerAction::new(), test: ServerAction::new(), rotate: ServerAction::new() }
    }

    /// Changes whenever one of them has run.
    pub fn versions(&self) -> (usize, usize, usize) {
        (self.add.version().get(), self.test.version().get(), self.rotate.version().get())
    }

    /// A signing secret just made (by adding an endpoint or rotating one's secret).
    pub fn fresh_secret(&self) -> Option<String> {
        let rotated = self.rotate.value().get().and_then(Result::ok);
        rotated.or_else(|| self.add.value().get().and_then(Result::ok))
    }
}

#[component]
pub fn Endpoints(endpoints: Vec<EndpointView>, actions: HookActions) -> impl IntoView {
    let test_error = action_error(actions.test);
    let rotate_error = action_error(actions.rotate);
    if endpoints.is_empty() {
        return view! { <p class="muted">"No endpoints yet: decisions reach the automation by polling the API."</p> }
            .into_any();
    }
    view! {
        <ErrorAlert error=test_error id="hook-test-error" />
        <ErrorAlert error=rotate_error id="hook-rotate-error" />
        <ul class="list endpoints" aria-label="Endpoints">
            {endpoints.into_iter().map(|e| view! { <EndpointItem endpoint=e actions /> }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn EndpointItem(endpoint: EndpointView, actions: HookActions) -> impl IntoView {
    let EndpointView { id, url, event_types, failing, previous_secret_until_ms, attempts } = endpoint;
    let heading = format!("endpoint-{id}");
    let labelled_by = heading.clone();
    let test_label = format!("Send test event to {url}");
    let rotate_label = format!("Rotate secret of {url}");
    view! {
        <li aria-labelledby=labelled_by>
            <h3 class="endpoint-url mono" id=heading>{url.clone()}</h3>
            {failing.then(|| view! { <span class="badge danger">"Failing"</span> })}
            {previous_secret_until_ms.map(|until| view! {
                <span class="badge">{format!("Old secret signs too until {}", when(until))}</span>
            })}
            <div class="sub">{event_types.join(", ")}</div>
            <div class="row-actions">
                <ActionForm action=actions.test attr:class="inline-form">
                    <input type="hidden" name="endpoint_id" value=id.to_string() />
                    <button type="submit" class="button small" aria-label=test_label>"Send test event"</button>
                </ActionForm>
                <ActionForm action=actions.rotate attr:class="inline-form">
                    <input type="hidden" name="endpoint_id" value=id.to_string() />
                    <button type="submit" class="button small" aria-label=rotate_label>"Rotate secret"</button>
                </ActionForm>
            </div>
            <Attempts attempts />
        </li>
    }
}

#[component]
fn Attempts(attempts: Vec<AttemptView>) -> impl IntoView {
    if attempts.is_empty() {
        return view! { <p class="muted">"No delivery attempts yet."</p> }.into_any();
    }
    view! {
        <DataTable columns=&["When", "Event", "Result", "Time", "Error"]>
            {attempts
                .into_iter()
                .map(|a| {
                    let class = if a.succeeded() { "badge ok" } else { "badge danger" };
                    let result = match (a.succeeded(), a.status) {
                        (true, Some(status)) => format!("Delivered ({status})"),
                        (false, Some(status)) => format!("Failed ({status})"),
                        (_, None) => "No answer".to_owned(),
                    };
                    view! {
                        <tr>
                            <th scope="row">{when(a.at_ms)}</th>
                            <td class="mono">{a.event_type}</td>
                            <td>
                                <span class=class>{result}</span>
                            </td>
                            <td>{format!("{} ms", a.latency_ms)}</td>
                            <td>{a.error.unwrap_or_default()}</td>
                        </tr>
                    }
                })
                .collect_view()}
        </DataTable>
    }
    .into_any()
}

#[component]
pub fn AddEndpoint(action: ServerAction<AddWebhook>, slug: String, private_allowed: bool) -> impl IntoView {
    let error = action_error(action);
    let hint = if private_allowed {
        "This server allows endpoints on private, loopback and link-local addresses (--allow-private-webhooks)."
    } else {
        "Endpoints on private, loopback or link-local addresses are refused: this server runs without \
         --allow-private-webhooks."
    };
    view! {
        <ActionForm action attr:class="stack" attr:aria-label="Add a webhook endpoint">
            <ErrorAlert error id="hook-error" />
            <input type="hidden" name="slug" value=slug />
            <Field id="hook-url" label="Endpoint URL" name="url" kind="url" required=true hint=hint error error_id="hook-error" />
            <fieldset class="checks">
                <legend>"Events"</legend>
                {crate::webhooks::EVENT_TYPES
                    .iter()
                    .map(|event| view! {
                        <label class="check"><input type="checkbox" name=format!("events[{event}]") value="on" checked=true />{*event}</label>
                    })
                    .collect_view()}
            </fieldset>
            <div class="form-actions"><Submit label="Add endpoint" pending=action.pending() /></div>
        </ActionForm>
    }
}
