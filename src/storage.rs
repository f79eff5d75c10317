//! The bottom layer, server only: the database handle, its dialects and SQLite's checkpointer, the audit log, the
//! session store, the instance's own secrets, group commit, short-lived caches, the process's metrics and the clock. Nothing here knows about
//! workflows, items or people; every area's services build on it.

pub mod audit;
pub mod checkpoint;
pub mod clock;
pub mod db;
pub mod dialect;
pub mod group_commit;
pub mod instance_secrets;
pub mod metrics;
pub mod seen;
pub mod session_store;
pub mod ttl_cache;
