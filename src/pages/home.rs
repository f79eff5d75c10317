use crate::auth::api::needs_setup;
use crate::components::auth::Auth;
use leptos::prelude::*;
use leptos_router::components::Redirect;

/// `/`: the first admin's setup on a new instance, else the queues or sign-in.
#[component]
pub fn HomePage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let setup = Resource::new(|| (), |_| needs_setup());
    view! {
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let path = match (setup.await, auth.user.await) {
                    (Ok(true), _) => "/setup",
                    (_, Ok(Some(_))) => "/queues",
                    _ => "/login",
                };
                view! { <Redirect path /> }
            })}
        </Suspense>
    }
}
