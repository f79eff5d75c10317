-- what waits in each queue, counted as items come and go, so that a queue's depth and its due
-- counts never need a count over the backlog (postgresql)

-- waiting items of a workflow by the minute they arrived (created_at / 60000).
create table queue_minutes (
    workflow_id bigint not null references workflows (id),
    minute bigint not null,
    waiting bigint not null,
    primary key (workflow_id, minute)
);

-- kept by the database itself, in the transaction of every write to items, whichever code wrote;
-- once per statement, from its transition tables, so a batch of a thousand items is one upsert.
create function queue_minutes_after_insert() returns trigger language plpgsql as $$
begin
    insert into queue_minutes (workflow_id, minute, waiting)
    select workflow_id, created_at / 60000, count(*) from inserted where state = 'queued' group by 1, 2
    on conflict (workflow_id, minute) do update set waiting = queue_minutes.waiting + excluded.waiting;
    return null;
end
$$;

create function queue_minutes_after_update() returns trigger language plpgsql as $$
begin
    insert into queue_minutes (workflow_id, minute, waiting)
    select n.workflow_id, n.created_at / 60000, sum(case when n.state = 'queued' then 1 else -1 end)
    from before_update o join after_update n on n.id = o.id
    where (o.state = 'queued') <> (n.state = 'queued')
    group by 1, 2
    on conflict (workflow_id, minute) do update set waiting = queue_minutes.waiting + excluded.waiting;
    return null;
end
$$;

create function queue_minutes_after_delete() returns trigger language plpgsql as $$
begin
    update queue_minutes q set waiting = q.waiting - d.gone
    from (select workflow_id, created_at / 60000 as minute, count(*) as gone from deleted
          where state = 'queued' group by 1, 2) d
    where q.workflow_id = d.workflow_id and q.minute = d.minute;
    return null;
end
$$;

create trigger items_queue_insert after insert on items referencing new table as inserted
    for each statement execute function queue_minutes_after_insert();
create trigger items_queue_update after update on items referencing old table as before_update new table as after_update
    for each statement execute function queue_minutes_after_update();
create trigger items_queue_delete after delete on items referencing old table as deleted
    for each statement execute function queue_minutes_after_delete();

insert into queue_minutes (workflow_id, minute, waiting)
select workflow_id, created_at / 60000, count(*) from items where state = 'queued' group by 1, 2;
