//! User accounts, managed by admins.

pub mod api;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod server;

use crate::domain::Role;
use serde::{Deserialize, Serialize};

/// A user as listed on the users page. Never carries the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at_ms: i64,
}
