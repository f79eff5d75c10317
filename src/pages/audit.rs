//! `/settings/audit`: the audit log for admins. Every recorded change, newest first, 50 a page,
//! filtered by actor, action, workflow and days; the filters are a plain GET form and the pages
//! plain links, so every view works without JavaScript and its address can be shared. Nothing
//! here changes anything.

use crate::audit_log::api::load_audit;
use crate::audit_log::{AuditEntry, AuditView};
use crate::components::layout::{ErrorPanel, Protected, percent_encode};
use crate::components::table::DataTable;
use crate::domain::Role;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

const FILTERS: [&str; 5] = ["actor", "action", "workflow", "from", "to"];

#[component]
pub fn AuditPage() -> impl IntoView {
    // Made here, outside the sign-in check, whose content the server renders more than once.
    let query = use_query_map();
    let audit = Resource::new(
        move || {
            query.with(|q| {
                let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
                (get("actor"), get("action"), get("workflow"), get("from"), get("to"), get("cursor"))
            })
        },
        |(actor, action, workflow, from, to, cursor)| load_audit(actor, action, workflow, from, to, cursor),
    );
    view! {
        <Protected role=Role::Admin>
            <Title text="Audit log" />
            <div class="page-header">
                <p class="breadcrumb"><a href="/settings">"Settings"</a></p>
                <h1>"Audit log"</h1>
                <p class="lead">"Every change and decision Gatehouse recorded, newest first. Nothing here can be changed or deleted."</p>
            </div>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading the log…"</p> }>
                {move || Suspend::new(async move {
                    match audit.await {
                        Ok(view) => view! { <AuditLog view /> }.into_any(),
                        Err(error) => view! { <ErrorPanel error /> }.into_any(),
                    }
                })}
            </Transition>
        </Protected>
    }
}

#[component]
fn AuditLog(view: AuditView) -> impl IntoView {
    let query = use_query_map();
    let value = move |k: &str| query.with(|q| q.get(k).unwrap_or_default());
    let chosen = value("workflow");
    let paged = !value("cursor").is_empty();
    // The same filters, on the next (older) page.
    let filters: String = FILTERS
        .iter()
        .filter_map(|k| {
            let v = value(k);
            (!v.is_empty()).then(|| format!("{k}={}&", percent_encode(&v)))
        })
        .collect();
    let older = view.page.next_cursor.map(|c| format!("/settings/audit?{filters}cursor={c}"));
    let newest = format!("/settings/audit?{}", filters.trim_end_matches('&'));
    let count = view.page.events.len();
    view! {
        <form method="get" action="/settings/audit" class="form-grid filters" aria-label="Filter the audit log">
            <div class="field">
                <label for="audit-actor">"Actor"</label>
                <input id="audit-actor" name="actor" value=value("actor") aria-describedby="audit-actor-hint" />
                <p id="audit-actor-hint" class="hint">"An email, cli or system."</p>
            </div>
            <div class="field">
                <label for="audit-action">"Action"</label>
                <input id="audit-action" name="action" value=value("action") aria-describedby="audit-action-hint" />
                <p id="audit-action-hint" class="hint">"Such as item.approve, workflow.update, user.set_role."</p>
            </div>
            <div class="field">
                <label for="audit-workflow">"Workflow"</label>
                <select id="audit-workflow" name="workflow">
                    <option value="">"Any workflow"</option>
                    {view.workflows.into_iter().map(|(slug, name)| {
                        let on = slug == chosen;
                        view! { <option value=slug selected=on>{name}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="audit-from">"From (UTC day)"</label>
                <input id="audit-from" name="from" type="date" value=value("from") />
            </div>
            <div class="field">
                <label for="audit-to">"Before (UTC day)"</label>
                <input id="audit-to" name="to" type="date" value=value("to") />
            </div>
            <div class="form-actions"><button type="submit" class="button">"Filter"</button></div>
        </form>
        {if count == 0 {
            view! { <p class="empty-state" role="status">"No event matches."</p> }.into_any()
        } else {
            view! {
                <p class="muted" role="status">{format!("{count} events on this page{}.", if paged { ", older ones" } else { ", the newest" })}</p>
                <DataTable columns=&["When (UTC)", "Actor", "Action", "Subject", "Workflow", "Details"]>
                    {view.page.events.into_iter().map(|e| view! { <EventRow event=e /> }).collect_view()}
                </DataTable>
            }
            .into_any()
        }}
        <nav class="pager" aria-label="Pages of the log">
            {paged.then(|| view! { <a href=newest.clone()>"Newest"</a> })}
            {older.map(|href| view! { <a href=href rel="next">"Older events"</a> })}
        </nav>
    }
}

#[component]
fn EventRow(event: AuditEntry) -> impl IntoView {
    let AuditEntry { at, actor, action, subject, workflow, detail, .. } = event;
    let at = at.replace('T', " ").trim_end_matches('Z').to_owned();
    let detail = if detail.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { detail.to_string() };
    view! {
        <tr>
            <td class="nowrap">{at}</td>
            <td>{actor}</td>
            <td><code>{action}</code></td>
            <td>{subject}</td>
            <td>{workflow.unwrap_or_default()}</td>
            <td class="audit-detail"><code>{detail}</code></td>
        </tr>
    }
}
