//! The review pages: `/review/:slug` (a queue: what waits there for you) and
//! `/review/:slug/:item` (an item leased to you). Every decision is a form that works without
//! JavaScript; with it, single keys drive them (`?` lists them), the lease is renewed, and a
//! decision's answer carries the next item, so the page moves on without another request.

mod handoff;
mod review_view;
mod shortcuts;
mod undo_banner;

use crate::components::form::ErrorAlert;
use crate::components::format::age;
use crate::components::layout::{ErrorPanel, Protected};
use crate::components::post_form::{FormPost, PostForm};
use crate::domain::Role;
use crate::error::AppError;
use crate::review::QueueSnapshot;
use crate::review::api::{StartReviewing, load_review_item, queue};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use review_view::ReviewView;
use undo_banner::UndoBanner;

pub use handoff::Handoff;

/// `/review/:slug`: a queue's own page. It says what waits there for this reviewer and offers
/// to start (or to go on with the item they hold); after the last decision of a run it also
/// shows that decision's undo banner.
#[component]
pub fn ReviewQueuePage() -> impl IntoView {
    view! {
        <Protected role=Role::Reviewer>
            <QueueStatus />
        </Protected>
    }
}

#[component]
fn QueueStatus() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.with(|p| p.get("slug").unwrap_or_default());
    let start = FormPost::<Option<i64>>::new(&[StartReviewing::PATH]);
    let error = start.error();
    // Asked again after "Check again", which comes back here when nothing waits.
    // The item a skip just passed over (read once: the address does not change while here).
    let skipped = use_query_map().with_untracked(|q| q.get("skipped").and_then(|id| id.parse::<i64>().ok()));
    let summary = Resource::new(move || (slug(), start.version().get()), move |(slug, _)| queue(slug, skipped));
    view! {
        <UndoBanner />
        <ErrorAlert error id="start-error" />
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the queue…"</p> }>
            {move || Suspend::new(async move {
                match summary.await {
                    Ok(snapshot) => view! { <QueueView snapshot start /> }.into_any(),
                    Err(error) => {
                        #[cfg(feature = "ssr")]
                        crate::components::layout::set_status(error.status());
                        match error {
                            AppError::Forbidden => view! { <NotAMember /> }.into_any(),
                            error => view! { <ErrorPanel error /> }.into_any(),
                        }
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn QueueView(snapshot: QueueSnapshot, start: FormPost<Option<i64>>) -> impl IntoView {
    let QueueSnapshot { queue, now_ms, skipped_waiting } = snapshot;
    let others = queue.waiting - i64::from(skipped_waiting);
    let (heading, text, button) = if queue.my_item.is_some() {
        (
            "You are reviewing an item here".to_owned(),
            "Your lease on it has not ended: pick up where you left off.".to_owned(),
            "Continue reviewing",
        )
    } else if others > 0 {
        let items = if queue.waiting == 1 { "item is" } else { "items are" };
        let oldest = queue.oldest_waiting_ms.map(|at| format!(" The oldest arrived {} ago.", age(now_ms - at)));
        (
            format!("{} {items} waiting", queue.waiting),
            format!("They wait in {}.{}", queue.name, oldest.unwrap_or_default()),
            "Start reviewing",
        )
    } else if skipped_waiting {
        (
            "Nothing left to review".to_owned(),
            "Only the item you skipped is waiting: it stays in the queue for you or another reviewer.".to_owned(),
            "Review it now",
        )
    } else {
        (
            "Nothing left to review".to_owned(),
            "No item is waiting in this queue right now. New items arrive all the time.".to_owned(),
            "Check again",
        )
    };
    let title = format!("{} queue", queue.name);
    view! {
        <Title text=title />
        <section class="empty-state" aria-labelledby="queue-heading">
            <p class="breadcrumb"><a href="/queues">"Queues"</a>" / "{queue.name.clone()}</p>
            <h1 id="queue-heading">{heading}</h1>
            <p>{text}</p>
            <div class="row-actions centered">
                <PostForm post=start to=StartReviewing::PATH attr:class="inline-form">
                    <input type="hidden" name="slug" value=queue.slug.clone() />
                    <button type="submit" class="button primary">{button}</button>
                </PostForm>
                <a class="button" href="/queues">"Back to queues"</a>
            </div>
        </section>
    }
}

/// A queue of a workflow the reviewer is not a member of.
#[component]
fn NotAMember() -> impl IntoView {
    view! {
        <Title text="Not your queue" />
        <section class="empty-state" role="alert">
            <h1>"Not your queue"</h1>
            <p>"You are not a member of this workflow. An admin can add you on its settings page."</p>
            <p><a href="/queues">"Go to your queues"</a></p>
        </section>
    }
}

/// `/review/:slug/:item`: one item leased to the reviewer.
#[component]
pub fn ReviewPage() -> impl IntoView {
    view! {
        <Protected role=Role::Reviewer>
            <ReviewLoader />
        </Protected>
    }
}

#[component]
fn ReviewLoader() -> impl IntoView {
    let params = use_params_map();
    let key =
        move || params.with(|p| (p.get("slug").unwrap_or_default(), p.get("item").and_then(|i| i.parse::<i64>().ok())));
    let handoff = expect_context::<Handoff>();
    let item = Resource::new(key, move |(slug, item)| async move {
        match item {
            Some(item) => match handoff.take_item(item) {
                Some(brought) => Ok(brought),
                None => load_review_item(slug, item).await,
            },
            None => Err(AppError::not_found("That item")),
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the item…"</p> }>
            {move || Suspend::new(async move {
                match item.await {
                    // Keyed by item: the next item gets fresh forms. Rebuilt in place, a form
                    // opened and edited on the last item would stay open with its edits.
                    Ok(item) => view! {
                        <For each=move || std::iter::once(item.clone()) key=|item| item.item_id let:item>
                            <ReviewView item />
                        </For>
                    }
                    .into_any(),
                    Err(error) => view! { <NotYours error slug=key().0 /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn NotYours(error: AppError, slug: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::components::layout::set_status(error.status());
    let start = FormPost::<Option<i64>>::new(&[StartReviewing::PATH]);
    view! {
        <Title text="Item not available" />
        <UndoBanner />
        <section class="empty-state" role="alert">
            <h1>"Item not available"</h1>
            <p>{error.to_string()}</p>
            <div class="row-actions centered">
                <PostForm post=start to=StartReviewing::PATH attr:class="inline-form">
                    <input type="hidden" name="slug" value=slug />
                    <button type="submit" class="button primary">"Review the next item"</button>
                </PostForm>
                <a class="button" href="/queues">"Back to queues"</a>
            </div>
        </section>
    }
}
