//! Pure domain rules: no IO, no framework. Shared by the server and the browser build.

pub mod account;
pub mod binomial;
pub mod client_address;
pub mod correction;
pub mod escalation;
pub mod item_state;
pub mod monitoring;
pub mod role;
pub mod routing;
pub mod text;
pub mod throttle;
pub mod tuning;
pub mod workflow;
pub mod workload;

pub use account::{DisplayName, Email, Password};
pub use role::Role;
