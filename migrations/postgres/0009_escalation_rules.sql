-- a workflow's escalation rules (postgresql)

-- escalate an item once its lease ran out this many times unrenewed; 0 never
alter table workflows add column escalate_after_lease_expiries bigint not null default 3;

-- reject reason codes (json array, each one of reason_codes) that escalate the item instead
alter table workflows add column escalate_on_reasons text not null default '[]';
