//! `/items`: finding items, for leads and admins. In a workflow they answer for: by external id,
//! state, route reason, model version, confidence range and arrival days, newest first, 50 a
//! page, each row linking to the item's page with its whole history. A plain GET form and plain
//! links, so it works without JavaScript and a search can be shared.

use crate::components::format::when;
use crate::components::layout::{ErrorPanel, Protected, percent_encode};
use crate::components::table::DataTable;
use crate::domain::Role;
use crate::domain::item_state::ItemState;
use crate::domain::routing::RouteReason;
use crate::items::api::search_items;
use crate::items::{FoundItem, ItemSearch};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

const FIELDS: [&str; 9] = [
    "workflow",
    "external_id",
    "state",
    "route_reason",
    "model_version",
    "min_confidence",
    "max_confidence",
    "from",
    "to",
];

const REASONS: [&str; 9] = [
    "below_threshold",
    "above_threshold",
    "audit",
    "rollout_holdout",
    "low_confidence",
    "below_reject_threshold",
    "reject_audit",
    "paused",
    "breaker",
];

#[component]
pub fn ItemsPage() -> impl IntoView {
    // Made here, outside the sign-in check, whose content the server renders more than once.
    let query = use_query_map();
    let found = Resource::new(
        move || {
            query.with(|q| {
                let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
                (FIELDS.map(get), get("cursor"))
            })
        },
        |([workflow, external_id, state, route_reason, model_version, min, max, from, to], cursor)| {
            search_items(workflow, external_id, state, route_reason, model_version, min, max, from, to, cursor)
        },
    );
    view! {
        <Protected role=Role::Lead>
            <Title text="Items" />
            <div class="page-header">
                <h1>"Items"</h1>
                <p class="lead">"Find any item of the workflows you lead and read its whole history."</p>
            </div>
            <Transition fallback=|| view! { <p class="loading" role="status">"Searching…"</p> }>
                {move || Suspend::new(async move {
                    match found.await {
                        Ok(found) => view! { <SearchView found /> }.into_any(),
                        Err(error) => view! { <ErrorPanel error /> }.into_any(),
                    }
                })}
            </Transition>
        </Protected>
    }
}

#[component]
fn SearchView(found: ItemSearch) -> impl IntoView {
    let query = use_query_map();
    let value = move |k: &str| query.with(|q| q.get(k).unwrap_or_default());
    if found.workflows.is_empty() {
        return view! {
            <section class="empty-state">
                <h2>"No workflow yet"</h2>
                <p>"You see the items of the workflows you lead. An admin adds you to a workflow on its settings page."</p>
            </section>
        }
        .into_any();
    }
    let filters: String = FIELDS
        .iter()
        .filter_map(|k| {
            let v = value(k);
            (!v.is_empty()).then(|| format!("{k}={}&", percent_encode(&v)))
        })
        .collect();
    let older = found.next_cursor.as_ref().map(|c| format!("/items?{filters}cursor={c}"));
    let paged = !value("cursor").is_empty();
    let newest = format!("/items?{}", filters.trim_end_matches('&'));
    let (state, reason) = (value("state"), value("route_reason"));
    let count = found.items.len();
    let slug = found.slug.clone();
    view! {
        <form method="get" action="/items" class="form-grid filters" aria-label="Find items">
            <div class="field">
                <label for="items-workflow">"Workflow"</label>
                <select id="items-workflow" name="workflow">
                    {found.workflows.into_iter().map(|(value, name)| {
                        let on = value == slug;
                        view! { <option value=value selected=on>{name}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="items-external">"External id"</label>
                <input id="items-external" name="external_id" value=value("external_id") />
            </div>
            <div class="field">
                <label for="items-state">"State"</label>
                <select id="items-state" name="state">
                    <option value="">"Any state"</option>
                    {ItemState::ALL.iter().map(|s| {
                        let on = s.as_str() == state;
                        view! { <option value=s.as_str() selected=on>{s.as_str().replace('_', " ")}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="items-reason">"Route reason"</label>
                <select id="items-reason" name="route_reason">
                    <option value="">"Any route"</option>
                    {REASONS.iter().filter(|r| RouteReason::parse(r).is_some()).map(|r| {
                        let on = *r == reason;
                        view! { <option value=*r selected=on>{r.replace('_', " ")}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="items-model">"Model version"</label>
                <input id="items-model" name="model_version" value=value("model_version") />
            </div>
            <div class="field">
                <label for="items-min">"Confidence from"</label>
                <input id="items-min" name="min_confidence" inputmode="decimal" value=value("min_confidence") />
            </div>
            <div class="field">
                <label for="items-max">"Confidence to"</label>
                <input id="items-max" name="max_confidence" inputmode="decimal" value=value("max_confidence") />
            </div>
            <div class="field">
                <label for="items-from">"Arrived from (UTC day)"</label>
                <input id="items-from" name="from" type="date" value=value("from") />
            </div>
            <div class="field">
                <label for="items-to">"Arrived through (UTC day)"</label>
                <input id="items-to" name="to" type="date" value=value("to") />
            </div>
            <div class="form-actions"><button type="submit" class="button">"Search"</button></div>
        </form>
        {if count == 0 {
            view! { <p class="empty-state" role="status">"No item matches."</p> }.into_any()
        } else {
            view! {
                <p class="muted" role="status">{format!("{count} items on this page, newest first.")}</p>
                <DataTable columns=&["External id", "State", "Outcome", "Route reason", "Confidence", "Model version", "Arrived"]>
                    {found.items.into_iter().map(|item| view! { <FoundRow item /> }).collect_view()}
                </DataTable>
            }
            .into_any()
        }}
        <nav class="pager" aria-label="Pages of results">
            {paged.then(|| view! { <a href=newest.clone()>"Newest"</a> })}
            {older.map(|href| view! { <a href=href rel="next">"Older items"</a> })}
        </nav>
    }
    .into_any()
}

#[component]
fn FoundRow(item: FoundItem) -> impl IntoView {
    let FoundItem { id, external_id, state, route_reason, confidence, model_version, created_at_ms, outcome } = item;
    view! {
        <tr>
            <td><a href=format!("/items/{id}")>{external_id}</a></td>
            <td>{state.replace('_', " ")}</td>
            <td>{outcome.unwrap_or_default()}</td>
            <td>{route_reason.replace('_', " ")}</td>
            <td>{format!("{confidence:.3}")}</td>
            <td>{model_version.unwrap_or_default()}</td>
            <td class="nowrap">{when(created_at_ms)}</td>
        </tr>
    }
}
