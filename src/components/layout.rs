use crate::auth::SessionUser;
use crate::auth::api::Logout;
use crate::components::auth::Auth;
use crate::components::post_form::PostForm;
use crate::domain::Role;
use crate::error::AppError;
use crate::escalations::api::load_counts;
use crate::escalations::{COUNTS_EVERY_SECS, Counts};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::components::{A, Redirect};
use leptos_router::hooks::use_location;

/// Renders `children` for a signed-in user whose role includes `role`; sends others to sign
/// in, a user who must replace a password an admin chose to their account page (unless this is
/// it: `own_account`), and tells a signed-in user without the role that the page is not theirs.
/// The server functions check again: this only decides what to show.
#[component]
pub fn Protected(role: Role, #[prop(optional)] own_account: bool, children: ChildrenFn) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let location = use_location();
    // What needs this user, asked again every half minute while the page is open. Made here,
    // outside the suspense, whose content the server renders more than once: made in the
    // layout, the counts were asked as many times a page.
    let tick = RwSignal::new(0_u32);
    let counts = Resource::new(move || tick.get(), |_| load_counts());
    Effect::new(move |_| {
        let every = std::time::Duration::from_secs(COUNTS_EVERY_SECS);
        if let Ok(handle) = set_interval_with_handle(
            move || {
                tick.try_update(|t| *t += 1);
            },
            every,
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    view! {
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    match auth.user.await {
                        Ok(Some(user)) if user.must_change_password && !own_account => {
                            view! { <Redirect path="/account" /> }.into_any()
                        }
                        Ok(Some(user)) if user.role.includes(role) => {
                            view! { <Layout user counts>{children()}</Layout> }.into_any()
                        }
                        Ok(Some(user)) => view! { <Layout user counts><Forbidden /></Layout> }.into_any(),
                        Ok(None) => {
                            let here = location.pathname.get_untracked();
                            let path = format!("/login?next={}", percent_encode(&here));
                            view! { <Redirect path /> }.into_any()
                        }
                        Err(error) => view! { <ErrorPanel error /> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// The application frame: skip link, top bar with the navigation this role may use, main area.
#[component]
pub fn Layout(user: SessionUser, counts: Resource<Result<Counts, AppError>>, children: Children) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let role = user.role;
    // Set once the counts arrive (on the server before the title is written, so that the page
    // comes with it), read by the title.
    let needing = RwSignal::new(0_i64);
    view! {
        <Title formatter=move |text: String| page_title(&text, needing.try_get().unwrap_or_default()) />
        <a class="skip-link" href="#main">"Skip to main content"</a>
        <header class="topbar">
            <a class="brand" href="/queues">
                <Logo />
                <span>"Gatehouse"</span>
            </a>
            <nav aria-label="Main">
                // The links stay while the counts are asked again; they change once the answer is in.
                <Transition fallback=move || nav_links(role, Counts::default())>
                    {move || Suspend::new(async move {
                        let counts = counts.await.unwrap_or_default();
                        let lead = role.includes(Role::Lead);
                        // The page may have moved on (and this layout gone) by the time they arrive.
                        needing.try_set(counts.assigned + if lead { counts.escalations } else { 0 });
                        nav_links(role, counts)
                    })}
                </Transition>
            </nav>
            <div class="account">
                <a class="account-name" href="/account">
                    <span>{user.name.clone()}</span>
                    <span class="visually-hidden">" (your account)"</span>
                </a>
                <span class="badge" aria-label=format!("Role: {}", role.label())>{role.label()}</span>
                <PostForm post=auth.logout to=Logout::PATH>
                    <button type="submit" class="button ghost small">"Sign out"</button>
                </PostForm>
            </div>
        </header>
        <main id="main" class="page" tabindex="-1">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let breakers = counts.await.map(|c| c.breakers).unwrap_or_default();
                    (!breakers.is_empty()).then(|| view! { <BreakerBanner breakers /> })
                })}
            </Transition>
            {children()}
        </main>
    }
}

/// Tells admins, on every page, which workflows' breakers are open.
#[component]
fn BreakerBanner(breakers: Vec<(String, String)>) -> impl IntoView {
    view! {
        <section class="alert error breaker-banner" aria-label="Breaker open">
            <p>
                <strong>"Auto-approval stopped. "</strong>
                "The breaker opened for "
                {breakers
                    .into_iter()
                    .enumerate()
                    .map(|(i, (slug, name))| view! {
                        {(i > 0).then_some(", ")}
                        <a href=format!("/settings/workflows/{slug}/tuning")>{name}</a>
                    })
                    .collect_view()}
                ": the audit sample shows more errors than the target. New items go to review until an admin closes it."
            </p>
        </section>
    }
}

/// A page's title: its own text, then the product's name, led by how many things need the
/// user when any do (`(3) Escalations · Gatehouse`).
pub fn page_title(text: &str, needing: i64) -> String {
    let title = if text.is_empty() { "Gatehouse".to_owned() } else { format!("{text} · Gatehouse") };
    if needing > 0 { format!("({needing}) {title}") } else { title }
}

/// The navigation this role may use, with what needs the user beside its links.
fn nav_links(role: Role, counts: Counts) -> impl IntoView {
    let lead = role.includes(Role::Lead);
    view! {
        <ul class="nav">
            <li><A href="/queues">"Queues" {nav_count(counts.assigned, " assigned to you")}</A></li>
            {lead.then(|| view! { <li><A href="/escalations">"Escalations" {nav_count(counts.escalations, " need you")}</A></li> })}
            {lead.then(|| view! { <li><A href="/team">"Team"</A></li> })}
            {lead.then(|| view! { <li><A href="/dashboard">"Dashboard"</A></li> })}
            {lead.then(|| view! { <li><A href="/items">"Items"</A></li> })}
            {role.includes(Role::Admin).then(|| view! { <li><A href="/settings">"Settings"</A></li> })}
        </ul>
    }
}

/// A count beside a navigation link, when there is something to count; `what` says of what
/// to a screen reader.
fn nav_count(n: i64, what: &'static str) -> impl IntoView {
    (n > 0)
        .then(|| view! { <span class="nav-count" data-count=n>{n}<span class="visually-hidden">{what}</span></span> })
}

#[component]
pub fn Logo() -> impl IntoView {
    view! {
        <svg class="logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false">
            <rect x="2" y="2" width="28" height="28" rx="7" class="logo-bg" />
            <path d="M9 24V13l7-5 7 5v11h-5v-6h-4v6z" class="logo-fg" />
        </svg>
    }
}

/// Shown to a signed-in user whose role does not include the page.
#[component]
pub fn Forbidden() -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_status(403);
    view! {
        <Title text="Not allowed" />
        <section class="empty-state">
            <h1>"Not allowed"</h1>
            <p>"Your role does not include this page. Ask an admin if you need access."</p>
            <p><a href="/queues">"Go to your queues"</a></p>
        </section>
    }
}

/// A failure to load something, in words a person can act on; never internals.
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    view! {
        <section class="empty-state" role="alert">
            <h1>"Something went wrong"</h1>
            <p>{error.to_string()}</p>
            <p><a href="/">"Back to the start"</a></p>
        </section>
    }
}

/// Sets the HTTP status of the page being rendered on the server.
#[cfg(feature = "ssr")]
pub fn set_status(code: u16) {
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::OK));
    }
}

/// Percent-encodes a path for use as a query value.
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_title_leads_with_what_needs_the_user() {
        assert_eq!(super::page_title("Team", 0), "Team · Gatehouse");
        assert_eq!(super::page_title("Escalations", 3), "(3) Escalations · Gatehouse");
        assert_eq!(super::page_title("", 0), "Gatehouse");
    }

    #[test]
    fn percent_encoding_keeps_paths_readable() {
        assert_eq!(super::percent_encode("/settings/users"), "/settings/users");
        assert_eq!(super::percent_encode("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
    }
}
