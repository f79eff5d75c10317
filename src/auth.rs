//! Who is signed in: sign-in, sign-out, first-admin setup, and the role guard.

pub mod api;
#[cfg(feature = "ssr")]
pub mod context;
#[cfg(feature = "ssr")]
pub mod setup_token;
#[cfg(feature = "ssr")]
pub mod sign_in;
#[cfg(feature = "ssr")]
pub mod throttle;

use crate::domain::Role;
use serde::{Deserialize, Serialize};

/// The signed-in person as the browser sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// An admin chose the password: the user must choose their own before anything else.
    pub must_change_password: bool,
}

/// The value of the cookie `name` in a `Cookie` header's text (or `document.cookie`): for the
/// short-lived cookies this site sets beside the session's (a flashed secret, a form's error).
pub fn cookie_value<'a>(cookies: &'a str, name: &str) -> Option<&'a str> {
    cookies.split(';').find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// [`cookie_value`] in a request's `Cookie` headers.
#[cfg(feature = "ssr")]
pub fn request_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|cookies| cookie_value(cookies, name))
        .map(str::to_owned)
}

/// A secret shown once (a new API key or webhook secret) to an admin whose browser posted the
/// form without JavaScript: carried to the next page in a short-lived cookie, never stored on
/// the server (see `RequestCtx::flash_secret`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashSecret {
    pub label: String,
    pub value: String,
}

/// What a session records about its sign-in, kept in its data under [`SIGN_IN_KEY`] so that its
/// owner can tell their sessions apart on the account page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInDetails {
    pub at_ms: i64,
    /// The browser's `User-Agent`, cut to [`SignInDetails::MAX_USER_AGENT`] characters.
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
}

impl SignInDetails {
    pub const MAX_USER_AGENT: usize = 200;
}

/// The session data key of [`SignInDetails`].
pub const SIGN_IN_KEY: &str = "sign_in";
/// The session data key of the hour (since the epoch) of the session's last recorded activity.
pub const ACTIVE_HOUR_KEY: &str = "active_hour";

/// Where to go after signing in: only paths on this site, so a crafted link cannot send a
/// person elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control)
                && !path.starts_with("/login") =>
        {
            path.to_owned()
        }
        _ => "/queues".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/settings/users")), "/settings/users");
        assert_eq!(safe_next(Some("//evil.example")), "/queues");
        assert_eq!(safe_next(Some("https://evil.example")), "/queues");
        assert_eq!(safe_next(Some("/\\evil.example")), "/queues");
        assert_eq!(safe_next(Some("/login")), "/queues");
        assert_eq!(safe_next(None), "/queues");
    }
}
