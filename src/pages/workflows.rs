use crate::components::layout::Protected;
use crate::components::table::DataTable;
use crate::components::workflow_fields::WorkflowFields;
use crate::domain::Role;
use crate::workflows::api::{SaveWorkflow, list_workflows};
use crate::workflows::{WorkflowForm, WorkflowSummary, percent};
use leptos::prelude::*;
use leptos_meta::Title;

/// `/settings/workflows`: every workflow, and the form that creates one.
#[component]
pub fn WorkflowsPage() -> impl IntoView {
    view! {
        <Protected role=Role::Admin>
            <WorkflowsAdmin />
        </Protected>
    }
}

#[component]
fn WorkflowsAdmin() -> impl IntoView {
    let save = ServerAction::<SaveWorkflow>::new();
    let workflows = Resource::new(move || save.version().get(), |_| list_workflows());
    let defaults = WorkflowForm {
        payload_schema: "{\n  \"type\": \"object\"\n}".into(),
        prediction_schema: "{\n  \"type\": \"object\"\n}".into(),
        audit_rate: "0.05".into(),
        rollout_share: "1".into(),
        target_error_rate: "0.02".into(),
        confidence: "0.95".into(),
        review_sla_minutes: "240".into(),
        escalation_sla_minutes: "480".into(),
        lease_minutes: "10".into(),
        escalate_after_lease_expiries: "3".into(),
        ..WorkflowForm::default()
    };
    view! {
        <Title text="Workflows" />
        <div class="page-header">
            <p class="breadcrumb"><a href="/settings">"Settings"</a></p>
            <h1>"Workflows"</h1>
            <p class="lead">"Each workflow is one automation whose outputs are reviewed: its data contract and how its items are routed."</p>
        </div>
        <section class="panel" aria-labelledby="workflow-list-heading">
            <h2 id="workflow-list-heading">"All workflows"</h2>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading workflows…"</p> }>
                {move || Suspend::new(async move {
                    match workflows.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No workflows yet. Create the first one below."</p> }.into_any(),
                        Ok(list) => view! { <WorkflowTable workflows=list /> }.into_any(),
                        Err(error) => view! { <p class="alert error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="panel" aria-labelledby="new-workflow-heading">
            <h2 id="new-workflow-heading">"New workflow"</h2>
            <WorkflowFields action=save form=defaults creating=true />
        </section>
    }
}

fn threshold(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.2}")).unwrap_or_else(|| "never".to_owned())
}

#[component]
fn WorkflowTable(workflows: Vec<WorkflowSummary>) -> impl IntoView {
    view! {
            <DataTable columns=&["Workflow", "Auto-approve at", "Escalate below", "Audit", "Rollout", "Members", "Status", "Version"]>
                        {workflows
                            .into_iter()
                            .map(|w| {
                                let href = format!("/settings/workflows/{}", w.slug);
                                let (status, class) = if w.breaker_open {
                                    ("Breaker open", "badge danger")
                                } else if w.paused {
                                    ("Paused", "badge muted")
                                } else {
                                    ("Active", "badge ok")
                                };
                                view! {
                                    <tr>
                                        <th scope="row"><a href=href>{w.name.clone()}</a><div class="sub mono">{w.slug.clone()}</div></th>
                                        <td>{threshold(w.auto_approve_at)}</td>
                                        <td>{threshold(w.escalate_below)}</td>
                                        <td>{percent(w.audit_rate)}</td>
                                        <td>{percent(w.rollout_share)}</td>
                                        <td>{w.members}</td>
                                        <td><span class=class>{status}</span></td>
                                        <td>{w.settings_version}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
    </DataTable>
        }
}
