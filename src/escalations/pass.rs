//! What every pass of the escalation sweeper shares: how much of its work one transaction
//! takes, and the workflow it is at.

/// How many items one transaction of a pass escalates (or escalations it opens or climbs): a
/// pass takes all that are due, a chunk at a time, so that other writers wait at most a chunk.
pub(super) const CHUNK: i64 = 2000;

/// The workflow a pass is at.
#[derive(Debug, Clone, Copy)]
pub(super) struct Workflow<'a> {
    pub(super) id: i64,
    pub(super) slug: &'a str,
}
