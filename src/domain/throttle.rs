//! Sign-in throttling: after a few free failures each further attempt must wait longer, and past a
//! limit the key (an account or a client address) is locked for a while. Pure: the caller stores
//! the state and supplies the clock.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottlePolicy {
    /// Failures allowed without any wait.
    pub free_failures: u32,
    /// Failures after which the key is locked.
    pub lock_after: u32,
    /// How long a lock lasts, in seconds.
    pub lock_secs: u64,
    /// Longest wait between attempts before the lock, in seconds.
    pub max_delay_secs: u64,
    /// Quiet time after which failures are forgotten, in seconds.
    pub forget_after_secs: u64,
}

impl ThrottlePolicy {
    /// For one account: a person mistyping gets three free tries.
    pub const ACCOUNT: Self =
        Self { free_failures: 3, lock_after: 10, lock_secs: 15 * 60, max_delay_secs: 60, forget_after_secs: 15 * 60 };

    /// For one client address: an office behind one NAT gets more room.
    pub const CLIENT: Self =
        Self { free_failures: 10, lock_after: 50, lock_secs: 15 * 60, max_delay_secs: 30, forget_after_secs: 15 * 60 };

    /// The wait required after `failures` consecutive failures: doubling from one second.
    fn delay_secs(&self, failures: u32) -> u64 {
        if failures <= self.free_failures {
            return 0;
        }
        let exponent = (failures - self.free_failures - 1).min(32);
        (1u64 << exponent).min(self.max_delay_secs)
    }
}

/// What is stored per key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: u32,
    pub last_failure_ms: i64,
    pub locked_until_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// Attempts are coming too fast; try again after the wait.
    Wait { retry_after_secs: u64 },
    /// The key is locked.
    Locked { retry_after_secs: u64 },
}

impl Blocked {
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Blocked::Wait { retry_after_secs } | Blocked::Locked { retry_after_secs } => retry_after_secs,
        }
    }

    pub fn message(self) -> String {
        match self {
            Blocked::Wait { retry_after_secs } => {
                format!("Too many failed sign-in attempts. Wait {} and try again.", human_duration(retry_after_secs))
            }
            Blocked::Locked { retry_after_secs } => format!(
                "Sign-in is locked after too many failed attempts. Try again in {}, or ask an admin to reset your password.",
                human_duration(retry_after_secs)
            ),
        }
    }
}

fn human_duration(secs: u64) -> String {
    match secs {
        0..=1 => "1 second".to_owned(),
        2..=90 => format!("{secs} seconds"),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

fn ceil_secs(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000).max(1)
}

impl ThrottleState {
    /// The state as it stands at `now`, with stale failures forgotten.
    fn current(self, now_ms: i64, policy: &ThrottlePolicy) -> Self {
        let quiet_ms = now_ms - self.last_failure_ms.max(self.locked_until_ms);
        if quiet_ms > (policy.forget_after_secs as i64) * 1000 { Self::default() } else { self }
    }

    /// Whether an attempt may be made now.
    pub fn check(self, now_ms: i64, policy: &ThrottlePolicy) -> Result<(), Blocked> {
        let state = self.current(now_ms, policy);
        if state.locked_until_ms > now_ms {
            return Err(Blocked::Locked { retry_after_secs: ceil_secs(state.locked_until_ms - now_ms) });
        }
        let delay_ms = (policy.delay_secs(state.failures) as i64) * 1000;
        let allowed_at = state.last_failure_ms + delay_ms;
        if delay_ms > 0 && allowed_at > now_ms {
            return Err(Blocked::Wait { retry_after_secs: ceil_secs(allowed_at - now_ms) });
        }
        Ok(())
    }

    /// The state after one more failure at `now`.
    pub fn after_failure(self, now_ms: i64, policy: &ThrottlePolicy) -> Self {
        let state = self.current(now_ms, policy);
        let failures = state.failures.saturating_add(1);
        let locked_until_ms = if failures >= policy.lock_after {
            now_ms + (policy.lock_secs as i64) * 1000
        } else {
            state.locked_until_ms
        };
        Self { failures, last_failure_ms: now_ms, locked_until_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ThrottlePolicy = ThrottlePolicy::ACCOUNT;

    fn fail_n(n: u32, every_ms: i64) -> (ThrottleState, i64) {
        let mut state = ThrottleState::default();
        let mut now = 1_000_000;
        for _ in 0..n {
            now += every_ms;
            state = state.after_failure(now, &P);
        }
        (state, now)
    }

    #[test]
    fn free_failures_need_no_wait() {
        let (state, now) = fail_n(3, 10);
        assert_eq!(state.check(now, &P), Ok(()));
    }

    #[test]
    fn waits_double_after_the_free_failures() {
        let (state, now) = fail_n(4, 10);
        assert_eq!(state.check(now, &P), Err(Blocked::Wait { retry_after_secs: 1 }));
        assert_eq!(state.check(now + 1_000, &P), Ok(()));
        let (state, now) = fail_n(6, 10);
        assert_eq!(state.check(now, &P), Err(Blocked::Wait { retry_after_secs: 4 }));
        let (state, now) = fail_n(9, 10);
        assert_eq!(state.check(now, &P), Err(Blocked::Wait { retry_after_secs: 32 }));
    }

    #[test]
    fn wait_is_capped() {
        let policy = ThrottlePolicy { lock_after: 100, ..P };
        let mut state = ThrottleState::default();
        for i in 0..40 {
            state = state.after_failure(1_000 + i, &policy);
        }
        assert_eq!(state.check(1_040, &policy), Err(Blocked::Wait { retry_after_secs: 60 }));
    }

    #[test]
    fn locks_after_the_limit_and_unlocks_later() {
        let (state, now) = fail_n(10, 10);
        let blocked = state.check(now, &P).unwrap_err();
        assert_eq!(blocked, Blocked::Locked { retry_after_secs: 15 * 60 });
        assert!(blocked.message().contains("15 minutes"));
        assert_eq!(state.check(now + 15 * 60 * 1000 + 1, &P), Ok(()));
    }

    #[test]
    fn quiet_time_forgets_failures() {
        let (state, now) = fail_n(8, 10);
        let later = now + 16 * 60 * 1000;
        assert_eq!(state.check(later, &P), Ok(()));
        assert_eq!(state.after_failure(later, &P).failures, 1);
    }

    #[test]
    fn messages_are_readable() {
        assert_eq!(
            Blocked::Wait { retry_after_secs: 8 }.message(),
            "Too many failed sign-in attempts. Wait 8 seconds and try again."
        );
        assert!(Blocked::Wait { retry_after_secs: 1 }.message().contains("1 second "));
    }
}
