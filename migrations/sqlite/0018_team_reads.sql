-- The team page counts, for each member, the escalations they asked for this week, to find
-- those a lead overturned. Through the workload index that meant every decision of the week,
-- of which an escalation is about one in ten; this index holds the escalate decisions alone.
create index decisions_escalated_by_idx on decisions (actor_id, created_at) where kind = 'escalate';
