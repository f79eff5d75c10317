//! HTTP and storage tests: the real server on a random port with a fresh database, on SQLite and
//! (when `TEST_DATABASE_URL` is set) PostgreSQL.

mod fixtures;
mod helpers;

mod account;
mod api_reference;
mod audit_log;
mod auth;
mod authorization;
mod control_characters;
mod deadlocks;
mod durability;
mod export;
mod fuzzing;
mod ingest;
mod item_search;
mod metrics;
mod monitoring;
mod review;
mod security;
mod setup;
mod storage;
mod tuning;
mod users;
mod webhooks;
