use crate::components::layout::Protected;
use crate::domain::Role;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Protected role=Role::Admin>
            <Title text="Settings" />
            <div class="page-header">
                <h1>"Settings"</h1>
                <p class="lead">"Manage who can use Gatehouse and how it routes work."</p>
            </div>
            <ul class="cards">
                <li class="card">
                    <h2><a href="/settings/users">"Users"</a></h2>
                    <p>"Add people, set their roles, disable accounts and reset passwords."</p>
                </li>
                <li class="card">
                    <h2><a href="/settings/workflows">"Workflows"</a></h2>
                    <p>"Data contracts, thresholds, sampling, SLAs, members, webhooks, and the history of every change."</p>
                </li>
                <li class="card">
                    <h2><a href="/settings/api-keys">"API keys"</a></h2>
                    <p>"Keys for automation systems, scoped to workflows; create and revoke them."</p>
                </li>
                <li class="card">
                    <h2><a href="/settings/audit">"Audit log"</a></h2>
                    <p>"Every change and decision: who, what, in which workflow, when. Read only."</p>
                </li>
            </ul>
        </Protected>
    }
}
