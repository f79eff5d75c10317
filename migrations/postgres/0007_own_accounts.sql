-- a person's own password and own sessions (postgresql)

-- when an admin chose this user's password (a new account, a reset); cleared once the user
-- chooses their own. While set, the account can do nothing but choose one.
alter table users add column temporary_password_at bigint;

-- whose session each row is, so that a person can list and end their own sessions. Written by
-- the session store from the session's data; null until someone signs in with the session.
alter table sessions add column user_id bigint references users (id);
create index sessions_user_id_idx on sessions (user_id);

-- sessions signed in before this migration name their user in their data only
update sessions set user_id = (data::jsonb ->> 'user_id')::bigint
where data::jsonb ->> 'user_id' ~ '^[0-9]+$'
  and (data::jsonb ->> 'user_id')::bigint in (select id from users);
