use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::components::layout::set_status(404);
    view! {
        <Title text="Page not found" />
        <main id="main" class="auth-page">
            <div class="auth-card">
                <h1>"Page not found"</h1>
                <p>"There is nothing at this address. It may have moved, or the link may be mistyped."</p>
                <p><a class="button primary" href="/">"Go to Gatehouse"</a></p>
            </div>
        </main>
    }
}
