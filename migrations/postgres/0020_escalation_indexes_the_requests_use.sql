-- Two indexes of the open escalations that no request needs on PostgreSQL (pg_stat_user_indexes
-- after the escalations benchmark's requests): the inbox, for one workflow as for several, reads
-- escalations_due_idx, and the navigation's counts read escalations_waiting_idx, which has their
-- columns too. Every climb rewrites each index of the rows it moves (it changes indexed columns,
-- so it cannot be a heap-only update), and every opened escalation adds to each: nine indexes
-- were two more than the requests use. (SQLite keeps them: its planner takes the workflow's index
-- for a one-workflow inbox.)
drop index if exists escalations_workflow_due_idx;
drop index if exists escalations_open_idx;
