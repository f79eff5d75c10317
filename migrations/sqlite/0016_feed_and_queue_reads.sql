-- The decision feed stops before the first decision still in its undo window. The index it
-- finds that one in held every final decision, auto-approvals too, whose `settles_at` is null:
-- analysed, such an index looks as if one `settles_at` matched most of the workflow, and the
-- planner walked the workflow's final decisions instead, so each poll read them all. Only
-- decisions with a `settles_at` are in this one, and the feed's range `settles_at > now` reads
-- only the few still in their window.
drop index decisions_settling_idx;
create index decisions_unsettled_idx on decisions (workflow_id, settles_at) where final = 1 and settles_at is not null;

-- A reviewer's decisions of the day, as the queue overview shows them, are summed from
-- `reviewer_hours` instead of counted decision by decision: this index finds one reviewer's
-- hours in a workflow without reading every other reviewer's.
create index reviewer_hours_actor_idx on reviewer_hours (actor_id, workflow_id, hour);
