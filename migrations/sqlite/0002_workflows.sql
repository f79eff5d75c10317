-- workflows, api keys, items and decisions (sqlite)
-- flags are integers 0/1 and json is text, so that both backends map them alike.

create table workflows (
    id integer primary key,
    slug text not null,
    name text not null,
    description text not null default '',
    owner_id integer references users (id),
    payload_schema text not null,
    prediction_schema text not null,
    labels text not null default '[]',
    reason_codes text not null default '[]',
    auto_approve_at real,
    escalate_below real,
    audit_rate real not null,
    rollout_share real not null,
    target_error_rate real not null,
    review_sla_secs integer not null,
    escalation_sla_secs integer not null,
    lease_secs integer not null,
    paused integer not null default 0,
    breaker_open integer not null default 0,
    -- bumped on every routing change; items record the version they were routed under.
    settings_version integer not null default 1,
    created_at integer not null,
    updated_at integer not null,
    constraint workflows_slug_key unique (slug)
);

create table workflow_members (
    workflow_id integer not null references workflows (id),
    user_id integer not null references users (id),
    primary key (workflow_id, user_id)
);

-- every version of a workflow's settings: who, when, why, old and new.
create table workflow_settings_history (
    id integer primary key,
    workflow_id integer not null references workflows (id),
    version integer not null,
    changed_at integer not null,
    actor_id integer references users (id),
    actor_label text not null,
    reason text not null,
    old_settings text,
    new_settings text not null,
    constraint workflow_settings_history_version_key unique (workflow_id, version)
);

-- keys are shown once; only a sha-256 of the secret part is kept. the prefix finds the row.
create table api_keys (
    id integer primary key,
    name text not null,
    prefix text not null,
    secret_hash text not null,
    created_at integer not null,
    created_by text not null,
    last_used_at integer,
    revoked_at integer,
    constraint api_keys_prefix_key unique (prefix)
);

create table api_key_workflows (
    api_key_id integer not null references api_keys (id),
    workflow_id integer not null references workflows (id),
    primary key (api_key_id, workflow_id)
);

create table items (
    id integer primary key,
    workflow_id integer not null references workflows (id),
    external_id text not null,
    -- sha-256 of the submitted body: the same external_id with another body is a conflict.
    request_hash text not null,
    payload text not null,
    prediction text not null,
    confidence real not null,
    model_version text,
    priority integer not null default 0,
    metadata text,
    state text not null,
    route_reason text not null,
    review_probability real not null,
    -- the routing settings in force when the item arrived.
    routing text not null,
    settings_version integer not null,
    outcome text,
    final_output text,
    created_at integer not null,
    updated_at integer not null,
    decided_at integer,
    constraint items_workflow_external_key unique (workflow_id, external_id)
);
create index items_workflow_state_idx on items (workflow_id, state, id);
create index items_workflow_id_idx on items (workflow_id, id);

-- append-only: an item's outcome is derived from these; nothing is overwritten.
create table decisions (
    id integer primary key,
    item_id integer not null references items (id),
    workflow_id integer not null references workflows (id),
    actor_id integer references users (id),
    actor_label text not null,
    kind text not null,
    reason_code text,
    note text,
    output text,
    time_spent_ms integer,
    final integer not null default 0,
    created_at integer not null
);
create index decisions_item_idx on decisions (item_id, id);
create index decisions_feed_idx on decisions (workflow_id, final, id);
