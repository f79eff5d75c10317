//! Workflow storage, and `apply`: create or change a workflow from its spec, versioning every
//! change with who, when, why, and the old and new settings.

use super::contract::Contract;
use super::{HistoryEntry, WorkflowDetail};
use crate::domain::workflow::{Slug, WorkflowSpec};
use crate::domain::{Email, routing::RoutingSettings};
use crate::error::AppError;
use crate::storage::audit::{self, Actor};
use crate::storage::clock::now_ms;
use crate::storage::db::{Db, is_unique_violation};
use crate::webhooks;
use crate::webhooks::destination::DestinationPolicy;
use serde_json::{Value, json};
use sqlx::AnyConnection;

/// A stored workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub id: i64,
    pub spec: WorkflowSpec,
    pub breaker_open: bool,
    pub settings_version: i64,
}

impl Workflow {
    pub fn routing(&self) -> RoutingSettings {
        self.spec.routing(self.breaker_open)
    }

    pub fn slug(&self) -> &str {
        self.spec.slug.as_str()
    }

    pub fn contract(&self) -> Result<Contract, AppError> {
        Contract::compile(&self.spec.payload_schema, &self.spec.prediction_schema, self.spec.labels.clone())
    }
}

#[derive(sqlx::FromRow)]
struct WorkflowRow {
    id: i64,
    slug: String,
    name: String,
    description: String,
    owner_email: Option<String>,
    payload_schema: String,
    prediction_schema: String,
    labels: String,
    reason_codes: String,
    auto_approve_at: Option<f64>,
    escalate_below: Option<f64>,
    audit_rate: f64,
    rollout_share: f64,
    target_error_rate: f64,
    review_sla_secs: i64,
    escalation_sla_secs: i64,
    lease_secs: i64,
    paused: i64,
    breaker_open: i64,
    settings_version: i64,
    escalate_after_lease_expiries: i64,
    escalate_on_reasons: String,
    tuning_confidence: f64,
    tune_auto_reject: i64,
    rollout_from: Option<f64>,
    auto_reject_below: Option<f64>,
}

const SELECT: &str = "select w.id, w.slug, w.name, w.description, u.email as owner_email, w.payload_schema, \
     w.prediction_schema, w.labels, w.reason_codes, w.auto_approve_at, w.escalate_below, w.audit_rate, \
     w.rollout_share, w.target_error_rate, w.review_sla_secs, w.escalation_sla_secs, w.lease_secs, w.paused, \
     w.breaker_open, w.settings_version, w.escalate_after_lease_expiries, w.escalate_on_reasons, \
     w.tuning_confidence, w.tune_auto_reject, w.rollout_from, w.auto_reject_below \
     from workflows w left join users u on u.id = w.owner_id";

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, AppError> {
    serde_json::from_str(text).map_err(AppError::internal)
}

async fn hydrate(conn: &mut AnyConnection, row: WorkflowRow) -> Result<Workflow, AppError> {
    let members: Vec<(String,)> = sqlx::query_as(
        "select u.email from workflow_members m join users u on u.id = m.user_id where m.workflow_id = $1 order by u.email",
    )
    .bind(row.id)
    .fetch_all(&mut *conn)
    .await?;
    let spec = WorkflowSpec {
        slug: Slug::parse(&row.slug).map_err(AppError::internal)?,
        name: row.name,
        description: row.description,
        owner: row.owner_email,
        members: members.into_iter().map(|(email,)| email).collect(),
        payload_schema: parse_json(&row.payload_schema)?,
        prediction_schema: parse_json(&row.prediction_schema)?,
        labels: parse_json(&row.labels)?,
        reason_codes: parse_json(&row.reason_codes)?,
        auto_approve_at: row.auto_approve_at,
        escalate_below: row.escalate_below,
        audit_rate: row.audit_rate,
        rollout_share: row.rollout_share,
        target_error_rate: row.target_error_rate,
        review_sla_secs: row.review_sla_secs,
        escalation_sla_secs: row.escalation_sla_secs,
        lease_secs: row.lease_secs,
        paused: row.paused != 0,
        escalate_after_lease_expiries: u32::try_from(row.escalate_after_lease_expiries).map_err(AppError::internal)?,
        escalate_on_reasons: parse_json(&row.escalate_on_reasons)?,
        confidence: row.tuning_confidence,
        tune_auto_reject: row.tune_auto_reject != 0,
        rollout_from: row.rollout_from,
        auto_reject_below: row.auto_reject_below,
    };
    Ok(Workflow { id: row.id, spec, breaker_open: row.breaker_open != 0, settings_version: row.settings_version })
}

/// How a workflow is looked up.
enum Key<'a> {
    Id(i64),
    Slug(&'a str),
}

async fn load(conn: &mut AnyConnection, key: Key<'_>, lock: &str) -> Result<Option<Workflow>, AppError> {
    let row: Option<WorkflowRow> = match key {
        Key::Id(id) => {
            sqlx::query_as(&format!("{SELECT} where w.id = $1{lock}")).bind(id).fetch_optional(&mut *conn).await?
        }
        Key::Slug(slug) => {
            sqlx::query_as(&format!("{SELECT} where w.slug = $1{lock}")).bind(slug).fetch_optional(&mut *conn).await?
        }
    };
    match row {
        Some(row) => Ok(Some(hydrate(conn, row).await?)),
        None => Ok(None),
    }
}

#[tracing::instrument(skip(db))]
pub async fn find_by_slug(db: &Db, slug: &str) -> Result<Option<Workflow>, AppError> {
    let mut conn = db.pool().acquire().await?;
    load(&mut conn, Key::Slug(slug), "").await
}

#[tracing::instrument(skip(db))]
pub async fn find_by_id(db: &Db, id: i64) -> Result<Option<Workflow>, AppError> {
    let mut conn = db.pool().acquire().await?;
    load(&mut conn, Key::Id(id), "").await
}

/// [`find_by_id`] on a connection the caller holds (inside its transaction).
pub async fn find_by_id_in(conn: &mut AnyConnection, id: i64) -> Result<Option<Workflow>, AppError> {
    load(conn, Key::Id(id), "").await
}

/// The workflow named `slug`, or a 404 naming it.
pub async fn require_by_slug(db: &Db, slug: &str) -> Result<Workflow, AppError> {
    find_by_slug(db, slug).await?.ok_or_else(|| AppError::not_found(format!("The workflow '{slug}'")))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    Created,
    Updated { changed: Vec<String> },
    Unchanged,
}

/// The spec's fields that differ between `old` and `new`, by name.
fn changed_fields(old: &WorkflowSpec, new: &WorkflowSpec) -> Vec<String> {
    let (Ok(Value::Object(old)), Ok(Value::Object(new))) = (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec![];
    };
    new.iter().filter(|(key, value)| old.get(*key) != Some(*value)).map(|(key, _)| key.clone()).collect()
}

async fn user_id_for(conn: &mut AnyConnection, field: &str, raw: &str) -> Result<i64, AppError> {
    let email = Email::parse(raw).map_err(|_| AppError::invalid(field, format!("'{raw}' is not an email address")))?;
    let row: Option<(i64,)> = sqlx::query_as("select id from users where email = $1 and disabled_at is null")
        .bind(email.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|(id,)| id).ok_or_else(|| AppError::invalid(field, format!("no enabled user has the email {email}")))
}

/// Creates the workflow or brings it to `spec`, in one transaction with its history entry.
pub async fn apply(
    db: &Db,
    actor: &Actor,
    spec: WorkflowSpec,
    reason: &str,
) -> Result<(Workflow, ApplyOutcome), AppError> {
    apply_with_evidence(db, actor, spec, reason, None).await
}

/// [`apply`], keeping beside the new version what it was decided on (threshold tuning stores the
/// evidence its page showed at that moment: `{"summary": "...", ...}`).
#[tracing::instrument(skip(db, actor, spec, evidence), fields(slug = %spec.slug))]
pub async fn apply_with_evidence(
    db: &Db,
    actor: &Actor,
    spec: WorkflowSpec,
    reason: &str,
    evidence: Option<&Value>,
) -> Result<(Workflow, ApplyOutcome), AppError> {
    spec.validate().map_err(|e| AppError::invalid(&e.field, e.message))?;
    if reason.chars().count() > 500 || !crate::domain::text::is_lines(reason) {
        return Err(AppError::invalid(
            "reason",
            "Give the reason in at most 500 characters, without control characters.",
        ));
    }
    Contract::compile(&spec.payload_schema, &spec.prediction_schema, spec.labels.clone())?;
    let mut tx = db.begin_write().await?;
    // Locks the workflow row only, not the owner's (on the outer join's nullable side).
    let lock = db.backend().for_update_of("w");
    let existing = load(&mut tx, Key::Slug(spec.slug.as_str()), &lock).await?;
    let owner_id = match &spec.owner {
        Some(email) => Some(user_id_for(&mut tx, "owner", email).await?),
        None => None,
    };
    let mut member_ids = Vec::with_capacity(spec.members.len());
    for email in &spec.members {
        member_ids.push(user_id_for(&mut tx, "members", email).await?);
    }
    member_ids.sort_unstable();
    member_ids.dedup();
    // Stored with members in a stable order, so re-applying the same file changes nothing.
    let mut spec = spec;
    spec.members = {
        let mut emails: Vec<String> = spec.members.iter().map(|m| m.trim().to_lowercase()).collect();
        emails.sort();
        emails.dedup();
        emails
    };
    spec.owner = spec.owner.map(|o| o.trim().to_lowercase());

    let now = now_ms();
    let (id, version, outcome, old) = match existing {
        Some(current) => {
            let changed = changed_fields(&current.spec, &spec);
            if changed.is_empty() {
                tx.commit().await?;
                return Ok((current, ApplyOutcome::Unchanged));
            }
            let version = current.settings_version + 1;
            write_settings(&mut tx, Some(current.id), &spec, owner_id, version, now).await?;
            (current.id, version, ApplyOutcome::Updated { changed }, Some(current.spec))
        }
        None => {
            let id = write_settings(&mut tx, None, &spec, owner_id, 1, now).await?;
            (id, 1, ApplyOutcome::Created, None)
        }
    };
    sqlx::query("delete from workflow_members where workflow_id = $1").bind(id).execute(&mut *tx).await?;
    for user_id in member_ids {
        sqlx::query("insert into workflow_members (workflow_id, user_id) values ($1, $2)")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    let actor_id = match actor {
        Actor::User { id, .. } => Some(*id),
        Actor::Cli | Actor::System => None,
    };
    sqlx::query(
        "insert into workflow_settings_history \
         (workflow_id, version, changed_at, actor_id, actor_label, reason, old_settings, new_settings, evidence) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(version)
    .bind(now)
    .bind(actor_id)
    .bind(actor.label())
    .bind(reason)
    .bind(old.map(|o| json!(o).to_string()))
    .bind(json!(spec).to_string())
    .bind(evidence.map(Value::to_string))
    .execute(&mut *tx)
    .await?;
    let action = if outcome == ApplyOutcome::Created { "workflow.create" } else { "workflow.update" };
    audit::record(
        &mut tx,
        actor,
        Some(id),
        action,
        spec.slug.as_str(),
        json!({ "version": version, "reason": reason }),
    )
    .await?;
    let workflow = load(&mut tx, Key::Id(id), "").await?.ok_or_else(|| AppError::internal("workflow vanished"))?;
    tx.commit().await?;
    Ok((workflow, outcome))
}

async fn write_settings(
    conn: &mut AnyConnection,
    id: Option<i64>,
    spec: &WorkflowSpec,
    owner_id: Option<i64>,
    version: i64,
    now: i64,
) -> Result<i64, AppError> {
    let sql = match id {
        None => {
            "insert into workflows (slug, name, description, owner_id, payload_schema, prediction_schema, labels, \
             reason_codes, auto_approve_at, escalate_below, audit_rate, rollout_share, target_error_rate, \
             review_sla_secs, escalation_sla_secs, lease_secs, paused, settings_version, created_at, updated_at, \
             escalate_after_lease_expiries, escalate_on_reasons, tuning_confidence, tune_auto_reject, rollout_from, \
             auto_reject_below) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, \
             $20, $21, $22, $23, $24, $25) returning id"
        }
        Some(_) => {
            "update workflows set slug = $1, name = $2, description = $3, owner_id = $4, payload_schema = $5, \
             prediction_schema = $6, labels = $7, reason_codes = $8, auto_approve_at = $9, escalate_below = $10, \
             audit_rate = $11, rollout_share = $12, target_error_rate = $13, review_sla_secs = $14, \
             escalation_sla_secs = $15, lease_secs = $16, paused = $17, settings_version = $18, updated_at = $19, \
             escalate_after_lease_expiries = $20, escalate_on_reasons = $21, tuning_confidence = $22, \
             tune_auto_reject = $23, rollout_from = $24, auto_reject_below = $25 where id = $26 returning id"
        }
    };
    let query = sqlx::query_as(sql)
        .bind(spec.slug.as_str())
        .bind(spec.name.trim())
        .bind(&spec.description)
        .bind(owner_id)
        .bind(spec.payload_schema.to_string())
        .bind(spec.prediction_schema.to_string())
        .bind(json!(spec.labels).to_string())
        .bind(json!(spec.reason_codes).to_string())
        .bind(spec.auto_approve_at)
        .bind(spec.escalate_below)
        .bind(spec.audit_rate)
        .bind(spec.rollout_share)
        .bind(spec.target_error_rate)
        .bind(spec.review_sla_secs)
        .bind(spec.escalation_sla_secs)
        .bind(spec.lease_secs)
        .bind(i64::from(spec.paused))
        .bind(version)
        .bind(now)
        .bind(i64::from(spec.escalate_after_lease_expiries))
        .bind(json!(spec.escalate_on_reasons).to_string())
        .bind(spec.confidence)
        .bind(i64::from(spec.tune_auto_reject))
        .bind(spec.rollout_from)
        .bind(spec.auto_reject_below);
    let query = match id {
        Some(id) => query.bind(id),
        None => query,
    };
    let result: Result<(i64,), sqlx::Error> = query.fetch_one(conn).await;
    match result {
        Ok((id,)) => Ok(id),
        Err(e) if is_unique_violation(&e, "workflows_slug_key") => {
            Err(AppError::conflict(format!("A workflow with the slug '{}' already exists.", spec.slug)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(db: &Db) -> Result<Vec<Workflow>, AppError> {
    let slugs: Vec<(String,)> = sqlx::query_as("select slug from workflows order by slug").fetch_all(db.pool()).await?;
    let mut workflows = Vec::with_capacity(slugs.len());
    for (slug,) in slugs {
        workflows.extend(find_by_slug(db, &slug).await?);
    }
    Ok(workflows)
}

/// The settings page's data: the workflow, its history, endpoints and dead letters.
pub async fn detail(db: &Db, slug: &str, destinations: DestinationPolicy) -> Result<WorkflowDetail, AppError> {
    let workflow = require_by_slug(db, slug).await?;
    #[derive(sqlx::FromRow)]
    struct HistoryRow {
        version: i64,
        changed_at: i64,
        actor_label: String,
        reason: String,
        old_settings: Option<String>,
        new_settings: String,
        evidence: Option<String>,
    }
    let rows: Vec<HistoryRow> = sqlx::query_as(
        "select version, changed_at, actor_label, reason, old_settings, new_settings, evidence \
         from workflow_settings_history where workflow_id = $1 order by version desc",
    )
    .bind(workflow.id)
    .fetch_all(db.pool())
    .await?;
    let history = rows
        .into_iter()
        .map(|row| {
            let changed = match row.old_settings.as_deref().map(serde_json::from_str::<WorkflowSpec>) {
                Some(Ok(old)) => serde_json::from_str::<WorkflowSpec>(&row.new_settings)
                    .map(|new| changed_fields(&old, &new))
                    .unwrap_or_default(),
                _ => vec!["created".to_owned()],
            };
            let evidence = row
                .evidence
                .as_deref()
                .and_then(|e| serde_json::from_str::<Value>(e).ok())
                .and_then(|e| e.get("summary").and_then(Value::as_str).map(str::to_owned));
            let HistoryRow { version, changed_at: at_ms, actor_label: actor, reason, .. } = row;
            HistoryEntry { version, at_ms, actor, reason, changed, evidence }
        })
        .collect();
    let mut endpoints = Vec::new();
    for endpoint in webhooks::endpoints::list(db, workflow.id).await? {
        endpoints.push(endpoint.view(webhooks::endpoints::attempts(db, endpoint.id).await?));
    }
    let dead_letters = webhooks::outbox::dead_letters(db, workflow.id).await?.iter().map(|d| d.view()).collect();
    Ok(WorkflowDetail {
        summary: workflow.summary(),
        form: workflow.form(),
        history,
        endpoints,
        dead_letters,
        private_webhooks_allowed: destinations.allow_private,
    })
}
