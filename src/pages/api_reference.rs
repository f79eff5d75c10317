use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

/// One endpoint of the machine API, as the reference page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointDoc {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub params: Vec<(String, String, String)>,
    pub responses: Vec<(String, String)>,
}

/// The machine API's endpoints, read from the generated OpenAPI document.
#[server(endpoint = "docs/api")]
pub async fn api_reference() -> Result<Vec<EndpointDoc>, crate::error::AppError> {
    use utoipa::OpenApi;
    use utoipa::openapi::RefOr;
    let doc = crate::machine_api::ApiDoc::openapi();
    let mut endpoints = Vec::new();
    for (path, item) in &doc.paths.paths {
        let operations = [("GET", &item.get), ("POST", &item.post)];
        for (method, operation) in operations {
            let Some(op) = operation else { continue };
            let params = op
                .parameters
                .iter()
                .flatten()
                .map(|p| {
                    let place = serde_json::to_value(&p.parameter_in)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    (p.name.clone(), place, p.description.clone().unwrap_or_default())
                })
                .collect();
            let responses = op
                .responses
                .responses
                .iter()
                .map(|(status, response)| {
                    let text = match response {
                        RefOr::T(r) => r.description.clone(),
                        RefOr::Ref(_) => String::new(),
                    };
                    (status.clone(), text)
                })
                .collect();
            endpoints.push(EndpointDoc {
                method: method.to_owned(),
                path: path.clone(),
                summary: op.summary.clone().unwrap_or_default(),
                description: op.description.clone().unwrap_or_default(),
                params,
                responses,
            });
        }
    }
    Ok(endpoints)
}

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
