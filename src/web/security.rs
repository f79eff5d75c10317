//! HTTP security: response headers, the same-origin check for state-changing requests, and
//! mapping server-function errors to their HTTP status.

use crate::error::AppError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The policy for pages: scripts only from this site or carrying this response's nonce (the
/// hydration script), WebAssembly allowed, nothing inline otherwise, no framing.
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

const DEFAULT_CSP: &str =
    "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Sets the page CSP with the render's nonce. Called while the page shell renders.
pub fn set_page_csp() {
    use leptos::prelude::use_context;
    let (Some(nonce), Some(options)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&page_csp(&nonce)) {
        options.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// What browsers are told when Gatehouse is served over HTTPS: a year of HTTPS only.
const HSTS: &str = "max-age=31536000";

/// Adds the security headers every response carries; `https` (the instance is reached over
/// HTTPS, see `ServeArgs::secure_cookies`) adds `Strict-Transport-Security`.
pub async fn headers(State(https): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(DEFAULT_CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // same-origin keeps the Referer that form posts without JavaScript are redirected back to.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
    response
}

/// Origins this instance answers to, from its public URL (if configured).
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    public_origin: Option<String>,
}

impl AllowedOrigins {
    pub fn new(public_url: Option<&str>) -> Self {
        let public_origin = public_url.map(|url| {
            let url = url.trim_end_matches('/');
            match url.find("://").map(|i| i + 3).and_then(|start| url[start..].find('/').map(|p| start + p)) {
                Some(path_start) => url[..path_start].to_owned(),
                None => url.to_owned(),
            }
        });
        Self { public_origin }
    }

    /// Whether `origin` is this site: the configured public origin, or the same host the
    /// request was sent to.
    fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        if self.public_origin.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(origin)) {
            return true;
        }
        let origin_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
        matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
    }
}

/// Decides whether a state-changing request may proceed. Browsers send `Origin` (and
/// `Sec-Fetch-Site`) on every POST; a request from another site is refused before it reaches a
/// handler. Clients that are not browsers send neither and carry no cookies of ours by accident.
pub fn same_origin_verdict(method: &Method, headers: &HeaderMap, allowed: &AllowedOrigins) -> Result<(), AppError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return Err(AppError::CrossOrigin);
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| AppError::CrossOrigin)?;
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !allowed.allows(origin, host) {
            return Err(AppError::CrossOrigin);
        }
    }
    Ok(())
}

pub async fn same_origin(State(allowed): State<Arc<AllowedOrigins>>, request: Request, next: Next) -> Response {
    // The machine API authenticates with bearer keys, not cookies, so CSRF does not apply.
    if request.uri().path().starts_with("/api/v1/") {
        return next.run(request).await;
    }
    match same_origin_verdict(request.method(), request.headers(), &allowed) {
        Ok(()) => next.run(request).await,
        Err(error) => {
            tracing::warn!(origin = ?request.headers().get(header::ORIGIN), path = %request.uri().path(), "cross-origin request refused");
            error_response(&error)
        }
    }
}

/// A JSON error body in the shape server functions use, with the error's status.
pub fn error_response(error: &AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(error).unwrap_or_else(|_| "{\"kind\":\"internal\"}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Server functions answer every error with 500; this gives each its real status (401, 403,
/// 404, 409, 422, 429) from the one mapping in [`AppError::status`].
pub async fn server_fn_status(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response.status().is_redirection() {
        vouch_for_form_error(&mut response);
        return response;
    }
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR || !response.headers().contains_key("serverfnerror") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(retry_after_secs) = error.retry_after_secs() {
            parts.headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A form posted without JavaScript that failed is sent back with its error in the address
/// (`__err`); the same error goes into a short-lived cookie, so that the page shows the message
/// only when this server sent it (see `crate::error::FORM_ERROR_COOKIE`).
fn vouch_for_form_error(response: &mut Response) {
    use crate::error::FORM_ERROR_COOKIE;
    let Some(location) = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()) else { return };
    let Some((_, query)) = location.split_once('?') else { return };
    // The address it goes back to may carry earlier errors too: the page shows the last one.
    let Some((_, error)) = form_urlencoded::parse(query.as_bytes()).filter(|(name, _)| name == "__err").last() else {
        return;
    };
    // The error is URL-safe base64, which a cookie can carry as it is.
    if error.is_empty() || !error.chars().all(|c| c.is_ascii_alphanumeric() || "-_=".contains(c)) {
        return;
    }
    let cookie = format!("{FORM_ERROR_COOKIE}={error}; Path=/; Max-Age=120; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn same_origin_posts_pass() {
        let allowed = AllowedOrigins::default();
        let h = headers(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(same_origin_verdict(&Method::POST, &h, &allowed).is_ok());
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let allowed = AllowedOrigins::default();
        let h = headers(&[("origin", "https://evil.example"), ("host", "127.0.0.1:3000")]);
        assert_eq!(same_origin_verdict(&Method::POST, &h, &allowed), Err(AppError::CrossOrigin));
        let h = headers(&[("sec-fetch-site", "cross-site"), ("host", "127.0.0.1:3000")]);
        assert_eq!(same_origin_verdict(&Method::POST, &h, &allowed), Err(AppError::CrossOrigin));
        let h = headers(&[("origin", "null"), ("host", "127.0.0.1:3000")]);
        assert!(same_origin_verdict(&Method::POST, &h, &allowed).is_err());
    }

    #[test]
    fn reads_are_never_blocked_and_public_url_counts() {
        let h = headers(&[("origin", "https://evil.example")]);
        assert!(same_origin_verdict(&Method::GET, &h, &AllowedOrigins::default()).is_ok());
        let allowed = AllowedOrigins::new(Some("https://review.example.com/"));
        let h = headers(&[("origin", "https://review.example.com"), ("host", "10.0.0.5:3000")]);
        assert!(same_origin_verdict(&Method::POST, &h, &allowed).is_ok());
    }

    #[test]
    fn csp_carries_the_nonce_and_no_unsafe_inline() {
        let csp = page_csp("abc123");
        assert!(csp.contains("'nonce-abc123'"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}
