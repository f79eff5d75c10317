-- what waits in each queue, counted as items come and go, so that a queue's depth and its due
-- counts never need a count over the backlog (sqlite)

-- waiting items of a workflow by the minute they arrived (created_at / 60000).
create table queue_minutes (
    workflow_id integer not null references workflows (id),
    minute integer not null,
    waiting integer not null,
    primary key (workflow_id, minute)
);

-- kept by the database itself, in the transaction of every write to items, whichever code wrote.
create trigger items_queue_insert after insert on items when new.state = 'queued'
begin
    insert into queue_minutes (workflow_id, minute, waiting) values (new.workflow_id, new.created_at / 60000, 1)
    on conflict (workflow_id, minute) do update set waiting = waiting + 1;
end;

create trigger items_queue_update after update of state on items
when (old.state = 'queued') <> (new.state = 'queued')
begin
    insert into queue_minutes (workflow_id, minute, waiting)
    values (new.workflow_id, new.created_at / 60000, case when new.state = 'queued' then 1 else -1 end)
    on conflict (workflow_id, minute) do update set waiting = waiting + excluded.waiting;
end;

create trigger items_queue_delete after delete on items when old.state = 'queued'
begin
    update queue_minutes set waiting = waiting - 1 where workflow_id = old.workflow_id and minute = old.created_at / 60000;
end;

insert into queue_minutes (workflow_id, minute, waiting)
select workflow_id, created_at / 60000, count(*) from items where state = 'queued' group by 1, 2;
