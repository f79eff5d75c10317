use crate::auth::api::{Login, needs_setup};
use crate::components::auth::Auth;
use crate::components::form::{ErrorAlert, Field, Submit};
use crate::components::layout::Logo;
use crate::components::post_form::PostForm;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next")).unwrap_or_default();
    let error = auth.login.error();
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
                <PostForm post=auth.login to=Login::PATH attr:class="stack" attr:aria-label="Sign in">
                    <ErrorAlert error id="login-error" />
                    <input type="hidden" name="next" value=next />
                    <Field id="login-email" label="Email" name="email" kind="email" autocomplete="username" required=true error error_id="login-error" />
                    <Field id="login-password" label="Password" name="password" kind="password" autocomplete="current-password" required=true error error_id="login-error" />
                    <Submit label="Sign in" pending=auth.login.pending() />
                </PostForm>
            </div>
        </main>
    }
}
