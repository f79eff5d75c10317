//! The page shell, the router, and the signed-in user shared by every page.

use crate::components::auth::Auth;
use crate::pages::{
    account::AccountPage,
    api_keys::ApiKeysPage,
    api_reference::ApiReferencePage,
    audit::AuditPage,
    dashboard::DashboardPage,
    escalation::EscalationPage,
    escalations::EscalationsPage,
    home::HomePage,
    item::ItemPage,
    items::ItemsPage,
    login::LoginPage,
    not_found::NotFound,
    queues::QueuesPage,
    review::{ReviewPage, ReviewQueuePage},
    settings::SettingsPage,
    setup::SetupPage,
    team::TeamPage,
    tuning::TuningPage,
    users::UsersPage,
    workflow::WorkflowPage,
    workflows::WorkflowsPage,
};
use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

/// The HTML document around the app. Runs on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::web::security::set_page_csp();
    // In the fingerprinted folder, like the script (see `web::assets`); the head is the server's
    // alone (only the body hydrates), so the browser never needs to know the fingerprint.
    let stylesheet = format!("/{}/gatehouse.css", options.site_pkg_dir);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <link rel="stylesheet" id="leptos" href=stylesheet />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Lets the end-to-end tests (and curious people) see that the page is interactive.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Title formatter=|text: String| crate::components::layout::page_title(&text, 0) />
        <Router>
            <AppRoutes />
        </Router>
    }
}

/// The routes, inside the router so that the auth actions see a failed form post's error
/// (the router reads it from the URL when JavaScript is off).
#[component]
fn AppRoutes() -> impl IntoView {
    Auth::provide();
    crate::pages::review::Handoff::provide();
    view! {
            // Async rendering sends each page whole: redirects and statuses (403, 404) reach the
            // browser, and pages work without JavaScript (streamed fragments would need it).
            <Routes fallback=|| view! { <NotFound /> }>
                <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                <Route path=path!("/setup") view=SetupPage ssr=SsrMode::Async />
                <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async />
                <Route path=path!("/queues") view=QueuesPage ssr=SsrMode::Async />
                <Route path=path!("/review/:slug") view=ReviewQueuePage ssr=SsrMode::Async />
                <Route path=path!("/review/:slug/:item") view=ReviewPage ssr=SsrMode::Async />
                <Route path=path!("/escalations") view=EscalationsPage ssr=SsrMode::Async />
                <Route path=path!("/escalations/:item") view=EscalationPage ssr=SsrMode::Async />
                <Route path=path!("/team") view=TeamPage ssr=SsrMode::Async />
                <Route path=path!("/dashboard") view=DashboardPage ssr=SsrMode::Async />
                <Route path=path!("/items") view=ItemsPage ssr=SsrMode::Async />
                <Route path=path!("/items/:id") view=ItemPage ssr=SsrMode::Async />
                <Route path=path!("/settings") view=SettingsPage ssr=SsrMode::Async />
                <Route path=path!("/settings/users") view=UsersPage ssr=SsrMode::Async />
                <Route path=path!("/settings/workflows") view=WorkflowsPage ssr=SsrMode::Async />
                <Route path=path!("/settings/workflows/:slug") view=WorkflowPage ssr=SsrMode::Async />
                <Route path=path!("/settings/workflows/:slug/tuning") view=TuningPage ssr=SsrMode::Async />
                <Route path=path!("/settings/api-keys") view=ApiKeysPage ssr=SsrMode::Async />
                <Route path=path!("/settings/audit") view=AuditPage ssr=SsrMode::Async />
                <Route path=path!("/docs/api") view=ApiReferencePage ssr=SsrMode::Async />
            </Routes>
    }
}
