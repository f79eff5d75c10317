//! Server functions of the API reference page. The reference is public, like the OpenAPI
//! document it reads.

use super::EndpointDoc;
use crate::codec::JsonText;
use crate::error::AppError;
use leptos::prelude::*;

/// The machine API's endpoints, read from the generated OpenAPI document.
#[server(endpoint = "docs/api", output = JsonText)]
pub async fn api_reference() -> Result<Vec<EndpointDoc>, AppError> {
    use utoipa::openapi::RefOr;
    let doc = crate::web::machine_api::openapi();
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
