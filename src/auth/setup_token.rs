//! The first-run setup token: while an instance has no user, creating the first admin through
//! the browser needs this token, which only the person who started the server can read (it is
//! printed at start). Whoever merely reaches a fresh instance cannot take it over. Creating users
//! from the command line (`gatehouse user add`) needs no token: it already needs the database.

use crate::error::AppError;
use crate::storage::db::Db;
use crate::storage::instance_secrets;
use sha2::{Digest, Sha256};

const NAME: &str = "setup_token";

/// The token to print at start: made if the instance has no user yet (the same one for every
/// instance on the database, until it is used), `None` once someone exists, when any left over
/// is forgotten.
pub async fn issue(db: &Db) -> Result<Option<String>, AppError> {
    if crate::users::server::count(db).await? > 0 {
        instance_secrets::remove(db, NAME).await?;
        return Ok(None);
    }
    Ok(Some(instance_secrets::get_or_create(db, NAME).await?))
}

/// The token as stored now, if any (for tests and the command line).
pub async fn current(db: &Db) -> Result<Option<String>, AppError> {
    Ok(instance_secrets::get(db, NAME).await?)
}

/// Whether `given` is the setup token; 422 on `setup_token` if not, 409 once anybody exists.
/// Compared by digest, so the time taken says nothing about how much of it was right.
pub async fn check(db: &Db, given: &str) -> Result<(), AppError> {
    if crate::users::server::count(db).await? > 0 {
        return Err(AppError::conflict("Gatehouse is already set up. Sign in instead."));
    }
    let given = given.trim();
    if given.is_empty() {
        return Err(AppError::invalid(
            "setup_token",
            "Enter the setup token: the server prints it when it starts with no users.",
        ));
    }
    let Some(stored) = current(db).await? else {
        return Err(AppError::invalid(
            "setup_token",
            "No setup token has been issued yet: restart the server and use the token it prints.",
        ));
    };
    if Sha256::digest(given.as_bytes()) != Sha256::digest(stored.as_bytes()) {
        tracing::warn!("first-admin setup refused: wrong setup token");
        return Err(AppError::invalid(
            "setup_token",
            "That is not the setup token. Copy it from the server's output at start.",
        ));
    }
    Ok(())
}

/// Forgets the token once the first admin exists.
pub async fn retire(db: &Db) -> Result<(), AppError> {
    Ok(instance_secrets::remove(db, NAME).await?)
}
