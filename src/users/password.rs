//! Argon2id password hashing, off the async runtime.

use crate::domain::Password;
use crate::error::AppError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use std::sync::OnceLock;

/// Hashes a new password (argon2id, the crate's recommended parameters).
pub async fn hash(password: Password) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash_blocking(password.expose())).await.map_err(AppError::internal)?
}

fn hash_blocking(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string()).map_err(AppError::internal)
}

/// A hash of nothing in particular, verified against when the account does not exist so that an
/// unknown email takes as long to refuse as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("gatehouse-dummy-password").unwrap_or_default())
}

/// Whether `candidate` matches `stored`; with no stored hash, does the same work and says no.
pub async fn verify(candidate: String, stored: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match &stored {
            Some(hash) => (hash.as_str(), true),
            None => (dummy_hash(), false),
        };
        let parsed = PasswordHash::new(hash).map_err(AppError::internal)?;
        let matches = Argon2::default().verify_password(candidate.as_bytes(), &parsed).is_ok();
        Ok(real && matches)
    })
    .await
    .map_err(AppError::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_refuse() {
        let stored = hash(Password::parse("correct horse battery", "password").unwrap()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await.unwrap());
        assert!(!verify("wrong horse battery".into(), Some(stored)).await.unwrap());
        assert!(!verify("gatehouse-dummy-password".into(), None).await.unwrap());
    }
}
