use crate::components::layout::Protected;
use crate::domain::Role;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn QueuesPage() -> impl IntoView {
    view! {
        <Protected role=Role::Reviewer>
            <Title text="Queues" />
            <div class="page-header">
                <h1>"Queues"</h1>
                <p class="lead">"Items waiting for your review, by workflow."</p>
            </div>
            <section class="empty-state">
                <h2>"No workflows yet"</h2>
                <p>"Queues appear here once an admin creates a workflow and adds you as a member."</p>
            </section>
        </Protected>
    }
}
