-- the counters' rows are upserted in their key's order (postgresql only: SQLite has one writer)

-- Every trigger that keeps a count upserts one row per group of the statement's rows, and holds
-- each row's lock until its transaction commits. Without an order the rows came in the order of
-- the aggregate's hash table, which differs between statements of different sizes: two
-- transactions on the same shard (two connections whose backend ids are equal modulo 8) could
-- take two cells in opposite orders and deadlock, and PostgreSQL then rolled one back (a batch
-- ingest answered 500 in the soak of 2026-12-06). Sorted by the key, two statements always take
-- their common rows in the same order, and an ingest writes its items in one statement
-- (`items::insert`), so two ingests never wait on each other in opposite orders. Transactions that
-- write two tables in turn (a decision updates an item, then inserts its decision line) can still
-- meet an ingest in opposite orders on a shard; PostgreSQL then rolls one back, and the writers
-- try it again (`items::ingest`, `storage::group_commit`).

create or replace function queue_minutes_after_insert() returns trigger language plpgsql as $$
begin
    insert into queue_minutes (workflow_id, minute, shard, waiting)
    select workflow_id, created_at / 60000, pg_backend_pid() % 8, count(*) from inserted
    where state = 'queued' group by 1, 2 order by 1, 2
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
    group by 1, 2 order by 1, 2
    on conflict (workflow_id, minute, shard) do update set waiting = queue_minutes.waiting + excluded.waiting;
    return null;
end
$$;

create or replace function queue_minutes_after_delete() returns trigger language plpgsql as $$
begin
    insert into queue_minutes (workflow_id, minute, shard, waiting)
    select workflow_id, created_at / 60000, pg_backend_pid() % 8, -count(*) from deleted
    where state = 'queued' group by 1, 2 order by 1, 2
    on conflict (workflow_id, minute, shard) do update set waiting = queue_minutes.waiting + excluded.waiting;
    return null;
end
$$;

create or replace function tuning_evidence_after_item_insert() returns trigger language plpgsql as $$
begin
    insert into tuning_evidence (workflow_id, model_version, bin, stratum, shard, volume)
    select workflow_id, coalesce(model_version, ''), evidence_bin(confidence), evidence_stratum(review_probability),
           pg_backend_pid() % 8, count(*)
    from inserted group by 1, 2, 3, 4 order by 1, 2, 3, 4
    on conflict (workflow_id, model_version, bin, stratum, shard)
    do update set volume = tuning_evidence.volume + excluded.volume;
    insert into item_days (workflow_id, day, shard, volume)
    select workflow_id, created_at / 86400000, pg_backend_pid() % 8, count(*) from inserted group by 1, 2 order by 1, 2
    on conflict (workflow_id, day, shard) do update set volume = item_days.volume + excluded.volume;
    return null;
end
$$;

create or replace function tuning_evidence_after_decision_insert() returns trigger language plpgsql as $$
begin
    insert into tuning_evidence (workflow_id, model_version, bin, stratum, shard, reviewed, wrong)
    select i.workflow_id, coalesce(i.model_version, ''), evidence_bin(i.confidence),
           evidence_stratum(i.review_probability), pg_backend_pid() % 8,
           sum(v.sign), sum(case when v.kind = 'approve' then 0 else v.sign end)
    from (
        select d.item_id, d.kind, 1 as sign from inserted d
        where d.final = 1 and d.kind in ('approve', 'reject', 'correct')
        union all
        select u.item_id, u.kind, -1 from inserted d join decisions u on u.id = d.undoes
        where d.kind = 'undo' and u.final = 1 and u.kind in ('approve', 'reject', 'correct')
    ) v join items i on i.id = v.item_id
    group by 1, 2, 3, 4 order by 1, 2, 3, 4
    on conflict (workflow_id, model_version, bin, stratum, shard)
    do update set reviewed = tuning_evidence.reviewed + excluded.reviewed, wrong = tuning_evidence.wrong + excluded.wrong;
    return null;
end
$$;

create or replace function item_hours_after_insert() returns trigger language plpgsql as $$
begin
    insert into item_hours (workflow_id, hour, model_version, route_reason, shard, volume)
    select workflow_id, created_at / 3600000, coalesce(model_version, ''), route_reason, pg_backend_pid() % 8, count(*)
    from inserted group by 1, 2, 3, 4 order by 1, 2, 3, 4
    on conflict (workflow_id, hour, model_version, route_reason, shard)
    do update set volume = item_hours.volume + excluded.volume;
    return null;
end
$$;

create or replace function decision_hours_after_insert() returns trigger language plpgsql as $$
begin
    with v as (
        select d.item_id, d.workflow_id, d.created_at, d.actor_id, d.kind, d.reason_code, 1 as sign
        from inserted d where d.actor_id is not null and d.kind in ('approve', 'reject', 'correct', 'escalate')
        union all
        select u.item_id, u.workflow_id, u.created_at, u.actor_id, u.kind, u.reason_code, -1
        from inserted d join decisions u on u.id = d.undoes
        where d.kind = 'undo' and u.actor_id is not null and u.kind in ('approve', 'reject', 'correct', 'escalate')
    ), counted as (
        insert into decision_hours (workflow_id, hour, model_version, route_reason, kind, reason_code, shard, decisions)
        select v.workflow_id, v.created_at / 3600000, coalesce(i.model_version, ''), i.route_reason, v.kind,
               coalesce(v.reason_code, ''), pg_backend_pid() % 8, sum(v.sign)
        from v join items i on i.id = v.item_id
        group by 1, 2, 3, 4, 5, 6 order by 1, 2, 3, 4, 5, 6
        on conflict (workflow_id, hour, model_version, route_reason, kind, reason_code, shard)
        do update set decisions = decision_hours.decisions + excluded.decisions
    )
    insert into reviewer_hours (workflow_id, hour, actor_id, kind, shard, decisions)
    select v.workflow_id, v.created_at / 3600000, v.actor_id, v.kind, pg_backend_pid() % 8, sum(v.sign)
    from v group by 1, 2, 3, 4 order by 1, 2, 3, 4
    on conflict (workflow_id, hour, actor_id, kind, shard)
    do update set decisions = reviewer_hours.decisions + excluded.decisions;
    return null;
end
$$;

create or replace function escalation_hours_after_insert() returns trigger language plpgsql as $$
begin
    insert into escalation_hours (workflow_id, hour, model_version, reason, shard, opened)
    select e.workflow_id, e.opened_at / 3600000, coalesce(i.model_version, ''), e.reason, pg_backend_pid() % 8, count(*)
    from inserted e join items i on i.id = e.item_id group by 1, 2, 3, 4 order by 1, 2, 3, 4
    on conflict (workflow_id, hour, model_version, reason, shard)
    do update set opened = escalation_hours.opened + excluded.opened;
    return null;
end
$$;
