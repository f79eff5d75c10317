//! Finding items, for leads and admins: a workflow's items by external id, state, route reason,
//! model version, confidence range and arrival day, newest first a page at a time; and one item
//! with its whole history.

use super::{FoundItem, ItemRecord, ItemSearch};
use crate::domain::Role;
use crate::domain::item_state::ItemState;
use crate::domain::routing::RouteReason;
use crate::error::AppError;
use crate::escalations::resolve::{require_lead_of, workflow_of};
use crate::review::item_view::shown_item;
use crate::storage::clock::parse_day;
use crate::storage::db::Db;
use crate::users::server::UserRecord;
use crate::workflows::cache::{self, WorkflowCache};
use crate::workflows::membership::answered_for;

/// The items a page holds.
pub const PAGE: i64 = 50;

/// What to look for; every part optional (`from`, `to`: UTC days, YYYY-MM-DD, `to` inclusive).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub workflow: Option<String>,
    pub external_id: Option<String>,
    pub state: Option<String>,
    pub route_reason: Option<String>,
    pub model_version: Option<String>,
    pub min_confidence: Option<String>,
    pub max_confidence: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn confidence(field: &str, raw: Option<&str>) -> Result<Option<f64>, AppError> {
    raw.map(|r| {
        r.parse::<f64>()
            .ok()
            .filter(|c| (0.0..=1.0).contains(c))
            .ok_or_else(|| AppError::invalid(field, format!("'{r}' is not a confidence between 0 and 1.")))
    })
    .transpose()
}

fn day(field: &str, raw: Option<&str>) -> Result<Option<i64>, AppError> {
    raw.map(|r| parse_day(r).ok_or_else(|| AppError::invalid(field, format!("'{r}' is not a date (YYYY-MM-DD)."))))
        .transpose()
}

#[derive(sqlx::FromRow)]
struct FoundRow {
    id: i64,
    external_id: String,
    state: String,
    route_reason: String,
    confidence: f64,
    model_version: Option<String>,
    created_at: i64,
    outcome: Option<String>,
}

impl From<FoundRow> for FoundItem {
    fn from(row: FoundRow) -> Self {
        let FoundRow { id, external_id, state, route_reason, confidence, model_version, created_at, outcome } = row;
        Self { id, external_id, state, route_reason, confidence, model_version, created_at_ms: created_at, outcome }
    }
}

/// One page of the items of a workflow `user` answers for (the first of theirs when none is
/// named) that match `query`.
pub async fn search(
    db: &Db,
    workflows: &WorkflowCache,
    user: &UserRecord,
    query: &Query,
) -> Result<ItemSearch, AppError> {
    let listed: Vec<(String, String)> = answered_for(db, user).await?.into_iter().map(|w| (w.slug, w.name)).collect();
    let slug = match given(&query.workflow) {
        Some(slug) if listed.iter().any(|(s, _)| s == slug) => slug.to_owned(),
        Some(_) if user.role == Role::Admin => return Err(AppError::not_found("That workflow")),
        Some(_) => return Err(AppError::Forbidden),
        None => match listed.first() {
            Some((slug, _)) => slug.clone(),
            None => return Ok(ItemSearch::default()),
        },
    };
    let workflow = cache::by_slug(db, workflows, &slug).await?;
    let state = given(&query.state)
        .map(|s| {
            ItemState::parse(s).map(|_| s).ok_or_else(|| AppError::invalid("state", format!("'{s}' is not a state.")))
        })
        .transpose()?;
    let reason = given(&query.route_reason)
        .map(|r| {
            RouteReason::parse(r)
                .map(|_| r)
                .ok_or_else(|| AppError::invalid("route_reason", format!("'{r}' is not a route reason.")))
        })
        .transpose()?;
    let low = confidence("min_confidence", given(&query.min_confidence))?;
    let high = confidence("max_confidence", given(&query.max_confidence))?;
    if let (Some(low), Some(high)) = (low, high)
        && high < low
    {
        return Err(AppError::invalid("max_confidence", "The highest confidence is below the lowest."));
    }
    let from = day("from", given(&query.from))?;
    let to = day("to", given(&query.to))?.map(|t| t + 86_400_000);
    let cursor = given(&query.cursor)
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AppError::invalid("cursor", format!("'{c}' is not a cursor from this search.")))
        })
        .transpose()?;

    // Texts are bound first, then numbers, in the order their conditions are written.
    let mut conditions = vec!["workflow_id = $1".to_owned()];
    let mut texts: Vec<&str> = Vec::new();
    let mut next = 2;
    let mut placeholder = || {
        let p = format!("${next}");
        next += 1;
        p
    };
    for (column, value) in [
        ("external_id", given(&query.external_id)),
        ("state", state),
        ("route_reason", reason),
        ("model_version", given(&query.model_version)),
    ] {
        if let Some(value) = value {
            conditions.push(format!("{column} = {}", placeholder()));
            texts.push(value);
        }
    }
    let mut reals = Vec::new();
    for (op, value) in [(">=", low), ("<=", high)] {
        if let Some(value) = value {
            conditions.push(format!("confidence {op} {}", placeholder()));
            reals.push(value);
        }
    }
    let mut numbers = Vec::new();
    for (column, op, value) in [("created_at", ">=", from), ("created_at", "<", to), ("id", "<", cursor)] {
        if let Some(value) = value {
            conditions.push(format!("{column} {op} {}", placeholder()));
            numbers.push(value);
        }
    }
    let limit = placeholder();
    let sql = format!(
        "select id, external_id, state, route_reason, confidence, model_version, created_at, outcome from items \
         where {} order by id desc limit {limit}",
        conditions.join(" and ")
    );
    let mut q = sqlx::query_as::<_, FoundRow>(&sql).bind(workflow.id);
    for text in texts {
        q = q.bind(text);
    }
    for real in reals {
        q = q.bind(real);
    }
    for number in numbers {
        q = q.bind(number);
    }
    let mut rows = q.bind(PAGE + 1).fetch_all(db.pool()).await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let next_cursor = if more { rows.last().map(|r| r.id.to_string()) } else { None };
    let items = rows.into_iter().map(FoundItem::from).collect();
    Ok(ItemSearch { workflows: listed, slug, items, next_cursor })
}

/// One item and its whole history, for a lead of its workflow or an admin.
pub async fn record(
    db: &Db,
    workflows: &WorkflowCache,
    user: &UserRecord,
    item_id: i64,
) -> Result<ItemRecord, AppError> {
    let workflow = workflow_of(db, workflows, item_id).await?;
    require_lead_of(&mut *db.pool().acquire().await?, &workflow, user).await?;
    let (item, state, _) = shown_item(db, &workflow, item_id).await?;
    let (outcome, final_output): (Option<String>, Option<String>) =
        sqlx::query_as("select outcome, final_output from items where id = $1")
            .bind(item_id)
            .fetch_one(db.pool())
            .await?;
    Ok(ItemRecord {
        id: item.item_id,
        slug: item.slug,
        workflow: item.workflow,
        external_id: item.external_id,
        state: state.as_str().to_owned(),
        outcome,
        payload: item.payload,
        prediction: item.prediction,
        final_output: final_output.and_then(|o| serde_json::from_str(&o).ok()),
        confidence: item.confidence,
        model_version: item.model_version,
        route_reason: item.route_reason,
        review_probability: item.review_probability,
        low_confidence_below: item.low_confidence_below,
        created_at_ms: item.created_at_ms,
        history: item.history,
    })
}
