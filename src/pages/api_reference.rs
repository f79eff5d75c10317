use crate::api_reference::api::api_reference;
use leptos::prelude::*;
use leptos_meta::Title;

/// `/docs/api`: a readable reference of the machine API, generated from the code.
#[component]
pub fn ApiReferencePage() -> impl IntoView {
    let endpoints = Resource::new(|| (), |_| api_reference());
    view! {
        <Title text="API reference" />
        <main id="main" class="page">
            <div class="page-header">
                <p class="breadcrumb"><a href="/">"Gatehouse"</a></p>
                <h1>"Machine API reference"</h1>
                <p class="lead">
                    "JSON over HTTP under "<code>"/api/v1"</code>", authenticated with "<code>"Authorization: Bearer <key>"</code>
                    ". The machine-readable document is at "<a href="/api/v1/openapi.json">"/api/v1/openapi.json"</a>"."
                </p>
            </div>
            <Suspense fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    endpoints.await.map(|list| {
                        list.into_iter()
                            .map(|e| view! {
                                <section class="panel endpoint">
                                    <h2><span class="method">{e.method}</span>" "<code>{e.path}</code></h2>
                                    <p><strong>{e.summary}</strong></p>
                                    <p class="muted">{e.description}</p>
                                    {(!e.params.is_empty()).then(|| view! {
                                        <h3>"Parameters"</h3>
                                        <ul class="list">
                                            {e.params.into_iter().map(|(name, place, text)| view! {
                                                <li><code>{name}</code>" ("{place}") "{text}</li>
                                            }).collect_view()}
                                        </ul>
                                    })}
                                    <h3>"Responses"</h3>
                                    <ul class="list">
                                        {e.responses.into_iter().map(|(status, text)| view! {
                                            <li><code>{status}</code>" "{text}</li>
                                        }).collect_view()}
                                    </ul>
                                </section>
                            })
                            .collect_view()
                    })
                })}
            </Suspense>
        </main>
    }
}
