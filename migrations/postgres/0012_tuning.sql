-- threshold tuning: its settings, the evidence counts, imported history, admin keys (postgresql)

-- how sure tuning must be that the error stays under target_error_rate; whether it also looks for
-- an auto-reject band.
alter table workflows add column tuning_confidence double precision not null default 0.95;
alter table workflows add column tune_auto_reject bigint not null default 0;

-- the evidence a settings version was applied on (the tuning page's numbers at that moment).
alter table workflow_settings_history add column evidence text;

-- below this confidence items are rejected unseen, but for the audit sample.
alter table workflows add column auto_reject_below double precision;

-- while a lowered threshold rolls out, the threshold before it (the rollout share holds back only
-- the band between).
alter table workflows add column rollout_from double precision;

-- the breaker: when it opened, why, for which model version; it counts only verdicts on
-- decisions after breaker_watermark (the newest decision when it was last closed).
alter table workflows add column breaker_opened_at bigint;
alter table workflows add column breaker_reason text;
alter table workflows add column breaker_watermark bigint not null default 0;

-- keys that may also import history and read tuning for their workflows.
alter table api_keys add column admin bigint not null default 0;

-- the evidence, counted as items and verdicts are written: per workflow, model version ('' for
-- none), confidence bin (of 200, see domain::tuning) and stratum (review probability in
-- millionths). Each connection writes its own shard, as in queue_minutes (migration 0008).
create table tuning_evidence (
    workflow_id bigint not null references workflows (id),
    model_version text not null,
    bin bigint not null,
    stratum bigint not null,
    shard smallint not null default 0,
    volume bigint not null default 0,
    reviewed bigint not null default 0,
    wrong bigint not null default 0,
    primary key (workflow_id, model_version, bin, stratum, shard)
);

-- items routed per workflow and UTC day (created_at / 86400000): the tuning page's daily volume.
create table item_days (
    workflow_id bigint not null references workflows (id),
    day bigint not null,
    shard smallint not null default 0,
    volume bigint not null default 0,
    primary key (workflow_id, day, shard)
);

-- past items imported so that tuning starts with evidence; verdict 'right', 'wrong' or null.
create table history_items (
    workflow_id bigint not null references workflows (id),
    external_id text not null,
    confidence double precision not null,
    model_version text not null,
    verdict text,
    review_probability double precision not null,
    imported_at bigint not null,
    primary key (workflow_id, external_id)
);

-- the same bin and stratum as domain::tuning::{bin_of, stratum_of}.
create function evidence_bin(confidence double precision) returns bigint language sql immutable as $$
    select least(200, floor(confidence * 200 + 1e-9))::bigint
$$;
create function evidence_stratum(review_probability double precision) returns bigint language sql immutable as $$
    select round(review_probability * 1000000)::bigint
$$;

-- every routed item adds to its cell's volume; once per statement.
create function tuning_evidence_after_item_insert() returns trigger language plpgsql as $$
begin
    insert into tuning_evidence (workflow_id, model_version, bin, stratum, shard, volume)
    select workflow_id, coalesce(model_version, ''), evidence_bin(confidence), evidence_stratum(review_probability),
           pg_backend_pid() % 8, count(*)
    from inserted group by 1, 2, 3, 4
    on conflict (workflow_id, model_version, bin, stratum, shard)
    do update set volume = tuning_evidence.volume + excluded.volume;
    insert into item_days (workflow_id, day, shard, volume)
    select workflow_id, created_at / 86400000, pg_backend_pid() % 8, count(*) from inserted group by 1, 2
    on conflict (workflow_id, day, shard) do update set volume = item_days.volume + excluded.volume;
    return null;
end
$$;
create trigger items_evidence_insert after insert on items referencing new table as inserted
for each statement execute function tuning_evidence_after_item_insert();

-- a person's final verdict adds to reviewed (and wrong unless it approved); an undo takes the
-- verdict it undoes back.
create function tuning_evidence_after_decision_insert() returns trigger language plpgsql as $$
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
    group by 1, 2, 3, 4
    on conflict (workflow_id, model_version, bin, stratum, shard)
    do update set reviewed = tuning_evidence.reviewed + excluded.reviewed, wrong = tuning_evidence.wrong + excluded.wrong;
    return null;
end
$$;
create trigger decisions_evidence_insert after insert on decisions referencing new table as inserted
for each statement execute function tuning_evidence_after_decision_insert();

-- what is already stored counts too.
insert into item_days (workflow_id, day, volume)
select workflow_id, created_at / 86400000, count(*) from items group by 1, 2;
insert into tuning_evidence (workflow_id, model_version, bin, stratum, volume)
select workflow_id, coalesce(model_version, ''), evidence_bin(confidence), evidence_stratum(review_probability), count(*)
from items group by 1, 2, 3, 4;

insert into tuning_evidence (workflow_id, model_version, bin, stratum, reviewed, wrong)
select i.workflow_id, coalesce(i.model_version, ''), evidence_bin(i.confidence), evidence_stratum(i.review_probability),
       count(*), sum(case when d.kind = 'approve' then 0 else 1 end)
from decisions d join items i on i.id = d.item_id
where d.final = 1 and d.kind in ('approve', 'reject', 'correct')
  and not exists (select 1 from decisions u where u.undoes = d.id)
group by 1, 2, 3, 4
on conflict (workflow_id, model_version, bin, stratum, shard)
do update set reviewed = tuning_evidence.reviewed + excluded.reviewed, wrong = tuning_evidence.wrong + excluded.wrong;
