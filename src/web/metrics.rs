//! `GET /metrics` (Prometheus's text exposition, optionally behind `--metrics-token`) and the
//! middleware that counts and times every HTTP request by its route: the route's pattern
//! (`/api/v1/workflows/{slug}/items`), never the path as sent, so that the labels stay few.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::time::Instant;

/// Counts and times one request.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let matched = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    // Server functions share one pattern; their paths are a fixed set, but a path that found
    // nothing is not one of them and is not named.
    let route = match matched.as_deref() {
        Some(pattern) if pattern.contains("{*") && status != 404 && path.starts_with("/api/") => path,
        Some(pattern) => pattern.to_owned(),
        None if status == 404 => "unmatched".to_owned(),
        None => "other".to_owned(),
    };
    state.metrics.request(&route, &method, status, started.elapsed().as_secs_f64());
    response
}

/// Whether `headers` carry `Authorization: Bearer <token>` (compared by digest, in constant time).
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let (a, b) = (Sha256::digest(given.as_bytes()), Sha256::digest(token.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The metrics, the database's gauges read afresh.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = state.settings.metrics_token.as_deref().filter(|t| !t.is_empty())
        && !authorized(&headers, token)
    {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "a metrics token is required\n")
            .into_response();
    }
    if let Err(error) = crate::monitoring::gauges::refresh(&state.db, &state.metrics).await {
        tracing::warn!(%error, "the database's gauges could not be read");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}
