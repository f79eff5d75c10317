-- escalations: who must act on an escalated item (its level), since when, and whether it is
-- overdue with nobody left to climb to (sqlite). Kept by the escalation sweeper, which opens a
-- row for each escalated item, climbs it when its escalation SLA runs out, and closes it once
-- the item is decided or sent back to the queue.
create table escalations (
    id integer primary key,
    item_id integer not null references items (id),
    workflow_id integer not null references workflows (id),
    -- the trigger: reviewer, low_confidence, review_sla, lease_expiries or reject_reason
    reason text not null,
    -- 1: the workflow's leads; 2: the admins
    level integer not null,
    opened_at integer not null,
    -- when the current level began (a climb is dated when it fell due)
    level_since integer not null,
    -- when the top level's SLA ran out too
    flagged_at integer,
    resolved_at integer
);
-- one open escalation an item
create unique index escalations_open_item_idx on escalations (item_id) where resolved_at is null;
create index escalations_open_idx on escalations (workflow_id, level, level_since) where resolved_at is null;
