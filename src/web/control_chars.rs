//! Control characters are refused at the edge, on both backends alike: PostgreSQL cannot store
//! NUL in text at all (a query binding one fails), and none belongs in what people read. Item
//! data is JSON and stays as sent (its strings are stored escaped); every other text is checked
//! here before any handler runs:
//!
//! - an address whose path holds one names nothing that can exist: 404;
//! - a server function's form field that holds one (tab and line breaks aside, which notes and
//!   schemas need) is answered 422 naming the field, and nothing runs.
//!
//! Single-line fields (names, slugs, emails) refuse line breaks too, where they are parsed.

use super::api_error::ApiError;
use super::security::error_response;
use crate::domain::text::allowed_in_text;
use crate::error::AppError;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

fn decoded_has_control(raw: &str) -> bool {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().chars().any(char::is_control)
}

/// Refuses, with 404, an address whose path holds a control character once decoded.
pub async fn refuse_in_address(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !decoded_has_control(path) {
        return next.run(request).await;
    }
    tracing::info!("refused: a control character in the address");
    let missing = AppError::not_found("That address");
    if path.starts_with("/api/v1/") {
        ApiError::from(missing).into_response()
    } else if path.starts_with("/api/") {
        error_response(&missing)
    } else {
        (StatusCode::NOT_FOUND, "Not found: the address holds a control character.").into_response()
    }
}

/// The first field of a form body with a character [`allowed_in_text`] refuses, and its name.
pub fn first_refused_field(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(name, value)| !name.chars().all(allowed_in_text) || !value.chars().all(allowed_in_text))
        .map(|(name, _)| name.chars().filter(|c| !c.is_control()).take(64).collect())
}

/// Refuses a server function call (a post under `/api/`) whose fields hold a control character
/// other than tab or a line break: 422 naming the field. Every server function takes its
/// arguments form-encoded and reads the body as such whatever its `Content-Type` says, so every
/// body is checked as a form. `limit` is the body limit, for the 413 of a body over it.
pub async fn refuse_in_form(State(limit): State<usize>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => return error_response(&AppError::PayloadTooLarge { limit_bytes: limit }),
    };
    if let Some(field) = first_refused_field(&bytes) {
        tracing::info!(field, path = parts.uri.path(), "refused: a control character in a form field");
        let shown = if field.is_empty() { "a field" } else { field.as_str() };
        let message = format!("{shown} must not contain control characters (such as NUL).");
        return error_response(&AppError::invalid(&field, message));
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_control_characters_are_named() {
        assert_eq!(first_refused_field(b"name=Ada&note=line%0Aanother%09tabbed"), None);
        assert_eq!(first_refused_field(b"name=Ada&note=a%00b"), Some("note".into()));
        assert_eq!(first_refused_field(b"reason_code=x%1B%5B31m"), Some("reason_code".into()));
        assert_eq!(first_refused_field(b"fields%5B%2Ftotal%5D=%7F"), Some("fields[/total]".into()));
        assert_eq!(first_refused_field(b"a%00b=1"), Some("ab".into()), "the name is shown without it");
    }

    #[test]
    fn addresses_are_decoded_before_the_check() {
        assert!(decoded_has_control("/review/inv%00oices/1"));
        assert!(decoded_has_control("/items/%0a"));
        assert!(!decoded_has_control("/review/invoices/1"));
        assert!(!decoded_has_control("/by-external-id/caf%C3%A9"));
    }
}
