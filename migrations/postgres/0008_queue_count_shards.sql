-- the per-minute queue counts split into shards (postgresql)

-- Every write to items adds to the count of its workflow and minute, and holds that row's lock
-- until it commits: concurrent batches of one workflow queued behind each other on one row (batch
-- ingest lost a quarter of its throughput to it). Each connection now writes its own shard of the
-- minute, chosen by its backend; a count is the sum over the shards, and housekeeping folds the
-- shards back into shard 0 now and then (`review::queues::forget_empty_minutes`).
alter table queue_minutes add column shard smallint not null default 0;
alter table queue_minutes drop constraint queue_minutes_pkey;
alter table queue_minutes add primary key (workflow_id, minute, shard);

create or replace function queue_minutes_after_insert() returns trigger language plpgsql as $$
begin
    insert into queue_minutes (workflow_id, minute, shard, waiting)
    select workflow_id, created_at / 60000, pg_backend_pid() % 8, count(*) from inserted
    where state = 'queued' group by 1, 2
    on conflict (workflow_id, minute, shard) do update set waiting = queue_minutes.waiting + excluded.waiting;
    return null;
end
$$;

create or replace function queue_minutes_after_update() returns trigger language plpgsql as $$
begin
    insert into queue_minutes (workflow_id, minute, shard, waiting)
    select n.workflow_id, n.created_at / 60000, pg_backend_pid() % 8,
           sum(case when n.state = 'queued' then 1 else -1 end)
    from before_update o join after_update n on n.id = o.id
    where (o.state = 'queued') <> (n.state = 'queued')
    group by 1, 2
    on conflict (workflow_id, minute, shard) do update set waiting = queue_minutes.waiting + excluded.waiting;
    return null;
end
$$;

create or replace function queue_minutes_after_delete() returns trigger language plpgsql as $$
begin
    insert into queue_minutes (workflow_id, minute, shard, waiting)
    select workflow_id, created_at / 60000, pg_backend_pid() % 8, -count(*) from deleted
    where state = 'queued' group by 1, 2
    on conflict (workflow_id, minute, shard) do update set waiting = queue_minutes.waiting + excluded.waiting;
    return null;
end
$$;
