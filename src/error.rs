//! The one error type that crosses from the server to the browser.
//!
//! Every variant documents the HTTP status it maps to. Infrastructure errors (database, IO) are
//! logged on the server and reach the client only as [`AppError::Internal`], whose message says
//! nothing about the internals.

use serde::{Deserialize, Serialize};
use server_fn_codec::{FromServerFnError, JsonEncoding, ServerFnErrorErr};

/// Re-exported paths kept in one place so the rest of the crate names them once.
mod server_fn_codec {
    pub use leptos::server_fn::codec::JsonEncoding;
    pub use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
}

/// The cookie in which the server repeats the error it put in the address of a form post's way
/// back (`__err`), so that a page can tell its server's errors from ones written into an address
/// by somebody else (see `components::form::action_error`). Readable by the page's script (it
/// holds nothing the address does not), strict to this site.
pub const FORM_ERROR_COOKIE: &str = "gatehouse_form_error";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppError {
    /// 400: the request could not be read (wrong types, missing fields).
    #[error("{message}")]
    BadRequest { message: String },
    /// 401: nobody is signed in, or the session ended.
    #[error("Sign in to continue.")]
    Unauthenticated,
    /// 401: sign-in refused. One message for unknown email and wrong password alike.
    #[error("Email or password is incorrect.")]
    InvalidCredentials,
    /// 403: signed in, but the role or membership does not allow it.
    #[error("You do not have permission to do that.")]
    Forbidden,
    /// 401: the machine API's bearer key is missing, malformed, unknown or revoked.
    #[error("The API key is missing, wrong or revoked. Send it as `Authorization: Bearer <key>`.")]
    InvalidApiKey,
    /// 403: the user's password was set by an admin; until they choose their own on the account
    /// page, nothing else is allowed.
    #[error("Choose your own password first: the one you signed in with was set by an admin.")]
    PasswordChangeRequired,
    /// 403: the API key is valid but not scoped to this workflow.
    #[error("This API key may not use the workflow '{workflow}'.")]
    KeyScope { workflow: String },
    /// 403: the API key may use the workflow, but this needs an admin-scoped key.
    #[error("This needs an admin-scoped API key (`gatehouse api-key create --workflow SLUG --admin`).")]
    KeyNotAdmin,
    /// 413: the request body is larger than the configured limit.
    #[error("The request body is larger than the limit of {limit_bytes} bytes.")]
    PayloadTooLarge { limit_bytes: usize },
    /// 415: the machine API takes JSON only.
    #[error("Send JSON with `Content-Type: application/json`.")]
    UnsupportedMediaType,
    /// 403: the request came from another site (CSRF protection).
    #[error("This request came from another site and was refused.")]
    CrossOrigin,
    /// 404: the named thing does not exist.
    #[error("{what} was not found.")]
    NotFound { what: String },
    /// 409: the request conflicts with the current state (duplicate, already done).
    #[error("{message}")]
    Conflict { message: String },
    /// 422: a field failed validation; `field` names the form field or, for item data, the
    /// JSON path (`/payload/total`).
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// 429: too many failed sign-in attempts.
    #[error("{message}")]
    TooManyAttempts { message: String, retry_after_secs: u64 },
    /// 503: the server is at its limit for this kind of work (password hashing), or the database
    /// rolled the transaction back to break a deadlock; try again after `retry_after_secs`.
    #[error("The server is busy. Please try again in a few seconds.")]
    Busy { retry_after_secs: u64 },
    /// 500: something failed on the server; the details are in the server log only.
    #[error("Something went wrong on our side. It has been logged; please try again.")]
    Internal,
    /// Client side only: the server could not be reached or answered garbage.
    #[error("Could not reach the server ({message}). Check your connection and try again.")]
    Network { message: String },
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.to_owned(), message: message.into() }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict { message: message.into() }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    /// The HTTP status for this error. The only place statuses are chosen.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthenticated | Self::InvalidCredentials | Self::InvalidApiKey => 401,
            Self::Forbidden
            | Self::CrossOrigin
            | Self::KeyScope { .. }
            | Self::KeyNotAdmin
            | Self::PasswordChangeRequired => 403,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::NotFound { .. } => 404,
            Self::Conflict { .. } => 409,
            Self::Invalid { .. } => 422,
            Self::TooManyAttempts { .. } => 429,
            Self::Internal => 500,
            Self::Busy { .. } => 503,
            Self::Network { .. } => 502,
        }
    }

    /// A stable machine-readable code (the serialised `kind`).
    pub fn code(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(str::to_owned)))
            .unwrap_or_else(|| "internal".to_owned())
    }

    /// Whether the same write, tried again, may go through: an internal error (a dropped
    /// connection) or a transaction the database rolled back ([`AppError::Busy`]). The writers
    /// that retry (`group_commit`, `items::ingest`) ask this; a refusal of the request itself is
    /// final.
    pub fn may_succeed_again(&self) -> bool {
        matches!(self, Self::Internal | Self::Busy { .. })
    }

    /// How long the client should wait before trying again (`Retry-After`), when that is known.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::TooManyAttempts { retry_after_secs, .. } | Self::Busy { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The error as a page may show it when it came from the page's address (where a form post
    /// without JavaScript puts it on the way back), not from the server: anybody can write an
    /// address, so only the kind is trusted. Each kind gets its own fixed message, and a field is
    /// kept only to mark an input, never as text.
    pub fn into_kind_message(self) -> Self {
        match self {
            Self::BadRequest { .. } => Self::BadRequest { message: "The request was not understood.".into() },
            Self::NotFound { .. } => Self::NotFound { what: "That".into() },
            Self::Conflict { .. } => Self::Conflict {
                message: "That could not be done as things stand. Reload the page and try again.".into(),
            },
            Self::Invalid { field, .. } => Self::Invalid {
                field: if field.len() <= 64 && field.chars().all(|c| c.is_ascii_alphanumeric() || "_-/".contains(c)) {
                    field
                } else {
                    String::new()
                },
                message: "That was not accepted. Check the marked field and try again.".into(),
            },
            Self::TooManyAttempts { retry_after_secs, .. } => Self::TooManyAttempts {
                message: "Too many failed attempts. Wait a few minutes and try again.".into(),
                retry_after_secs,
            },
            Self::KeyScope { .. } | Self::KeyNotAdmin => Self::Forbidden,
            Self::PayloadTooLarge { .. } => Self::PayloadTooLarge { limit_bytes: 0 },
            Self::Network { .. } => Self::Network { message: "no answer".into() },
            fixed => fixed,
        }
    }

    /// The form field this error belongs to, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// For the command line, which has no form field to point at: the message, naming the field
    /// when the message does not already.
    #[cfg(feature = "ssr")]
    pub fn for_terminal(self) -> anyhow::Error {
        match self.field() {
            Some(field) if !self.to_string().contains(field) => anyhow::anyhow!("{field}: {self}"),
            _ => anyhow::anyhow!("{self}"),
        }
    }

    /// Logs an infrastructure error with its full chain and returns the opaque variant.
    #[cfg(feature = "ssr")]
    #[track_caller]
    pub fn internal(error: impl std::fmt::Display) -> Self {
        let at = std::panic::Location::caller();
        tracing::error!(error = %error, location = %at, "internal error");
        Self::Internal
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) => {
                Self::BadRequest { message: format!("The request was not understood: {message}") }
            }
            ServerFnErrorErr::Request(message) => Self::Network { message },
            ServerFnErrorErr::Deserialization(message) if cfg!(not(feature = "ssr")) => Self::Network { message },
            #[cfg(feature = "ssr")]
            other => Self::internal(other),
            #[cfg(not(feature = "ssr"))]
            _ => Self::Internal,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    /// A transaction the database rolled back to break a deadlock or a serialization conflict
    /// (PostgreSQL's class 40) left nothing behind and goes through when tried again: it is a
    /// [`AppError::Busy`], logged as a warning, which the writers that retry (`group_commit`,
    /// `items::ingest`) try again and anything else passes on as a 503 with `Retry-After`. Every
    /// other database error is internal.
    #[track_caller]
    fn from(error: sqlx::Error) -> Self {
        if rolled_back_by_the_database(&error) {
            let at = std::panic::Location::caller();
            tracing::warn!(error = %error, location = %at, "the database rolled a transaction back");
            return Self::Busy { retry_after_secs: ROLLED_BACK_RETRY_AFTER_SECS };
        }
        Self::internal(error)
    }
}

/// The `Retry-After` of a transaction the database rolled back: the other side of the deadlock
/// has committed by then.
#[cfg(feature = "ssr")]
const ROLLED_BACK_RETRY_AFTER_SECS: u64 = 1;

/// Whether the database refused the transaction only because of another one (a deadlock victim
/// or a serialization failure), so that the same transaction may succeed when tried again.
#[cfg(feature = "ssr")]
fn rolled_back_by_the_database(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some_and(|pg| pg.code().starts_with("40"))
        }
        _ => false,
    }
}

#[cfg(feature = "ssr")]
impl From<tower_sessions::session::Error> for AppError {
    #[track_caller]
    fn from(error: tower_sessions::session::Error) -> Self {
        Self::internal(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_cover_each_kind() {
        assert_eq!(AppError::Forbidden.status(), 403);
        assert_eq!(AppError::invalid("email", "bad").status(), 422);
        assert_eq!(AppError::conflict("dup").status(), 409);
        assert_eq!(AppError::InvalidCredentials.status(), 401);
    }

    #[test]
    fn round_trips_through_json() {
        let error = AppError::TooManyAttempts { message: "wait".into(), retry_after_secs: 8 };
        let text = serde_json::to_string(&error).unwrap();
        assert!(text.contains("\"kind\":\"too_many_attempts\""), "{text}");
        assert_eq!(serde_json::from_str::<AppError>(&text).unwrap(), error);
    }

    #[test]
    fn an_error_from_the_address_shows_only_its_kinds_own_message() {
        let planted = "Your account is locked: call +1 555 0100 to unlock it";
        let cases = [
            AppError::conflict(planted),
            AppError::invalid("email", planted),
            AppError::BadRequest { message: planted.into() },
            AppError::not_found(planted),
            AppError::TooManyAttempts { message: planted.into(), retry_after_secs: 5 },
            AppError::Network { message: planted.into() },
            AppError::KeyScope { workflow: planted.into() },
        ];
        for error in cases {
            let kind = error.status();
            let shown = error.into_kind_message();
            assert!(!shown.to_string().contains("555"), "{shown:?}");
            assert!(kind == shown.status() || shown == AppError::Forbidden, "{shown:?}");
        }
        assert_eq!(AppError::invalid("email", planted).into_kind_message().field(), Some("email"));
        assert_eq!(AppError::invalid("<b>x</b>", planted).into_kind_message().field(), Some(""));
        assert_eq!(AppError::InvalidCredentials.into_kind_message(), AppError::InvalidCredentials);
    }

    #[test]
    fn internal_message_leaks_nothing() {
        let text = AppError::Internal.to_string();
        assert!(!text.to_lowercase().contains("sql"));
    }
}
