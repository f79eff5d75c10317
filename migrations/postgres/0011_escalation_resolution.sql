-- how an escalation ended (the lead's or assignee's decision kind, or send_back) and who ended
-- it (postgresql); every escalation an item ever had, by item, so that an item a lead sent back is
-- not escalated again for the same wait; and by when they opened, for the team page.
alter table escalations add column resolution text;
alter table escalations add column resolved_by text;
create index escalations_item_idx on escalations (item_id);
create index escalations_opened_idx on escalations (workflow_id, opened_at);
