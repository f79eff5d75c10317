//! `/items/:id`: one item and its whole history, for a lead of its workflow or an admin: its
//! state and outcome, the item as the review page shows it, the output it settled on, and every
//! decision in order (undone ones marked).

use crate::components::format::when;
use crate::components::item_display::{ItemHistory, ItemPanels};
use crate::components::layout::{ErrorPanel, Protected};
use crate::domain::Role;
use crate::error::AppError;
use crate::items::ItemRecord;
use crate::items::api::load_item_record;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ItemPage() -> impl IntoView {
    // Made here, outside the sign-in check, whose content the server renders more than once.
    let params = use_params_map();
    let record = Resource::new(
        move || params.with(|p| p.get("id").and_then(|i| i.parse::<i64>().ok())),
        |id| async move {
            match id {
                Some(id) => load_item_record(id).await,
                None => Err(AppError::not_found("That item")),
            }
        },
    );
    view! {
        <Protected role=Role::Lead>
            <Transition fallback=|| view! { <p class="loading" role="status">"Loading the item…"</p> }>
                {move || Suspend::new(async move {
                    match record.await {
                        Ok(record) => view! { <RecordView record /> }.into_any(),
                        Err(error) => {
                            #[cfg(feature = "ssr")]
                            crate::components::layout::set_status(error.status());
                            view! { <Title text="Item" /><ErrorPanel error /> }.into_any()
                        }
                    }
                })}
            </Transition>
        </Protected>
    }
}

#[component]
fn RecordView(record: ItemRecord) -> impl IntoView {
    let ItemRecord {
        slug,
        workflow,
        external_id,
        state,
        outcome,
        payload,
        prediction,
        final_output,
        confidence,
        model_version,
        route_reason,
        review_probability,
        low_confidence_below,
        created_at_ms,
        history,
        ..
    } = record;
    let status = match &outcome {
        Some(outcome) => format!("{} · outcome: {outcome}", state.replace('_', " ")),
        None => state.replace('_', " "),
    };
    view! {
        <Title text=format!("Item {external_id}") />
        <div class="page-header">
            <p class="breadcrumb"><a href=format!("/items?workflow={slug}")>{format!("Items of {workflow}")}</a></p>
            <h1>{external_id.clone()}</h1>
            <p class="lead">{status}" · arrived "{when(created_at_ms)}</p>
        </div>
        <ItemPanels payload prediction confidence model_version route_reason review_probability low_confidence_below />
        {final_output.map(|output| view! {
            <section class="panel" aria-labelledby="output-heading">
                <h2 id="output-heading">"Output it settled on"</h2>
                <pre class="json-block">{serde_json::to_string_pretty(&output).unwrap_or_default()}</pre>
            </section>
        })}
        <section class="panel" aria-labelledby="history-heading">
            <h2 id="history-heading">"History"</h2>
            <ItemHistory lines=history />
        </section>
    }
}
