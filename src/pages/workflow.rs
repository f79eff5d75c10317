use crate::components::form::{ErrorAlert, Field, OnceSecret, Submit, action_error};
use crate::components::format::when;
use crate::components::layout::Protected;
use crate::components::table::DataTable;
use crate::components::workflow_fields::WorkflowFields;
use crate::domain::Role;
use crate::webhooks::api::{AddWebhook, ReplayWebhook};
use crate::webhooks::{DeadLetterView, EndpointView};
use crate::workflows::api::{SaveWorkflow, load_workflow};
use crate::workflows::{HistoryEntry, WorkflowDetail};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// `/settings/workflows/:slug`: one workflow's settings, history, webhooks and dead letters.
#[component]
pub fn WorkflowPage() -> impl IntoView {
    view! {
        <Protected role=Role::Admin>
            <WorkflowAdmin />
        </Protected>
    }
}

#[component]
fn WorkflowAdmin() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.with(|p| p.get("slug").unwrap_or_default());
    let save = ServerAction::<SaveWorkflow>::new();
    let add_hook = ServerAction::<AddWebhook>::new();
    let replay = ServerAction::<ReplayWebhook>::new();
    let detail = Resource::new(
        move || (slug(), save.version().get(), add_hook.version().get(), replay.version().get()),
        |(slug, ..)| load_workflow(slug),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the workflow…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <WorkflowView detail save add_hook replay /> }.into_any(),
                    Err(error) => {
                        #[cfg(feature = "ssr")]
                        crate::components::layout::set_status(error.status());
                        view! {
                            <Title text="Workflow" />
                            <section class="empty-state" role="alert">
                                <h1>"Workflow not available"</h1>
                                <p>{error.to_string()}</p>
                                <p><a href="/settings/workflows">"All workflows"</a></p>
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn WorkflowView(
    detail: WorkflowDetail,
    save: ServerAction<SaveWorkflow>,
    add_hook: ServerAction<AddWebhook>,
    replay: ServerAction<ReplayWebhook>,
) -> impl IntoView {
    let WorkflowDetail { summary, form, history, endpoints, dead_letters } = detail;
    let slug = summary.slug.clone();
    view! {
        <Title text=summary.name.clone() />
        <div class="page-header">
            <p class="breadcrumb"><a href="/settings">"Settings"</a>" / "<a href="/settings/workflows">"Workflows"</a></p>
            <h1>{summary.name.clone()}</h1>
            <p class="lead"><span class="mono">{summary.slug.clone()}</span>" · settings version "{summary.settings_version}</p>
        </div>
        <section class="panel" aria-labelledby="settings-heading">
            <h2 id="settings-heading">"Settings"</h2>
            <WorkflowFields action=save form creating=false />
        </section>
        <section class="panel" aria-labelledby="history-heading">
            <h2 id="history-heading">"Settings history"</h2>
            <History entries=history />
        </section>
        <section class="panel" aria-labelledby="webhooks-heading">
            <h2 id="webhooks-heading">"Webhooks"</h2>
            <Endpoints endpoints />
            <AddEndpoint action=add_hook slug=slug.clone() />
        </section>
        <section class="panel" aria-labelledby="dead-heading">
            <h2 id="dead-heading">"Undelivered events"</h2>
            <DeadLetters letters=dead_letters action=replay />
        </section>
    }
}

#[component]
fn History(entries: Vec<HistoryEntry>) -> impl IntoView {
    view! {
            <DataTable columns=&["Version", "When", "Who", "Why", "What changed"]>
                        {entries
                            .into_iter()
                            .map(|h| view! {
                                <tr>
                                    <th scope="row">{h.version}</th>
                                    <td>{when(h.at_ms)}</td>
                                    <td>{h.actor}</td>
                                    <td>{h.reason}</td>
                                    <td>{h.changed.join(", ")}</td>
                                </tr>
                            })
                            .collect_view()}
    </DataTable>
        }
}

#[component]
fn Endpoints(endpoints: Vec<EndpointView>) -> impl IntoView {
    if endpoints.is_empty() {
        return view! { <p class="muted">"No endpoints yet: decisions reach the automation by polling the API."</p> }
            .into_any();
    }
    view! {
        <ul class="list">
            {endpoints
                .into_iter()
                .map(|e| view! {
                    <li>
                        <span class="mono">{e.url}</span>
                        " "
                        {e.failing.then(|| view! { <span class="badge danger">"Failing"</span> })}
                        <div class="sub">{e.event_types.join(", ")}</div>
                    </li>
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn AddEndpoint(action: ServerAction<AddWebhook>, slug: String) -> impl IntoView {
    let error = action_error(action);
    let secret = move || action.value().get().and_then(Result::ok);
    let events = [
        ("ev_auto_approved", "item.auto_approved"),
        ("ev_approved", "item.approved"),
        ("ev_rejected", "item.rejected"),
        ("ev_corrected", "item.corrected"),
        ("ev_escalated", "item.escalated"),
    ];
    view! {
        <ActionForm action attr:class="stack" attr:aria-label="Add a webhook endpoint">
            <ErrorAlert error id="hook-error" />
            <input type="hidden" name="slug" value=slug />
            <Field id="hook-url" label="Endpoint URL" name="url" kind="url" required=true error error_id="hook-error" />
            <fieldset class="checks">
                <legend>"Events"</legend>
                {events
                    .into_iter()
                    .map(|(name, event)| view! {
                        <label class="check"><input type="checkbox" name=name value="on" checked=true />{event}</label>
                    })
                    .collect_view()}
            </fieldset>
            <div class="form-actions"><Submit label="Add endpoint" pending=action.pending() /></div>
        </ActionForm>
        <OnceSecret fresh=Signal::derive(secret) intro="Signing secret (shown only now; verify the webhook-signature header with it):" />
    }
}

#[component]
fn DeadLetters(letters: Vec<DeadLetterView>, action: ServerAction<ReplayWebhook>) -> impl IntoView {
    let error = action_error(action);
    if letters.is_empty() {
        return view! { <p class="muted">"None: every event was delivered or is still being retried."</p> }.into_any();
    }
    view! {
        <ErrorAlert error id="replay-error" />
        <DataTable columns=&["Event", "Endpoint", "Attempts", "Last error", ""]>
                    {letters
                        .into_iter()
                        .map(|d| {
                            let label = format!("Replay {} to {}", d.event_type, d.url);
                            view! {
                                <tr>
                                    <th scope="row">{d.event_type}</th>
                                    <td class="mono">{d.url}</td>
                                    <td>{d.attempts}</td>
                                    <td>{d.last_error.unwrap_or_default()}</td>
                                    <td>
                                        <ActionForm action attr:class="inline-form">
                                            <input type="hidden" name="outbox_id" value=d.id.to_string() />
                                            <button type="submit" class="button small" aria-label=label>"Replay"</button>
                                        </ActionForm>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
</DataTable>
    }
    .into_any()
}
