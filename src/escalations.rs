//! Escalations: items that need more than a reviewer, and the rules that send them to a lead.
//! The triggers so far: a reviewer's escalation and a rejection for an escalating reason (the
//! review area's decisions), a low confidence at ingest (routing), a lease that ran out as often
//! as the workflow allows (the lease sweeper), and a wait past the review SLA ([`server`]'s
//! sweeper). The rules themselves are pure: `crate::domain::escalation`.

#[cfg(feature = "ssr")]
pub mod server;
