//! `/dashboard`: what the system is doing, for leads and admins. For one workflow they answer
//! for, one model version or all, and a range (24 hours, 7 or 30 days, or chosen days): the
//! headline numbers, volume by route, the override rate over time with its intervals, reject
//! reasons over time, the model versions side by side, escalations by reason and decisions per
//! reviewer. Charts are drawn on the server (readable without JavaScript, in dark mode, each
//! with a description) and their numbers are in a table beneath. The filters are a plain GET
//! form, so a view works without JavaScript and its address can be shared.

use crate::components::layout::{ErrorPanel, Protected};
use crate::domain::Role;
use crate::error::AppError;
use crate::monitoring::api::load_dashboard;
use crate::monitoring::{Chart, DashboardPage, TextTable, Tile};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn DashboardPage() -> impl IntoView {
    // Made here, outside the sign-in check, whose content the server renders more than once.
    let query = use_query_map();
    let dashboard = Resource::new(
        move || {
            query.with(|q| {
                let get = |k: &str| q.get(k).filter(|v| !v.is_empty());
                (get("workflow"), get("model_version"), get("range"), get("from"), get("to"))
            })
        },
        |(workflow, model_version, range, from, to)| load_dashboard(workflow, model_version, range, from, to),
    );
    view! {
        <Protected role=Role::Lead>
            <DashboardLoader dashboard />
        </Protected>
    }
}

#[component]
fn DashboardLoader(dashboard: Resource<Result<DashboardPage, AppError>>) -> impl IntoView {
    view! {
        <Title text="Dashboard" />
        <div class="page-header">
            <h1>"Dashboard"</h1>
            <p class="lead">"What each workflow and model version is doing: volume, automation, overrides, backlog and service levels."</p>
        </div>
        <Transition fallback=|| view! { <p class="loading" role="status">"Counting…"</p> }>
            {move || Suspend::new(async move {
                match dashboard.await {
                    Ok(page) => view! { <DashboardView page /> }.into_any(),
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn DashboardView(page: DashboardPage) -> impl IntoView {
    let DashboardPage {
        workflows,
        slug,
        workflow,
        model_versions,
        model_version,
        range,
        from,
        to,
        caption,
        tiles,
        charts,
        tables,
        api_path,
    } = page;
    if workflows.is_empty() {
        return view! {
            <section class="empty-state">
                <h2>"No workflow yet"</h2>
                <p>"The dashboard shows the workflows you lead. An admin adds you to a workflow on its settings page."</p>
            </section>
        }
        .into_any();
    }
    let ranges = [("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("custom", "Chosen days")];
    view! {
        <form method="get" action="/dashboard" class="form-grid filters" aria-label="Choose what the dashboard shows">
            <div class="field">
                <label for="dash-workflow">"Workflow"</label>
                <select id="dash-workflow" name="workflow">
                    {workflows.into_iter().map(|(value, name)| {
                        let on = value == slug;
                        view! { <option value=value selected=on>{name}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="dash-model">"Model version"</label>
                <select id="dash-model" name="model_version">
                    {model_versions.into_iter().map(|(value, label)| {
                        let on = value == model_version;
                        view! { <option value=value selected=on>{label}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="dash-range">"Range"</label>
                <select id="dash-range" name="range">
                    {ranges.into_iter().map(|(value, label)| {
                        let on = value == range;
                        view! { <option value=value selected=on>{label}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="dash-from">"From (UTC day)"</label>
                <input id="dash-from" name="from" type="date" value=from aria-describedby="dash-days-hint" />
                <p id="dash-days-hint" class="hint">"Counts for \u{201c}Chosen days\u{201d}."</p>
            </div>
            <div class="field">
                <label for="dash-to">"Through (UTC day)"</label>
                <input id="dash-to" name="to" type="date" value=to aria-describedby="dash-days-hint" />
            </div>
            <div class="form-actions"><button type="submit" class="button">"Show"</button></div>
        </form>
        <h2 class="dashboard-title">{workflow}</h2>
        <p class="muted" id="dashboard-range">{caption}" "<a href=api_path>"These numbers as JSON"</a>" (an admin-scoped API key)."</p>
        <ul class="tiles" aria-label="Headline numbers">
            {tiles.into_iter().map(|t| view! { <TileView tile=t /> }).collect_view()}
        </ul>
        {charts.into_iter().map(|chart| view! { <ChartView chart /> }).collect_view()}
        <div class="dashboard-tables">
            {tables.into_iter().map(|(id, heading, table)| {
                let heading_id = format!("{id}-heading");
                let labelled = heading_id.clone();
                view! {
                    <section class="panel" aria-labelledby=labelled id=id>
                        <h2 id=heading_id>{heading}</h2>
                        <TextTableView table />
                    </section>
                }
            }).collect_view()}
        </div>
    }
    .into_any()
}

#[component]
fn TileView(tile: Tile) -> impl IntoView {
    let class = if tile.tone.is_empty() { "tile".to_owned() } else { format!("tile {}", tile.tone) };
    view! {
        <li class=class>
            <span class="tile-label">{tile.label}</span>
            <span class="tile-value">{tile.value}</span>
            <span class="tile-note">{tile.note}</span>
        </li>
    }
}

#[component]
fn ChartView(chart: Chart) -> impl IntoView {
    let Chart { id, heading, note, svg, table } = chart;
    let heading_id = format!("{id}-heading");
    let labelled = heading_id.clone();
    let rows = table.rows.len();
    view! {
        <section class="panel" aria-labelledby=labelled id=id>
            <h2 id=heading_id>{heading}</h2>
            {(!note.is_empty()).then(|| view! { <p class="muted">{note}</p> })}
            <figure class="chart-figure" inner_html=svg></figure>
            <details>
                <summary>{format!("The numbers ({rows} rows)")}</summary>
                <TextTableView table />
            </details>
        </section>
    }
}

#[component]
fn TextTableView(table: TextTable) -> impl IntoView {
    let TextTable { caption, columns, rows } = table;
    let label = caption.clone();
    if rows.is_empty() {
        return view! { <p class="muted">"Nothing in the range."</p> }.into_any();
    }
    // Focusable, so that a table wider than its column scrolls from the keyboard too.
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label=label>
            <table class="table">
                <caption>{caption}</caption>
                <thead><tr>{columns.into_iter().map(|c| view! { <th scope="col">{c}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {rows.into_iter().map(|row| {
                        let mut cells = row.into_iter();
                        let head = cells.next().unwrap_or_default();
                        view! { <tr><th scope="row">{head}</th>{cells.map(|c| view! { <td>{c}</td> }).collect_view()}</tr> }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
