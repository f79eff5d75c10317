//! `/settings/workflows/:slug/tuning`: threshold tuning for admins. The recommendation and why,
//! the trade-off curve and the calibration (server-drawn SVG, their numbers in tables), what
//! changes in the daily review workload, the evidence, a what-if for any threshold, and the forms
//! that apply a threshold: the recommendation (at once or through a rollout share), one set by
//! hand, and widening a rollout under way. Each asks for a reason and a confirmation. The model
//! version and the what-if are plain GET forms, so all of it works without JavaScript.

use crate::components::form::{ErrorAlert, Field, Submit, TextArea, action_error};
use crate::components::layout::Protected;
use crate::components::table::DataTable;
use crate::domain::Role;
use crate::error::AppError;
use crate::tuning::TuningPage;
use crate::tuning::api::{ApplyThreshold, CloseBreaker, load_tuning};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn TuningPage() -> impl IntoView {
    // Made here, outside the sign-in check, whose content the server renders more than once.
    let params = use_params_map();
    let query = use_query_map();
    let apply = ServerAction::<ApplyThreshold>::new();
    let report = Resource::new(
        move || {
            let slug = params.with(|p| p.get("slug").unwrap_or_default());
            let version = query.with(|q| q.get("model_version").filter(|v| !v.is_empty()));
            let at = query.with(|q| q.get("at"));
            // A form that changed something comes back with a mark in the address.
            let done = query.with(|q| (q.get("applied"), q.get("closed")));
            (slug, version, at, apply.version().get(), done)
        },
        |(slug, version, at, ..)| load_tuning(slug, version, at),
    );
    view! {
        <Protected role=Role::Admin>
            <TuningLoader report apply />
        </Protected>
    }
}

#[component]
fn TuningLoader(report: Resource<Result<TuningPage, AppError>>, apply: ServerAction<ApplyThreshold>) -> impl IntoView {
    let query = use_query_map();
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the evidence…"</p> }>
            {move || Suspend::new(async move {
                match report.await {
                    Ok(page) => {
                        let applied = query.with(|q| q.get("applied").is_some());
                        view! { <TuningView page apply applied /> }.into_any()
                    }
                    Err(error) => {
                        #[cfg(feature = "ssr")]
                        crate::components::layout::set_status(error.status());
                        view! {
                            <Title text="Threshold tuning" />
                            <section class="empty-state" role="alert">
                                <h1>"Tuning not available"</h1>
                                <p>{error.to_string()}</p>
                                <p><a href="/settings/workflows">"All workflows"</a></p>
                            </section>
                        }
                        .into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// A table of rows of text, the first cell of each its row's header.
#[component]
fn TextRows(columns: &'static [&'static str], rows: Vec<Vec<String>>) -> impl IntoView {
    view! {
        <DataTable columns>
            {rows
                .into_iter()
                .map(|row| {
                    let mut cells = row.into_iter();
                    let head = cells.next().unwrap_or_default();
                    view! { <tr><th scope="row">{head}</th>{cells.map(|c| view! { <td>{c}</td> }).collect_view()}</tr> }
                })
                .collect_view()}
        </DataTable>
    }
}

#[component]
fn TuningView(page: TuningPage, apply: ServerAction<ApplyThreshold>, applied: bool) -> impl IntoView {
    let TuningPage {
        slug,
        workflow,
        target,
        model_version,
        model_versions,
        recommended,
        headline,
        reason,
        numbers,
        current,
        current_threshold,
        workload_caption,
        workload,
        band_note,
        tradeoff_svg,
        calibration_svg,
        what_if,
        curve,
        calibration,
        rollout,
        widen_to,
        evidence,
        strata,
        breaker,
        reject,
        reject_threshold,
        ..
    } = page;
    let error = action_error(apply);
    let action = format!("/settings/workflows/{slug}/tuning");
    let (slug_rec, slug_widen, slug_reject) = (slug.clone(), slug.clone(), slug.clone());
    let curve_count = curve.len();
    let box_class = if recommended.is_some() { "verdict-box ok" } else { "verdict-box warn" };
    view! {
        <Title text=format!("Tuning · {workflow}") />
        <div class="page-header">
            <p class="breadcrumb">
                <a href="/settings">"Settings"</a>" / "<a href="/settings/workflows">"Workflows"</a>" / "
                <a href=format!("/settings/workflows/{slug}")>{workflow.clone()}</a>
            </p>
            <h1>"Threshold tuning"</h1>
            <p class="lead">{target}</p>
        </div>
        {breaker.map(|(since, why)| view! { <BreakerPanel since why slug=slug.clone() /> })}
        {applied.then(|| view! { <p class="alert ok page-note" role="status">"Applied. The new settings version is in the workflow's settings history."</p> })}
        <form method="get" action=action.clone() class="form-grid filters narrow" aria-label="Choose the model version">
            <div class="field">
                <label for="tuning-model">"Model version"</label>
                <select id="tuning-model" name="model_version">
                    {model_versions
                        .into_iter()
                        .map(|(value, label)| {
                            let selected = value == model_version;
                            view! { <option value=value selected=selected>{label}</option> }
                        })
                        .collect_view()}
                </select>
            </div>
            <div class="form-actions"><button type="submit" class="button">"Show"</button></div>
        </form>

        <section class="panel" aria-labelledby="recommendation-heading">
            <h2 id="recommendation-heading">"Recommendation"</h2>
            <div class=box_class id="recommendation">
                <p class="big">{headline}</p>
                <p>{reason}</p>
                {numbers.map(|n| view! { <p>{n}</p> })}
                <p class="muted">{current}</p>
            </div>
            <p class="table-caption">{workload_caption}</p>
            <TextRows columns=&["Settings", "Threshold", "Reviewed a day"] rows=workload />
        </section>

        <section class="panel" aria-labelledby="curve-heading">
            <h2 id="curve-heading">"Trade-off"</h2>
            <p class="muted">{band_note}</p>
            <figure class="chart-figure" inner_html=tradeoff_svg></figure>
            <form method="get" action=action.clone() class="form-grid filters narrow" aria-label="What if">
                <input type="hidden" name="model_version" value=model_version.clone() />
                <div class="field">
                    <label for="what-if">"What if the threshold were"</label>
                    <input id="what-if" name="at" inputmode="decimal" value=what_if.as_ref().map(|(typed, _)| typed.clone()) />
                </div>
                <div class="form-actions"><button type="submit" class="button">"Show its numbers"</button></div>
            </form>
            {what_if.map(|(_, answer)| match answer {
                Ok(text) => view! { <p class="alert info" role="status" id="what-if-result">{text}</p> }.into_any(),
                Err(text) => view! { <p class="alert error" role="alert" id="what-if-result">{text}</p> }.into_any(),
            })}
            <details>
                <summary>"The curve's numbers ("{curve_count}" thresholds with items)"</summary>
                <TextRows columns=&["Threshold", "Automated", "Items", "Verdicts", "Errors", "Estimated error", "Upper bound"] rows=curve />
            </details>
        </section>

        <section class="panel" aria-labelledby="calibration-heading">
            <h2 id="calibration-heading">"Calibration"</h2>
            <figure class="chart-figure" inner_html=calibration_svg></figure>
            <TextRows columns=&["Stated confidence", "Items", "Verdicts", "Observed accuracy"] rows=calibration />
        </section>

        {rollout.map(|text| view! {
            <section class="panel" aria-labelledby="rollout-heading">
                <h2 id="rollout-heading">"Rollout"</h2>
                <p>{text}</p>
            </section>
        })}

        <section class="panel" aria-labelledby="apply-heading">
            <h2 id="apply-heading">"Apply"</h2>
            <ErrorAlert error id="apply-error" />
            <div class="apply-grid">
                {recommended.map(|t| view! {
                    <ActionForm action=apply attr:class="stack" attr:aria-label="Apply the recommendation">
                        <h3>{format!("Apply the recommendation: {t}")}</h3>
                        <input type="hidden" name="slug" value=slug_rec />
                        <input type="hidden" name="how" value="recommendation" />
                        <Field id="rec-share" label="Rollout share" name="rollout_share" inputmode="decimal" value="1" hint="Share of would-be auto-approvals automated at first; 1 for all at once." error error_id="apply-error" />
                        <TextArea id="rec-reason" label="Reason" name="reason" rows=2 error error_id="apply-error" />
                        <Confirm id="rec-confirm" />
                        <div class="form-actions"><Submit label="Apply recommendation" pending=apply.pending() /></div>
                    </ActionForm>
                })}
                <ActionForm action=apply attr:class="stack" attr:aria-label="Set the threshold by hand">
                    <h3>"Set manually"</h3>
                    <input type="hidden" name="slug" value=slug.clone() />
                    <input type="hidden" name="how" value="manual" />
                    <Field id="manual-threshold" label="Auto-approve at" name="threshold" inputmode="decimal" value=current_threshold hint="Empty: stop auto-approving." error error_id="apply-error" />
                    <Field id="manual-share" label="Rollout share" name="rollout_share" inputmode="decimal" value="1" error error_id="apply-error" />
                    <TextArea id="manual-reason" label="Reason" name="reason" rows=2 error error_id="apply-error" />
                    <Confirm id="manual-confirm" />
                    <div class="form-actions"><Submit label="Set threshold" class="button" pending=apply.pending() /></div>
                </ActionForm>
                {widen_to.map(|share| view! {
                    <ActionForm action=apply attr:class="stack" attr:aria-label="Widen the rollout">
                        <h3>"Widen the rollout"</h3>
                        <input type="hidden" name="slug" value=slug_widen />
                        <input type="hidden" name="how" value="widen" />
                        <Field id="widen-share" label="New rollout share" name="rollout_share" inputmode="decimal" value=share error error_id="apply-error" />
                        <TextArea id="widen-reason" label="Reason" name="reason" rows=2 error error_id="apply-error" />
                        <Confirm id="widen-confirm" />
                        <div class="form-actions"><Submit label="Widen" class="button" pending=apply.pending() /></div>
                    </ActionForm>
                })}
            </div>
        </section>

        <section class="panel" aria-labelledby="evidence-heading">
            <h2 id="evidence-heading">"Evidence"</h2>
            <p>{evidence}</p>
            <TextRows columns=&["Band", "Review probability", "Items", "Verdicts", "Wrong"] rows=strata />
        </section>
        {reject.map(|(finding, why)| view! {
            <section class="panel" aria-labelledby="reject-heading">
                <h2 id="reject-heading">"Auto-reject band"</h2>
                <p>{finding}</p>
                <p class="muted">{why}</p>
                <ActionForm action=apply attr:class="stack narrow-form" attr:aria-label="Set the auto-reject band">
                    <input type="hidden" name="slug" value=slug_reject />
                    <input type="hidden" name="how" value="reject" />
                    <Field id="reject-threshold" label="Reject unseen below" name="threshold" inputmode="decimal" value=reject_threshold hint="Empty: reject nothing unseen." error error_id="apply-error" />
                    <TextArea id="reject-reason" label="Reason" name="reason" rows=2 error error_id="apply-error" />
                    <Confirm id="reject-confirm" />
                    <div class="form-actions"><Submit label="Set auto-reject band" class="button" pending=apply.pending() /></div>
                </ActionForm>
            </section>
        })}
    }
}

#[component]
fn BreakerPanel(since: String, why: String, slug: String) -> impl IntoView {
    let close = ServerAction::<CloseBreaker>::new();
    let error = action_error(close);
    view! {
        <section class="panel breaker-panel" aria-labelledby="breaker-heading">
            <h2 id="breaker-heading">"The breaker is open"</h2>
            <p>{format!("Since {since}: {why}")}</p>
            <p>"Every new item goes to review (reason: breaker) until it is closed."</p>
            <ActionForm action=close attr:class="stack" attr:aria-label="Close the breaker">
                <ErrorAlert error id="breaker-error" />
                <input type="hidden" name="slug" value=slug />
                <TextArea id="breaker-reason" label="Why it can close" name="reason" rows=2 error error_id="breaker-error" />
                <div class="form-actions"><Submit label="Close the breaker" pending=close.pending() /></div>
            </ActionForm>
        </section>
    }
}

#[component]
fn Confirm(id: &'static str) -> impl IntoView {
    view! {
        <div class="field checkbox">
            <input id=id type="checkbox" name="confirm" value="on" required=true />
            <label for=id>"I have looked at the evidence and want this change"</label>
        </div>
    }
}
