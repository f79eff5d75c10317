//! Argon2id password hashing, off the async runtime and bounded: each hash holds about 19 MiB
//! and a core for tens of milliseconds, so at most [`max_concurrent`] run at once, each on a
//! thread kept for hashing. A request that
//! cannot get a turn within [`WAIT_FOR_TURN`] is answered 503 with `Retry-After` instead of piling
//! up on the blocking pool (which would let a flood of sign-ins take gigabytes).

use crate::domain::Password;
use crate::error::AppError;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a hash waits for its turn before the request is refused as busy.
pub const WAIT_FOR_TURN: Duration = Duration::from_secs(3);

/// What a refused request is told to wait before trying again.
const RETRY_AFTER_SECS: u64 = 2;

/// How many hashes run at once: one per core, at least two.
pub fn max_concurrent() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)
}

static TURNS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(max_concurrent()));
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The most hashes this process has run at the same moment (never above [`max_concurrent`]).
pub fn most_running_at_once() -> usize {
    MOST_RUNNING.load(Ordering::Relaxed)
}

/// One hash's turn, counted while it runs.
struct Turn(#[allow(dead_code)] SemaphorePermit<'static>);

impl Turn {
    async fn take() -> Result<Self, AppError> {
        Self::take_within(WAIT_FOR_TURN).await
    }

    async fn take_within(wait: Duration) -> Result<Self, AppError> {
        match tokio::time::timeout(wait, TURNS.acquire()).await {
            Ok(Ok(permit)) => {
                let running = RUNNING.fetch_add(1, Ordering::Relaxed) + 1;
                MOST_RUNNING.fetch_max(running, Ordering::Relaxed);
                Ok(Self(permit))
            }
            Ok(Err(closed)) => Err(AppError::internal(closed)),
            Err(_) => {
                tracing::warn!(waited_ms = wait.as_millis() as u64, "password hashing busy: refused");
                Err(AppError::Busy { retry_after_secs: RETRY_AFTER_SECS })
            }
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The threads hashes run on: [`max_concurrent`] of their own, started on first use. Not
/// Tokio's blocking pool, which starts threads as it likes: each thread's allocator arena keeps
/// the 19 MiB of the last hash it ran, so a few dozen passing threads held hundreds of MiB.
static HASHERS: LazyLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> = LazyLock::new(|| {
    let (jobs, queue) = std::sync::mpsc::channel::<Job>();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
    for n in 0..max_concurrent() {
        let queue = queue.clone();
        let started = std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || {
            loop {
                let job = queue.lock().map_err(|_| ()).and_then(|queue| queue.recv().map_err(|_| ()));
                match job {
                    Ok(job) => job(),
                    Err(()) => return,
                }
            }
        });
        if let Err(error) = started {
            tracing::error!(%error, "could not start a password hashing thread");
        }
    }
    std::sync::Mutex::new(jobs)
});

/// Runs `work` on a hashing thread once a turn is free, or answers [`AppError::Busy`].
async fn in_turn<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let turn = Turn::take().await?;
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    HASHERS
        .lock()
        .map_err(|_| AppError::internal("the password hashing queue is poisoned"))?
        .send(job)
        .map_err(|_| AppError::internal("the password hashing threads have stopped"))?;
    let result = result.await.map_err(|_| AppError::internal("a password hashing job was dropped"))?;
    drop(turn);
    result
}

/// Hashes a new password (argon2id, the crate's recommended parameters).
pub async fn hash(password: Password) -> Result<String, AppError> {
    in_turn(move || hash_blocking(password.expose())).await
}

thread_local! {
    /// Argon2's working memory (about 19 MiB), kept by each hashing thread and used again for
    /// every hash it runs. Allocated afresh per hash, the system allocator ends up keeping
    /// several copies in its arenas: a flood of sign-ins measured hundreds of MiB that way.
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs argon2 for `params` into `out`, in this thread's kept memory.
fn argon2_into(argon: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), AppError> {
    let count = argon.params().block_count();
    BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < count {
            blocks.resize(count, Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut blocks[..count]).map_err(AppError::internal)
    })
}

fn hash_blocking(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    let argon = Argon2::default();
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes).map_err(AppError::internal)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon, password.as_bytes(), salt_bytes, &mut out)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(AppError::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(AppError::internal)?),
    };
    Ok(hash.to_string())
}

/// Whether `candidate` gives the stored PHC hash, under the stored hash's own parameters.
fn verify_blocking(candidate: &[u8], stored: &str) -> Result<bool, AppError> {
    let parsed = PasswordHash::new(stored).map_err(AppError::internal)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(AppError::internal)?;
    let version = parsed.version.map(Version::try_from).transpose().map_err(AppError::internal)?.unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(AppError::internal)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(AppError::internal("a stored password hash has no salt or no output"));
    };
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(AppError::internal)?;
    let mut out = vec![0u8; expected.len()];
    argon2_into(&Argon2::new(algorithm, version, params), candidate, salt_bytes, &mut out)?;
    // `Output`'s equality takes the same time however much of it matches.
    Ok(Output::new(&out).map_err(AppError::internal)? == expected)
}

/// A hash of nothing in particular, verified against when the account does not exist so that an
/// unknown email takes as long to refuse as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("gatehouse-dummy-password").unwrap_or_default())
}

/// Whether `candidate` matches `stored`; with no stored hash, does the same work and says no.
/// A candidate longer than [`Password::MAX_CHARS`] is refused (422) before any work.
pub async fn verify(candidate: String, stored: Option<String>) -> Result<bool, AppError> {
    Password::check_length_to_verify(&candidate, "password")?;
    in_turn(move || {
        let (hash, real) = match &stored {
            Some(hash) => (hash.as_str(), true),
            None => (dummy_hash(), false),
        };
        let matches = verify_blocking(candidate.as_bytes(), hash)?;
        Ok(real && matches)
    })
    .await
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

    /// With every turn taken, the next hash waits, then is refused as busy (503, Retry-After);
    /// a turn given back is taken at once.
    #[tokio::test]
    async fn past_the_wait_a_hash_is_refused_as_busy() {
        let all = TURNS.acquire_many(max_concurrent() as u32).await.unwrap();
        let refused = Turn::take_within(Duration::from_millis(50)).await.err();
        assert_eq!(refused, Some(AppError::Busy { retry_after_secs: RETRY_AFTER_SECS }));
        assert_eq!(refused.map(|e| (e.status(), e.retry_after_secs())), Some((503, Some(RETRY_AFTER_SECS))));
        drop(all);
        assert!(Turn::take_within(Duration::from_millis(50)).await.is_ok());
    }

    /// Hashes stored before (made by the argon2 crate itself) verify, and ours verify with it.
    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"correct horse battery", &salt).unwrap().to_string();
        assert!(verify("correct horse battery".into(), Some(theirs.clone())).await.unwrap());
        assert!(!verify("correct horse batterY".into(), Some(theirs)).await.unwrap());
        let ours = hash(Password::parse("correct horse battery", "password").unwrap()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"wrong horse battery", &parsed).is_err());
        // Other parameters, as an older or tuned hash would carry: read from the hash itself.
        let light = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 3, 1, None).unwrap());
        let tuned = light.hash_password(b"correct horse battery", &salt).unwrap().to_string();
        assert!(verify("correct horse battery".into(), Some(tuned)).await.unwrap());
    }
}
