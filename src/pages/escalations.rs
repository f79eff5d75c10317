//! `/escalations`: the leads' inbox. The open escalations of the workflows the caller is a member
//! of (every workflow's, for an admin), soonest due first, filtered by the address's query (a
//! plain GET form, so that a filtered view works without JavaScript and can be shared).

use crate::components::form::{ErrorAlert, action_error};
use crate::components::format::age;
use crate::components::layout::{Protected, percent_encode};
use crate::components::table::DataTable;
use crate::domain::Role;
use crate::domain::escalation::Reason;
use crate::error::AppError;
use crate::escalations::api::AssignSelected;
use crate::escalations::api::load_inbox;
use crate::escalations::{EscalationRow, Inbox, escalation_href};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn EscalationsPage() -> impl IntoView {
    // Made here, outside the sign-in check, whose content is rendered more than once on the
    // server: made inside it, the inbox would be read as many times.
    let query = use_query_map();
    let params = move || {
        query.with(|q| {
            let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
            (FILTERS.map(get), get("cursor"))
        })
    };
    let bulk = ServerAction::<AssignSelected>::new();
    let inbox = Resource::new(
        move || (params(), bulk.version().get()),
        |(([workflow, reason, level, assignee], cursor), _)| load_inbox(workflow, reason, level, assignee, cursor),
    );
    view! {
        <Protected role=Role::Lead>
            <EscalationsInbox inbox bulk />
        </Protected>
    }
}

/// The filters of the address, in the order the form has them.
const FILTERS: [&str; 4] = ["workflow", "reason", "level", "assignee"];

#[component]
fn EscalationsInbox(inbox: Resource<Result<Inbox, AppError>>, bulk: ServerAction<AssignSelected>) -> impl IntoView {
    let query = use_query_map();
    let params = move || {
        query.with(|q| {
            let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
            (FILTERS.map(get), get("cursor"))
        })
    };
    let bulk_error = action_error(bulk);
    view! {
        <div class="page-header">
            <h1>"Escalations"</h1>
            <p class="lead">"Items taken out of the queues for a lead to decide, soonest due first."</p>
        </div>
        <ErrorAlert error=bulk_error id="bulk-error" />
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading escalations…"</p> }>
            {move || Suspend::new(async move {
                match inbox.await {
                    Ok(inbox) => view! { <InboxView inbox filters=params().0 bulk /> }.into_any(),
                    Err(error) => view! {
                        <Title text="Escalations" />
                        <p class="alert error" role="alert">{error.to_string()}</p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn InboxView(inbox: Inbox, filters: [Option<String>; 4], bulk: ServerAction<AssignSelected>) -> impl IntoView {
    let Inbox { rows, total, next_cursor, workflows, members, now_ms } = inbox;
    let [workflow, reason, level, assignee] = filters.clone();
    let filtered = filters.iter().any(Option::is_some);
    let next_href = next_cursor.map(|cursor| {
        let mut query: Vec<String> = FILTERS
            .iter()
            .zip(&filters)
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", percent_encode(v))))
            .collect();
        query.push(format!("cursor={}", percent_encode(&cursor)));
        format!("/escalations?{}", query.join("&"))
    });
    let count = match (total, filtered) {
        (1, false) => "1 open escalation".to_owned(),
        (n, false) => format!("{n} open escalations"),
        (1, true) => "1 open escalation matches these filters".to_owned(),
        (n, true) => format!("{n} open escalations match these filters"),
    };
    let selected = |current: &Option<String>, value: &str| current.as_deref() == Some(value);
    view! {
        <Title text="Escalations" />
        <form method="get" action="/escalations" class="form-grid filters" aria-label="Filter escalations">
            <div class="field">
                <label for="filter-workflow">"Workflow"</label>
                <select id="filter-workflow" name="workflow">
                    <option value="">"All workflows"</option>
                    {workflows.into_iter().map(|(slug, name)| {
                        let on = selected(&workflow, &slug);
                        view! { <option value=slug selected=on>{name}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-reason">"Reason"</label>
                <select id="filter-reason" name="reason">
                    <option value="">"All reasons"</option>
                    {Reason::ALL.into_iter().map(|r| {
                        let on = selected(&reason, r.as_str());
                        view! { <option value=r.as_str() selected=on>{r.label()}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-level">"Level"</label>
                <select id="filter-level" name="level">
                    <option value="">"Both levels"</option>
                    <option value="1" selected=selected(&level, "1")>"1: leads"</option>
                    <option value="2" selected=selected(&level, "2")>"2: admins"</option>
                </select>
            </div>
            <div class="field">
                <label for="filter-assignee">"Assignee"</label>
                <input id="filter-assignee" name="assignee" type="text" value=assignee.unwrap_or_default() aria-describedby="filter-assignee-hint" />
                <p class="hint" id="filter-assignee-hint">"An email, or none for unassigned."</p>
            </div>
            <div class="form-actions">
                <button type="submit" class="button">"Filter"</button>
                {filtered.then(|| view! { <a href="/escalations">"Clear filters"</a> })}
            </div>
        </form>
        <p role="status" class="status-line" data-count=total>{count}</p>
        {if rows.is_empty() {
            view! {
                <section class="empty-state">
                    <h2>"Nothing escalated"</h2>
                    <p>{if filtered { "No open escalation matches these filters." } else { "Escalated items and their SLAs will be listed here." }}</p>
                </section>
            }.into_any()
        } else {
            let mut everyone: Vec<String> = members.iter().map(|(_, email)| email.clone()).collect();
            everyone.sort();
            everyone.dedup();
            view! {
                <ActionForm action=bulk attr:id="assign-selected" attr:class="inline-form bulk-assign" attr:aria-label="Assign the selected escalations">
                    <div class="field">
                        <label for="bulk-assignee">"Assign selected to"</label>
                        <select id="bulk-assignee" name="assignee">
                            {everyone.into_iter().map(|email| view! { <option value=email.clone()>{email.clone()}</option> }).collect_view()}
                        </select>
                    </div>
                    <div class="field">
                        <label for="bulk-note">"Note for them " <span class="muted">"(optional)"</span></label>
                        <input id="bulk-note" name="note" type="text" />
                    </div>
                    <button type="submit" class="button">"Assign selected"</button>
                </ActionForm>
                <DataTable columns=&["Select", "Item", "Workflow", "Reason", "Level", "Waiting", "Time left", "Escalated by", "Assignee"]>
                    {rows.into_iter().map(|row| view! { <InboxRow row now_ms /> }).collect_view()}
                </DataTable>
            }.into_any()
        }}
        {next_href.map(|href| view! { <p><a class="button" href=href>"Next page"</a></p> })}
    }
}

#[component]
fn InboxRow(row: EscalationRow, now_ms: i64) -> impl IntoView {
    let (class, label) = (row.standing_class(now_ms), row.standing(now_ms).label());
    let (reason, level, by) = (row.reason_text(), row.level_text(), row.escalated_by_text());
    let select_id = format!("select-{}", row.item_id);
    view! {
        <tr data-item=row.item_id>
            <td>
                <input type="checkbox" form="assign-selected" name=format!("selected[{}]", row.item_id) id=select_id.clone() />
                <label class="visually-hidden" for=select_id>{format!("Select {}", row.external_id)}</label>
            </td>
            <th scope="row" class="nowrap"><a href=escalation_href(row.item_id)>{row.external_id.clone()}</a></th>
            <td>{row.workflow}</td>
            <td>{reason}</td>
            <td>{level}{row.flagged_at_ms.map(|_| view! { " " <span class="badge danger">"Flagged"</span> })}</td>
            <td>{age(now_ms - row.opened_at_ms)}</td>
            <td class="nowrap"><span class=class>{label}</span></td>
            <td>{by}</td>
            <td>{row.assignee.clone().unwrap_or_else(|| "Nobody".to_owned())}</td>
        </tr>
    }
}
