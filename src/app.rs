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
use leptos_router::{Lazy, LazyRoute, SsrMode, path};

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
    // (The body is marked `data-hydrated` by the entry point, `crate::hydrate`, once the page's
    // chunk is in and the whole page hydrated.)
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
                <Route path=path!("/") view={Lazy::<HomeRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/queues") view={Lazy::<QueuesRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/review/:slug") view={Lazy::<ReviewQueueRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/review/:slug/:item") view=ReviewPage ssr=SsrMode::Async />
                <Route path=path!("/escalations") view={Lazy::<EscalationsRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/escalations/:item") view={Lazy::<EscalationRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/team") view={Lazy::<TeamRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/dashboard") view={Lazy::<DashboardRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/items") view={Lazy::<ItemsRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/items/:id") view={Lazy::<ItemRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/settings") view={Lazy::<SettingsRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/settings/users") view={Lazy::<UsersRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/settings/workflows") view={Lazy::<WorkflowsRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/settings/workflows/:slug") view={Lazy::<WorkflowRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/settings/workflows/:slug/tuning") view={Lazy::<TuningRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/settings/api-keys") view={Lazy::<ApiKeysRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/settings/audit") view={Lazy::<AuditRoute>::new()} ssr=SsrMode::Async />
                <Route path=path!("/docs/api") view={Lazy::<ApiReferenceRoute>::new()} ssr=SsrMode::Async />
            </Routes>
    }
}

/// Names the chunks of the lazy page group `group` in the page's head, for the browser to fetch
/// them at once (see `web::assets::PageChunks`).
#[cfg(feature = "ssr")]
fn name_chunks(group: &str) {
    use leptos_meta::Link;
    let Some(chunks) = use_context::<crate::web::assets::PageChunks>() else { return };
    for href in chunks.of(group).iter().cloned() {
        let link = if href.ends_with(".js") {
            view! { <Link rel="modulepreload" href /> }.into_any()
        } else {
            view! { <Link rel="preload" href as_="fetch" type_="application/wasm" crossorigin="anonymous" /> }
                .into_any()
        };
        // Rendering a meta component registers it with the page's head.
        let _ = link.to_html();
    }
}

/// Every page but the review page is loaded lazily: the views and browser-side code of each
/// group of pages below are split out of the main WebAssembly (`scripts/build-site` runs the
/// splitter) and fetched when a page of the group is first shown. A reviewer's cold load of the
/// review page thus moves the router, the shell and that page, not the whole application
/// (docs/BENCHMARKS.md, Page weight). Pages are grouped by who uses them together because the
/// splitter cuts a chunk for every set of lazy functions that share code: one lazy function per
/// page made 300 chunks, a page fetching up to 170 of them. The server renders every page whole
/// and names its group's chunks in the head, so the browser fetches them beside the main module.
/// (`$preload` is the name `#[lazy]` gives the function that fetches `$load`'s chunks.)
macro_rules! lazy_group {
    ($load:ident, $preload:ident, $which:ident { $($page:ident => $route:ident),* $(,)? }) => {
        // (Each variant is named after its page's component.)
        #[derive(Clone, Copy)]
        #[allow(clippy::enum_variant_names)]
        enum $which {
            $($page),*
        }

        #[lazy]
        fn $load(which: $which) -> AnyView {
            match which {
                $($which::$page => view! { <$page /> }.into_any()),*
            }
        }

        $(
            struct $route;

            impl LazyRoute for $route {
                fn data() -> Self {
                    $route
                }

                async fn view(_this: Self) -> AnyView {
                    $load($which::$page).await
                }

                // The router awaits this before it hydrates or shows the page: in the browser it
                // fetches the group's chunks (without it the page's view would still be loading
                // when hydration reaches it); on the server it names them in the page's head.
                async fn preload() {
                    #[cfg(feature = "hydrate")]
                    $preload().await;
                    #[cfg(feature = "ssr")]
                    name_chunks(stringify!($load));
                }
            }
        )*
    };
}

lazy_group!(entry_pages, __preload_entry_pages, EntryPage {
    HomePage => HomeRoute,
    LoginPage => LoginRoute,
    SetupPage => SetupRoute,
    AccountPage => AccountRoute,
    QueuesPage => QueuesRoute,
    ReviewQueuePage => ReviewQueueRoute,
});

lazy_group!(lead_pages, __preload_lead_pages, LeadPage {
    EscalationsPage => EscalationsRoute,
    EscalationPage => EscalationRoute,
    TeamPage => TeamRoute,
});

lazy_group!(monitoring_pages, __preload_monitoring_pages, MonitoringPage {
    DashboardPage => DashboardRoute,
    ItemsPage => ItemsRoute,
    ItemPage => ItemRoute,
});

lazy_group!(settings_pages, __preload_settings_pages, SettingsGroupPage {
    SettingsPage => SettingsRoute,
    UsersPage => UsersRoute,
    WorkflowsPage => WorkflowsRoute,
    WorkflowPage => WorkflowRoute,
    TuningPage => TuningRoute,
    ApiKeysPage => ApiKeysRoute,
    AuditPage => AuditRoute,
    ApiReferencePage => ApiReferenceRoute,
});
