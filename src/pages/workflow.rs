use super::workflows::WorkflowFields;
use crate::components::form::{ErrorAlert, Field, OnceSecret, Submit, action_error};
use crate::components::layout::Protected;
use crate::domain::Role;
use crate::workflows::api::{AddWebhook, ReplayWebhook, SaveWorkflow, load_workflow};
use crate::workflows::{DeadLetterView, EndpointView, HistoryEntry, WorkflowDetail};
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

pub fn when(ms: i64) -> String {
    // Shown in UTC, to the minute; the same on the server and in the browser.
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (h, m) = (secs.rem_euclid(86_400) / 3600, secs.rem_euclid(3600) / 60);
    let (y, mo, d) = civil_from_days(days);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}

/// Days since 1970-01-01 to a calendar date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[component]
fn History(entries: Vec<HistoryEntry>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Version"</th>
                        <th scope="col">"When"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"Why"</th>
                        <th scope="col">"What changed"</th>
                    </tr>
                </thead>
                <tbody>
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
                </tbody>
            </table>
        </div>
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
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Event"</th>
                        <th scope="col">"Endpoint"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Last error"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
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
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::when(1_795_957_652_458), "2026-11-29 13:07 UTC");
        assert_eq!(super::when(951_782_400_000), "2000-02-29 00:00 UTC");
    }
}
