-- accounts, sessions and sign-in throttling (sqlite)
-- times are unix milliseconds (integers) so that both backends store them alike.

create table users (
    id integer primary key,
    email text not null,
    name text not null,
    role text not null check (role in ('reviewer', 'lead', 'admin')),
    password_hash text not null,
    -- bumped on password reset: sessions signed in under an older epoch end.
    auth_epoch integer not null default 0,
    disabled_at integer,
    created_at integer not null,
    updated_at integer not null,
    constraint users_email_key unique (email)
);

-- a single row claims the one-time "create the first admin" step, so two racing browsers
-- cannot both create one.
create table first_admin_claim (
    id integer primary key check (id = 1),
    user_id integer not null references users (id),
    claimed_at integer not null
);

create table sessions (
    id text primary key,
    data text not null,
    expires_at integer not null
);
create index sessions_expires_at_idx on sessions (expires_at);

-- one row per throttled key: 'account:<email>' or 'client:<ip>'.
create table login_throttle (
    key text primary key,
    failures integer not null,
    last_failure_at integer not null,
    locked_until integer not null
);

-- secrets generated on first start and shared by every instance on the same database.
create table instance_secrets (
    name text primary key,
    value text not null,
    created_at integer not null
);

-- who did what to whom; append-only.
create table audit_events (
    id integer primary key,
    at integer not null,
    actor_id integer references users (id),
    actor_label text not null,
    action text not null,
    subject text not null,
    detail text not null default '{}'
);
create index audit_events_at_idx on audit_events (at);
