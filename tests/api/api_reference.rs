//! The machine API's reference: the OpenAPI document describes exactly what the API's router
//! serves, and the reference page renders it.

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;
use serde_json::Value;
use std::collections::BTreeSet;

on_both_backends!(the_openapi_document_and_reference_page_describe_every_endpoint);

/// The paths a router has routes for, as it was given them. axum keeps no list of them but in
/// its debug form: the quoted strings of the map `paths` of the path router's `node` (the
/// fallback router that follows has one of its own, which is not wanted).
fn routed_paths<S>(router: &axum::Router<S>) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    // The path router comes first in the debug form, so the first node is its.
    const NODE: &str = "node: Node { paths: {";
    let map = &debug[debug.find(NODE).expect("the path router's node") + NODE.len()..];
    let (mut paths, mut current, mut in_string, mut escaped) = (BTreeSet::new(), String::new(), false, false);
    for c in map.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => {
                current.push(c);
                escaped = false;
            }
            (true, false, '\\') => escaped = true,
            (true, false, '"') => {
                paths.insert(std::mem::take(&mut current));
                in_string = false;
            }
            (true, false, _) => current.push(c),
            (false, _, '"') => in_string = true,
            (false, _, '}') => break,
            (false, _, _) => {}
        }
    }
    paths
}

/// A path of the router with each `{parameter}` filled in.
fn concrete(path: &str) -> String {
    let mut concrete = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}').expect("a closed parameter");
        concrete.push_str(&rest[..open]);
        concrete.push('1');
        rest = &rest[close + 1..];
    }
    concrete + rest
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn the_openapi_document_and_reference_page_describe_every_endpoint(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();

    // What the machine API serves: every path of its router (the very router the server nests
    // under /api/v1), and there every method that is not answered 405. The document itself is
    // the one route it need not describe.
    let routed = routed_paths(&gatehouse::web::machine_api::router(1 << 20, 1 << 20));
    assert!(routed.contains("/openapi.json") && routed.len() > 1, "the router's paths are read: {routed:?}");
    let mut served = BTreeSet::new();
    for path in routed.iter().filter(|path| *path != "/openapi.json") {
        for method in METHODS {
            let url = app.url(&format!("/api/v1{}", concrete(path)));
            let response = app.client.request(method.to_uppercase().parse().unwrap(), &url).send().await.unwrap();
            if response.status() != 405 {
                served.insert((format!("/api/v1{path}"), method.to_owned()));
            }
        }
    }
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, operations)| {
            let operations = operations.as_object().unwrap();
            METHODS.iter().filter(|m| operations.contains_key(**m)).map(|m| (path.clone(), (*m).to_owned()))
        })
        .collect();
    assert!(!served.is_empty(), "the probes found what the router serves");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(undocumented.is_empty(), "served but missing from /api/v1/openapi.json: {undocumented:?}");
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
    assert!(paths["/api/v1/workflows/{slug}/items"]["post"]["responses"]["422"].is_object());
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");
    let required = &doc["components"]["schemas"]["Submission"]["required"];
    assert!(required.as_array().unwrap().iter().any(|f| f == "confidence"), "{required}");

    let page = app.client.get(app.url("/docs/api")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/api/v1/workflows/{slug}/items:batch") && html.contains("Submit one item."),
        "reference page"
    );
}
