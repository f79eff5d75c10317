//! A person's own account: choosing their own password, and seeing and ending their sessions.
//! Every signed-in user has one, whatever their role.

pub mod api;
#[cfg(feature = "ssr")]
pub mod password_change;
#[cfg(feature = "ssr")]
pub mod sessions;

use serde::{Deserialize, Serialize};

/// One of the signed-in person's sessions, as their account page lists it. It never carries the
/// session's id (the cookie's secret): `handle` names it instead, and only to its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub handle: String,
    /// The session of the request that asked.
    pub current: bool,
    /// A short description of the browser, such as "Firefox on Linux".
    pub device: String,
    pub client_ip: Option<String>,
    /// When it signed in; unknown for sessions signed in before sessions recorded it.
    pub signed_in_at_ms: Option<i64>,
    /// When it was last seen active: activity is recorded once an hour, so this is the start of
    /// that hour (or the sign-in, if later).
    pub active_at_ms: Option<i64>,
    pub expires_at_ms: i64,
}
