use crate::auth::api::{CreateFirstAdmin, needs_setup};
use crate::components::auth::Auth;
use crate::components::form::{ErrorAlert, Field, Submit};
use crate::components::layout::Logo;
use crate::components::post_form::PostForm;
use crate::domain::Password;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

/// The one-time "create the first admin" form of a new instance.
#[component]
pub fn SetupPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let error = auth.setup.error();
    let status = Resource::new(|| (), |_| needs_setup());
    // The address the server prints at start carries the token, so that following it fills it in.
    let query = leptos_router::hooks::use_query_map();
    let token = move || query.with_untracked(|q| q.get("token")).unwrap_or_default();
    view! {
        <Title text="Set up Gatehouse" />
        <main id="main" class="auth-page">
            <div class="auth-card wide">
                <div class="auth-brand"><Logo /><span>"Gatehouse"</span></div>
                <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        if matches!(status.await, Ok(false)) {
                            view! {
                                <h1>"Gatehouse is set up"</h1>
                                <p>"An admin account already exists."</p>
                                <p><a class="button primary" href="/login">"Sign in"</a></p>
                            }.into_any()
                        } else {
                            view! {
                                <h1>"Create the first admin"</h1>
                                <p class="lead">
                                    "This account manages users, workflows and settings. You can add everyone else afterwards."
                                </p>
                                <PostForm post=auth.setup to=CreateFirstAdmin::PATH attr:class="stack" attr:aria-label="Create the first admin">
                                    <ErrorAlert error id="setup-error" />
                                    <Field id="setup-token" label="Setup token" name="setup_token" autocomplete="off" required=true value=token() hint="Printed by the server when it starts with no users, to prove you run it." error error_id="setup-error" />
                                    <Field id="setup-name" label="Name" name="name" autocomplete="name" error error_id="setup-error" />
                                    <Field id="setup-email" label="Email" name="email" kind="email" autocomplete="username" required=true error error_id="setup-error" />
                                    <Field id="setup-password" label="Password" name="password" kind="password" autocomplete="new-password" required=true minlength=Password::MIN_CHARS hint="At least 12 characters." error error_id="setup-error" />
                                    <Field id="setup-password-confirm" label="Confirm password" name="password_confirm" kind="password" autocomplete="new-password" required=true error error_id="setup-error" />
                                    <Submit label="Create admin account" pending=auth.setup.pending() />
                                </PostForm>
                            }.into_any()
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}
