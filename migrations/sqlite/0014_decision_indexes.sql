-- The decisions by reviewer (the team page, the review page's own counts) are asked through
-- `decisions_workload_idx` alone: `decisions_actor_idx` (actor_id, created_at) is its prefix and
-- went unused, while every decision paid for keeping it. Both only ever ask for a person's
-- decisions, so the lines the system writes (a climb, a flag, an escalation by the sweeper; no
-- actor) stay out of the index.
drop index decisions_actor_idx;
drop index decisions_workload_idx;
create index decisions_workload_idx on decisions (actor_id, created_at, workflow_id, kind) where actor_id is not null;
