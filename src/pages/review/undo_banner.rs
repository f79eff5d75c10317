//! The undo banner: "Approved INV-7. Undo" while the decision can still be taken back, with the
//! seconds left; `u` or its button undoes it.

use super::handoff::Handoff;
use crate::components::browser_clock::js_now;
use crate::components::form::ErrorAlert;
use crate::components::post_form::{FormPost, PostForm};
use crate::items::kind_text;
use crate::review::UndoOffer;
use crate::review::api::{Undo, load_undo_offer};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_query_map;

/// "Approved INV-7. Undo" for a few seconds after a decision (`?undo=<decision id>`).
#[component]
pub fn UndoBanner() -> impl IntoView {
    // Read once: each page makes its own banner, and the page being left must not follow the
    // address to the next page's offer.
    let decision = use_query_map().with_untracked(|q| q.get("undo").and_then(|d| d.parse::<i64>().ok()));
    let handoff = expect_context::<Handoff>();
    let offer = Resource::new(
        move || decision,
        move |decision| async move {
            match decision {
                Some(id) => match handoff.undo(id) {
                    Some(brought) => Some(brought),
                    None => load_undo_offer(id).await.ok().flatten(),
                },
                None => None,
            }
        },
    );
    let undo = FormPost::<i64>::new(&[Undo::PATH]);
    let error = undo.error();
    view! {
        <ErrorAlert error id="undo-error" />
        <Transition fallback=|| ()>
            {move || Suspend::new(async move { offer.await.map(|offer| view! { <UndoOfferView offer undo /> }) })}
        </Transition>
    }
}

#[component]
fn UndoOfferView(offer: UndoOffer, undo: FormPost<i64>) -> impl IntoView {
    let left_ms = offer.undo_until_ms - offer.now_ms;
    let remaining = RwSignal::new(left_ms);
    Effect::new(move |_| {
        let started = js_now();
        if let Ok(handle) = set_interval_with_handle(
            move || remaining.set(left_ms - (js_now() - started)),
            std::time::Duration::from_millis(250),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let text = format!("{} {}.", kind_text(&offer.kind), offer.external_id);
    view! {
        <Show when=move || { remaining.get() > 0 }>
            <div class="alert info undo-banner" role="status">
                <span>{text.clone()}</span>
                <PostForm post=undo to=Undo::PATH attr:class="inline-form" attr:id="undo-form">
                    <input type="hidden" name="decision_id" value=offer.decision_id.to_string() />
                    <button type="submit" class="button small">"Undo " <kbd>"u"</kbd></button>
                </PostForm>
                <span class="muted">{move || format!("{} s left", (remaining.get() + 999) / 1000)}</span>
            </div>
        </Show>
    }
}
