-- escalations (sqlite): how each ended (the deciding decision's kind, or send_back) and who ended
-- it; when the current level's SLA runs out (due_at: level_since plus the workflow's escalation
-- SLA when the level began) and whom the item is assigned to, kept on the row so that the inbox,
-- the navigation's counts and the sweeper read one index instead of joining the items.
alter table escalations add column resolution text;
alter table escalations add column resolved_by text;
alter table escalations add column due_at integer not null default 0;
alter table escalations add column assignee_id integer references users (id);
update escalations set due_at = level_since
    + (select w.escalation_sla_secs * 1000 from workflows w where w.id = escalations.workflow_id);
update escalations set assignee_id = (select i.assigned_to from items i where i.id = escalations.item_id)
    where resolved_at is null;
-- every escalation an item ever had: an item a lead sent back is not escalated again for the
-- same wait
create index escalations_item_idx on escalations (item_id);
-- the inbox, soonest due first, across workflows and within one
create index escalations_due_idx on escalations (due_at, id) where resolved_at is null;
create index escalations_workflow_due_idx on escalations (workflow_id, due_at, id) where resolved_at is null;
-- what the sweeper climbs or flags next
create index escalations_sweep_idx on escalations (workflow_id, due_at) where resolved_at is null and flagged_at is null;
-- the navigation's counts: open and unassigned, by workflow and level
create index escalations_waiting_idx on escalations (workflow_id, assignee_id, level) where resolved_at is null;
-- the team page: escalations by reason over the last 30 days, and each member's decisions by
-- time, kind and workflow (both read from the index alone)
create index escalations_opened_idx on escalations (workflow_id, opened_at, reason);
create index decisions_workload_idx on decisions (actor_id, created_at, workflow_id, kind);
