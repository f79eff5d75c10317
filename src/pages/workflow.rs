mod webhooks;

use crate::components::form::{ErrorAlert, OnceSecret, action_error};
use crate::components::format::when;
use crate::components::layout::Protected;
use crate::components::table::DataTable;
use crate::components::workflow_fields::WorkflowFields;
use crate::domain::Role;
use crate::webhooks::DeadLetterView;
use crate::webhooks::api::ReplayWebhook;
use crate::workflows::api::{SaveWorkflow, load_workflow};
use crate::workflows::{HistoryEntry, WorkflowDetail};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use webhooks::{AddEndpoint, Endpoints, HookActions};

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
    let hooks = HookActions::new();
    let replay = ServerAction::<ReplayWebhook>::new();
    let detail = Resource::new(
        move || (slug(), save.version().get(), hooks.versions(), replay.version().get()),
        |(slug, ..)| load_workflow(slug),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the workflow…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(detail) => view! { <WorkflowView detail save hooks replay /> }.into_any(),
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
    hooks: HookActions,
    replay: ServerAction<ReplayWebhook>,
) -> impl IntoView {
    let WorkflowDetail { summary, form, history, endpoints, dead_letters, private_webhooks_allowed } = detail;
    let slug = summary.slug.clone();
    view! {
        <Title text=summary.name.clone() />
        <div class="page-header">
            <p class="breadcrumb"><a href="/settings">"Settings"</a>" / "<a href="/settings/workflows">"Workflows"</a></p>
            <h1>{summary.name.clone()}</h1>
            <p class="lead"><span class="mono">{summary.slug.clone()}</span>" · settings version "{summary.settings_version}
                " · "<a href=format!("/settings/workflows/{}/tuning", summary.slug)>"Threshold tuning"</a></p>
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
            <Endpoints endpoints actions=hooks />
            <AddEndpoint action=hooks.add slug=slug.clone() private_allowed=private_webhooks_allowed />
            <OnceSecret
                fresh=Signal::derive(move || hooks.fresh_secret())
                intro="Signing secret (shown only now; verify the webhook-signature header with it):"
            />
        </section>
        <section class="panel" aria-labelledby="dead-heading">
            <h2 id="dead-heading">"Undelivered events"</h2>
            <DeadLetters letters=dead_letters action=replay />
        </section>
        <ExportForm slug=slug.clone() />
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
                                    <td>{h.changed.join(", ")}{h.evidence.map(|e| view! { <div class="sub">"Evidence: "{e}</div> })}</td>
                                </tr>
                            })
                            .collect_view()}
    </DataTable>
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

/// Downloading the decided items (a plain GET to the export route: a file, with or without
/// JavaScript).
#[component]
fn ExportForm(slug: String) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="export-heading">
            <h2 id="export-heading">"Export decisions"</h2>
            <p class="hint">
                "Every decided item with its input, the model's prediction, the output it settled on, the reason \
                 code and who decided: training data. The same as GET /api/v1/workflows/"{slug.clone()}"/export."
            </p>
            <form method="get" action=format!("/settings/workflows/{slug}/export") class="form-grid filters" aria-label="Export decisions">
                <div class="field">
                    <label for="export-format">"Format"</label>
                    <select id="export-format" name="format">
                        <option value="csv">"CSV"</option>
                        <option value="jsonl">"JSON lines"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="export-from">"Arrived from (UTC day)"</label>
                    <input id="export-from" name="from" type="date" />
                </div>
                <div class="field">
                    <label for="export-to">"Arrived before (UTC day)"</label>
                    <input id="export-to" name="to" type="date" />
                </div>
                <div class="form-actions"><button type="submit" class="button">"Download"</button></div>
            </form>
        </section>
    }
}
