//! Escalating on the system's behalf (the one way an item is escalated without a person), the
//! sweeper that escalates items waiting past their workflow's review SLA, and the bookkeeping of
//! escalations: one open escalation an escalated item, its level (leads, then admins) and since
//! when, flagged when overdue at the top, closed once the item is decided.

use super::events::{self, About};
use crate::domain::escalation::{Due, Level, Reason, Rules, duration_words};
use crate::domain::item_state::{Action, ItemState, state_sql};
use crate::error::AppError;
use crate::items::decisions::{self, NewDecision};
use crate::items::view::load_view;
use crate::storage::clock::now_ms;
use crate::storage::db::{Backend, Db};
use crate::storage::dialect;
use crate::webhooks::outbox::{self, Subscriptions};
use serde_json::json;
use sqlx::AnyConnection;

/// The item the system escalates.
#[derive(Debug, Clone, Copy)]
pub struct Escalating<'a> {
    pub item_id: i64,
    pub workflow_id: i64,
    pub slug: &'a str,
}

/// Escalates a queued item on the system's behalf at `at` (when the trigger fell due, which a
/// sweeper that was down records as such): the item goes to a lead, an `escalate` decision by
/// the system records the trigger as its reason code and `note`, and `item.escalated` is queued
/// for the endpoints that want it. Does nothing (false) if the item is no longer queued.
pub async fn escalate_by_system(
    conn: &mut AnyConnection,
    backend: Backend,
    item: Escalating<'_>,
    reason: Reason,
    note: &str,
    at: i64,
) -> Result<bool, AppError> {
    let workflow = Workflow { id: item.workflow_id, slug: item.slug };
    // Not before the trigger fell due (it may be dated ahead of this clock).
    let moved = move_to_escalated(conn, &[item.item_id], now_ms().max(at)).await?;
    if moved.is_empty() {
        return Ok(false);
    }
    let decision = NewDecision {
        reason_code: Some(reason.as_str()),
        note: Some(note),
        settles_at: Some(at),
        ..NewDecision::system(item.item_id, workflow.id, Action::Escalate.as_str(), at)
    };
    decisions::insert(conn, backend, &decision).await?;
    queue_escalated(conn, workflow, &moved).await?;
    Ok(true)
}

/// Moves the items `ids` that are still queued to a lead, as of `updated_at`; those it moved,
/// in the order given.
async fn move_to_escalated(conn: &mut AnyConnection, ids: &[i64], updated_at: i64) -> Result<Vec<i64>, AppError> {
    let next = ItemState::Queued.apply(Action::Escalate, false).map_err(|e| AppError::internal(e.to_string()))?;
    let moved: Vec<(i64,)> = sqlx::query_as(&format!(
        concat!(
            "update items set state = $1, updated_at = $2 where id in ({}) and state = ",
            state_sql!(Queued),
            " returning id"
        ),
        dialect::id_list(ids.iter().copied())
    ))
    // The ids are in the text: no two uses are alike, even of one item.
    .persistent(false)
    .bind(next.as_str())
    .bind(updated_at)
    .fetch_all(&mut *conn)
    .await?;
    let moved: std::collections::HashSet<i64> = moved.into_iter().map(|(id,)| id).collect();
    Ok(ids.iter().copied().filter(|id| moved.contains(id)).collect())
}

/// Queues `item.escalated` for each of the items `escalated`, for the endpoints that want it.
async fn queue_escalated(conn: &mut AnyConnection, workflow: Workflow<'_>, escalated: &[i64]) -> Result<(), AppError> {
    let subscriptions = Subscriptions::load(conn, workflow.id).await?;
    if subscriptions.wants("item.escalated") {
        for &item_id in escalated {
            let view =
                load_view(conn, workflow.slug, item_id).await?.ok_or_else(|| AppError::internal("item vanished"))?;
            outbox::enqueue(conn, &subscriptions, "item.escalated", &json!(view)).await?;
        }
    }
    Ok(())
}

/// The queued items of workflow `$1` created by `$2` (the review SLA before now) that were never
/// escalated: one a lead sent back to the queue is not escalated again for the same wait.
const OVERDUE: &str = concat!(
    "from items where workflow_id = $1 and state = ",
    state_sql!(Queued),
    " and created_at <= $2 and not exists (select 1 from escalations x where x.item_id = items.id)"
);

/// How many items one transaction of a pass escalates (or escalations it opens or climbs): a
/// pass takes all that are due, a chunk at a time, so that other writers wait at most a chunk.
const CHUNK: i64 = 2000;

/// A workflow and how long its items may wait in the queue.
#[derive(sqlx::FromRow)]
struct ReviewSla {
    id: i64,
    slug: String,
    review_sla_secs: i64,
}

/// Escalates every item that has waited in a queue past its workflow's review SLA by `now`,
/// each recorded when its SLA ran out (created + SLA), not when the sweeper woke: after the
/// server was down the history still says when each item was due. Several instances may run it
/// at once: on PostgreSQL each takes rows the others have not locked (SKIP LOCKED), on SQLite
/// writers take turns, and an item is escalated only while it is still queued. Returns how many
/// it escalated.
pub async fn escalate_overdue_reviews(db: &Db, now: i64) -> Result<usize, AppError> {
    let workflows: Vec<ReviewSla> =
        sqlx::query_as("select id, slug, review_sla_secs from workflows order by id").fetch_all(db.pool()).await?;
    let mut escalated = 0;
    // One connection for every chunk of the pass: see [`Db::begin_write_on`].
    let mut conn = db.pool().acquire().await?;
    for ReviewSla { id: workflow_id, slug, review_sla_secs: sla_secs } in workflows {
        let cutoff = now.saturating_sub(sla_secs.saturating_mul(1000));
        let note = format!("It waited past the review SLA of {}.", duration_words(sla_secs * 1000));
        loop {
            // A look first, outside any write transaction: most passes find nothing to do.
            let any: Option<(i64,)> = sqlx::query_as(&format!("select id {OVERDUE} limit 1"))
                .bind(workflow_id)
                .bind(cutoff)
                .fetch_optional(&mut *conn)
                .await?;
            if any.is_none() {
                break;
            }
            let _turn = db.write_turn().await;
            let mut tx = db.begin_write_on(&mut conn).await?;
            // The partial index on queued items by (workflow, creation) answers this.
            let due: Vec<(i64, i64)> = sqlx::query_as(&format!(
                "select id, created_at {OVERDUE} order by created_at limit $3{}",
                db.backend().skip_locked()
            ))
            .bind(workflow_id)
            .bind(cutoff)
            .bind(CHUNK)
            .fetch_all(&mut *tx)
            .await?;
            if due.is_empty() {
                // Another instance holds the rest.
                break;
            }
            let workflow = Workflow { id: workflow_id, slug: &slug };
            escalated += escalate_overdue(&mut tx, workflow, &due, sla_secs.saturating_mul(1000), &note).await?;
            tx.commit().await?;
        }
    }
    if escalated > 0 {
        tracing::info!(escalated, "items waiting past their review SLA escalated");
    }
    Ok(escalated)
}

/// [`escalate_by_system`] for the queued items `due` of one workflow, each `(item, created)`,
/// that waited past the review SLA of `sla_ms`: each escalated as of its creation plus the SLA.
/// One update, their decisions computed by the database from the items' rows (one statement,
/// nothing bound per item), and their events. Those no longer queued are passed over. How many
/// it escalated.
async fn escalate_overdue(
    conn: &mut AnyConnection,
    workflow: Workflow<'_>,
    due: &[(i64, i64)],
    sla_ms: i64,
    note: &str,
) -> Result<usize, AppError> {
    let ids: Vec<i64> = due.iter().map(|&(id, _)| id).collect();
    let latest = due.iter().map(|&(_, created)| created.saturating_add(sla_ms)).max().unwrap_or_default();
    let moved = move_to_escalated(conn, &ids, now_ms().max(latest)).await?;
    if moved.is_empty() {
        return Ok(0);
    }
    // In the columns' order of `decisions::COLUMNS`, by item.
    let lines = decisions::insert_select(&format!(
        "select id, workflow_id, null, $1, $2, $3, $4, null, null, 0, created_at + $5, null, null, created_at + $5 \
         from items where id in ({}) order by id",
        dialect::id_list(moved.iter().copied())
    ));
    sqlx::query(&lines)
        .persistent(false)
        .bind(decisions::SYSTEM)
        .bind(Action::Escalate.as_str())
        .bind(Reason::ReviewSla.as_str())
        .bind(note)
        .bind(sla_ms)
        .execute(&mut *conn)
        .await?;
    queue_escalated(conn, workflow, &moved).await?;
    Ok(moved.len())
}

/// `i.state not in (...)`: the item `i` is no longer with a lead or an assignee (the escalation
/// that holds it can close).
macro_rules! with_nobody_sql {
    () => {
        concat!("i.state not in (", state_sql!(Escalated), ", ", state_sql!(Assigned), ", ", state_sql!(Claimed), ")")
    };
}

/// The escalation sweeper: every `every` until the process ends, [`escalate_overdue_reviews`]
/// and then [`keep_escalations`].
pub async fn sweep(db: Db, every: std::time::Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = Seen::default();
    loop {
        ticker.tick().await;
        if let Err(error) = escalate_overdue_reviews(&db, now_ms()).await {
            tracing::warn!(%error, "review SLA sweep failed; retrying");
        }
        match keep_since(&db, now_ms(), &mut seen).await {
            Ok(kept) if kept != Kept::default() => tracing::info!(?kept, "escalations kept"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "escalation sweep failed; retrying"),
        }
    }
}

/// What one pass of [`keep_escalations`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    pub opened: usize,
    pub resolved: usize,
    pub climbed: usize,
    pub flagged: usize,
}

/// An escalated item without an open escalation, and its last `escalate` decision, if any.
#[derive(sqlx::FromRow)]
struct Unopened {
    id: i64,
    created_at: i64,
    actor_id: Option<i64>,
    reason_code: Option<String>,
    escalated_at: Option<i64>,
}

impl Unopened {
    /// The trigger, read from the item's history: no escalate decision means it arrived
    /// escalated (low confidence); the system's names its trigger; a person's with a reason code
    /// is a rejection that escalates, without one a reviewer's escalation.
    fn reason(&self) -> Reason {
        match (self.escalated_at, self.actor_id, self.reason_code.as_deref()) {
            (None, ..) => Reason::LowConfidence,
            (Some(_), None, code) => code.and_then(Reason::parse).unwrap_or(Reason::Reviewer),
            (Some(_), Some(_), Some(_)) => Reason::RejectReason,
            (Some(_), Some(_), None) => Reason::Reviewer,
        }
    }
}

#[derive(sqlx::FromRow)]
struct Open {
    id: i64,
    level: i64,
    level_since: i64,
}

/// Keeps the escalations in step with the items, workflow by workflow, as of `now`: opens one
/// for each escalated item that has none (at level 1, since it was escalated), closes those
/// whose item was decided or sent back to the queue, and climbs each open one whose escalation
/// SLA ran out to the admins, dated when it fell due; one overdue at the top is flagged, dated
/// likewise. After the server was down, one pass replays what fell due meanwhile. Safe on
/// several instances at once: one open escalation an item (a unique index), climbs under SKIP
/// LOCKED on PostgreSQL and in turns on SQLite.
pub async fn keep_escalations(db: &Db, now: i64) -> Result<Kept, AppError> {
    keep_since(db, now, &mut Seen::default()).await
}

/// How far a sweeper has looked: the newest item and decision when its last pass began. An
/// escalation is opened for an item that arrives escalated (a new item) or is escalated (a new
/// decision), and closed after a decision: a sweeper that has looked at everything up to these
/// only needs to look at what is newer to know whether there is anything to open or close.
/// Starts at nothing, so that the first pass of a process looks at everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen {
    items: i64,
    decisions: i64,
}

/// A workflow and how long its escalations may stay at a level.
#[derive(sqlx::FromRow)]
struct EscalationSla {
    id: i64,
    slug: String,
    escalation_sla_secs: i64,
}

/// [`keep_escalations`] that looks for escalations to open or close only among the items and
/// decisions newer than `seen`, and moves it on.
pub async fn keep_since(db: &Db, now: i64, seen: &mut Seen) -> Result<Kept, AppError> {
    let (items, decisions): (i64, i64) =
        sqlx::query_as("select (select coalesce(max(id), 0) from items), (select coalesce(max(id), 0) from decisions)")
            .fetch_one(db.pool())
            .await?;
    let workflows: Vec<EscalationSla> =
        sqlx::query_as("select id, slug, escalation_sla_secs from workflows order by id").fetch_all(db.pool()).await?;
    let mut kept = Kept::default();
    // One connection for every chunk of the pass: see [`Db::begin_write_on`].
    let mut conn = db.pool().acquire().await?;
    for EscalationSla { id: workflow_id, slug, escalation_sla_secs: sla_secs } in workflows {
        let rules = Rules { escalation_sla_ms: sla_secs.saturating_mul(1000), ..Rules::default() };
        let workflow = Workflow { id: workflow_id, slug: &slug };
        let mut opened_after = 0;
        // A look first, outside any write transaction: most passes find nothing to do.
        let (work,): (i64,) =
            sqlx::query_as(&format!("select ({UNOPENED_EXISTS}) + ({CLOSABLE_EXISTS}) + ({DUE_EXISTS})"))
                .bind(workflow_id)
                .bind(now)
                .bind(seen.items)
                .bind(seen.decisions)
                .fetch_one(&mut *conn)
                .await?;
        if work == 0 {
            continue;
        }
        // Then a chunk a transaction, each step until it finds less than a chunk (or another
        // instance holds the rest).
        let (mut opening, mut closing, mut climbing) = (true, true, true);
        while opening || closing || climbing {
            let _turn = db.write_turn().await;
            let mut tx = db.begin_write_on(&mut conn).await?;
            if opening {
                let (opened, looked) =
                    open_escalations(&mut tx, db.backend(), workflow_id, &rules, &mut opened_after).await?;
                kept.opened += opened;
                opening = looked == CHUNK as usize;
            }
            if closing {
                let resolved = close_decided(&mut tx, db.backend(), workflow, now).await?;
                kept.resolved += resolved;
                closing = resolved == CHUNK as usize;
            }
            if climbing {
                let (climbed, flagged, looked) = climb_due(&mut tx, db.backend(), workflow, &rules, now).await?;
                kept.climbed += climbed;
                kept.flagged += flagged;
                climbing = looked == CHUNK as usize;
            }
            tx.commit().await?;
        }
    }
    *seen = Seen { items, decisions };
    Ok(kept)
}

/// Climbs and flags the open escalations of the workflow due by `now` (a chunk of them, under
/// SKIP LOCKED on PostgreSQL), each step dated when it fell due by the domain's rules and
/// written as a line of the item's history. Nearly all of a chunk's escalations come out alike
/// (the same steps at the same offsets from their own `level_since`), so each such group costs
/// one statement a step, computing its lines from the rows, and one update; nothing is bound
/// per escalation. How many climbed, how many were flagged, and how many it looked at.
async fn climb_due(
    conn: &mut AnyConnection,
    backend: Backend,
    workflow: Workflow<'_>,
    rules: &Rules,
    now: i64,
) -> Result<(usize, usize, usize), AppError> {
    let due: Vec<Open> = sqlx::query_as(&format!(
        "select id, level, level_since from escalations where workflow_id = $1 and resolved_at is null \
         and flagged_at is null and due_at <= $2 order by due_at limit $3{}",
        backend.skip_locked()
    ))
    .bind(workflow.id)
    .bind(now)
    .bind(CHUNK)
    .fetch_all(&mut *conn)
    .await?;
    let mut alike: std::collections::BTreeMap<Outcome, Vec<i64>> = Default::default();
    let (mut climbed, mut flagged) = (0, 0);
    for open in &due {
        let Some(start) = Level::from_number(open.level) else { continue };
        let (mut level, mut since, mut flagged_at) = (start, open.level_since, None);
        let mut steps = Vec::new();
        loop {
            match rules.due_by(level, since, now) {
                Due::Climb { to, at } => {
                    steps.push((Step::Climb, at - open.level_since));
                    (level, since) = (to, at);
                }
                Due::Overdue { since: at } => {
                    steps.push((Step::Flag, at - open.level_since));
                    flagged_at = Some(at);
                    break;
                }
                Due::Nothing { .. } => break,
            }
        }
        climbed += usize::from(level != start);
        flagged += usize::from(flagged_at.is_some());
        let outcome = Outcome {
            steps,
            level: level.number(),
            since: since - open.level_since,
            due: rules.escalation_due_at(since) - open.level_since,
            flagged: flagged_at.map(|at| at - open.level_since),
        };
        alike.entry(outcome).or_default().push(open.id);
    }
    let climb_note =
        format!("Climbed to level 2: the escalation SLA of {} ran out.", duration_words(rules.escalation_sla_ms));
    for (outcome, ids) in alike {
        if outcome.steps.is_empty() {
            continue;
        }
        let ids = dialect::id_list(ids);
        // The lines first, while `level_since` is still the one the offsets count from; in the
        // columns' order of `decisions::COLUMNS`, climbs before flags, by escalation.
        for (step, offset) in &outcome.steps {
            let (kind, note) = match step {
                Step::Climb => ("climb", climb_note.as_str()),
                Step::Flag => ("flag", "Overdue at the top level: nobody is left to climb to."),
            };
            let lines = decisions::insert_select(&format!(
                "select item_id, workflow_id, null, $1, $2, null, $3, null, null, 0, level_since + $4, null, null, \
                 level_since + $4 from escalations where id in ({ids}) order by id"
            ));
            sqlx::query(&lines)
                .persistent(false)
                .bind(decisions::SYSTEM)
                .bind(kind)
                .bind(note)
                .bind(offset)
                .execute(&mut *conn)
                .await?;
        }
        count_climbs(conn, backend, &ids, &outcome).await?;
        let flagged_at = if outcome.flagged.is_some() { "level_since + $4" } else { "null" };
        let sql = format!(
            "update escalations set level = $1, level_since = level_since + $2, due_at = level_since + $3, \
             flagged_at = {flagged_at} where id in ({ids}) and resolved_at is null"
        );
        let mut query = sqlx::query(&sql).persistent(false).bind(outcome.level).bind(outcome.since).bind(outcome.due);
        if let Some(flagged) = outcome.flagged {
            query = query.bind(flagged);
        }
        query.execute(&mut *conn).await?;
    }
    Ok((climbed, flagged, due.len()))
}

/// Counts the climbs and the flag of the escalations `ids`, which came out alike as `outcome`,
/// into the hourly rollup (the dashboard's breaches), each at the hour it fell due; before their
/// update, while `level_since` is still the one the offsets count from. On PostgreSQL each
/// sweeper writes its own shard, in the rollup's key order, so two never wait on each other.
async fn count_climbs(
    conn: &mut AnyConnection,
    backend: Backend,
    ids: &str,
    outcome: &Outcome,
) -> Result<(), AppError> {
    let shard = match backend {
        Backend::Sqlite => "0",
        Backend::Postgres => "pg_backend_pid() % 8",
    };
    let climbs = outcome.steps.iter().filter(|(step, _)| *step == Step::Climb).count() as i64;
    let climbed = (climbs > 0).then_some(("climbed", climbs, outcome.since));
    let flagged = outcome.flagged.map(|offset| ("flagged", 1, offset));
    for (column, per_escalation, offset) in climbed.into_iter().chain(flagged) {
        let sql = format!(
            "insert into escalation_hours (workflow_id, hour, model_version, reason, shard, {column}) \
             select e.workflow_id, (e.level_since + $1) / 3600000, coalesce(i.model_version, ''), e.reason, {shard}, \
             count(*) * $2 from escalations e join items i on i.id = e.item_id where e.id in ({ids}) \
             group by 1, 2, 3, 4 order by 1, 2, 3, 4 \
             on conflict (workflow_id, hour, model_version, reason, shard) \
             do update set {column} = escalation_hours.{column} + excluded.{column}"
        );
        sqlx::query(&sql).persistent(false).bind(offset).bind(per_escalation).execute(&mut *conn).await?;
    }
    Ok(())
}

/// A step of an escalation's climb, each a line of its item's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Climb,
    Flag,
}

/// Where a sweep leaves an escalation, relative to the time its level began before the sweep:
/// its steps on the way, the level, when it began, when it falls due, when it was flagged (if
/// it was).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Outcome {
    steps: Vec<(Step, i64)>,
    level: i64,
    since: i64,
    due: i64,
    flagged: Option<i64>,
}

/// The workflow a pass of [`keep_escalations`] is at.
#[derive(Debug, Clone, Copy)]
struct Workflow<'a> {
    id: i64,
    slug: &'a str,
}

/// An open escalation whose item was decided (by its assignee, or by the reviewer who had
/// escalated it and took that back), with the item's last final decision.
#[derive(sqlx::FromRow)]
struct Closing {
    id: i64,
    item_id: i64,
    state: String,
    decided_at: Option<i64>,
    decision_id: Option<i64>,
    decided_by: Option<String>,
    settles_at: Option<i64>,
}

/// Closes the open escalations of the workflow whose item is no longer with a lead or an
/// assignee, each with the decision that ended it, and queues `escalation.resolved` for each
/// (sent when that decision settles, withdrawn should it be undone).
async fn close_decided(
    conn: &mut AnyConnection,
    backend: Backend,
    workflow: Workflow<'_>,
    now: i64,
) -> Result<usize, AppError> {
    // Only the open escalations are looked at (their partial index), each item by its key.
    let closing: Vec<Closing> = sqlx::query_as(&format!(
        "select e.id, e.item_id, i.state, i.decided_at, d.id as decision_id, d.actor_label as decided_by, d.settles_at \
         from escalations e join items i on i.id = e.item_id \
         left join decisions d on d.id = (select max(f.id) from decisions f where f.item_id = e.item_id and f.final = 1) \
         where e.workflow_id = $1 and e.resolved_at is null and {} order by e.id limit {}{}",
        with_nobody_sql!(),
        CHUNK,
        backend.skip_locked_of("e")
    ))
    .bind(workflow.id)
    .fetch_all(&mut *conn)
    .await?;
    for row in &closing {
        let terminal = ItemState::parse(&row.state).is_some_and(ItemState::is_terminal);
        let resolution = if terminal { row.state.as_str() } else { Action::SendBack.as_str() };
        sqlx::query(
            "update escalations set resolved_at = $2, resolution = $3, resolved_by = $4 where id = $1 and resolved_at is null",
        )
        .bind(row.id)
        .bind(row.decided_at.unwrap_or(now))
        .bind(resolution)
        .bind(row.decided_by.as_deref())
        .execute(&mut *conn)
        .await?;
        let about = About { workflow_id: workflow.id, slug: workflow.slug, item_id: row.item_id };
        let decision = if terminal { row.decision_id } else { None };
        events::emit(conn, about, events::RESOLVED, row.settles_at.unwrap_or(now).max(now), decision).await?;
    }
    Ok(closing.len())
}

/// Whether workflow `$1` has an escalated item without an open escalation (0 or 1), among the
/// items newer than `$3` (the index of items by workflow, state and key) and those with an
/// escalate decision newer than `$4` (the decisions' key). SQLite would otherwise read far more
/// than what is new: without statistics it takes the workflow's index of decisions, every
/// decision the workflow has (`+d.workflow_id` keeps it off that index); with them it starts
/// from the escalated items, every one (`cross join` keeps the decisions outermost). While
/// nothing is seen (`$3` is 0) the first part covers every escalated item, so the second is not
/// asked.
const UNOPENED_EXISTS: &str = concat!(
    "select count(*) from (select i.id from items i where i.workflow_id = $1 and i.id > $3 and i.state = ",
    state_sql!(Escalated),
    " and not exists (select 1 from escalations x where x.item_id = i.id and x.resolved_at is null) \
     union all select d.item_id from decisions d cross join items i where $3 > 0 and d.id > $4 \
     and +d.workflow_id = $1 and d.kind = 'escalate' and i.id = d.item_id and i.state = ",
    state_sql!(Escalated),
    " and not exists (select 1 from escalations x where x.item_id = i.id and x.resolved_at is null) limit 1) u"
);

/// Whether workflow `$1` has an open escalation whose item was decided or sent back (0 or 1).
/// Every way out of an escalation is a decision: a sweeper that has seen the decisions up to
/// `$4` asks those newer (by their key, outermost, as above); one that has seen nothing yet asks
/// the open escalations, far fewer than the decisions.
const CLOSABLE_EXISTS: &str = concat!(
    "select count(*) from (select 1 from escalations e join items i on i.id = e.item_id where $4 = 0 \
     and e.workflow_id = $1 and e.resolved_at is null and ",
    with_nobody_sql!(),
    " union all select 1 from decisions d cross join escalations e cross join items i where $4 > 0 \
     and d.id > $4 and +d.workflow_id = $1 and e.item_id = d.item_id and e.resolved_at is null \
     and i.id = d.item_id and ",
    with_nobody_sql!(),
    " limit 1) c"
);

/// Whether workflow `$1` has an open escalation due to climb or be flagged by `$2` (0 or 1).
const DUE_EXISTS: &str = "select count(*) from (select 1 from escalations where workflow_id = $1 \
     and resolved_at is null and flagged_at is null and due_at <= $2 limit 1) d";

/// Opens an escalation for each escalated item of the workflow that has none, a chunk of them
/// in key order after `after` (moved on to the last one looked at): how many it opened, and
/// how many it looked at.
async fn open_escalations(
    conn: &mut AnyConnection,
    backend: Backend,
    workflow_id: i64,
    rules: &Rules,
    after: &mut i64,
) -> Result<(usize, usize), AppError> {
    let unopened: Vec<Unopened> = sqlx::query_as(concat!(
        "select i.id, i.created_at, d.actor_id, d.reason_code, d.created_at as escalated_at from items i \
         left join decisions d on d.id = (select max(e.id) from decisions e where e.item_id = i.id \
         and e.kind = 'escalate') \
         where i.workflow_id = $1 and i.state = ",
        state_sql!(Escalated),
        " and i.id > $2 and not exists (select 1 from escalations x where x.item_id = i.id \
         and x.resolved_at is null) order by i.id limit $3"
    ))
    .bind(workflow_id)
    .bind(*after)
    .bind(CHUNK)
    .fetch_all(&mut *conn)
    .await?;
    let mut opened = 0;
    for range in dialect::chunks(unopened.len()) {
        let rows = &unopened[range];
        let sql = format!(
            "insert into escalations (item_id, workflow_id, reason, level, opened_at, level_since, due_at) \
             values {} on conflict (item_id) where resolved_at is null do nothing",
            backend.values(rows.len(), "(?, ?, ?, 1, ?, ?, ?)")
        );
        let mut query = sqlx::query(&sql).persistent(backend.keeps_prepared(rows.len()));
        for item in rows {
            let since = item.escalated_at.unwrap_or(item.created_at);
            let due = rules.escalation_due_at(since);
            query =
                query.bind(item.id).bind(workflow_id).bind(item.reason().as_str()).bind(since).bind(since).bind(due);
        }
        opened += query.execute(&mut *conn).await?.rows_affected() as usize;
    }
    // The next chunk of this pass starts after the last item looked at.
    if let Some(last) = unopened.last() {
        *after = last.id;
    }
    Ok((opened, unopened.len()))
}
