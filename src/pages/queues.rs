use crate::components::form::{ErrorAlert, action_error};
use crate::components::format::age;
use crate::components::layout::Protected;
use crate::components::table::DataTable;
use crate::domain::Role;
use crate::domain::item_state::ItemState;
use crate::review::api::{ClaimAssigned, StartReviewing, queues};
use crate::review::{AssignedItem, QueueSummary, QueuesOverview, item_href};
use leptos::prelude::*;
use leptos_meta::Title;

/// How often the open queues page refreshes its counts (short polling).
pub const REFRESH_MS: u64 = 5000;

/// `/queues`: the reviewer's workflows with their counts, and the items assigned to them.
#[component]
pub fn QueuesPage() -> impl IntoView {
    view! {
        <Protected role=Role::Reviewer>
            <Queues />
        </Protected>
    }
}

#[component]
fn Queues() -> impl IntoView {
    let start = ServerAction::<StartReviewing>::new();
    let claim = ServerAction::<ClaimAssigned>::new();
    let tick = RwSignal::new(0u32);
    // Counts stay current by polling every few seconds while the page is open.
    Effect::new(move |_| {
        if let Ok(handle) =
            set_interval_with_handle(move || tick.update(|t| *t += 1), std::time::Duration::from_millis(REFRESH_MS))
        {
            on_cleanup(move || handle.clear());
        }
    });
    let overview = Resource::new(move || tick.get(), |_| queues());
    let start_error = action_error(start);
    let claim_error = action_error(claim);
    view! {
        <Title text="Queues" />
        <div class="page-header">
            <h1>"Queues"</h1>
            <p class="lead">"Items waiting for your review, by workflow. Counts refresh every few seconds."</p>
        </div>
        <ErrorAlert error=start_error id="start-error" />
        <ErrorAlert error=claim_error id="claim-error" />
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading your queues…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(overview) => view! { <Overview overview start claim /> }.into_any(),
                    Err(error) => view! { <p class="alert error" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Overview(
    overview: QueuesOverview,
    start: ServerAction<StartReviewing>,
    claim: ServerAction<ClaimAssigned>,
) -> impl IntoView {
    let QueuesOverview { queues, assigned, now_ms } = overview;
    let queue_view = if queues.is_empty() {
        view! {
            <section class="empty-state">
                <h2>"No queues yet"</h2>
                <p>"Queues appear here once an admin adds you as a member of a workflow."</p>
            </section>
        }
        .into_any()
    } else {
        view! {
            <ul class="cards queue-cards" aria-label="Your queues">
                {queues.into_iter().map(|q| view! { <QueueCard queue=q now_ms start /> }).collect_view()}
            </ul>
        }
        .into_any()
    };
    view! {
        {queue_view}
        <section class="panel" aria-labelledby="assigned-heading">
            <h2 id="assigned-heading">"Assigned to me"</h2>
            <AssignedList items=assigned now_ms claim />
        </section>
    }
}

#[component]
fn QueueCard(queue: QueueSummary, now_ms: i64, start: ServerAction<StartReviewing>) -> impl IntoView {
    let heading_id = format!("queue-{}", queue.slug);
    let labelled_by = heading_id.clone();
    let oldest = queue.oldest_waiting_ms.map(|at| age(now_ms - at)).unwrap_or_else(|| "—".to_owned());
    let label = if queue.my_item.is_some() { "Continue reviewing" } else { "Start reviewing" };
    let can_start = queue.waiting > 0 || queue.my_item.is_some();
    let button_label = format!("{label} {}", queue.name);
    view! {
        <li class="card queue-card" aria-labelledby=labelled_by>
            <h2 id=heading_id>{queue.name.clone()}</h2>
            {queue.paused.then(|| view! { <span class="badge muted">"Paused: every item is reviewed"</span> })}
            <dl class="stats">
                <div><dt>"Waiting"</dt><dd class="big" data-stat="waiting">{queue.waiting}</dd></div>
                <div><dt>"Oldest"</dt><dd data-stat="oldest">{oldest}</dd></div>
                <div>
                    <dt>"Due soon"</dt>
                    <dd data-stat="due-soon">
                        {queue.due_soon}
                        {(queue.overdue > 0).then(|| view! { " " <span class="badge danger">{format!("{} overdue", queue.overdue)}</span> })}
                    </dd>
                </div>
                <div><dt>"My decisions today"</dt><dd data-stat="mine-today">{queue.my_decisions_today}</dd></div>
            </dl>
            <ActionForm action=start attr:class="queue-start">
                <input type="hidden" name="slug" value=queue.slug.clone() />
                {if can_start {
                    view! { <button type="submit" class="button primary" aria-label=button_label>{label}</button> }.into_any()
                } else {
                    view! { <p class="muted">"Nothing waiting."</p> }.into_any()
                }}
            </ActionForm>
        </li>
    }
}

#[component]
fn AssignedList(items: Vec<AssignedItem>, now_ms: i64, claim: ServerAction<ClaimAssigned>) -> impl IntoView {
    if items.is_empty() {
        return view! { <p class="muted">"Nothing is assigned to you. A lead can hand you an item from their inbox."</p> }
            .into_any();
    }
    view! {
        <DataTable columns=&["Item", "Workflow", "Waiting", ""]>
            {items
                .into_iter()
                .map(|item| {
                    let label = format!("Review {}", item.external_id);
                    let open = item.state == ItemState::Claimed.as_str();
                    view! {
                        <tr>
                            <th scope="row">{item.external_id.clone()}</th>
                            <td>{item.workflow.clone()}</td>
                            <td>{age(now_ms - item.created_at_ms)}</td>
                            <td>
                                {if open {
                                    view! { <a class="button small" href=item_href(&item.slug, item.item_id)>"Continue"</a> }.into_any()
                                } else {
                                    view! {
                                        <ActionForm action=claim attr:class="inline-form">
                                            <input type="hidden" name="item_id" value=item.item_id.to_string() />
                                            <button type="submit" class="button small" aria-label=label>"Review"</button>
                                        </ActionForm>
                                    }.into_any()
                                }}
                            </td>
                        </tr>
                    }
                })
                .collect_view()}
        </DataTable>
    }
    .into_any()
}
