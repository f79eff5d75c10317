//! Pure domain rules: no IO, no framework. Shared by the server and the browser build.

pub mod account;
pub mod role;
pub mod throttle;

pub use account::{DisplayName, Email, Password};
pub use role::Role;
