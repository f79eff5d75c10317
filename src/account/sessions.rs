//! A person's sessions: listed from the session store by owner, ended one at a time or all but
//! the current one. Each ending is recorded in the audit log.

use super::SessionSummary;
use crate::auth::{ACTIVE_HOUR_KEY, SIGN_IN_KEY, SignInDetails};
use crate::error::AppError;
use crate::storage::audit;
use crate::storage::db::Db;
use crate::storage::session_store::{DbSessionStore, StoredSession};
use crate::users::server::UserRecord;
use serde_json::json;
use sha2::{Digest, Sha256};
use tower_sessions::SessionStore;
use tower_sessions::session::Id;

/// The name a session goes by on its owner's account page: a digest of its id, from which the
/// id (the cookie's secret) cannot be recovered.
pub fn handle_of(id: &Id) -> String {
    let digest = Sha256::digest(id.to_string().as_bytes());
    hex::encode(&digest[..8])
}

/// The sessions of `user`, the current one (`current`) first.
pub async fn list(
    store: &DbSessionStore,
    user: &UserRecord,
    current: Option<Id>,
) -> Result<Vec<SessionSummary>, AppError> {
    let stored = store.sessions_of(user.id).await.map_err(AppError::internal)?;
    let mut sessions: Vec<SessionSummary> = stored.iter().map(|session| summary(session, current)).collect();
    sessions.sort_by_key(|s| (!s.current, std::cmp::Reverse(s.active_at_ms), std::cmp::Reverse(s.signed_in_at_ms)));
    Ok(sessions)
}

fn summary(session: &StoredSession, current: Option<Id>) -> SessionSummary {
    let data = &session.record.data;
    let details: Option<SignInDetails> =
        data.get(SIGN_IN_KEY).and_then(|value| serde_json::from_value(value.clone()).ok());
    let active_hour = data.get(ACTIVE_HOUR_KEY).and_then(serde_json::Value::as_i64);
    SessionSummary {
        handle: handle_of(&session.id),
        current: current == Some(session.id),
        device: details
            .as_ref()
            .and_then(|d| d.user_agent.as_deref())
            .map_or_else(|| "Unknown browser".to_owned(), describe_browser),
        client_ip: details.as_ref().and_then(|d| d.client_ip.clone()),
        signed_in_at_ms: details.as_ref().map(|d| d.at_ms),
        // Activity is recorded by the hour; a session signed in within it was active since then.
        active_at_ms: active_hour.map(|hour| (hour * 3_600_000).max(details.as_ref().map_or(0, |d| d.at_ms))),
        expires_at_ms: (session.record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64,
    }
}

/// Ends the session of `user` named `handle`. The current session is not ended here (signing
/// out does that), and another person's session is as unknown as one that never existed.
pub async fn end(
    db: &Db,
    store: &DbSessionStore,
    user: &UserRecord,
    current: Option<Id>,
    handle: &str,
) -> Result<(), AppError> {
    let stored = store.sessions_of(user.id).await.map_err(AppError::internal)?;
    let session =
        stored.iter().find(|s| handle_of(&s.id) == handle).ok_or_else(|| AppError::not_found("That session"))?;
    if current == Some(session.id) {
        return Err(AppError::conflict("This is the session you are using: sign out to end it."));
    }
    store.delete(&session.id).await.map_err(AppError::internal)?;
    record(db, user, "session.end", json!({ "session": handle })).await
}

/// Ends every session of `user` but `current`; returns how many ended.
pub async fn end_others(
    db: &Db,
    store: &DbSessionStore,
    user: &UserRecord,
    current: Option<Id>,
) -> Result<u64, AppError> {
    let ended = store.delete_sessions_of(user.id, current).await.map_err(AppError::internal)?;
    record(db, user, "session.end_others", json!({ "ended": ended })).await?;
    Ok(ended)
}

async fn record(db: &Db, user: &UserRecord, action: &str, detail: serde_json::Value) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    audit::record(&mut tx, &user.actor(), None, action, &user.email, detail).await?;
    tx.commit().await?;
    Ok(())
}

/// "Firefox on Linux", "Chrome on Android", "curl": enough to tell one's sessions apart.
pub fn describe_browser(user_agent: &str) -> String {
    let has = |token: &str| user_agent.contains(token);
    let browser = if has("Edg/") {
        "Edge"
    } else if has("OPR/") {
        "Opera"
    } else if has("Firefox/") {
        "Firefox"
    } else if has("HeadlessChrome/") {
        "Headless Chrome"
    } else if has("Chrome/") || has("Chromium/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else {
        let first = user_agent.split(['/', ' ']).next().unwrap_or_default().trim();
        return if first.is_empty() { "Unknown browser".to_owned() } else { first.to_owned() };
    };
    let system = if has("Windows") {
        Some("Windows")
    } else if has("Android") {
        Some("Android")
    } else if has("iPhone") || has("iPad") {
        Some("iOS")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Macintosh") || has("Mac OS X") {
        Some("macOS")
    } else if has("Linux") {
        Some("Linux")
    } else {
        None
    };
    match system {
        Some(system) => format!("{browser} on {system}"),
        None => browser.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_told_apart() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        let chrome_win = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                          Chrome/131.0.0.0 Safari/537.36";
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                    Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
        let safari_ios = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                          (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
        let android =
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36";
        assert_eq!(describe_browser(firefox), "Firefox on Linux");
        assert_eq!(describe_browser(chrome_win), "Chrome on Windows");
        assert_eq!(describe_browser(edge), "Edge on Windows");
        assert_eq!(describe_browser(safari_ios), "Safari on iOS");
        assert_eq!(describe_browser(android), "Chrome on Android");
        assert_eq!(describe_browser("curl/8.5.0"), "curl");
        assert_eq!(describe_browser(""), "Unknown browser");
    }

    #[test]
    fn a_handle_does_not_reveal_the_id() {
        let id = Id::default();
        let handle = handle_of(&id);
        assert_eq!(handle.len(), 16);
        assert!(!id.to_string().contains(&handle));
        assert_eq!(handle, handle_of(&id), "the same session keeps its handle");
        assert_ne!(handle, handle_of(&Id::default()));
    }
}
