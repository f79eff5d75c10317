//! Keeping the escalations in step with the items: one open escalation an escalated item,
//! opened at level 1 as of when it was escalated and closed once the item is decided or sent
//! back; the climbs and flags on the way are [`super::climb`]'s.

use super::climb::climb_due;
use super::events::{self, About};
use super::pass::{CHUNK, Workflow};
use crate::domain::escalation::{Reason, Rules};
use crate::domain::item_state::{Action, ItemState, state_sql};
use crate::error::AppError;
use crate::storage::db::{Backend, Db};
use crate::storage::dialect;
use sqlx::AnyConnection;

/// `i.state not in (...)`: the item `i` is no longer with a lead or an assignee (the escalation
/// that holds it can close).
macro_rules! with_nobody_sql {
    () => {
        concat!("i.state not in (", state_sql!(Escalated), ", ", state_sql!(Assigned), ", ", state_sql!(Claimed), ")")
    };
}

/// What one pass of [`keep_escalations`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    pub opened: usize,
    pub resolved: usize,
    pub climbed: usize,
    pub flagged: usize,
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

/// How far a sweeper has looked, by item and by decision. An escalation is opened for an item
/// that arrives escalated (a new item) or is escalated (a new decision), and closed after a
/// decision: a sweeper that has looked at everything up to some keys only needs to look at what
/// is newer (back over two passes, and at everything now and then: see [`crate::storage::seen`])
/// to know whether there is anything to open or close.
pub type Seen = crate::storage::seen::Seen<2>;

/// A workflow and how long its escalations may stay at a level.
#[derive(sqlx::FromRow)]
struct EscalationSla {
    id: i64,
    slug: String,
    escalation_sla_secs: i64,
}

/// [`keep_escalations`] that looks for escalations to open or close only among the items and
/// decisions newer than `seen` says (see [`Seen`]), and moves it on.
pub async fn keep_since(db: &Db, now: i64, seen: &mut Seen) -> Result<Kept, AppError> {
    let (items, decisions): (i64, i64) =
        sqlx::query_as("select (select coalesce(max(id), 0) from items), (select coalesce(max(id), 0) from decisions)")
            .fetch_one(db.pool())
            .await?;
    let workflows: Vec<EscalationSla> =
        sqlx::query_as("select id, slug, escalation_sla_secs from workflows order by id").fetch_all(db.pool()).await?;
    let mut kept = Kept::default();
    let [from_items, from_decisions] = seen.looks_from();
    // The pass looks on one connection; it takes the others when a workflow has work.
    let mut conns = vec![db.pool().acquire().await?];
    for EscalationSla { id: workflow_id, slug, escalation_sla_secs: sla_secs } in workflows {
        let rules = Rules { escalation_sla_ms: sla_secs.saturating_mul(1000), ..Rules::default() };
        let workflow = Workflow { id: workflow_id, slug: &slug };
        // A look first, outside any write transaction: most passes find nothing to do, and a
        // pass with something to do takes only the steps that have some (each step's first
        // chunk reads all the workflow's open escalations or escalated items to find its own).
        // Planned for its values each time, as the review-SLA look is
        // (`review_sla::escalate_part`): PostgreSQL's generic plan of it scans every open
        // escalation and every escalate decision.
        let (opening, closing, climbing): (i64, i64, i64) =
            sqlx::query_as(&format!("select ({UNOPENED_EXISTS}), ({CLOSABLE_EXISTS}), ({DUE_EXISTS})"))
                .persistent(false)
                .bind(workflow_id)
                .bind(now)
                .bind(from_items)
                .bind(from_decisions)
                .fetch_one(&mut *conns[0])
                .await?;
        // An escalation opened now may be due already (after the server was down): it climbs in
        // the same pass.
        let steps = Steps { opening: opening > 0, closing: closing > 0, climbing: climbing > 0 || opening > 0 };
        if !(steps.opening || steps.closing || steps.climbing) {
            continue;
        }
        db.sweep_connections(&mut conns).await?;
        let workers = conns.len() as i64;
        let parts = conns.iter_mut().zip(0..).map(|(conn, index)| {
            let part = Part { index, of: workers, from_items, from_decisions };
            sweep_part(db, conn, workflow, &rules, now, steps, part)
        });
        for part in futures_util::future::try_join_all(parts).await? {
            kept.opened += part.opened;
            kept.resolved += part.resolved;
            kept.climbed += part.climbed;
            kept.flagged += part.flagged;
        }
    }
    seen.passed([items, decisions]);
    Ok(kept)
}

/// The steps of a workflow's pass that its look found work for.
#[derive(Debug, Clone, Copy)]
struct Steps {
    opening: bool,
    closing: bool,
    climbing: bool,
}

/// One worker's share of a workflow's pass, on its own connection: a chunk a transaction, each
/// step of `steps` until it finds less than a chunk (or another worker or instance holds the
/// rest). The items to open an escalation for and the escalations to close are found before the
/// transaction, among what is new since the pass's frontier (see [`Part`]), and only checked
/// again by key inside it (see [`open_escalations`] and [`close_decided`]): SQLite's write turn,
/// every writer's, is not held while a step reads through every escalated item or open
/// escalation. The escalations to climb come from the index of what is due.
async fn sweep_part(
    db: &Db,
    conn: &mut AnyConnection,
    workflow: Workflow<'_>,
    rules: &Rules,
    now: i64,
    steps: Steps,
    part: Part,
) -> Result<Kept, AppError> {
    let mut kept = Kept::default();
    let (mut open_after, mut close_after) = (0, 0);
    let Steps { mut opening, mut closing, mut climbing } = steps;
    while opening || closing || climbing {
        let to_open = if opening { unopened(conn, workflow.id, part, open_after).await? } else { Vec::new() };
        let to_close = if closing { closable(conn, workflow.id, part, close_after).await? } else { Vec::new() };
        let mut tx = db.begin_write_on(conn).await?;
        if opening {
            kept.opened += open_escalations(&mut tx, db.backend(), workflow.id, rules, &to_open).await?;
            opening = to_open.len() == CHUNK as usize;
            open_after = to_open.last().map_or(open_after, |item| item.id);
        }
        if closing {
            kept.resolved += close_decided(&mut tx, db.backend(), workflow, now, &to_close).await?;
            closing = to_close.len() == CHUNK as usize;
            close_after = to_close.last().copied().unwrap_or(close_after);
        }
        if climbing {
            let (climbed, flagged, looked) = climb_due(&mut tx, db.backend(), workflow, rules, now).await?;
            kept.climbed += climbed;
            kept.flagged += flagged;
            climbing = looked == CHUNK as usize;
        }
        tx.commit().await?;
    }
    Ok(kept)
}

/// Which of a pass's workers this is, of how many, and where the pass looks from. A worker
/// opens escalations for the items whose key leaves `index` when divided by `of` (so that two
/// never insert the same one: the second would wait on the first's unique key until it
/// committed, and the two would go in step), and closes the escalations whose key does. It looks
/// among the items newer than `from_items` and those with a decision newer than
/// `from_decisions` ([`Seen::looks_from`]; 0 for everything).
#[derive(Debug, Clone, Copy)]
struct Part {
    index: i64,
    of: i64,
    from_items: i64,
    from_decisions: i64,
}

/// `not exists` an open escalation of the item `i`.
macro_rules! none_open_sql {
    () => {
        " and not exists (select 1 from escalations x where x.item_id = i.id and x.resolved_at is null)"
    };
}

/// The next chunk of escalated items of workflow `$1` without an open escalation, of this
/// worker's share (`$6`, `$7`), in key order after `$5`: among the items newer than `$2` (the
/// later of `$5` and the pass's frontier `$3`) and, once something was seen, those with an
/// escalate decision newer than `$4` (the decisions outermost, as in [`UNOPENED_EXISTS`]). Each
/// part takes its own chunk first (of distinct items: an item may have several new decisions),
/// so that neither is read to its end for one chunk.
const UNOPENED: &str = concat!(
    "select id from (select i.id from items i where i.workflow_id = $1 and i.id > $2 and i.state = ",
    state_sql!(Escalated),
    " and i.id % $6 = $7",
    none_open_sql!(),
    " order by i.id limit $8) a union select id from (select distinct d.item_id as id from decisions d cross join items i \
     where $3 > 0 and d.id > $4 and +d.workflow_id = $1 and d.kind = 'escalate' and i.id = d.item_id \
     and i.id > $5 and i.id % $6 = $7 and i.state = ",
    state_sql!(Escalated),
    none_open_sql!(),
    " order by 1 limit $8) b order by 1 limit $8"
);

/// [`UNOPENED`] for `part`, after the item `after`, each with its last `escalate` decision: read
/// outside the write transaction.
async fn unopened(
    conn: &mut AnyConnection,
    workflow_id: i64,
    part: Part,
    after: i64,
) -> Result<Vec<Unopened>, AppError> {
    let rows = sqlx::query_as(&format!(
        "select i.id, i.created_at, d.actor_id, d.reason_code, d.created_at as escalated_at \
         from ({UNOPENED}) c join items i on i.id = c.id \
         left join decisions d on d.id = (select max(e.id) from decisions e where e.item_id = i.id \
         and e.kind = 'escalate') order by i.id"
    ))
    .persistent(false)
    .bind(workflow_id)
    .bind(after.max(part.from_items))
    .bind(part.from_items)
    .bind(part.from_decisions)
    .bind(after)
    .bind(part.of)
    .bind(part.index)
    .bind(CHUNK)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// The next chunk of open escalations of workflow `$1` whose item is no longer with a lead or
/// an assignee, of this worker's share (`$4`, `$5`), in key order after `$2`: all of them while
/// nothing was seen (`$3` is 0), else those whose item has a decision newer than `$3` (every
/// way out of an escalation is a decision). Each part takes its own chunk first, as in
/// [`UNOPENED`].
const CLOSABLE: &str = concat!(
    "select id from (select e.id from escalations e join items i on i.id = e.item_id where $3 = 0 \
     and e.workflow_id = $1 and e.resolved_at is null and e.id > $2 and e.id % $4 = $5 and ",
    with_nobody_sql!(),
    " order by e.id limit $6) a union select id from (select distinct e.id from decisions d cross join escalations e \
     cross join items i where $3 > 0 and d.id > $3 and +d.workflow_id = $1 and e.item_id = d.item_id \
     and e.resolved_at is null and e.id > $2 and e.id % $4 = $5 and i.id = d.item_id and ",
    with_nobody_sql!(),
    " order by 1 limit $6) b order by 1 limit $6"
);

/// [`CLOSABLE`] for `part`, after the escalation `after`: read outside the write transaction.
async fn closable(conn: &mut AnyConnection, workflow_id: i64, part: Part, after: i64) -> Result<Vec<i64>, AppError> {
    let ids: Vec<(i64,)> = sqlx::query_as(CLOSABLE)
        .persistent(false)
        .bind(workflow_id)
        .bind(after)
        .bind(part.from_decisions)
        .bind(part.of)
        .bind(part.index)
        .bind(CHUNK)
        .fetch_all(&mut *conn)
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
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
    none_open_sql!(),
    " union all select d.item_id from decisions d cross join items i where $3 > 0 and d.id > $4 \
     and +d.workflow_id = $1 and d.kind = 'escalate' and i.id = d.item_id and i.state = ",
    state_sql!(Escalated),
    none_open_sql!(),
    " limit 1) u"
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

/// Opens an escalation for each of `unopened` (found by [`unopened`]) whose item is still
/// escalated: how many it opened (one that has an open escalation by now is left as it is, by
/// the unique index). On SQLite the items are checked again by key first: inside the write
/// turn, nothing changes them until the commit. On PostgreSQL a check inside the transaction
/// would see no more than the read before it did (each statement sees what was committed when
/// it began) and cost a third of the pass (a list of 2,000 keys planned in each chunk); as when
/// the read was inside the transaction, an item decided meanwhile has its escalation closed by
/// the next pass.
async fn open_escalations(
    conn: &mut AnyConnection,
    backend: Backend,
    workflow_id: i64,
    rules: &Rules,
    unopened: &[Unopened],
) -> Result<usize, AppError> {
    if unopened.is_empty() {
        return Ok(0);
    }
    let unopened: Vec<&Unopened> = match backend {
        Backend::Sqlite => {
            let escalated: Vec<(i64,)> = sqlx::query_as(&format!(
                concat!("select id from items where id in ({}) and state = ", state_sql!(Escalated)),
                dialect::id_list(unopened.iter().map(|item| item.id))
            ))
            .persistent(false)
            .fetch_all(&mut *conn)
            .await?;
            let escalated: std::collections::HashSet<i64> = escalated.into_iter().map(|(id,)| id).collect();
            unopened.iter().filter(|item| escalated.contains(&item.id)).collect()
        }
        Backend::Postgres => unopened.iter().collect(),
    };
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
    Ok(opened)
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

/// Closes those of the escalations `ids` (found by [`closable`]) still open whose item is no
/// longer with a lead or an assignee, each with the decision that ended it, and queues
/// `escalation.resolved` for each (sent when that decision settles, withdrawn should it be
/// undone): how many it closed. On PostgreSQL one another instance holds is left to it.
async fn close_decided(
    conn: &mut AnyConnection,
    backend: Backend,
    workflow: Workflow<'_>,
    now: i64,
    ids: &[i64],
) -> Result<usize, AppError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let closing: Vec<Closing> = sqlx::query_as(&format!(
        "select e.id, e.item_id, i.state, i.decided_at, d.id as decision_id, d.actor_label as decided_by, d.settles_at \
         from escalations e join items i on i.id = e.item_id \
         left join decisions d on d.id = (select max(f.id) from decisions f where f.item_id = e.item_id and f.final = 1) \
         where e.id in ({}) and e.workflow_id = $1 and e.resolved_at is null and {} order by e.id{}",
        dialect::id_list(ids.iter().copied()),
        with_nobody_sql!(),
        backend.skip_locked_of("e")
    ))
    .persistent(false)
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
