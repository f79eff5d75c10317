-- the per-minute queue counts split into shards (sqlite)

-- PostgreSQL spreads concurrent writers over shards of each minute's count (see its migration
-- 0008). SQLite has one writer at a time, so it keeps every count in shard 0; the column is here
-- so that both schemas stay the same. The table is rebuilt for its new primary key.
drop trigger items_queue_insert;
drop trigger items_queue_update;
drop trigger items_queue_delete;

create table queue_minutes_sharded (
    workflow_id integer not null references workflows (id),
    minute integer not null,
    waiting integer not null,
    shard integer not null default 0,
    primary key (workflow_id, minute, shard)
);
insert into queue_minutes_sharded (workflow_id, minute, waiting, shard)
select workflow_id, minute, waiting, 0 from queue_minutes;
drop table queue_minutes;
alter table queue_minutes_sharded rename to queue_minutes;

create trigger items_queue_insert after insert on items when new.state = 'queued'
begin
    insert into queue_minutes (workflow_id, minute, waiting) values (new.workflow_id, new.created_at / 60000, 1)
    on conflict (workflow_id, minute, shard) do update set waiting = waiting + 1;
end;

create trigger items_queue_update after update of state on items
when (old.state = 'queued') <> (new.state = 'queued')
begin
    insert into queue_minutes (workflow_id, minute, waiting)
    values (new.workflow_id, new.created_at / 60000, case when new.state = 'queued' then 1 else -1 end)
    on conflict (workflow_id, minute, shard) do update set waiting = waiting + excluded.waiting;
end;

create trigger items_queue_delete after delete on items when old.state = 'queued'
begin
    update queue_minutes set waiting = waiting - 1
    where workflow_id = old.workflow_id and minute = old.created_at / 60000 and shard = 0;
end;
