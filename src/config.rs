//! The server's settings (`gatehouse serve`'s flags, each with an environment variable). The
//! defaults need no configuration at all: 127.0.0.1:3000, the site in `target/site`.

use crate::domain::client_address::TrustedProxies;
use crate::domain::throttle::ThrottlePolicy;
use crate::webhooks::destination::DestinationPolicy;
use clap::{Args, Parser};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GATEHOUSE_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// Folder holding the compiled site (`pkg/`, static files).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Secret used to sign session cookies (at least 32 characters). When neither this nor
    /// `--session-key-file` is given, one is generated on first start and kept in the database,
    /// so every instance sharing the database agrees on it.
    #[arg(long, env = "GATEHOUSE_SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<SecretString>,
    /// File holding the session secret.
    #[arg(long, env = "GATEHOUSE_SESSION_KEY_FILE", conflicts_with = "session_secret")]
    pub session_key_file: Option<PathBuf>,
    /// The address people use to reach Gatehouse, e.g. `https://review.example.com`.
    /// Accepted as an origin for form posts; an `https` URL turns on Secure cookies.
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Mark session cookies Secure (send over HTTPS only).
    #[arg(long, env = "GATEHOUSE_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,
    /// Sessions end after this many hours without activity.
    #[arg(long, env = "GATEHOUSE_SESSION_IDLE_HOURS", default_value_t = 12)]
    pub session_idle_hours: u32,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "GATEHOUSE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest batch submission accepted by the machine API, in bytes.
    #[arg(long, env = "GATEHOUSE_MAX_BATCH_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_batch_body_bytes: usize,
    /// Base of the webhook retry schedule in milliseconds (attempts wait 1, 6, 24, … times it;
    /// the default of 5 s gives about a day of retries).
    #[arg(long, env = "GATEHOUSE_WEBHOOK_BASE_DELAY_MS", default_value_t = 5000)]
    pub webhook_base_delay_ms: u64,
    /// Attempts before an undeliverable webhook event moves to the dead letters (at most 11).
    #[arg(long, env = "GATEHOUSE_WEBHOOK_MAX_ATTEMPTS", default_value_t = 11)]
    pub webhook_max_attempts: u32,
    /// How often an idle webhook worker looks for due events, in milliseconds.
    #[arg(long, env = "GATEHOUSE_WEBHOOK_POLL_MS", default_value_t = 500)]
    pub webhook_poll_ms: u64,
    /// Endpoints each instance delivers to at the same time (each endpoint's events go one after
    /// another, in order).
    #[arg(long, env = "GATEHOUSE_WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub webhook_concurrency: usize,
    /// Days a delivered webhook event (and each attempt) is kept before it is purged.
    #[arg(long, env = "GATEHOUSE_WEBHOOK_RETENTION_DAYS", default_value_t = 7)]
    pub webhook_retention_days: u32,
    /// When set, `GET /metrics` answers only requests with `Authorization: Bearer <this token>`.
    #[arg(long, env = "GATEHOUSE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Allow webhook endpoints on loopback, link-local and private addresses (for receivers on
    /// the same network; off, such endpoints are refused and never called).
    #[arg(long, env = "GATEHOUSE_ALLOW_PRIVATE_WEBHOOKS", default_value_t = false)]
    pub allow_private_webhooks: bool,
    /// Failed sign-ins per account before each attempt must wait.
    #[arg(long, env = "GATEHOUSE_LOGIN_FREE_FAILURES", default_value_t = ThrottlePolicy::ACCOUNT.free_failures)]
    pub login_free_failures: u32,
    /// Failed sign-ins per account before it is locked.
    #[arg(long, env = "GATEHOUSE_LOGIN_LOCK_AFTER", default_value_t = ThrottlePolicy::ACCOUNT.lock_after)]
    pub login_lock_after: u32,
    /// How long a lock lasts, in seconds.
    #[arg(long, env = "GATEHOUSE_LOGIN_LOCK_SECS", default_value_t = ThrottlePolicy::ACCOUNT.lock_secs)]
    pub login_lock_secs: u64,
    /// How long a reviewer may undo a decision, in milliseconds. A decision is sent to webhooks
    /// and shown to pollers only once this has passed.
    #[arg(long, env = "GATEHOUSE_UNDO_WINDOW_MS", default_value_t = 10_000)]
    pub undo_window_ms: u64,
    /// Proxies (load balancers) whose forwarding headers tell the client's address, as a
    /// comma-separated list of CIDR ranges or addresses, e.g. `10.0.0.0/8,192.168.1.7`. Only
    /// when the peer is one of them is the client taken from `Forwarded` or `X-Forwarded-For`
    /// (the rightmost hop that is not one of them); otherwise those headers are ignored.
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// How often expired review leases are returned to their queue, in milliseconds.
    #[arg(long, env = "GATEHOUSE_LEASE_SWEEP_MS", default_value_t = 1000)]
    pub lease_sweep_ms: u64,
    /// How often the escalation sweeper looks (items past the review SLA, escalations to open,
    /// close, climb or flag), in milliseconds.
    #[arg(long, env = "GATEHOUSE_ESCALATION_SWEEP_MS", default_value_t = 2000)]
    pub escalation_sweep_ms: u64,
    /// Longest a request may take, body upload included, in seconds; a slower one is answered
    /// 408 and dropped, so that slow or stalled clients cannot hold connections and memory.
    #[arg(long, env = "GATEHOUSE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:3000".parse().expect("valid default address"),
            site_root: PathBuf::from("target/site"),
            session_secret: None,
            session_key_file: None,
            public_url: None,
            cookie_secure: false,
            session_idle_hours: 12,
            max_body_bytes: 1024 * 1024,
            max_batch_body_bytes: 16 * 1024 * 1024,
            webhook_base_delay_ms: 5000,
            webhook_max_attempts: 11,
            webhook_poll_ms: 500,
            webhook_concurrency: 16,
            webhook_retention_days: 7,
            metrics_token: None,
            allow_private_webhooks: false,
            login_free_failures: ThrottlePolicy::ACCOUNT.free_failures,
            login_lock_after: ThrottlePolicy::ACCOUNT.lock_after,
            login_lock_secs: ThrottlePolicy::ACCOUNT.lock_secs,
            undo_window_ms: 10_000,
            trusted_proxies: TrustedProxies::default(),
            lease_sweep_ms: 1000,
            escalation_sweep_ms: 2000,
            request_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Parser)]
struct ServeOnly {
    #[command(flatten)]
    args: ServeArgs,
}

impl ServeArgs {
    /// `gatehouse` with no subcommand serves, configured from the environment and defaults.
    pub fn default_from_env() -> anyhow::Result<Self> {
        Ok(ServeOnly::try_parse_from(["gatehouse"])?.args)
    }

    pub fn account_throttle(&self) -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: self.login_free_failures,
            lock_after: self.login_lock_after.max(1),
            lock_secs: self.login_lock_secs,
            ..ThrottlePolicy::ACCOUNT
        }
    }

    pub fn client_throttle(&self) -> ThrottlePolicy {
        ThrottlePolicy { lock_secs: self.login_lock_secs, ..ThrottlePolicy::CLIENT }
    }

    /// Where webhooks may go.
    pub fn webhook_destinations(&self) -> DestinationPolicy {
        DestinationPolicy { allow_private: self.allow_private_webhooks }
    }

    /// Whether Gatehouse is reached over HTTPS (an `https` public URL, or Secure cookies asked
    /// for): cookies are then Secure and responses carry `Strict-Transport-Security`.
    pub fn secure_cookies(&self) -> bool {
        self.cookie_secure || self.public_url.as_deref().is_some_and(|url| url.starts_with("https://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_a_list_of_ranges() {
        let args = ServeOnly::try_parse_from(["gatehouse", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1"]).unwrap().args;
        assert!(args.trusted_proxies.trusts("10.9.8.7".parse().unwrap()));
        assert!(args.trusted_proxies.trusts("127.0.0.1".parse().unwrap()));
        assert!(ServeArgs::default().trusted_proxies.is_empty());
        let error = ServeOnly::try_parse_from(["gatehouse", "--trusted-proxies", "10.0.0.0/40"]).unwrap_err();
        assert!(error.to_string().contains("'10.0.0.0/40'"), "{error}");
    }

    #[test]
    fn https_public_url_makes_cookies_secure() {
        let args = ServeArgs { public_url: Some("https://gh.example.com".into()), ..ServeArgs::default() };
        assert!(args.secure_cookies());
        assert!(!ServeArgs::default().secure_cookies());
    }
}
