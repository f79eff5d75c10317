//! `/team`: the leads' view of their team's workload. For each member of the workflows they
//! answer for: items in hand, decisions today and this week, the median time per decision and
//! the share a lead overturned; then the last 30 days' escalations by reason. A plain GET form
//! filters by workflow, so a filtered view works without JavaScript and can be shared.

use crate::components::format::age;
use crate::components::layout::{ErrorPanel, Protected};
use crate::components::table::DataTable;
use crate::domain::Role;
use crate::domain::escalation::Reason;
use crate::error::AppError;
use crate::team::api::load_team;
use crate::team::{ESCALATION_DAYS, MemberLoad, Team};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn TeamPage() -> impl IntoView {
    // Made here, outside the sign-in check, whose content is rendered more than once on the
    // server: made inside it, the team would be counted as many times.
    let query = use_query_map();
    let workflow = move || query.with(|q| q.get("workflow").filter(|w| !w.is_empty()));
    let team = Resource::new(workflow, load_team);
    view! {
        <Protected role=Role::Lead>
            <TeamLoader team />
        </Protected>
    }
}

#[component]
fn TeamLoader(team: Resource<Result<Team, AppError>>) -> impl IntoView {
    let query = use_query_map();
    let workflow = move || query.with(|q| q.get("workflow").filter(|w| !w.is_empty()));
    view! {
        <Title text="Team" />
        <div class="page-header">
            <h1>"Team"</h1>
            <p class="lead">"Who holds what, how much each has decided, and where escalations come from."</p>
        </div>
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the team…"</p> }>
            {move || Suspend::new(async move {
                match team.await {
                    Ok(team) => view! { <TeamView team chosen=workflow() /> }.into_any(),
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TeamView(team: Team, chosen: Option<String>) -> impl IntoView {
    let Team { members, escalations_by_reason, workflows, .. } = team;
    let total_escalations: i64 = escalations_by_reason.iter().map(|(_, n)| n).sum();
    view! {
        <form method="get" action="/team" class="form-grid filters narrow" aria-label="Choose a workflow">
            <div class="field">
                <label for="team-workflow">"Workflow"</label>
                <select id="team-workflow" name="workflow">
                    <option value="">"All my workflows"</option>
                    {workflows.into_iter().map(|(slug, name)| {
                        let on = chosen.as_deref() == Some(slug.as_str());
                        view! { <option value=slug selected=on>{name}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="form-actions"><button type="submit" class="button">"Show"</button></div>
        </form>
        <section class="panel" aria-labelledby="members-heading">
            <h2 id="members-heading">"Workload"</h2>
            <p class="hint">
                "Days and weeks are counted in UTC, weeks from Monday. Overturned: rejections sent to a lead \
                 (a reason the workflow escalates on) that the lead then approved or corrected."
            </p>
            {if members.is_empty() {
                view! { <p class="muted">"No member in these workflows yet."</p> }.into_any()
            } else {
                view! {
                    <DataTable columns=&["Member", "Role", "In hand", "Today", "This week", "Median time", "Overturned"]>
                        {members.into_iter().map(|member| view! { <MemberRow member /> }).collect_view()}
                    </DataTable>
                }.into_any()
            }}
        </section>
        <section class="panel" aria-labelledby="reasons-heading">
            <h2 id="reasons-heading">{format!("Escalations of the last {ESCALATION_DAYS} days by reason")}</h2>
            {if escalations_by_reason.is_empty() {
                view! { <p class="muted">"Nothing was escalated in these workflows."</p> }.into_any()
            } else {
                view! {
                    <DataTable columns=&["Reason", "Escalations", "Share"]>
                        {escalations_by_reason.into_iter().map(|(reason, n)| {
                            let label = Reason::parse(&reason).map_or(reason.clone(), |r| r.label().to_owned());
                            let share = format!("{:.0} %", 100.0 * n as f64 / total_escalations.max(1) as f64);
                            view! { <tr data-reason=reason><th scope="row">{label}</th><td>{n}</td><td>{share}</td></tr> }
                        }).collect_view()}
                    </DataTable>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn MemberRow(member: MemberLoad) -> impl IntoView {
    let overturned = match member.overturned_share() {
        Some(share) => format!("{:.0} % ({} of {})", share * 100.0, member.overturned, member.decisions_this_week),
        None => "–".to_owned(),
    };
    let median = member.median_ms.map_or_else(|| "–".to_owned(), age);
    view! {
        <tr data-member=member.email.clone()>
            <th scope="row">{member.name.clone()} <span class="muted">" " {member.email.clone()}</span></th>
            <td>{member.role.clone()}</td>
            <td>{member.in_hand}</td>
            <td>{member.decisions_today}</td>
            <td>{member.decisions_this_week}</td>
            <td>{median}</td>
            <td>{overturned}</td>
        </tr>
    }
}
