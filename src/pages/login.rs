use crate::auth::api::needs_setup;
use crate::components::auth::Auth;
use crate::components::form::{ErrorAlert, Field, Submit, action_error};
use crate::components::layout::Logo;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_default();
    let error = action_error(auth.login);
    let setup = Resource::new(|| (), |_| needs_setup());
    view! {
        <Title text="Sign in" />
        <main id="main" class="auth-page">
            <div class="auth-card">
                <div class="auth-brand"><Logo /><span>"Gatehouse"</span></div>
                <h1>"Sign in"</h1>
                <Suspense>
                    {move || Suspend::new(async move {
                        matches!(setup.await, Ok(true)).then(|| view! {
                            <p class="alert info">
                                "No accounts exist yet. "
                                <a href="/setup">"Create the first admin"</a>
                            </p>
                        })
                    })}
                </Suspense>
                <ActionForm action=auth.login attr:class="stack" attr:aria-label="Sign in">
                    <ErrorAlert error id="login-error" />
                    <input type="hidden" name="next" value=next />
                    <Field id="login-email" label="Email" name="email" kind="email" autocomplete="username" required=true error error_id="login-error" />
                    <Field id="login-password" label="Password" name="password" kind="password" autocomplete="current-password" required=true error error_id="login-error" />
                    <Submit label="Sign in" pending=auth.login.pending() />
                </ActionForm>
            </div>
        </main>
    }
}
