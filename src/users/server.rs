//! User storage and the services that change users. Each change and its audit event are written
//! in one transaction.

use super::UserSummary;
use crate::auth::SessionUser;
use crate::domain::{DisplayName, Email, Password, Role};
use crate::error::AppError;
use crate::storage::audit::{self, Actor};
use crate::storage::clock::now_ms;
use crate::storage::db::{Db, is_unique_violation};
use serde_json::json;
use sqlx::AnyConnection;

/// A stored user, with what the server needs to authenticate them.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub auth_epoch: i64,
    pub disabled: bool,
    pub created_at_ms: i64,
    /// The password was chosen by an admin: until the user chooses their own, they can do
    /// nothing else.
    pub temporary_password: bool,
}

impl UserRecord {
    pub fn to_session_user(&self) -> SessionUser {
        SessionUser {
            id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role,
            must_change_password: self.temporary_password,
        }
    }

    pub fn summary(&self) -> UserSummary {
        UserSummary {
            id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role,
            disabled: self.disabled,
            created_at_ms: self.created_at_ms,
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::User { id: self.id, email: self.email.clone() }
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    password_hash: String,
    auth_epoch: i64,
    disabled_at: Option<i64>,
    created_at: i64,
    temporary_password_at: Option<i64>,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = AppError;

    fn try_from(row: UserRow) -> Result<Self, AppError> {
        Ok(Self {
            role: row.role.parse().map_err(AppError::internal)?,
            id: row.id,
            email: row.email,
            name: row.name,
            password_hash: row.password_hash,
            auth_epoch: row.auth_epoch,
            disabled: row.disabled_at.is_some(),
            created_at_ms: row.created_at,
            temporary_password: row.temporary_password_at.is_some(),
        })
    }
}

const COLUMNS: &str =
    "id, email, name, role, password_hash, auth_epoch, disabled_at, created_at, temporary_password_at";

/// A validated new account.
#[derive(Debug)]
pub struct NewUser {
    pub email: Email,
    pub name: DisplayName,
    pub role: Role,
    pub password: Password,
    /// Someone else chose the password (an admin): the user must choose their own at sign-in.
    pub temporary_password: bool,
}

impl NewUser {
    /// A new account whose password is its owner's own (the first admin, or the command line).
    pub fn parse(email: &str, name: &str, role: Role, password: &str, password_field: &str) -> Result<Self, AppError> {
        let email = Email::parse(email)?;
        let name = DisplayName::parse_or_default(name, &email)?;
        let password = Password::parse(password, password_field)?;
        Ok(Self { email, name, role, password, temporary_password: false })
    }

    /// The same account with a password the user must replace at their first sign-in.
    pub fn with_temporary_password(self) -> Self {
        Self { temporary_password: true, ..self }
    }
}

#[tracing::instrument(skip(db))]
pub async fn find_by_id(db: &Db, id: i64) -> Result<Option<UserRecord>, AppError> {
    let row: Option<UserRow> = sqlx::query_as(&format!("select {COLUMNS} from users where id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(UserRecord::try_from).transpose()
}

#[tracing::instrument(skip(db))]
pub async fn find_by_email(db: &Db, email: &Email) -> Result<Option<UserRecord>, AppError> {
    let row: Option<UserRow> = sqlx::query_as(&format!("select {COLUMNS} from users where email = $1"))
        .bind(email.as_str())
        .fetch_optional(db.pool())
        .await?;
    row.map(UserRecord::try_from).transpose()
}

#[tracing::instrument(skip(db))]
pub async fn list(db: &Db) -> Result<Vec<UserSummary>, AppError> {
    let rows: Vec<UserRow> =
        sqlx::query_as(&format!("select {COLUMNS} from users order by lower(name), id")).fetch_all(db.pool()).await?;
    rows.into_iter().map(|row| UserRecord::try_from(row).map(|u| u.summary())).collect()
}

#[tracing::instrument(skip(db))]
pub async fn count(db: &Db) -> Result<i64, AppError> {
    let (count,): (i64,) = sqlx::query_as("select count(*) from users").fetch_one(db.pool()).await?;
    Ok(count)
}

async fn insert(conn: &mut AnyConnection, user: &NewUser, password_hash: &str) -> Result<i64, AppError> {
    let now = now_ms();
    let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
        "insert into users (email, name, role, password_hash, created_at, updated_at, temporary_password_at) \
         values ($1, $2, $3, $4, $5, $5, $6) returning id",
    )
    .bind(user.email.as_str())
    .bind(user.name.as_str())
    .bind(user.role.as_str())
    .bind(password_hash)
    .bind(now)
    .bind(user.temporary_password.then_some(now))
    .fetch_one(conn)
    .await;
    match inserted {
        Ok((id,)) => Ok(id),
        Err(error) if is_unique_violation(&error, "users_email_key") => {
            Err(AppError::invalid("email", format!("A user with the email {} already exists.", user.email)))
        }
        Err(error) => Err(error.into()),
    }
}

/// Adds an account.
#[tracing::instrument(skip(db, user), fields(email = %user.email, role = %user.role))]
pub async fn create(db: &Db, actor: &Actor, user: NewUser) -> Result<UserRecord, AppError> {
    let hash = super::password::hash(user.password.clone()).await?;
    let mut tx = db.begin_write().await?;
    let id = insert(&mut tx, &user, &hash).await?;
    let details = json!({ "role": user.role, "temporary_password": user.temporary_password });
    audit::record(&mut tx, actor, None, "user.create", user.email.as_str(), details).await?;
    tx.commit().await?;
    find_by_id(db, id).await?.ok_or_else(|| AppError::internal("user vanished after insert"))
}

/// Creates the first admin, once. Two racing requests cannot both succeed: the claim row's
/// primary key lets only one commit.
#[tracing::instrument(skip(db, user), fields(email = %user.email))]
pub async fn create_first_admin(db: &Db, user: NewUser) -> Result<UserRecord, AppError> {
    let already = || AppError::conflict("Gatehouse is already set up. Sign in instead.");
    if count(db).await? > 0 {
        return Err(already());
    }
    let hash = super::password::hash(user.password.clone()).await?;
    let mut tx = db.begin_write().await?;
    let (existing,): (i64,) = sqlx::query_as("select count(*) from users").fetch_one(&mut *tx).await?;
    if existing > 0 {
        return Err(already());
    }
    let id = insert(&mut tx, &user, &hash).await?;
    let claimed = sqlx::query("insert into first_admin_claim (id, user_id, claimed_at) values (1, $1, $2)")
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
    match claimed {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(already()),
        Err(error) => return Err(error.into()),
    }
    audit::record(
        &mut tx,
        &Actor::User { id, email: user.email.to_string() },
        None,
        "setup.first_admin",
        user.email.as_str(),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    find_by_id(db, id).await?.ok_or_else(|| AppError::internal("user vanished after insert"))
}

/// Locks and loads one user for a change inside `tx`.
async fn load_for_change(db: &Db, conn: &mut AnyConnection, id: i64) -> Result<UserRecord, AppError> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("select {COLUMNS} from users where id = $1{}", db.backend().for_update()))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(UserRecord::try_from).transpose()?.ok_or_else(|| AppError::not_found("That user"))
}

/// Refuses a change that would leave no enabled admin.
async fn ensure_other_admin(db: &Db, conn: &mut AnyConnection, target: &UserRecord) -> Result<(), AppError> {
    if target.role != Role::Admin || target.disabled {
        return Ok(());
    }
    let admins: Vec<(i64,)> = sqlx::query_as(&format!(
        "select id from users where role = 'admin' and disabled_at is null and id <> $1{}",
        db.backend().for_update()
    ))
    .bind(target.id)
    .fetch_all(conn)
    .await?;
    if admins.is_empty() {
        return Err(AppError::conflict("At least one enabled admin must remain. Make someone else an admin first."));
    }
    Ok(())
}

#[tracing::instrument(skip(db, actor))]
pub async fn set_role(db: &Db, actor: &Actor, id: i64, role: Role) -> Result<UserRecord, AppError> {
    let mut tx = db.begin_write().await?;
    let target = load_for_change(db, &mut tx, id).await?;
    if target.role == role {
        return Ok(target);
    }
    if role != Role::Admin {
        ensure_other_admin(db, &mut tx, &target).await?;
    }
    sqlx::query("update users set role = $1, updated_at = $2 where id = $3")
        .bind(role.as_str())
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, actor, None, "user.set_role", &target.email, json!({ "old": target.role, "new": role }))
        .await?;
    tx.commit().await?;
    find_by_id(db, id).await?.ok_or_else(|| AppError::not_found("That user"))
}

#[tracing::instrument(skip(db, actor))]
pub async fn set_disabled(db: &Db, actor: &Actor, id: i64, disabled: bool) -> Result<UserRecord, AppError> {
    let mut tx = db.begin_write().await?;
    let target = load_for_change(db, &mut tx, id).await?;
    if target.disabled == disabled {
        return Ok(target);
    }
    if disabled {
        if matches!(actor, Actor::User { id: actor_id, .. } if *actor_id == id) {
            return Err(AppError::conflict("You cannot disable your own account."));
        }
        ensure_other_admin(db, &mut tx, &target).await?;
    }
    let now = now_ms();
    // Disabling moves the sign-in epoch, so that every session of the account ends for good: one
    // left idle meanwhile does not work again once the account is enabled.
    sqlx::query("update users set disabled_at = $1, updated_at = $2, auth_epoch = auth_epoch + $3 where id = $4")
        .bind(disabled.then_some(now))
        .bind(now)
        .bind(i64::from(disabled))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let action = if disabled { "user.disable" } else { "user.enable" };
    audit::record(&mut tx, actor, None, action, &target.email, json!({})).await?;
    tx.commit().await?;
    find_by_id(db, id).await?.ok_or_else(|| AppError::not_found("That user"))
}

/// Sets a password chosen by an admin, which the user must replace at their next sign-in, and
/// ends every session of that user (the caller also lifts any sign-in lock of the account: see
/// `crate::auth::throttle::clear_account`).
#[tracing::instrument(skip(db, actor, password))]
pub async fn reset_password(db: &Db, actor: &Actor, id: i64, password: Password) -> Result<UserRecord, AppError> {
    replace_password(db, actor, id, password, PasswordOwner::Admin).await
}

/// Sets a password the user chose themselves (they proved the old one first): it is no longer
/// temporary, and every session signed in under the old one ends.
#[tracing::instrument(skip(db, password))]
pub async fn set_own_password(db: &Db, user: &UserRecord, password: Password) -> Result<UserRecord, AppError> {
    replace_password(db, &user.actor(), user.id, password, PasswordOwner::User).await
}

/// Who chose a new password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PasswordOwner {
    Admin,
    User,
}

async fn replace_password(
    db: &Db,
    actor: &Actor,
    id: i64,
    password: Password,
    owner: PasswordOwner,
) -> Result<UserRecord, AppError> {
    let hash = super::password::hash(password).await?;
    let mut tx = db.begin_write().await?;
    let target = load_for_change(db, &mut tx, id).await?;
    let now = now_ms();
    sqlx::query(
        "update users set password_hash = $1, auth_epoch = auth_epoch + 1, temporary_password_at = $2, \
         updated_at = $3 where id = $4",
    )
    .bind(hash)
    .bind((owner == PasswordOwner::Admin).then_some(now))
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let action = match owner {
        PasswordOwner::Admin => "user.reset_password",
        PasswordOwner::User => "user.change_password",
    };
    audit::record(&mut tx, actor, None, action, &target.email, json!({})).await?;
    tx.commit().await?;
    find_by_id(db, id).await?.ok_or_else(|| AppError::not_found("That user"))
}

/// Finds a user by email for the command line, with a clear error when there is none.
pub async fn require_by_email(db: &Db, raw: &str) -> Result<UserRecord, AppError> {
    let email = Email::parse(raw)?;
    find_by_email(db, &email).await?.ok_or_else(|| AppError::not_found(format!("A user with the email {email}")))
}
