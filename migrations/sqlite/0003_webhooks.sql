-- webhook endpoints and the durable outbox (sqlite)

create table webhook_endpoints (
    id integer primary key,
    workflow_id integer not null references workflows (id),
    url text not null,
    -- standard webhooks secret: 'whsec_' + base64 of the key bytes.
    secret text not null,
    -- json array of event types, e.g. ["item.approved", "item.escalated"].
    event_types text not null,
    enabled integer not null default 1,
    -- set when an event to this endpoint is given up on; cleared by the next success.
    failing_since integer,
    created_at integer not null,
    updated_at integer not null
);
create index webhook_endpoints_workflow_idx on webhook_endpoints (workflow_id);

-- one row per (event, endpoint), written in the same transaction as the change it reports.
create table webhook_outbox (
    id integer primary key,
    endpoint_id integer not null references webhook_endpoints (id),
    message_id text not null,
    event_type text not null,
    payload text not null,
    status text not null check (status in ('pending', 'delivered', 'dead')),
    attempts integer not null default 0,
    next_attempt_at integer not null,
    -- a delivery in progress holds the row until then (several instances share the outbox).
    locked_until integer,
    last_error text,
    created_at integer not null,
    delivered_at integer,
    constraint webhook_outbox_message_endpoint_key unique (message_id, endpoint_id)
);
create index webhook_outbox_due_idx on webhook_outbox (status, next_attempt_at);
