-- monitoring: hourly rollups that the dashboard and the stats endpoint read in place of the items
-- and decisions tables, and the workflow an audit event concerns (sqlite)

-- the workflow an audit event concerns, where it concerns one (the audit log filters on it).
alter table audit_events add column workflow_id integer references workflows (id);
create index audit_events_workflow_idx on audit_events (workflow_id, id);
create index audit_events_actor_idx on audit_events (actor_label, id);
create index audit_events_action_idx on audit_events (action, id);
-- events recorded before it name their workflow where their subject or detail does.
update audit_events set workflow_id = (select w.id from workflows w where w.slug = audit_events.subject)
where action like 'workflow.%';
update audit_events set workflow_id = (select i.workflow_id from items i
                                       where i.id = cast(substr(audit_events.subject, 6) as integer))
where subject like 'item:%';
update audit_events set workflow_id = cast(json_extract(detail, '$.workflow_id') as integer)
where action = 'webhook.create';

-- items routed per workflow, UTC hour (created_at / 3600000), model version ('' for none) and
-- route reason. Shards as in tuning_evidence: sqlite keeps everything in shard 0.
create table item_hours (
    workflow_id integer not null references workflows (id),
    hour integer not null,
    model_version text not null,
    route_reason text not null,
    shard integer not null default 0,
    volume integer not null default 0,
    primary key (workflow_id, hour, model_version, route_reason, shard)
);

-- people's decisions (approve, reject, correct, escalate) per workflow, UTC hour of the decision,
-- the item's model version and route reason, kind and reason code ('' for none); and per person
-- (actor_id), hour and kind. An undo takes its decision back out of the decision's own cells. The
-- system's decisions (auto-approvals, auto-rejections) are item_hours' volume, not counted here.
create table decision_hours (
    workflow_id integer not null references workflows (id),
    hour integer not null,
    model_version text not null,
    route_reason text not null,
    kind text not null,
    reason_code text not null,
    shard integer not null default 0,
    decisions integer not null default 0,
    primary key (workflow_id, hour, model_version, route_reason, kind, reason_code, shard)
);
create table reviewer_hours (
    workflow_id integer not null references workflows (id),
    hour integer not null,
    actor_id integer not null references users (id),
    kind text not null,
    shard integer not null default 0,
    decisions integer not null default 0,
    primary key (workflow_id, hour, actor_id, kind, shard)
);

-- escalations per workflow, UTC hour, the item's model version and the escalation's reason: how
-- many opened, climbed a level (dated when the climb fell due) and were flagged past the top level.
create table escalation_hours (
    workflow_id integer not null references workflows (id),
    hour integer not null,
    model_version text not null,
    reason text not null,
    shard integer not null default 0,
    opened integer not null default 0,
    climbed integer not null default 0,
    flagged integer not null default 0,
    primary key (workflow_id, hour, model_version, reason, shard)
);

create trigger items_hours_insert after insert on items
begin
    insert into item_hours (workflow_id, hour, model_version, route_reason, volume)
    values (new.workflow_id, new.created_at / 3600000, coalesce(new.model_version, ''), new.route_reason, 1)
    on conflict (workflow_id, hour, model_version, route_reason, shard) do update set volume = volume + 1;
end;

create trigger decisions_hours_insert after insert on decisions
when new.actor_id is not null and new.kind in ('approve', 'reject', 'correct', 'escalate')
begin
    insert into decision_hours (workflow_id, hour, model_version, route_reason, kind, reason_code, decisions)
    select new.workflow_id, new.created_at / 3600000, coalesce(i.model_version, ''), i.route_reason, new.kind,
           coalesce(new.reason_code, ''), 1
    from items i where i.id = new.item_id
    on conflict (workflow_id, hour, model_version, route_reason, kind, reason_code, shard)
    do update set decisions = decisions + 1;
    insert into reviewer_hours (workflow_id, hour, actor_id, kind, decisions)
    values (new.workflow_id, new.created_at / 3600000, new.actor_id, new.kind, 1)
    on conflict (workflow_id, hour, actor_id, kind, shard) do update set decisions = decisions + 1;
end;

create trigger decisions_hours_undo after insert on decisions
when new.kind = 'undo' and new.undoes is not null
begin
    insert into decision_hours (workflow_id, hour, model_version, route_reason, kind, reason_code, decisions)
    select u.workflow_id, u.created_at / 3600000, coalesce(i.model_version, ''), i.route_reason, u.kind,
           coalesce(u.reason_code, ''), -1
    from decisions u join items i on i.id = u.item_id
    where u.id = new.undoes and u.actor_id is not null and u.kind in ('approve', 'reject', 'correct', 'escalate')
    on conflict (workflow_id, hour, model_version, route_reason, kind, reason_code, shard)
    do update set decisions = decisions - 1;
    insert into reviewer_hours (workflow_id, hour, actor_id, kind, decisions)
    select u.workflow_id, u.created_at / 3600000, u.actor_id, u.kind, -1
    from decisions u
    where u.id = new.undoes and u.actor_id is not null and u.kind in ('approve', 'reject', 'correct', 'escalate')
    on conflict (workflow_id, hour, actor_id, kind, shard) do update set decisions = decisions - 1;
end;

create trigger escalations_hours_insert after insert on escalations
begin
    insert into escalation_hours (workflow_id, hour, model_version, reason, opened)
    select new.workflow_id, new.opened_at / 3600000, coalesce(i.model_version, ''), new.reason, 1
    from items i where i.id = new.item_id
    on conflict (workflow_id, hour, model_version, reason, shard) do update set opened = opened + 1;
end;

create trigger escalations_hours_climb after update of level on escalations
when new.level > old.level
begin
    insert into escalation_hours (workflow_id, hour, model_version, reason, climbed)
    select new.workflow_id, new.level_since / 3600000, coalesce(i.model_version, ''), new.reason, new.level - old.level
    from items i where i.id = new.item_id
    on conflict (workflow_id, hour, model_version, reason, shard) do update set climbed = climbed + excluded.climbed;
end;

create trigger escalations_hours_flag after update of flagged_at on escalations
when old.flagged_at is null and new.flagged_at is not null
begin
    insert into escalation_hours (workflow_id, hour, model_version, reason, flagged)
    select new.workflow_id, new.flagged_at / 3600000, coalesce(i.model_version, ''), new.reason, 1
    from items i where i.id = new.item_id
    on conflict (workflow_id, hour, model_version, reason, shard) do update set flagged = flagged + 1;
end;

-- what is already stored counts too (climbs before this migration are not known one by one: an
-- escalation above level 1 counts its climbs at the hour its current level began).
insert into item_hours (workflow_id, hour, model_version, route_reason, volume)
select workflow_id, created_at / 3600000, coalesce(model_version, ''), route_reason, count(*)
from items where true group by 1, 2, 3, 4;

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
from escalations e join items i on i.id = e.item_id where true group by 1, 2, 3, 4;

insert into escalation_hours (workflow_id, hour, model_version, reason, climbed)
select e.workflow_id, e.level_since / 3600000, coalesce(i.model_version, ''), e.reason, sum(e.level - 1)
from escalations e join items i on i.id = e.item_id where e.level > 1 group by 1, 2, 3, 4
on conflict (workflow_id, hour, model_version, reason, shard) do update set climbed = climbed + excluded.climbed;

insert into escalation_hours (workflow_id, hour, model_version, reason, flagged)
select e.workflow_id, e.flagged_at / 3600000, coalesce(i.model_version, ''), e.reason, count(*)
from escalations e join items i on i.id = e.item_id where e.flagged_at is not null group by 1, 2, 3, 4
on conflict (workflow_id, hour, model_version, reason, shard) do update set flagged = flagged + excluded.flagged;
