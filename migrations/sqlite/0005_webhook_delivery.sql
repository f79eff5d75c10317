-- webhook delivery per endpoint, its attempts, secret rotation and retention (sqlite)

-- one instance delivers an endpoint's events at a time, in order, under a lease it renews
-- before each send; another instance takes over once the lease has run out.
alter table webhook_endpoints add column delivery_token text;
alter table webhook_endpoints add column delivering_until integer;
-- after a rotation the previous secret still signs (a second signature) until then.
alter table webhook_endpoints add column previous_secret text;
alter table webhook_endpoints add column previous_secret_until integer;

-- each delivery attempt, for the endpoint's page; kept as long as delivered events are.
create table webhook_attempts (
    id integer primary key,
    endpoint_id integer not null references webhook_endpoints (id),
    -- the event (no key: delivered events are purged after the retention period).
    outbox_id integer not null,
    event_type text not null,
    attempted_at integer not null,
    -- null when no answer came (timeout, refused connection, private address).
    status_code integer,
    latency_ms integer not null,
    error text
);
create index webhook_attempts_endpoint_idx on webhook_attempts (endpoint_id, id);
create index webhook_attempts_at_idx on webhook_attempts (attempted_at);

-- an endpoint's due events in order; delivered events by age, for the retention purge.
create index webhook_outbox_endpoint_due_idx on webhook_outbox (endpoint_id, status, next_attempt_at, id);
create index webhook_outbox_delivered_idx on webhook_outbox (delivered_at) where status = 'delivered';
