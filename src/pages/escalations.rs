use crate::components::layout::Protected;
use crate::domain::Role;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn EscalationsPage() -> impl IntoView {
    view! {
        <Protected role=Role::Lead>
            <Title text="Escalations" />
            <div class="page-header">
                <h1>"Escalations"</h1>
                <p class="lead">"Items taken out of the queues for a lead to decide."</p>
            </div>
            <section class="empty-state">
                <h2>"Nothing escalated"</h2>
                <p>"Escalated items and SLA risks will be listed here."</p>
            </section>
        </Protected>
    }
}
