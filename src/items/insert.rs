//! Writing a group of submissions: multi-row inserts of the items and their auto-approvals, the
//! webhook events they raise, and for each submission the outcome it would have had alone.

use super::decisions::{self, NewDecision};
use super::submission::Prepared;
use super::view::{DecisionView, Ingested, ItemView, load_view};
use crate::domain::item_state::ItemState;
use crate::domain::routing::Destination;
use crate::error::AppError;
use crate::storage::clock::{now_ms, rfc3339};
use crate::storage::db::Backend;
use crate::storage::dialect;
use crate::webhooks::outbox::{self, Subscriptions};
use crate::workflows::server::Workflow;
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::HashMap;

const ITEM_INSERT: &str = "insert into items (workflow_id, external_id, request_hash, payload, prediction, confidence, \
     model_version, priority, metadata, state, route_reason, review_probability, routing, settings_version, outcome, \
     final_output, created_at, updated_at, decided_at) values ";
/// What an item insert returns of each row it made.
#[derive(sqlx::FromRow)]
struct InsertedItem {
    id: i64,
    workflow_id: i64,
    external_id: String,
}

const ITEM_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// The most items a group may hold: on PostgreSQL a group is one statement (see
/// [`insert_group`]) of 19 parameters a row (`ITEM_ROW`), and a statement takes at most 65,535.
/// The callers' limits are held under it at compile time (`ingest::MAX_BATCH`,
/// `writer::MAX_GROUP`).
pub(super) const MAX_ROWS: usize = 65_535 / 19;

/// Writes `group` inside the caller's transaction with multi-row inserts, with the outcome of
/// writing the items one after another: the first of each `(workflow, external_id)` is inserted
/// unless already stored; a later one, or one already stored, is the stored item again (same
/// body) or a conflict (other body). Database errors abort the whole group.
pub(super) async fn insert_group(
    conn: &mut AnyConnection,
    backend: Backend,
    group: &[(&Workflow, &Prepared)],
) -> Result<Vec<Result<Ingested, AppError>>, AppError> {
    let now = now_ms();
    let at = rfc3339(now);
    // Per workflow: the routing settings stamped on each item, and its webhook subscriptions.
    let mut per_workflow: HashMap<i64, (String, Subscriptions)> = HashMap::new();
    for (workflow, _) in group {
        if let std::collections::hash_map::Entry::Vacant(entry) = per_workflow.entry(workflow.id) {
            let subscriptions = Subscriptions::load(conn, workflow.id).await?;
            entry.insert((json!(workflow.routing()).to_string(), subscriptions));
        }
    }
    // The first of each (workflow, external_id) in the group: what is inserted, and the key of
    // everything below.
    let mut first_of: HashMap<i64, HashMap<&str, usize>> = HashMap::new();
    let mut unique = Vec::with_capacity(group.len());
    for (index, (workflow, p)) in group.iter().enumerate() {
        first_of.entry(workflow.id).or_default().entry(p.external_id()).or_insert_with(|| {
            unique.push(index);
            index
        });
    }
    let first = |workflow_id: i64, external_id: &str| first_of.get(&workflow_id)?.get(external_id).copied();
    // In key order: concurrent transactions (PostgreSQL, several instances) then take the
    // unique-index locks in the same order and cannot deadlock on each other.
    let key = |index: usize| (group[index].0.id, group[index].1.external_id());
    unique.sort_by(|&a, &b| key(a).cmp(&key(b)));

    let mut created: HashMap<usize, i64> = HashMap::with_capacity(unique.len());
    // On PostgreSQL the group is one statement: the counters' triggers then take each counter
    // row once, all in key order (migration 0019), and two ingests cannot wait on each other's
    // rows in opposite orders, as two groups written in several statements could. SQLite, with
    // one writer at a time, writes chunks (its limit on parameters), which keep few statement
    // texts prepared; on PostgreSQL a group of a chunk's size is kept prepared, any other is not.
    let ranges: Vec<std::ops::Range<usize>> = match backend {
        Backend::Postgres => std::iter::once(0..unique.len()).collect(),
        Backend::Sqlite => dialect::chunks(unique.len()),
    };
    for range in ranges {
        let rows = &unique[range];
        let sql = format!(
            "{ITEM_INSERT}{} on conflict (workflow_id, external_id) do nothing returning id, workflow_id, external_id",
            backend.values(rows.len(), ITEM_ROW)
        );
        let mut query = sqlx::query_as::<_, InsertedItem>(&sql).persistent(backend.keeps_prepared(rows.len()));
        for &index in rows {
            let (workflow, p) = group[index];
            let auto = p.route.destination == Destination::AutoApproved;
            let settled = auto || p.route.destination == Destination::AutoRejected;
            query = query
                .bind(workflow.id)
                .bind(&p.sub.external_id)
                .bind(&p.digest)
                .bind(&p.payload)
                .bind(&p.prediction)
                .bind(p.sub.confidence)
                .bind(&p.sub.model_version)
                .bind(p.sub.priority)
                .bind(&p.metadata)
                .bind(ItemState::on_arrival(p.route.destination).as_str())
                .bind(p.route.reason.as_str())
                .bind(p.route.review_probability)
                .bind(&per_workflow[&workflow.id].0)
                .bind(workflow.settings_version)
                .bind(settled.then_some(ItemState::on_arrival(p.route.destination).as_str()))
                .bind(auto.then_some(&p.prediction))
                .bind(now)
                .bind(now)
                .bind(settled.then_some(now));
        }
        // Matched by key: RETURNING promises no order.
        for row in query.fetch_all(&mut *conn).await? {
            let index = first(row.workflow_id, &row.external_id)
                .ok_or_else(|| AppError::internal("an insert returned a row it was not given"))?;
            created.insert(index, row.id);
        }
    }

    let auto: Vec<NewDecision> = unique
        .iter()
        .filter_map(|&index| {
            let (workflow, p) = group[index];
            let item_id = *created.get(&index)?;
            let decision =
                |kind| NewDecision { is_final: true, ..NewDecision::system(item_id, workflow.id, kind, now) };
            match p.route.destination {
                Destination::AutoApproved => {
                    Some(NewDecision { output: Some(&p.prediction), ..decision(decisions::AUTO_APPROVE) })
                }
                Destination::AutoRejected => Some(decision(decisions::AUTO_REJECT)),
                Destination::Review | Destination::Escalation => None,
            }
        })
        .collect();
    let decision_ids: HashMap<i64, i64> =
        decisions::insert_many(conn, backend, &auto).await?.into_iter().map(|(id, item_id)| (item_id, id)).collect();

    let mut results: Vec<Result<Ingested, AppError>> = Vec::with_capacity(group.len());
    // Items stored before this group, read once per key: id, digest and (for retries) the view.
    let mut stored: HashMap<usize, (i64, String, Option<ItemView>)> = HashMap::new();
    for (index, &(workflow, p)) in group.iter().enumerate() {
        let conflict = || {
            AppError::conflict(format!(
                "An item with external_id '{}' already exists with a different body.",
                p.sub.external_id
            ))
        };
        let first = first(workflow.id, p.external_id()).ok_or_else(|| AppError::internal("lost an item"))?;
        if let Some(&id) = created.get(&first) {
            if index != first {
                // A repeat within the group of an item created by it.
                let result = match &results[first] {
                    Ok(original) if group[first].1.digest == p.digest => {
                        Ok(Ingested { item: original.item.clone(), created: false })
                    }
                    _ => Err(conflict()),
                };
                results.push(result);
                continue;
            }
            let item = created_view(workflow, p, id, decision_ids.get(&id).copied(), &at);
            let event = match p.route.destination {
                Destination::AutoApproved => Some("item.auto_approved"),
                Destination::AutoRejected => Some("item.auto_rejected"),
                Destination::Escalation => Some("item.escalated"),
                Destination::Review => None,
            };
            let subscriptions = &per_workflow[&workflow.id].1;
            if let Some(event) = event.filter(|e| subscriptions.wants(e)) {
                outbox::enqueue(conn, subscriptions, event, &json!(item)).await?;
            }
            results.push(Ok(Ingested { item, created: true }));
            continue;
        }
        // Already stored: a retry of the same body gets the original; anything else conflicts.
        let (id, digest, view) = match stored.entry(first) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let (id, digest): (i64, String) =
                    sqlx::query_as("select id, request_hash from items where workflow_id = $1 and external_id = $2")
                        .bind(workflow.id)
                        .bind(&p.sub.external_id)
                        .fetch_one(&mut *conn)
                        .await?;
                e.insert((id, digest, None))
            }
        };
        if *digest != p.digest {
            results.push(Err(conflict()));
            continue;
        }
        if view.is_none() {
            *view = load_view(conn, workflow.slug(), *id).await?;
        }
        let item = view.clone().ok_or_else(|| AppError::internal("item vanished"))?;
        results.push(Ok(Ingested { item, created: false }));
    }
    Ok(results)
}

/// The view of an item just created, built from what was written (reading it back would cost
/// round trips on the hot path); `get` returns the same view.
fn created_view(workflow: &Workflow, p: &Prepared, id: i64, decision_id: Option<i64>, at: &str) -> ItemView {
    let auto = p.route.destination == Destination::AutoApproved;
    let settled = auto || p.route.destination == Destination::AutoRejected;
    let decisions = decision_id
        .map(|decision_id| DecisionView {
            id: decision_id,
            item_id: id,
            kind: if auto { decisions::AUTO_APPROVE } else { decisions::AUTO_REJECT }.into(),
            actor: decisions::SYSTEM.into(),
            reason_code: None,
            note: None,
            output: auto.then(|| p.sub.prediction.clone()),
            time_spent_ms: None,
            at: at.to_owned(),
        })
        .into_iter()
        .collect();
    ItemView {
        id,
        workflow: workflow.slug().to_owned(),
        external_id: p.sub.external_id.clone(),
        state: ItemState::on_arrival(p.route.destination).as_str().to_owned(),
        outcome: settled.then(|| ItemState::on_arrival(p.route.destination).as_str().to_owned()),
        route: p.route,
        confidence: p.sub.confidence,
        model_version: p.sub.model_version.clone(),
        priority: p.sub.priority,
        metadata: p.sub.metadata.clone(),
        final_output: auto.then(|| p.sub.prediction.clone()),
        created_at: at.to_owned(),
        decided_at: settled.then(|| at.to_owned()),
        decisions,
    }
}
