-- monitoring: hourly rollups that the dashboard and the stats endpoint read in place of the items
-- and decisions tables, and the workflow an audit event concerns (postgres; the sqlite file says
-- what each table holds)

alter table audit_events add column workflow_id bigint references workflows (id);
create index audit_events_workflow_idx on audit_events (workflow_id, id);
create index audit_events_actor_idx on audit_events (actor_label, id);
create index audit_events_action_idx on audit_events (action, id);
update audit_events e set workflow_id = w.id from workflows w where e.action like 'workflow.%' and w.slug = e.subject;
update audit_events e set workflow_id = i.workflow_id from items i
where e.subject like 'item:%' and i.id = substr(e.subject, 6)::bigint;
update audit_events set workflow_id = (detail::json ->> 'workflow_id')::bigint where action = 'webhook.create';

create table item_hours (
    workflow_id bigint not null references workflows (id),
    hour bigint not null,
    model_version text not null,
    route_reason text not null,
    shard smallint not null default 0,
    volume bigint not null default 0,
    primary key (workflow_id, hour, model_version, route_reason, shard)
);

create table decision_hours (
    workflow_id bigint not null references workflows (id),
    hour bigint not null,
    model_version text not null,
    route_reason text not null,
    kind text not null,
    reason_code text not null,
    shard smallint not null default 0,
    decisions bigint not null default 0,
    primary key (workflow_id, hour, model_version, route_reason, kind, reason_code, shard)
);
create table reviewer_hours (
    workflow_id bigint not null references workflows (id),
    hour bigint not null,
    actor_id bigint not null references users (id),
    kind text not null,
    shard smallint not null default 0,
    decisions bigint not null default 0,
    primary key (workflow_id, hour, actor_id, kind, shard)
);

create table escalation_hours (
    workflow_id bigint not null references workflows (id),
    hour bigint not null,
    model_version text not null,
    reason text not null,
    shard smallint not null default 0,
    opened bigint not null default 0,
    climbed bigint not null default 0,
    flagged bigint not null default 0,
    primary key (workflow_id, hour, model_version, reason, shard)
);

create function item_hours_after_insert() returns trigger language plpgsql as $$
begin
    insert into item_hours (workflow_id, hour, model_version, route_reason, shard, volume)
    select workflow_id, created_at / 3600000, coalesce(model_version, ''), route_reason, pg_backend_pid() % 8, count(*)
    from inserted group by 1, 2, 3, 4
    on conflict (workflow_id, hour, model_version, route_reason, shard)
    do update set volume = item_hours.volume + excluded.volume;
    return null;
end
$$;
create trigger items_hours_insert after insert on items referencing new table as inserted
for each statement execute function item_hours_after_insert();

create function decision_hours_after_insert() returns trigger language plpgsql as $$
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
        group by 1, 2, 3, 4, 5, 6
        on conflict (workflow_id, hour, model_version, route_reason, kind, reason_code, shard)
        do update set decisions = decision_hours.decisions + excluded.decisions
    )
    insert into reviewer_hours (workflow_id, hour, actor_id, kind, shard, decisions)
    select v.workflow_id, v.created_at / 3600000, v.actor_id, v.kind, pg_backend_pid() % 8, sum(v.sign)
    from v group by 1, 2, 3, 4
    on conflict (workflow_id, hour, actor_id, kind, shard)
    do update set decisions = reviewer_hours.decisions + excluded.decisions;
    return null;
end
$$;
create trigger decisions_hours_insert after insert on decisions referencing new table as inserted
for each statement execute function decision_hours_after_insert();

create function escalation_hours_after_insert() returns trigger language plpgsql as $$
begin
    insert into escalation_hours (workflow_id, hour, model_version, reason, shard, opened)
    select e.workflow_id, e.opened_at / 3600000, coalesce(i.model_version, ''), e.reason, pg_backend_pid() % 8, count(*)
    from inserted e join items i on i.id = e.item_id group by 1, 2, 3, 4
    on conflict (workflow_id, hour, model_version, reason, shard)
    do update set opened = escalation_hours.opened + excluded.opened;
    return null;
end
$$;
create trigger escalations_hours_insert after insert on escalations referencing new table as inserted
for each statement execute function escalation_hours_after_insert();

create function escalation_hours_after_update() returns trigger language plpgsql as $$
begin
    insert into escalation_hours (workflow_id, hour, model_version, reason, shard, climbed)
    select n.workflow_id, n.level_since / 3600000, coalesce(i.model_version, ''), n.reason, pg_backend_pid() % 8,
           sum(n.level - o.level)
    from after_rows n join before_rows o on o.id = n.id join items i on i.id = n.item_id
    where n.level > o.level group by 1, 2, 3, 4
    on conflict (workflow_id, hour, model_version, reason, shard)
    do update set climbed = escalation_hours.climbed + excluded.climbed;
    insert into escalation_hours (workflow_id, hour, model_version, reason, shard, flagged)
    select n.workflow_id, n.flagged_at / 3600000, coalesce(i.model_version, ''), n.reason, pg_backend_pid() % 8, count(*)
    from after_rows n join before_rows o on o.id = n.id join items i on i.id = n.item_id
    where o.flagged_at is null and n.flagged_at is not null group by 1, 2, 3, 4
    on conflict (workflow_id, hour, model_version, reason, shard)
    do update set flagged = escalation_hours.flagged + excluded.flagged;
    return null;
end
$$;
create trigger escalations_hours_update after update on escalations
referencing old table as before_rows new table as after_rows
for each statement execute function escalation_hours_after_update();

insert into item_hours (workflow_id, hour, model_version, route_reason, volume)
select workflow_id, created_at / 3600000, coalesce(model_version, ''), route_reason, count(*)
from items group by 1, 2, 3, 4;

insert into decision_hours (workflow_id, hour, model_version, route_reason, kind, reason_code, decisions)
select d.workflow_id, d.created_at / 3600000, coalesce(i.model_version, ''), i.route_reason, d.kind,
       coalesce(d.reason_code, ''), count(*)
from decisions d join items i on i.id = d.item_id
where d.actor_id is not null and d.kind in ('approve', 'reject', 'correct', 'escalate')
  and not exists (select 1 from decisions u where u.undoes = d.id)
group by 1, 2, 3, 4, 5, 6;

insert into reviewer_hours (workflow_id, hour, actor_id, kind, decisions)
select d.workflow_id, d.created_at / 3600000, d.actor_id, d.kind, count(*)
from decisions d
where d.actor_id is not null and d.kind in ('approve', 'reject', 'correct', 'escalate')
  and not exists (select 1 from decisions u where u.undoes = d.id)
group by 1, 2, 3, 4;

insert into escalation_hours (workflow_id, hour, model_version, reason, opened)
select e.workflow_id, e.opened_at / 3600000, coalesce(i.model_version, ''), e.reason, count(*)
from escalations e join items i on i.id = e.item_id group by 1, 2, 3, 4;

insert into escalation_hours (workflow_id, hour, model_version, reason, climbed)
select e.workflow_id, e.level_since / 3600000, coalesce(i.model_version, ''), e.reason, sum(e.level - 1)
from escalations e join items i on i.id = e.item_id where e.level > 1 group by 1, 2, 3, 4
on conflict (workflow_id, hour, model_version, reason, shard)
do update set climbed = escalation_hours.climbed + excluded.climbed;

insert into escalation_hours (workflow_id, hour, model_version, reason, flagged)
select e.workflow_id, e.flagged_at / 3600000, coalesce(i.model_version, ''), e.reason, count(*)
from escalations e join items i on i.id = e.item_id where e.flagged_at is not null group by 1, 2, 3, 4
on conflict (workflow_id, hour, model_version, reason, shard)
do update set flagged = escalation_hours.flagged + excluded.flagged;
