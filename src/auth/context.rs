//! What a server function knows about the request it serves: the app state, the session and
//! the client; the role guard every server function calls first; starting and ending sessions.

use super::sign_in::SignInPolicy;
use super::{ACTIVE_HOUR_KEY, SIGN_IN_KEY, SignInDetails};
use crate::domain::Role;
use crate::domain::client_address::TrustedProxies;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::db::Db;
use crate::storage::session_store::OWNER_KEY as USER_ID_KEY;
use crate::users::server::{self as users, UserRecord};
use std::net::{IpAddr, SocketAddr};
use tower_sessions::Session;

const AUTH_EPOCH_KEY: &str = "auth_epoch";
/// The cookie that carries a secret created by a form post without JavaScript to the page that
/// shows it: the secret never sits in the sessions table, only in the admin's own browser, for
/// at most [`FLASH_MAX_AGE_SECS`], and the page that shows it removes it.
const FLASH_COOKIE: &str = "gatehouse_flash";
const FLASH_MAX_AGE_SECS: u32 = 120;

/// The flashed secret as first read during one request (see [`RequestCtx::take_flash_secret`]).
#[derive(Clone, Default)]
pub struct FlashMemo(std::sync::Arc<tokio::sync::OnceCell<Option<super::FlashSecret>>>);

/// Gives every request its own [`FlashMemo`], and removes a flashed secret from the browser once
/// the page that read it has been rendered (however many times it was rendered).
pub async fn with_flash_memo(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let memo = FlashMemo::default();
    request.extensions_mut().insert(memo.clone());
    let mut response = next.run(request).await;
    if memo.0.get().is_some_and(Option::is_some) {
        let expired = format!("{FLASH_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
        if let Ok(value) = axum::http::HeaderValue::from_str(&expired) {
            response.headers_mut().append(axum::http::header::SET_COOKIE, value);
        }
    }
    response
}

/// The flashed secret a request's cookies carry, if any.
fn flash_from_cookies(headers: &axum::http::HeaderMap) -> Option<super::FlashSecret> {
    use base64::Engine;
    let encoded = super::request_cookie(headers, FLASH_COOKIE)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// What a server function needs to know about the request it serves.
pub struct RequestCtx {
    pub state: AppState,
    pub session: Session,
    /// The client's address: the peer, or behind a trusted proxy the one it forwarded for.
    pub client_ip: Option<IpAddr>,
    /// A plain form post (no JavaScript): the answer is a redirect, not data for a script.
    pub form_post: bool,
    /// The browser's own description, as its `User-Agent` header gives it.
    pub user_agent: Option<String>,
    /// A secret flashed to this request's page by the form post before it.
    flashed: Option<super::FlashSecret>,
}

/// The client of a request from `peer`: itself, or behind a trusted proxy what the forwarding
/// headers say (see [`TrustedProxies::client`]).
pub fn client_of(trusted: &TrustedProxies, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
    if trusted.is_empty() {
        return peer;
    }
    let values = |name: &str| headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    trusted.client(peer, &values("forwarded"), &values("x-forwarded-for"))
}

impl RequestCtx {
    /// Reads the context Leptos provides to server functions.
    pub async fn from_leptos() -> Result<Self, AppError> {
        use leptos::prelude::use_context;
        let state = use_context::<AppState>().ok_or_else(|| AppError::internal("AppState is not provided"))?;
        let session = leptos_axum::extract::<Session>().await.map_err(AppError::internal)?;
        let peer = leptos_axum::extract::<axum::extract::ConnectInfo<SocketAddr>>().await.ok().map(|info| info.0.ip());
        let headers = leptos_axum::extract::<axum::http::HeaderMap>().await.unwrap_or_default();
        let form_post = headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        let client_ip = peer.map(|peer| client_of(&state.settings.trusted_proxies, peer, &headers));
        let user_agent = headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(SignInDetails::MAX_USER_AGENT).collect());
        let flashed = flash_from_cookies(&headers);
        Ok(Self { state, session, client_ip, form_post, user_agent, flashed })
    }

    /// The context of a plain route of the site (not a server function), from what axum gives it.
    pub fn for_route(state: AppState, session: Session) -> Self {
        Self { state, session, client_ip: None, form_post: true, user_agent: None, flashed: None }
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// The sign-in throttling this instance was configured with.
    pub fn sign_in_policy(&self) -> SignInPolicy {
        let settings = &self.state.settings;
        SignInPolicy { account: settings.account_throttle(), client: settings.client_throttle() }
    }

    /// The signed-in user, if the session still holds a valid one. A session whose user was
    /// disabled or whose password was reset since sign-in is ended here.
    #[tracing::instrument(skip_all)]
    pub async fn current_user(&self) -> Result<Option<UserRecord>, AppError> {
        let Some(user_id) = self.session.get::<i64>(USER_ID_KEY).await? else { return Ok(None) };
        let epoch = self.session.get::<i64>(AUTH_EPOCH_KEY).await?.unwrap_or(-1);
        let valid = |user: &UserRecord| !user.disabled && user.auth_epoch == epoch;
        // Every request of a signed-in user reads it, so it is cached for a second (see
        // `ApiCaches`). Only to accept: a cached record that would refuse the session is read
        // again, so that a stale one never signs anybody out (say, just after a new sign-in).
        let cache = &self.state.api_caches.users;
        let mut user = cache.get_or_load(&user_id, users::find_by_id(self.db(), user_id)).await?;
        if !user.as_ref().is_some_and(valid) {
            user = users::find_by_id(self.db(), user_id).await?;
            cache.insert(user_id, user.clone());
        }
        match user {
            Some(user) if valid(&user) => {
                tracing::Span::current().record("user_id", user.id);
                self.keep_alive().await?;
                Ok(Some(user))
            }
            _ => {
                self.session.flush().await?;
                Ok(None)
            }
        }
    }

    /// Slides the session's expiry while it is used: a session is saved (and its idle time
    /// restarts) only when changed, so activity is recorded once an hour, not on every request.
    async fn keep_alive(&self) -> Result<(), AppError> {
        let hour = crate::storage::clock::now_ms() / 3_600_000;
        if self.session.get::<i64>(ACTIVE_HOUR_KEY).await? != Some(hour) {
            self.session.insert(ACTIVE_HOUR_KEY, hour).await?;
        }
        Ok(())
    }

    /// The guard every server function calls: a signed-in, enabled user whose role includes
    /// `role`, or 401/403. A user whose password an admin chose is refused until they choose
    /// their own ([`RequestCtx::require_signed_in`] lets them do that).
    pub async fn require(&self, role: Role) -> Result<UserRecord, AppError> {
        let user = self.require_signed_in().await?;
        if user.temporary_password {
            return Err(AppError::PasswordChangeRequired);
        }
        if !user.role.includes(role) {
            tracing::warn!(user_id = user.id, required = %role, "refused: role too low");
            return Err(AppError::Forbidden);
        }
        Ok(user)
    }

    /// The guard of a person's own account: any signed-in, enabled user, even one who must
    /// still replace a password an admin chose.
    pub async fn require_signed_in(&self) -> Result<UserRecord, AppError> {
        self.current_user().await?.ok_or(AppError::Unauthenticated)
    }

    /// Starts a session for `user` under a fresh id (no session fixation), noting when, from
    /// where and in which browser, for the account page.
    pub async fn start_session(&self, user: &UserRecord) -> Result<(), AppError> {
        self.session.cycle_id().await?;
        self.session.insert(USER_ID_KEY, user.id).await?;
        self.session.insert(AUTH_EPOCH_KEY, user.auth_epoch).await?;
        let now = crate::storage::clock::now_ms();
        let details = SignInDetails {
            at_ms: now,
            user_agent: self.user_agent.clone(),
            client_ip: self.client_ip.map(|ip| ip.to_string()),
        };
        self.session.insert(SIGN_IN_KEY, details).await?;
        self.session.insert(ACTIVE_HOUR_KEY, now / 3_600_000).await?;
        Ok(())
    }

    /// Keeps a just-created secret for the next page when the form was posted without
    /// JavaScript (a script shows it from the answer instead), in a short-lived cookie.
    pub async fn flash_secret(&self, label: &str, value: &str) -> Result<(), AppError> {
        use base64::Engine;
        if self.form_post {
            let flash = super::FlashSecret { label: label.to_owned(), value: value.to_owned() };
            let json = serde_json::to_vec(&flash).map_err(AppError::internal)?;
            let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
            let secure = if self.state.settings.secure_cookies() { "; Secure" } else { "" };
            let cookie = format!(
                "{FLASH_COOKIE}={encoded}; Path=/; Max-Age={FLASH_MAX_AGE_SECS}; HttpOnly; SameSite=Strict{secure}"
            );
            let value = axum::http::HeaderValue::from_str(&cookie).map_err(AppError::internal)?;
            let response = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
                .ok_or_else(|| AppError::internal("ResponseOptions is not provided"))?;
            response.append_header(axum::http::header::SET_COOKIE, value);
        }
        Ok(())
    }

    /// The flashed secret, shown once. A page may be rendered more than once while it resolves,
    /// so reading leaves it in place and the request's [`FlashMemo`] remembers it was read;
    /// [`with_flash_memo`] removes it from the browser after the response.
    pub async fn take_flash_secret(&self) -> Result<Option<super::FlashSecret>, AppError> {
        let memo = leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<FlashMemo>().cloned());
        let Some(memo) = memo else { return Ok(self.flashed.clone()) };
        Ok(memo.0.get_or_init(|| async { self.flashed.clone() }).await.clone())
    }

    pub async fn end_session(&self) -> Result<(), AppError> {
        self.session.flush().await?;
        Ok(())
    }
}
