-- The steps an escalation takes on its own, a climb to the admins and a flag once overdue at the
-- top, are no longer written as decisions (postgresql): the escalation's row holds when each fell due
-- (`level_since` once at level 2, `flagged_at`), and an item's history reads them from there
-- (src/items/escalation_steps.rs). The lines written before are dropped, or a history would show
-- each step twice. They are the system's (no actor), which no index finds: the table is read
-- once.
delete from decisions where actor_id is null and kind in ('climb', 'flag');
