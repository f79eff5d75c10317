-- reviewer queues: leases, assignments, undo and settlement (sqlite)

-- a claimed item is leased to one reviewer until lease_expires_at; lease_token names the claim,
-- so a decision made under an older claim of the same item is refused.
alter table items add column leased_by integer references users (id);
alter table items add column lease_token text;
alter table items add column lease_expires_at integer;
alter table items add column claimed_at integer;
-- set by a lead: only this reviewer may claim the item.
alter table items add column assigned_to integer references users (id);

-- claim-next: highest priority first, then oldest, within one workflow's waiting items. partial,
-- so that it holds only waiting items and is the one index that gives claim-next its order
-- (with stale statistics a planner could otherwise sort every waiting item on each claim).
create index items_claim_idx on items (workflow_id, priority desc, id) where state = 'queued';
create index items_due_idx on items (workflow_id, created_at) where state = 'queued';
create index items_lease_expiry_idx on items (lease_expires_at) where state = 'claimed';
create index items_leased_by_idx on items (leased_by) where state = 'claimed';
create index items_assigned_idx on items (assigned_to, state) where assigned_to is not null;

-- the claim a decision was made under (double submits of one claim decide once).
alter table decisions add column lease_token text;
-- an undo row points at the decision it takes back; nothing is rewritten.
alter table decisions add column undoes integer references decisions (id);
-- a human decision settles (is sent and shown to pollers) once its undo window has passed.
alter table decisions add column settles_at integer;
update decisions set settles_at = created_at;
create index decisions_actor_idx on decisions (actor_id, created_at);
create index decisions_undoes_idx on decisions (undoes) where undoes is not null;
create index decisions_settling_idx on decisions (workflow_id, settles_at) where final = 1;
create unique index decisions_lease_token_key on decisions (lease_token) where lease_token is not null;

-- the decision an outbox event reports, so that an undo can withdraw it before it is sent.
alter table webhook_outbox add column decision_id integer references decisions (id);
create index webhook_outbox_decision_idx on webhook_outbox (decision_id) where decision_id is not null;
