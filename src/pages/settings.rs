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
            </ul>
        </Protected>
    }
}
