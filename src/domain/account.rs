//! Account fields parsed at the edge: once a value has one of these types, it is valid.

use crate::error::AppError;
use std::fmt;

/// A normalised email address (trimmed, lower-cased), used as the sign-in name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let value = raw.trim().to_lowercase();
        let invalid = || AppError::invalid("email", "Enter an email address like name@example.com.");
        if value.is_empty() {
            return Err(AppError::invalid("email", "Enter an email address."));
        }
        if value.len() > Self::MAX_LEN || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, used as a default display name.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password that meets the policy. Never printed: `Debug` is redacted.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 12;
    /// Argon2 cost grows with input; a cap keeps one request from being a denial of service.
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str, field: &str) -> Result<Self, AppError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(AppError::invalid(
                field,
                format!("Use at least {} characters for the password.", Self::MIN_CHARS),
            ));
        }
        if chars > Self::MAX_CHARS {
            return Err(AppError::invalid(
                field,
                format!("Use at most {} characters for the password.", Self::MAX_CHARS),
            ));
        }
        if raw.trim().is_empty() {
            return Err(AppError::invalid(field, "The password cannot be only spaces."));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password given to be checked (at sign-in, or as the current one) is not held to the
    /// policy of new ones, but never longer than [`Password::MAX_CHARS`]: argon2's work grows
    /// with its input.
    pub fn check_length_to_verify(raw: &str, field: &str) -> Result<(), AppError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(AppError::invalid(field, format!("A password has at most {} characters.", Self::MAX_CHARS)));
        }
        Ok(())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// How a person is shown to others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    /// Parses a name; an empty one falls back to the email's local part.
    pub fn parse_or_default(raw: &str, email: &Email) -> Result<Self, AppError> {
        let value = raw.trim();
        if value.is_empty() {
            return Ok(Self(email.local_part().to_owned()));
        }
        if value.chars().count() > Self::MAX_CHARS {
            return Err(AppError::invalid("name", format!("Use at most {} characters for the name.", Self::MAX_CHARS)));
        }
        if value.chars().any(char::is_control) {
            return Err(AppError::invalid("name", "The name cannot contain control characters."));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
    }

    #[test]
    fn email_refuses_malformed_values() {
        for bad in ["", "ada", "@example.com", "ada@", "a@b@c", "ada @x.io", "ada@.io", "ada@x..io"] {
            let error = Email::parse(bad).unwrap_err();
            assert_eq!(error.field(), Some("email"), "{bad}");
        }
        assert!(Email::parse(&format!("{}@x.io", "a".repeat(260))).is_err());
    }

    #[test]
    fn password_length_is_enforced_in_characters() {
        assert!(Password::parse("short", "password").is_err());
        assert!(Password::parse(&" ".repeat(20), "password").is_err());
        assert!(Password::parse("ünïcödé-pass", "password").is_ok());
        assert!(Password::parse(&"x".repeat(257), "password").is_err());
        let error = Password::parse("short", "new_password").unwrap_err();
        assert_eq!(error.field(), Some("new_password"));
    }

    #[test]
    fn password_debug_is_redacted() {
        let password = Password::parse("correct horse battery", "password").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn display_name_defaults_to_local_part() {
        let email = Email::parse("grace@example.com").unwrap();
        assert_eq!(DisplayName::parse_or_default("  ", &email).unwrap().as_str(), "grace");
        assert_eq!(DisplayName::parse_or_default(" Grace H ", &email).unwrap().as_str(), "Grace H");
        assert!(DisplayName::parse_or_default(&"g".repeat(101), &email).is_err());
        assert!(DisplayName::parse_or_default("a\u{7}b", &email).is_err());
    }
}
