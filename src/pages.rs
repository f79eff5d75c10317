//! One page per file.

pub mod account;
pub mod api_keys;
pub mod api_reference;
pub mod audit;
pub mod dashboard;
pub mod escalation;
pub mod escalations;
pub mod home;
pub mod item;
pub mod items;
pub mod login;
pub mod not_found;
pub mod queues;
pub mod review;
pub mod settings;
pub mod setup;
pub mod team;
pub mod tuning;
pub mod users;
pub mod workflow;
pub mod workflows;
