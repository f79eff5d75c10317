//! Leases: a claimed item is held by one reviewer until `lease_expires_at`, named by a random
//! token that every decision must carry. The open page renews it; a lease nobody renews ends on
//! its own, and the sweeper returns the item to where it waited with a `lease_expired` entry.

use crate::domain::escalation::Reason;
use crate::domain::item_state::{Action, ItemState, state_sql};
use crate::error::AppError;
use crate::escalations::server::{Escalating, escalate_by_system};
use crate::items::decisions::{self, NewDecision};
use crate::storage::clock::now_ms;
use crate::storage::db::{Backend, Db};
use crate::users::server::UserRecord;
use sqlx::AnyConnection;

/// A new lease token: 128 random bits, hex.
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Extends the lease the reviewer holds; the new end (Unix ms).
pub async fn renew(db: &Db, user: &UserRecord, item_id: i64, token: &str) -> Result<i64, AppError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    // Membership is checked on every renewal: someone removed from the workflow keeps a lease
    // only until it runs out, then the item goes back to the queue.
    let lease: Option<(i64, i64)> = sqlx::query_as(concat!(
        "select w.lease_secs, (select count(*) from workflow_members m \
         where m.workflow_id = i.workflow_id and m.user_id = i.leased_by) \
         from items i join workflows w on w.id = i.workflow_id \
         where i.id = $1 and i.state = ",
        state_sql!(Claimed),
        " and i.leased_by = $2 and i.lease_token = $3 and i.lease_expires_at > $4"
    ))
    .bind(item_id)
    .bind(user.id)
    .bind(token)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((lease_secs, member)) = lease else {
        return Err(AppError::conflict(
            "Your lease on this item has ended and it went back to the queue. Nothing you do here is recorded.",
        ));
    };
    if member == 0 {
        tracing::warn!(user_id = user.id, item_id, "lease renewal refused: no longer a member");
        return Err(AppError::Forbidden);
    }
    let until = now + lease_secs * 1000;
    sqlx::query("update items set lease_expires_at = $1 where id = $2")
        .bind(until)
        .bind(item_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(until)
}

/// Leases the item to `user_id` under a new token for `lease_secs` from `now`, as `state` (the
/// state machine's answer, which the caller asked for), clearing any outcome (an undone
/// decision's).
pub async fn grant(
    conn: &mut AnyConnection,
    item_id: i64,
    state: ItemState,
    user_id: i64,
    lease_secs: i64,
    now: i64,
) -> Result<(), AppError> {
    sqlx::query(
        "update items set state = $1, leased_by = $2, lease_token = $3, lease_expires_at = $4, claimed_at = $5, \
         outcome = null, final_output = null, decided_at = null, updated_at = $5 where id = $6",
    )
    .bind(state.as_str())
    .bind(user_id)
    .bind(new_token())
    .bind(now + lease_secs * 1000)
    .bind(now)
    .bind(item_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A lease being ended.
#[derive(Debug, sqlx::FromRow)]
pub struct Lease {
    #[sqlx(rename = "id")]
    pub item_id: i64,
    pub workflow_id: i64,
    #[sqlx(rename = "lease_token")]
    pub token: Option<String>,
    pub assigned_to: Option<i64>,
}

/// Ends a lease and records why: `release` by the reviewer, `lease_expired` by the system
/// (`by` is `None`). The item goes back to where it waited.
pub async fn end_lease(
    conn: &mut AnyConnection,
    backend: Backend,
    lease: &Lease,
    by: Option<&UserRecord>,
    action: Action,
    now: i64,
) -> Result<(), AppError> {
    let back =
        ItemState::Claimed.apply(action, lease.assigned_to.is_some()).map_err(|e| AppError::internal(e.to_string()))?;
    sqlx::query(
        "update items set state = $1, leased_by = null, lease_token = null, lease_expires_at = null, \
         claimed_at = null, updated_at = $2 where id = $3",
    )
    .bind(back.as_str())
    .bind(now)
    .bind(lease.item_id)
    .execute(&mut *conn)
    .await?;
    let decision = NewDecision {
        actor_id: by.map(|u| u.id),
        actor_label: by.map_or(decisions::SYSTEM, |u| u.email.as_str()),
        lease_token: lease.token.as_deref(),
        settles_at: Some(now),
        ..NewDecision::system(lease.item_id, lease.workflow_id, action.as_str(), now)
    };
    decisions::insert(conn, backend, &decision).await?;
    Ok(())
}

/// A lease the sweeper found expired, with what its workflow's escalation rule needs.
#[derive(Debug, sqlx::FromRow)]
struct Expired {
    #[sqlx(flatten)]
    lease: Lease,
    slug: String,
    /// The workflow's `escalate_after_lease_expiries` (0: never).
    lease_expiry_limit: i64,
    /// How many times this item's lease expired before.
    expired_before: i64,
}

/// Returns every item whose lease ended before `now` to its queue, recording `lease_expired`;
/// an item whose lease has now run out as many times as its workflow allows
/// (`escalate_after_lease_expiries`) goes to a lead instead, with an `escalate` decision whose
/// reason code says why (`lease_expiries`) and an `item.escalated` event. Safe to run on several
/// instances at once. Returns how many leases it ended.
pub async fn expire_leases(db: &Db, now: i64) -> Result<usize, AppError> {
    let mut tx = db.begin_write().await?;
    let expired: Vec<Expired> = sqlx::query_as(&format!(
        concat!(
            "select i.id, i.workflow_id, i.lease_token, i.assigned_to, w.slug, \
             w.escalate_after_lease_expiries as lease_expiry_limit, \
             (select count(*) from decisions d where d.item_id = i.id and d.kind = 'lease_expired') as expired_before \
             from items i join workflows w on w.id = i.workflow_id where i.state = ",
            state_sql!(Claimed),
            " and i.lease_expires_at <= $1 order by i.lease_expires_at limit 500{}"
        ),
        db.backend().skip_locked_of("i")
    ))
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut escalated = 0;
    for found in &expired {
        end_lease(&mut tx, db.backend(), &found.lease, None, Action::ExpireLease, now).await?;
        let rules = crate::domain::escalation::Rules {
            lease_expiry_limit: u32::try_from(found.lease_expiry_limit).unwrap_or(0),
            ..crate::domain::escalation::Rules::default()
        };
        let times = u32::try_from(found.expired_before + 1).unwrap_or(u32::MAX);
        // An item a lead assigned is a lead's already: it goes back to its assignee.
        if found.lease.assigned_to.is_none() && rules.lease_expiries_escalate(times) {
            let item =
                Escalating { item_id: found.lease.item_id, workflow_id: found.lease.workflow_id, slug: &found.slug };
            let note = format!("Its lease ran out {times} times without a decision.");
            if escalate_by_system(&mut tx, db.backend(), item, Reason::LeaseExpiries, &note, now).await? {
                escalated += 1;
            }
        }
    }
    tx.commit().await?;
    if !expired.is_empty() {
        tracing::info!(count = expired.len(), escalated, "expired review leases returned to their queues");
    }
    Ok(expired.len())
}

/// Runs [`expire_leases`] every `every` until the process ends.
pub async fn sweep_leases(db: Db, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = expire_leases(&db, now_ms()).await {
            tracing::warn!(%error, "lease sweep failed; retrying");
        }
    }
}
