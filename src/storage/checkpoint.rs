//! SQLite's write-ahead log, copied back into the database file by a task of its own.
//!
//! Left to itself, SQLite checkpoints inside the commit that takes the log past 1,000 pages:
//! the request that made that commit waits for the copy and its two `fsync`s, and so does every
//! writer queued behind it for the write turn ([`super::db::Db::write_turn`]), since the turn is
//! held until the commit returns. Under the soak benchmark's load that was about eight
//! checkpoints a second, each in some decision's or submission's time. Here the pool's
//! connections checkpoint only past [`BACKSTOP_PAGES`] (should this task fall behind), and a
//! task on a connection of its own copies the log back every [`CHECKPOINT_EVERY`]: first a
//! passive checkpoint, which takes no write lock (writers go on appending to the log
//! meanwhile) and copies only what no reader still needs, so it never waits for anyone; then,
//! in the write turn, a second one for the few pages written during the first. A page written
//! many times between two ticks is copied once.

use std::sync::Arc;
use std::time::Duration;

/// How often the log is copied back.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The log's size, in pages, past which a committing connection checkpoints itself (SQLite's
/// `wal_autocheckpoint`; its default is 1,000): about 40 MB with 4 KiB pages. Reached only when
/// the task below has stopped or cannot keep up.
pub const BACKSTOP_PAGES: u32 = 10_000;

/// The task, stopped when the last handle to its database goes.
#[derive(Debug)]
pub struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    /// Starts checkpointing on `conn`, a connection no one else uses; `turn` is the process's
    /// write turn.
    pub fn start(mut conn: sqlx::AnyConnection, turn: Arc<tokio::sync::Mutex<()>>) -> Self {
        Self(tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                // Most of the copying while the writers go on.
                if checkpoint(&mut conn).await {
                    // The whole log (an idle server's included): nothing for the turn.
                    continue;
                }
                // Then the few pages written meanwhile, in the write turn: with no writer of this
                // process appending, the whole log is copied, and the next writer starts it
                // again from its beginning. Copying only ever behind the writers, the log would
                // grow until the backstop, and the commits would checkpoint again.
                let _turn = turn.lock().await;
                checkpoint(&mut conn).await;
            }
        }))
    }

    /// Stops the task (its connection closes with it); the database closing does this.
    pub fn stop(&self) {
        self.0.abort();
    }
}

/// A passive checkpoint; whether it copied the whole log. SQLite answers (busy, frames in the
/// log, frames copied), busy only when another process checkpoints at the same moment: the next
/// tick then does it.
async fn checkpoint(conn: &mut sqlx::AnyConnection) -> bool {
    match sqlx::query_as::<_, (i64, i64, i64)>("pragma wal_checkpoint(passive)").fetch_one(conn).await {
        Ok((busy, frames, copied)) => busy == 0 && copied == frames,
        Err(error) => {
            tracing::warn!(%error, "could not checkpoint the write-ahead log");
            false
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}
