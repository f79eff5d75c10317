//! The workflow settings form, shared by the page that creates a workflow and the one that
//! changes it.

use crate::components::form::{ErrorAlert, Field, Submit, TextArea, action_error};
use crate::error::AppError;
use crate::workflows::WorkflowForm;
use crate::workflows::api::SaveWorkflow;
use leptos::prelude::*;

/// The workflow settings form, for creating (slug editable) or changing (reason required).
#[component]
pub fn WorkflowFields(action: ServerAction<SaveWorkflow>, form: WorkflowForm, creating: bool) -> impl IntoView {
    let error: Signal<Option<AppError>> = action_error(action);
    let prefix = if creating { "new" } else { "edit" };
    let id = move |name: &str| format!("{prefix}-{name}");
    let error_id = id("error");
    let saved = move || action.value().get().and_then(Result::ok).filter(|_| !creating);
    let label = if creating { "Create workflow" } else { "Save changes" };
    let e = error_id.clone();
    view! {
        <ActionForm action attr:class="stack" attr:aria-label=if creating { "New workflow" } else { "Workflow settings" }>
            <ErrorAlert error id=error_id.clone() />
            <input type="hidden" name="mode" value=if creating { "create" } else { "update" } />
            <fieldset class="form-grid">
                <legend>"Identity"</legend>
                {if creating {
                    view! { <Field id=id("slug") label="Slug" name="slug" required=true hint="Lowercase letters, digits and hyphens, e.g. invoice-extraction. Used in the API." error error_id=e.clone() /> }.into_any()
                } else {
                    view! { <input type="hidden" name="slug" value=form.slug.clone() /> }.into_any()
                }}
                <Field id=id("name") label="Name" name="name" required=true value=form.name.clone() error error_id=e.clone() />
                <Field id=id("owner") label="Owner (email)" name="owner" kind="email" value=form.owner.clone() hint="The person responsible for its maintenance." error error_id=e.clone() />
            </fieldset>
            <TextArea id=id("description") label="Description" name="description" rows=2 value=form.description.clone() error error_id=e.clone() />
            <TextArea id=id("members") label="Members" name="members" rows=3 value=form.members.clone() hint="Emails of the reviewers and leads who may work it, one per line." error error_id=e.clone() />
            <fieldset class="form-grid">
                <legend>"Routing"</legend>
                <Field id=id("auto") label="Auto-approve at" name="auto_approve_at" inputmode="decimal" value=form.auto_approve_at.clone() hint="Confidence from which items are approved without review; empty: never." error error_id=e.clone() />
                <Field id=id("escalate") label="Escalate below" name="escalate_below" inputmode="decimal" value=form.escalate_below.clone() hint="Confidence under which items go to a lead; empty: never." error error_id=e.clone() />
                <Field id=id("reject") label="Auto-reject below" name="auto_reject_below" inputmode="decimal" value=form.auto_reject_below.clone() hint="Confidence under which items are rejected unseen (the audit rate still samples them); empty: never." error error_id=e.clone() />
                <Field id=id("audit") label="Audit rate" name="audit_rate" inputmode="decimal" value=form.audit_rate.clone() hint="Share of auto-approvals sampled for review (0 to 1)." error error_id=e.clone() />
                <Field id=id("rollout") label="Rollout share" name="rollout_share" inputmode="decimal" value=form.rollout_share.clone() hint="Share of would-be auto-approvals actually automated (0 to 1)." error error_id=e.clone() />
                <Field id=id("rollout-from") label="Rollout from" name="rollout_from" inputmode="decimal" value=form.rollout_from.clone() hint="While a lowered threshold rolls out, the one before: the share holds back only the band between. Empty: all." error error_id=e.clone() />
                <Field id=id("target") label="Target error rate" name="target_error_rate" inputmode="decimal" value=form.target_error_rate.clone() hint="The error rate you accept among automated items." error error_id=e.clone() />
                <Field id=id("confidence") label="Tuning confidence" name="confidence" inputmode="decimal" value=form.confidence.clone() hint="How sure threshold tuning must be of that rate (0.5 to below 1; 0.95 is usual)." error error_id=e.clone() />
                <div class="field checkbox">
                    <input id=id("paused") type="checkbox" name="paused" value="on" checked=form.paused />
                    <label for=id("paused")>"Paused: send every item to review"</label>
                </div>
                <div class="field checkbox">
                    <input id=id("tune-reject") type="checkbox" name="tune_auto_reject" value="on" checked=form.tune_auto_reject />
                    <label for=id("tune-reject")>"Tuning also looks for an auto-reject band"</label>
                </div>
            </fieldset>
            <fieldset class="form-grid">
                <legend>"Service levels"</legend>
                <Field id=id("review-sla") label="Review SLA (minutes)" name="review_sla_minutes" inputmode="numeric" value=form.review_sla_minutes.clone() error error_id=e.clone() />
                <Field id=id("escalation-sla") label="Escalation SLA (minutes)" name="escalation_sla_minutes" inputmode="numeric" value=form.escalation_sla_minutes.clone() error error_id=e.clone() />
                <Field id=id("lease") label="Lease (minutes)" name="lease_minutes" inputmode="numeric" value=form.lease_minutes.clone() hint="How long a claimed item stays with its reviewer." error error_id=e.clone() />
            </fieldset>
            <fieldset class="form-grid">
                <legend>"Data contract"</legend>
                <TextArea id=id("payload-schema") label="Payload schema (JSON Schema)" name="payload_schema" rows=8 monospace=true value=form.payload_schema.clone() error error_id=e.clone() />
                <TextArea id=id("prediction-schema") label="Prediction schema (JSON Schema)" name="prediction_schema" rows=8 monospace=true value=form.prediction_schema.clone() error error_id=e.clone() />
                <Field id=id("labels") label="Labels" name="labels" value=form.labels.clone() hint="Optional, comma-separated: a prediction's label must be one of them." error error_id=e.clone() />
                <Field id=id("reasons") label="Rejection reasons" name="reason_codes" value=form.reason_codes.clone() hint="Comma-separated codes reviewers choose from." error error_id=e.clone() />
            </fieldset>
            <fieldset class="form-grid">
                <legend>"Escalation"</legend>
                <Field id=id("lease-expiries") label="Escalate after expired leases" name="escalate_after_lease_expiries" inputmode="numeric" value=form.escalate_after_lease_expiries.clone() hint="An item whose lease ran out this many times goes to a lead; 0: never." error error_id=e.clone() />
                <Field id=id("escalate-on") label="Escalate on rejection reasons" name="escalate_on_reasons" value=form.escalate_on_reasons.clone() hint="Comma-separated, from the rejection reasons: a rejection for one of them goes to a lead." error error_id=e.clone() />
            </fieldset>
            <Field id=id("reason") label=if creating { "Note (optional)" } else { "Reason for this change" } name="reason" required=!creating hint="Kept in the settings history." error error_id=e.clone() />
            <div class="form-actions">
                <Submit label pending=action.pending() />
            </div>
            <div role="status" class="status-line">
                {move || saved().map(|w| format!("Saved: {} is now at version {}.", w.name, w.settings_version))}
            </div>
        </ActionForm>
    }
}
