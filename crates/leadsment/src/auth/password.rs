//! Password hashing: Argon2id with OWASP's minimum (19 MiB, 2 iterations, 1 lane), always off
//! the async runtime. Unknown accounts are verified against a dummy hash, so the time an
//! answer takes does not reveal whether an account exists (zero2prod's habit).
//!
//! Every hash and every check goes through one [`Hasher`], which lets as many run at once as
//! the machine has cores: each takes a core and 19 MiB for tens of milliseconds, so a crowd
//! of password forms must not get more than that. A bounded number may wait for a core
//! (`password_hash_queue`, 64 by default); past that, requests are refused at once with
//! [`HashError::Busy`], which the HTTP edge answers 503 with `Retry-After`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::users::Password;
use crate::web::error::AppError;

/// Memory in KiB, iterations, lanes.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

fn argon2() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&super::tokens::random_bytes::<16>())
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?
        .to_string())
}

/// A hash of a random password, computed once, for unknown accounts.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking(&super::tokens::random_token()).unwrap_or_else(|_| {
            // A valid hash with the same cost, used only if hashing itself failed.
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
             CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
                .to_owned()
        })
    })
}

fn verify_blocking(password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
    let (phc, real) = match stored {
        Some(h) => (h, true),
        None => (dummy_hash(), false),
    };
    let parsed = PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
    let ok = argon2()?
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    Ok(ok && real)
}

/// Waiters allowed by default, past the ones running on every core.
pub const DEFAULT_QUEUE: usize = 64;

/// What a refused request is told to wait, in seconds.
pub const BUSY_RETRY_AFTER_SECS: u64 = 2;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every core is hashing and the queue is full.
    #[error("every core is hashing passwords and the queue is full")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<HashError> for AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AppError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The server is busy checking other passwords. Try again in a few seconds.",
            )
            .with_header(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(BUSY_RETRY_AFTER_SECS),
            ),
            HashError::Failed(e) => AppError::internal(e),
        }
    }
}

fn closed() -> HashError {
    HashError::Failed(anyhow::anyhow!("the password hasher is closed"))
}

/// The one way to hash and check passwords: at most one Argon2 computation per core at a
/// time. Cheap to clone; clones share the limit.
#[derive(Clone)]
pub struct Hasher(Arc<HasherInner>);

struct HasherInner {
    permits: Arc<Semaphore>,
    size: usize,
    /// Requests that may wait for a core; more are refused.
    queue: usize,
    waiting: AtomicUsize,
    metrics: HashMetrics,
}

#[derive(Clone)]
struct HashMetrics {
    /// Argon2 computations done, by `op` (`hash` or `verify`).
    computed: IntCounterVec,
    waiting: IntGauge,
    /// Requests refused because the queue was full.
    refused: IntCounter,
}

impl HashMetrics {
    fn new() -> Result<HashMetrics, prometheus::Error> {
        let computed = IntCounterVec::new(
            Opts::new(
                "leadsment_password_hashes_total",
                "Argon2 computations done: new passwords hashed (op=hash) and passwords checked (op=verify).",
            ),
            &["op"],
        )?;
        for op in ["hash", "verify"] {
            computed.with_label_values(&[op]);
        }
        let waiting = IntGauge::new(
            "leadsment_password_hash_waiting",
            "Password hashes and checks waiting for a free core.",
        )?;
        let refused = IntCounter::new(
            "leadsment_password_hash_refused_total",
            "Password hashes and checks refused (503) because every core was busy and the queue was full.",
        )?;
        Ok(HashMetrics {
            computed,
            waiting,
            refused,
        })
    }
}

/// Counts a waiting request for as long as it waits, cancelled or not.
struct Waiting<'a>(&'a HasherInner);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.waiting.dec();
    }
}

impl Hasher {
    /// A hasher that runs as many computations at once as the machine has cores, and lets
    /// `queue` more wait.
    pub fn for_this_machine(queue: usize) -> Result<Hasher, prometheus::Error> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Hasher::new(cores, queue)
    }

    /// A hasher that runs at most `size` computations at once and lets `queue` more wait.
    pub fn new(size: usize, queue: usize) -> Result<Hasher, prometheus::Error> {
        let size = size.max(1);
        Ok(Hasher(Arc::new(HasherInner {
            permits: Arc::new(Semaphore::new(size)),
            size,
            queue,
            waiting: AtomicUsize::new(0),
            metrics: HashMetrics::new()?,
        })))
    }

    /// Adds the hasher's metrics to `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.0.metrics.computed.clone()))?;
        registry.register(Box::new(self.0.metrics.waiting.clone()))?;
        registry.register(Box::new(self.0.metrics.refused.clone()))?;
        Ok(())
    }

    /// Computations allowed at once.
    pub fn size(&self) -> usize {
        self.0.size
    }

    /// Requests waiting for a free core now.
    pub fn waiting(&self) -> usize {
        self.0.waiting.load(Ordering::SeqCst)
    }

    /// Requests refused so far because the queue was full.
    pub fn refused(&self) -> u64 {
        self.0.metrics.refused.get()
    }

    /// Argon2 computations done so far (hashes and checks).
    pub fn computed(&self) -> u64 {
        ["hash", "verify"]
            .iter()
            .map(|op| self.0.metrics.computed.with_label_values(&[*op]).get())
            .sum()
    }

    /// Takes every core until the guard is dropped, as though each were busy hashing:
    /// requests meanwhile wait, or are refused past the queue. For tests, which fill the
    /// queue this way without racing real hashes.
    pub async fn occupy_all(&self) -> Result<OwnedSemaphorePermit, HashError> {
        let n = u32::try_from(self.0.size).unwrap_or(u32::MAX);
        self.0
            .permits
            .clone()
            .acquire_many_owned(n)
            .await
            .map_err(|_| closed())
    }

    /// A free core, after waiting for one if the queue has room.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, HashError> {
        if let Ok(p) = self.0.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        // Counted first, then checked: two requests racing for the last place cannot both
        // get it.
        let ahead = self.0.waiting.fetch_add(1, Ordering::SeqCst);
        self.0.metrics.waiting.inc();
        let _waiting = Waiting(&self.0);
        if ahead >= self.0.queue {
            self.0.metrics.refused.inc();
            return Err(HashError::Busy);
        }
        self.0
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| closed())
    }

    /// Runs `work` on a blocking thread once a core is free. The permit goes with the work:
    /// a request given up by its client still holds its core until the computation ends.
    async fn run<T: Send + 'static>(
        &self,
        op: &'static str,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = self.permit().await?;
        let computed = self.0.metrics.computed.with_label_values(&[op]);
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            computed.inc();
            work()
        })
        .await
        .context("the hashing task failed")?;
        Ok(result?)
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for the password.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        self.run("hash", move || hash_blocking(&password)).await
    }

    /// Whether `password` matches `stored`; with `None` (no such account, or no password
    /// yet) the work is the same and the answer is false.
    pub async fn verify(&self, password: &str, stored: Option<String>) -> Result<bool, HashError> {
        let password = password.to_owned();
        self.run("verify", move || {
            verify_blocking(&password, stored.as_deref())
        })
        .await
    }
}

/// Computes the dummy hash now, so the first unknown sign-in is not faster than the others.
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(|| {
        dummy_hash();
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_use_argon2id_with_owasp_parameters_and_verify() {
        let hasher = Hasher::for_this_machine(DEFAULT_QUEUE).unwrap();
        let pw = Password::parse("correct horse battery").unwrap();
        let h = hasher.hash(&pw).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        let verify = |pw: &'static str, stored: Option<String>| {
            let hasher = hasher.clone();
            async move { hasher.verify(pw, stored).await.unwrap() }
        };
        assert!(verify("correct horse battery", Some(h.clone())).await);
        assert!(!verify("wrong horse battery", Some(h)).await);
        assert!(!verify("correct horse battery", None).await);
        assert_eq!(hasher.computed(), 4);
    }

    #[tokio::test]
    async fn past_the_cores_and_the_queue_requests_are_refused_at_once() {
        let hasher = Hasher::new(2, DEFAULT_QUEUE).unwrap();
        let held = hasher.occupy_all().await.unwrap();
        let mut waiting = Vec::new();
        for _ in 0..DEFAULT_QUEUE {
            let h = hasher.clone();
            waiting.push(tokio::spawn(async move { h.verify("guess", None).await }));
        }
        while hasher.waiting() < DEFAULT_QUEUE {
            tokio::task::yield_now().await;
        }
        // The 65th waiter is refused without waiting.
        assert!(matches!(
            hasher.verify("guess", None).await,
            Err(HashError::Busy)
        ));
        assert_eq!((hasher.refused(), hasher.computed()), (1, 0));
        // A waiter whose request is given up leaves its place to another.
        waiting.pop().unwrap().abort();
        while hasher.waiting() == DEFAULT_QUEUE {
            tokio::task::yield_now().await;
        }
        let h = hasher.clone();
        waiting.push(tokio::spawn(async move { h.verify("guess", None).await }));
        drop(held);
        for w in waiting {
            assert!(!w.await.unwrap().unwrap());
        }
        assert_eq!(hasher.waiting(), 0);
        assert_eq!(hasher.computed(), DEFAULT_QUEUE as u64);
    }

    #[test]
    fn busy_is_503_with_retry_after() {
        use axum::response::IntoResponse;
        let r = AppError::from(HashError::Busy).into_response();
        assert_eq!(r.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "2");
    }
}
