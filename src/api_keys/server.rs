use crate::error::AppError;
use crate::storage::audit::{self, Actor};
use crate::storage::clock::now_ms;
use crate::storage::db::Db;
use serde_json::json;
use sha2::{Digest, Sha256};

/// How a key starts, so that leaked keys are recognisable (and greppable by secret scanners).
const KEY_PREFIX: &str = "ghk_";
/// `last_used_at` is written at most this often per key, to keep ingest free of extra writes.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// A new key. `token` is shown once and never stored.
#[derive(Debug)]
pub struct CreatedKey {
    pub id: i64,
    pub name: String,
    pub token: String,
}

/// What an authenticated key may do.
#[derive(Debug, Clone)]
pub struct KeyScope {
    pub key_id: i64,
    /// An admin-scoped key may also import history and read tuning of its workflows.
    pub admin: bool,
    pub workflow_ids: Vec<i64>,
}

impl KeyScope {
    pub fn allows(&self, workflow_id: i64) -> bool {
        self.workflow_ids.contains(&workflow_id)
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut buf);
    hex::encode(buf)
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `ghk_<prefix>_<secret>`.
fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 12 && secret.len() == 48).then_some((prefix, secret))
}

/// Creates a key scoped to the workflows named by `slugs`; with `admin`, it may also import
/// history and read tuning for them.
#[tracing::instrument(skip(db, actor))]
pub async fn create(db: &Db, actor: &Actor, name: &str, slugs: &[String], admin: bool) -> Result<CreatedKey, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || !crate::domain::text::is_one_line(name) {
        return Err(AppError::invalid("name", "Give the key a name of 1 to 100 characters, on one line."));
    }
    if slugs.is_empty() {
        return Err(AppError::invalid("workflows", "Scope the key to at least one workflow."));
    }
    let prefix = random_hex(6);
    let secret = random_hex(24);
    let mut tx = db.begin_write().await?;
    let (id,): (i64,) = sqlx::query_as(
        "insert into api_keys (name, prefix, secret_hash, created_at, created_by, admin) \
         values ($1, $2, $3, $4, $5, $6) returning id",
    )
    .bind(name)
    .bind(&prefix)
    .bind(hash_secret(&secret))
    .bind(now_ms())
    .bind(actor.label())
    .bind(i64::from(admin))
    .fetch_one(&mut *tx)
    .await?;
    for slug in slugs {
        let workflow: Option<(i64,)> =
            sqlx::query_as("select id from workflows where slug = $1").bind(slug).fetch_optional(&mut *tx).await?;
        let (workflow_id,) =
            workflow.ok_or_else(|| AppError::invalid("workflows", format!("There is no workflow '{slug}'.")))?;
        sqlx::query("insert into api_key_workflows (api_key_id, workflow_id) values ($1, $2) on conflict do nothing")
            .bind(id)
            .bind(workflow_id)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        actor,
        None,
        "api_key.create",
        name,
        json!({ "workflows": slugs, "prefix": prefix, "admin": admin }),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedKey { id, name: name.to_owned(), token: format!("{KEY_PREFIX}{prefix}_{secret}") })
}

/// The scope of a valid, unrevoked key; 401 otherwise.
pub async fn authenticate(db: &Db, token: &str) -> Result<KeyScope, AppError> {
    let (prefix, secret) = split_token(token).ok_or(AppError::InvalidApiKey)?;
    #[derive(sqlx::FromRow)]
    struct StoredKey {
        id: i64,
        secret_hash: String,
        revoked_at: Option<i64>,
        last_used_at: Option<i64>,
        admin: i64,
    }
    let row: Option<StoredKey> =
        sqlx::query_as("select id, secret_hash, revoked_at, last_used_at, admin from api_keys where prefix = $1")
            .bind(prefix)
            .fetch_optional(db.pool())
            .await?;
    let Some(StoredKey { id: key_id, secret_hash: stored, revoked_at, last_used_at, admin }) = row else {
        return Err(AppError::InvalidApiKey);
    };
    // Compare in constant time over the hex digests.
    let given = hash_secret(secret);
    let same =
        given.len() == stored.len() && given.bytes().zip(stored.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !same || revoked_at.is_some() {
        return Err(AppError::InvalidApiKey);
    }
    let now = now_ms();
    if last_used_at.is_none_or(|at| now - at > LAST_USED_RESOLUTION_MS) {
        let _turn = db.write_turn().await;
        sqlx::query("update api_keys set last_used_at = $1 where id = $2")
            .bind(now)
            .bind(key_id)
            .execute(db.pool())
            .await?;
    }
    let workflow_ids: Vec<(i64,)> = sqlx::query_as("select workflow_id from api_key_workflows where api_key_id = $1")
        .bind(key_id)
        .fetch_all(db.pool())
        .await?;
    Ok(KeyScope { key_id, admin: admin != 0, workflow_ids: workflow_ids.into_iter().map(|(id,)| id).collect() })
}

/// Revokes a key; it stops working at once.
pub async fn revoke(db: &Db, actor: &Actor, key_id: i64) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    let row: Option<(String,)> =
        sqlx::query_as("select name from api_keys where id = $1").bind(key_id).fetch_optional(&mut *tx).await?;
    let (name,) = row.ok_or_else(|| AppError::not_found("That API key"))?;
    sqlx::query("update api_keys set revoked_at = $1 where id = $2 and revoked_at is null")
        .bind(now_ms())
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, actor, None, "api_key.revoke", &name, json!({})).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    name: String,
    prefix: String,
    created_at: i64,
    created_by: String,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    admin: i64,
}

/// Every key, newest first, with the workflows it may use.
pub async fn list(db: &Db) -> Result<Vec<super::KeySummary>, AppError> {
    let rows: Vec<KeyRow> = sqlx::query_as(
        "select id, name, prefix, created_at, created_by, last_used_at, revoked_at, admin from api_keys \
         order by id desc",
    )
    .fetch_all(db.pool())
    .await?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        let workflows: Vec<(String,)> = sqlx::query_as(
            "select w.slug from api_key_workflows k join workflows w on w.id = k.workflow_id where k.api_key_id = $1 order by w.slug",
        )
        .bind(row.id)
        .fetch_all(db.pool())
        .await?;
        keys.push(super::KeySummary {
            id: row.id,
            name: row.name,
            prefix: format!("{KEY_PREFIX}{}_…", row.prefix),
            workflows: workflows.into_iter().map(|(slug,)| slug).collect(),
            created_at_ms: row.created_at,
            created_by: row.created_by,
            last_used_at_ms: row.last_used_at,
            revoked: row.revoked_at.is_some(),
            admin: row.admin != 0,
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_only_when_well_formed() {
        let token = format!("ghk_{}_{}", "a".repeat(12), "b".repeat(48));
        assert_eq!(split_token(&token), Some(("aaaaaaaaaaaa", &*"b".repeat(48))));
        assert_eq!(split_token("ghk_short_x"), None);
        assert_eq!(split_token(&token.replace("ghk_", "xyz_")), None);
    }
}
