//! `/settings/workflows/:slug/tuning`: threshold tuning for admins. The recommendation and why,
//! the trade-off curve and the calibration (server-drawn SVG, their numbers in tables), what
//! changes in the daily review workload, the evidence, a what-if for any threshold, and the forms
//! that apply a threshold: the recommendation (at once or through a rollout share), one set by
//! hand, and widening a rollout under way. Each asks for a reason and a confirmation. The model
//! version and the what-if are plain GET forms, so all of it works without JavaScript.

mod charts;

use crate::components::form::{ErrorAlert, Field, Submit, TextArea, action_error};
use crate::components::layout::Protected;
use crate::components::table::DataTable;
use crate::domain::Role;
use crate::domain::tuning::{CurvePoint, Recommendation, bin_of};
use crate::error::AppError;
use crate::tuning::api::{ApplyThreshold, CloseBreaker, load_tuning};
use crate::tuning::{BandTuning, OpenBreaker, TuningReport};
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
            // A form that changed something comes back with a mark in the address.
            let done = query.with(|q| (q.get("applied"), q.get("closed")));
            (slug, version, apply.version().get(), done)
        },
        |(slug, version, ..)| load_tuning(slug, version),
    );
    view! {
        <Protected role=Role::Admin>
            <TuningLoader report apply />
        </Protected>
    }
}

#[component]
fn TuningLoader(
    report: Resource<Result<TuningReport, AppError>>,
    apply: ServerAction<ApplyThreshold>,
) -> impl IntoView {
    let query = use_query_map();
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the evidence…"</p> }>
            {move || Suspend::new(async move {
                match report.await {
                    Ok(report) => {
                        let what_if = query.with(|q| q.get("at")).and_then(|a| a.trim().parse::<f64>().ok());
                        let applied = query.with(|q| q.get("applied").is_some());
                        view! { <TuningView report apply what_if applied /> }.into_any()
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

fn percent(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

fn maybe_percent(v: Option<f64>) -> String {
    v.map(percent).unwrap_or_else(|| "no verdicts".into())
}

/// The candidate whose bin holds `threshold`.
fn point_at(curve: &[CurvePoint], threshold: f64) -> Option<CurvePoint> {
    let bin = bin_of(threshold.clamp(0.0, 1.0));
    curve.iter().find(|p| bin_of(p.threshold) == bin).copied()
}

#[component]
fn TuningView(
    report: TuningReport,
    apply: ServerAction<ApplyThreshold>,
    what_if: Option<f64>,
    applied: bool,
) -> impl IntoView {
    let TuningReport {
        slug,
        workflow,
        alpha,
        confidence,
        model_version,
        model_versions,
        current_threshold,
        audit_rate,
        settings_version,
        recommendation,
        curve,
        reject,
        calibration,
        evidence,
        workload,
        rollout,
        breaker,
    } = report;
    let current = current_threshold.and_then(|t| point_at(&curve, t));
    let recommended = recommendation.threshold.and_then(|t| point_at(&curve, t));
    let tradeoff_svg = charts::tradeoff(&curve, alpha, current.as_ref(), recommended.as_ref());
    let calibration_svg = charts::calibration(&calibration);
    let what_if_point = what_if.and_then(|t| point_at(&curve, t));
    let shown: Vec<CurvePoint> = curve.iter().filter(|p| p.volume > 0).copied().collect();
    let error = action_error(apply);
    let per_day = |v: f64| format!("{v:.0}");
    let version_label = |v: &str| if v.is_empty() { "(no model version)".to_owned() } else { v.to_owned() };
    let action = format!("/settings/workflows/{slug}/tuning");
    let (slug_rec, slug_widen) = (slug.clone(), slug.clone());
    view! {
        <Title text=format!("Tuning · {workflow}") />
        <div class="page-header">
            <p class="breadcrumb">
                <a href="/settings">"Settings"</a>" / "<a href="/settings/workflows">"Workflows"</a>" / "
                <a href=format!("/settings/workflows/{slug}")>{workflow.clone()}</a>
            </p>
            <h1>"Threshold tuning"</h1>
            <p class="lead">
                "Target: at most "{percent(alpha)}" errors among automated items, with "{format!("{:.0} %", confidence * 100.0)}
                " confidence. Settings version "{settings_version}"."
            </p>
        </div>
        {breaker.map(|b| view! { <BreakerPanel breaker=b slug=slug.clone() /> })}
        {applied.then(|| view! { <p class="alert ok page-note" role="status">"Applied. The new settings version is in the workflow's settings history."</p> })}
        <form method="get" action=action.clone() class="form-grid filters narrow" aria-label="Choose the model version">
            <div class="field">
                <label for="tuning-model">"Model version"</label>
                <select id="tuning-model" name="model_version">
                    {model_versions
                        .iter()
                        .map(|v| view! { <option value=v.clone() selected=*v == model_version>{version_label(v)}</option> })
                        .collect_view()}
                </select>
            </div>
            <div class="form-actions"><button type="submit" class="button">"Show"</button></div>
        </form>

        <section class="panel" aria-labelledby="recommendation-heading">
            <h2 id="recommendation-heading">"Recommendation"</h2>
            <RecommendationBox recommendation=recommendation.clone() current=current_threshold />
            <div class="table-wrap"><table class="table">
                <caption>"Daily review workload at the last 7 days' volume ("{per_day(workload.items_per_day)}" items a day)"</caption>
                <thead><tr><th scope="col">"Settings"</th><th scope="col">"Threshold"</th><th scope="col">"Reviewed a day"</th></tr></thead>
                <tbody>
                    <tr>
                        <th scope="row">"Now"</th>
                        <td>{current_threshold.map(|t| t.to_string()).unwrap_or_else(|| "none".into())}</td>
                        <td>{per_day(workload.reviews_per_day_now)}</td>
                    </tr>
                    <tr>
                        <th scope="row">"Recommended"</th>
                        <td>{recommendation.threshold.map(|t| t.to_string()).unwrap_or_else(|| "none".into())}</td>
                        <td>{workload.reviews_per_day_recommended.map(per_day).unwrap_or_else(|| "—".into())}</td>
                    </tr>
                </tbody>
            </table></div>
        </section>

        <section class="panel" aria-labelledby="curve-heading">
            <h2 id="curve-heading">"Trade-off"</h2>
            <p class="muted">"The line is the estimated error (each verdict weighted by the inverse of its review probability); the band reaches up to the upper bound that holds with "{format!("{:.0} %", confidence * 100.0)}" confidence."</p>
            <figure class="chart-figure" inner_html=tradeoff_svg></figure>
            <form method="get" action=action.clone() class="form-grid filters narrow" aria-label="What if">
                <input type="hidden" name="model_version" value=model_version.clone() />
                <div class="field">
                    <label for="what-if">"What if the threshold were"</label>
                    <input id="what-if" name="at" inputmode="decimal" value=what_if.map(|t| t.to_string()) />
                </div>
                <div class="form-actions"><button type="submit" class="button">"Show its numbers"</button></div>
            </form>
            {what_if.map(|t| match what_if_point {
                Some(p) => view! {
                    <p class="alert info" role="status" id="what-if-result">
                        {format!(
                            "At {t}: automates {} ({} items), estimated error {}, upper bound {} ({} verdicts, {} of them errors).",
                            percent(p.automation), p.volume, maybe_percent(p.estimated_error), percent(p.upper_bound), p.reviewed, p.errors
                        )}
                    </p>
                }.into_any(),
                None => view! { <p class="alert error" role="alert" id="what-if-result">"Give a threshold between 0 and 1."</p> }.into_any(),
            })}
            <details>
                <summary>"The curve's numbers ("{shown.len()}" thresholds with items)"</summary>
                <CurveTable points=shown />
            </details>
        </section>

        <section class="panel" aria-labelledby="calibration-heading">
            <h2 id="calibration-heading">"Calibration"</h2>
            <figure class="chart-figure" inner_html=calibration_svg></figure>
            <DataTable columns=&["Stated confidence", "Items", "Verdicts", "Observed accuracy"]>
                {calibration
                    .iter()
                    .map(|b| view! {
                        <tr>
                            <th scope="row">{format!("{:.1} – {:.1}", b.lower, b.upper)}</th>
                            <td>{b.volume}</td>
                            <td>{b.reviewed}</td>
                            <td>{maybe_percent(b.observed_accuracy)}</td>
                        </tr>
                    })
                    .collect_view()}
            </DataTable>
        </section>

        {rollout.map(|r| view! {
            <section class="panel" aria-labelledby="rollout-heading">
                <h2 id="rollout-heading">"Rollout"</h2>
                <p>
                    {format!("{} of would-be auto-approvals are automated; the rest are held out for review. ", percent(r.share))}
                    {format!("Reviewed above the threshold so far: {} verdicts, {} wrong, observed error {}.", r.reviewed, r.wrong, maybe_percent(r.observed_error))}
                </p>
            </section>
        })}

        <section class="panel" aria-labelledby="apply-heading">
            <h2 id="apply-heading">"Apply"</h2>
            <ErrorAlert error id="apply-error" />
            <div class="apply-grid">
                {recommendation.threshold.map(|t| view! {
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
                    <Field id="manual-threshold" label="Auto-approve at" name="threshold" inputmode="decimal" value=current_threshold.map(|t| t.to_string()).unwrap_or_default() hint="Empty: stop auto-approving." error error_id="apply-error" />
                    <Field id="manual-share" label="Rollout share" name="rollout_share" inputmode="decimal" value="1" error error_id="apply-error" />
                    <TextArea id="manual-reason" label="Reason" name="reason" rows=2 error error_id="apply-error" />
                    <Confirm id="manual-confirm" />
                    <div class="form-actions"><Submit label="Set threshold" class="button" pending=apply.pending() /></div>
                </ActionForm>
                {rollout.map(|r| view! {
                    <ActionForm action=apply attr:class="stack" attr:aria-label="Widen the rollout">
                        <h3>"Widen the rollout"</h3>
                        <input type="hidden" name="slug" value=slug_widen />
                        <input type="hidden" name="how" value="widen" />
                        <Field id="widen-share" label="New rollout share" name="rollout_share" inputmode="decimal" value=((r.share * 2.0).min(1.0)).to_string() error error_id="apply-error" />
                        <TextArea id="widen-reason" label="Reason" name="reason" rows=2 error error_id="apply-error" />
                        <Confirm id="widen-confirm" />
                        <div class="form-actions"><Submit label="Widen" class="button" pending=apply.pending() /></div>
                    </ActionForm>
                })}
            </div>
        </section>

        <section class="panel" aria-labelledby="evidence-heading">
            <h2 id="evidence-heading">"Evidence"</h2>
            <p>
                {format!(
                    "Model {}: {} items, {} with a verdict, {} of them wrong. At least {} reviewed items above a threshold are needed before it can be recommended. The audit rate is {}.",
                    version_label(&evidence.model_version), evidence.volume, evidence.reviewed, evidence.wrong, evidence.min_sample, percent(audit_rate)
                )}
            </p>
            <DataTable columns=&["Band", "Review probability", "Items", "Verdicts", "Wrong"]>
                {evidence
                    .strata
                    .iter()
                    .map(|s| view! {
                        <tr>
                            <th scope="row">{if s.above_threshold { "At or above the threshold" } else { "Below the threshold" }}</th>
                            <td>{percent(s.review_probability)}</td>
                            <td>{s.volume}</td>
                            <td>{s.reviewed}</td>
                            <td>{s.wrong}</td>
                        </tr>
                    })
                    .collect_view()}
            </DataTable>
        </section>
        {reject.map(|band| view! { <RejectBand band /> })}
    }
}

#[component]
fn BreakerPanel(breaker: OpenBreaker, slug: String) -> impl IntoView {
    let close = ServerAction::<CloseBreaker>::new();
    let error = action_error(close);
    view! {
        <section class="panel breaker-panel" aria-labelledby="breaker-heading">
            <h2 id="breaker-heading">"The breaker is open"</h2>
            <p>{format!("Since {}: {}", crate::components::format::when(breaker.opened_at_ms), breaker.reason)}</p>
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

#[component]
fn RecommendationBox(recommendation: Recommendation, current: Option<f64>) -> impl IntoView {
    let Recommendation { threshold, automation, estimated_error, upper_bound, reason, .. } = recommendation;
    let class = if threshold.is_some() { "verdict-box ok" } else { "verdict-box warn" };
    view! {
        <div class=class id="recommendation">
            <p class="big">
                {match threshold {
                    Some(t) => format!("Auto-approve at {t}: automates {} of items", percent(automation)),
                    None => "No threshold can be recommended yet".to_owned(),
                }}
            </p>
            <p>{reason}</p>
            {threshold.map(|_| view! {
                <p>{format!("Estimated error {}; upper bound {}.", maybe_percent(estimated_error), upper_bound.map(percent).unwrap_or_default())}</p>
            })}
            <p class="muted">{format!("Current threshold: {}.", current.map(|t| t.to_string()).unwrap_or_else(|| "none (nothing is auto-approved)".into()))}</p>
        </div>
    }
}

#[component]
fn CurveTable(points: Vec<CurvePoint>) -> impl IntoView {
    view! {
        <DataTable columns=&["Threshold", "Automated", "Items", "Verdicts", "Errors", "Estimated error", "Upper bound"]>
            {points
                .into_iter()
                .map(|p| view! {
                    <tr>
                        <th scope="row">{p.threshold.to_string()}</th>
                        <td>{percent(p.automation)}</td>
                        <td>{p.volume}</td>
                        <td>{p.reviewed}</td>
                        <td>{p.errors}</td>
                        <td>{maybe_percent(p.estimated_error)}</td>
                        <td>{percent(p.upper_bound)}</td>
                    </tr>
                })
                .collect_view()}
        </DataTable>
    }
}

#[component]
fn RejectBand(band: BandTuning) -> impl IntoView {
    let r = band.recommendation;
    view! {
        <section class="panel" aria-labelledby="reject-heading">
            <h2 id="reject-heading">"Auto-reject band"</h2>
            <p>
                {match r.threshold {
                    Some(t) => format!("Items below {t} could be rejected without review: {} of items, upper bound on wrongly rejected {}.", percent(r.automation), r.upper_bound.map(percent).unwrap_or_default()),
                    None => "No auto-reject band can be recommended yet.".to_owned(),
                }}
            </p>
            <p class="muted">{r.reason}</p>
        </section>
    }
}
