-- threshold tuning: its settings, the evidence counts, imported history, admin keys (sqlite)

-- how sure tuning must be that the error stays under target_error_rate; whether it also looks for
-- an auto-reject band.
alter table workflows add column tuning_confidence real not null default 0.95;
alter table workflows add column tune_auto_reject integer not null default 0;

-- the evidence a settings version was applied on (the tuning page's numbers at that moment).
alter table workflow_settings_history add column evidence text;

-- below this confidence items are rejected unseen, but for the audit sample.
alter table workflows add column auto_reject_below real;

-- while a lowered threshold rolls out, the threshold before it (the rollout share holds back only
-- the band between).
alter table workflows add column rollout_from real;

-- the breaker: when it opened, why, for which model version; it counts only verdicts on
-- decisions after breaker_watermark (the newest decision when it was last closed).
alter table workflows add column breaker_opened_at integer;
alter table workflows add column breaker_reason text;
alter table workflows add column breaker_watermark integer not null default 0;

-- keys that may also import history and read tuning for their workflows.
alter table api_keys add column admin integer not null default 0;

-- the evidence, counted as items and verdicts are written: per workflow, model version ('' for
-- none), confidence bin (of 200, see domain::tuning) and stratum (review probability in
-- millionths). Shards as in queue_minutes: sqlite keeps everything in shard 0.
create table tuning_evidence (
    workflow_id integer not null references workflows (id),
    model_version text not null,
    bin integer not null,
    stratum integer not null,
    shard integer not null default 0,
    volume integer not null default 0,
    reviewed integer not null default 0,
    wrong integer not null default 0,
    primary key (workflow_id, model_version, bin, stratum, shard)
);

-- items routed per workflow and UTC day (created_at / 86400000): the tuning page's daily volume.
create table item_days (
    workflow_id integer not null references workflows (id),
    day integer not null,
    shard integer not null default 0,
    volume integer not null default 0,
    primary key (workflow_id, day, shard)
);

-- past items imported so that tuning starts with evidence; verdict 'right', 'wrong' or null.
create table history_items (
    workflow_id integer not null references workflows (id),
    external_id text not null,
    confidence real not null,
    model_version text not null,
    verdict text,
    review_probability real not null,
    imported_at integer not null,
    primary key (workflow_id, external_id)
);

-- every routed item adds to its cell's volume.
create trigger items_evidence_insert after insert on items
begin
    insert into tuning_evidence (workflow_id, model_version, bin, stratum, volume)
    values (new.workflow_id, coalesce(new.model_version, ''), min(200, cast(new.confidence * 200 + 1e-9 as integer)),
            cast(round(new.review_probability * 1000000) as integer), 1)
    on conflict (workflow_id, model_version, bin, stratum, shard) do update set volume = volume + 1;
    insert into item_days (workflow_id, day, volume) values (new.workflow_id, new.created_at / 86400000, 1)
    on conflict (workflow_id, day, shard) do update set volume = volume + 1;
end;

-- a person's final verdict (the auto-approval is not one) adds to reviewed, and to wrong unless
-- it approved.
create trigger decisions_evidence_verdict after insert on decisions
when new.final = 1 and new.kind in ('approve', 'reject', 'correct')
begin
    insert into tuning_evidence (workflow_id, model_version, bin, stratum, reviewed, wrong)
    select i.workflow_id, coalesce(i.model_version, ''), min(200, cast(i.confidence * 200 + 1e-9 as integer)),
           cast(round(i.review_probability * 1000000) as integer), 1, case when new.kind = 'approve' then 0 else 1 end
    from items i where i.id = new.item_id
    on conflict (workflow_id, model_version, bin, stratum, shard)
    do update set reviewed = reviewed + excluded.reviewed, wrong = wrong + excluded.wrong;
end;

-- an undone verdict counts as nothing.
create trigger decisions_evidence_undo after insert on decisions
when new.kind = 'undo' and new.undoes is not null
begin
    insert into tuning_evidence (workflow_id, model_version, bin, stratum, reviewed, wrong)
    select i.workflow_id, coalesce(i.model_version, ''), min(200, cast(i.confidence * 200 + 1e-9 as integer)),
           cast(round(i.review_probability * 1000000) as integer), -1, case when u.kind = 'approve' then 0 else -1 end
    from decisions u join items i on i.id = u.item_id
    where u.id = new.undoes and u.final = 1 and u.kind in ('approve', 'reject', 'correct')
    on conflict (workflow_id, model_version, bin, stratum, shard)
    do update set reviewed = reviewed + excluded.reviewed, wrong = wrong + excluded.wrong;
end;

-- what is already stored counts too.
insert into item_days (workflow_id, day, volume)
select workflow_id, created_at / 86400000, count(*) from items where true group by 1, 2;
insert into tuning_evidence (workflow_id, model_version, bin, stratum, volume)
select workflow_id, coalesce(model_version, ''), min(200, cast(confidence * 200 + 1e-9 as integer)),
       cast(round(review_probability * 1000000) as integer), count(*)
from items where true group by 1, 2, 3, 4;

insert into tuning_evidence (workflow_id, model_version, bin, stratum, reviewed, wrong)
select i.workflow_id, coalesce(i.model_version, ''), min(200, cast(i.confidence * 200 + 1e-9 as integer)),
       cast(round(i.review_probability * 1000000) as integer), count(*), sum(case when d.kind = 'approve' then 0 else 1 end)
from decisions d join items i on i.id = d.item_id
where d.final = 1 and d.kind in ('approve', 'reject', 'correct')
  and not exists (select 1 from decisions u where u.undoes = d.id)
group by 1, 2, 3, 4
on conflict (workflow_id, model_version, bin, stratum, shard)
do update set reviewed = reviewed + excluded.reviewed, wrong = wrong + excluded.wrong;
