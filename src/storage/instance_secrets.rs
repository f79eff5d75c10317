//! Secrets an instance makes for itself and shares with every other instance on the same
//! database (`instance_secrets`): the session signing key, the first-run setup token.

use super::db::Db;

/// The secret called `name`, made (48 random bytes, hex) if there is none yet. Insert-if-absent,
/// then read: instances starting at the same moment end up with the same secret.
pub async fn get_or_create(db: &Db, name: &str) -> Result<String, sqlx::Error> {
    let mut bytes = [0u8; 48];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let turn = db.write_turn().await;
    sqlx::query(
        "insert into instance_secrets (name, value, created_at) values ($1, $2, $3) on conflict (name) do nothing",
    )
    .bind(name)
    .bind(hex::encode(bytes))
    .bind(super::clock::now_ms())
    .execute(db.pool())
    .await?;
    drop(turn);
    let (value,): (String,) =
        sqlx::query_as("select value from instance_secrets where name = $1").bind(name).fetch_one(db.pool()).await?;
    Ok(value)
}

/// The secret called `name`, if there is one.
pub async fn get(db: &Db, name: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("select value from instance_secrets where name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|(value,)| value))
}

/// Forgets the secret called `name` (if there was one).
pub async fn remove(db: &Db, name: &str) -> Result<(), sqlx::Error> {
    let _turn = db.write_turn().await;
    sqlx::query("delete from instance_secrets where name = $1").bind(name).execute(db.pool()).await?;
    Ok(())
}
