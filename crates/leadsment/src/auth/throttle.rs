//! Login throttling. Per account: failures counted in the store under a keyed hash of the
//! email address (so several nodes agree, and unknown addresses are throttled alike), with an
//! exponential back-off capped at 15 minutes. Per client address: token buckets in memory
//! (governor), keyed by the address and never written anywhere: one for sign-ins (and the
//! account page's password checks), one for the other password forms (sign-up, first-run
//! setup, reset, reset request), one per hour for the forms that send email (sign-up, reset
//! and sign-in link requests, verification again, email change, invitations), and one for
//! failed API keys ([`FailureGate`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;

/// Failed sign-ins allowed before the back-off starts.
pub const FREE_FAILURES: i64 = 3;
/// The longest wait.
pub const MAX_BACKOFF_MS: i64 = 15 * 60 * 1000;

/// The wait after `failures` failed attempts: none for the first three, then 2 s, 4 s, 8 s…
/// up to 15 minutes.
pub fn backoff_ms(failures: i64) -> i64 {
    if failures <= FREE_FAILURES {
        return 0;
    }
    let exp = (failures - FREE_FAILURES).min(20) as u32;
    (1000_i64 << exp).min(MAX_BACKOFF_MS)
}

/// Failures older than this are forgotten: a day without failures starts the count afresh.
pub const FAILURES_FORGOTTEN_AFTER_MS: i64 = 24 * 3600 * 1000;

/// The count of failures after one more at `now`, given the stored count and the time of
/// the last failure.
pub fn next_failures(stored: Option<(i64, i64)>, now: i64) -> i64 {
    match stored {
        Some((n, last)) if now - last < FAILURES_FORGOTTEN_AFTER_MS => n + 1,
        _ => 1,
    }
}

/// Counts a failed sign-in under `key` (a keyed hash of the email address) and returns the
/// time until which the account is blocked.
pub async fn record_failure(
    db: &crate::store::Db,
    key: &[u8],
) -> Result<i64, crate::store::StoreError> {
    let now = crate::store::now_ms();
    let mut tx = db.begin().await?;
    let failures = next_failures(super::store::login_failures(&mut tx, key).await?, now);
    let until = now + backoff_ms(failures);
    super::store::set_login_failures(&mut tx, key, failures, until, now).await?;
    tx.commit().await?;
    Ok(until)
}

/// Token buckets per key, in memory: a client address, or an API key's id.
pub struct Limiter<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

/// Per client address (its limiter key, `web::client_addr::limiter_key`).
pub type AddressLimiter = Limiter<IpAddr>;

/// Per API key, by the key's id (`api_requests_per_key_per_minute`).
pub type KeyLimiter = Limiter<i64>;

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(per_minute: u32) -> Limiter<K> {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Limiter {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// `per_hour` at once, then one more every hour / `per_hour`.
    pub fn per_hour(per_hour: u32) -> Limiter<K> {
        let n = NonZeroU32::new(per_hour).unwrap_or(NonZeroU32::MIN);
        Limiter {
            limiter: RateLimiter::keyed(Quota::per_hour(n)),
        }
    }

    /// `Err(wait)` when `key` has used up its attempts.
    pub fn check(&self, key: K) -> Result<(), Duration> {
        let result = self
            .limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()));
        // Forget keys whose buckets are full again, so memory stays bounded.
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        result
    }
}

impl AddressLimiter {
    /// [`AddressLimiter::check`] for a form: past the client's budget, 429 with
    /// `Retry-After` and a message that says how long to wait.
    pub fn admit(&self, client: ClientAddr) -> Result<(), AppError> {
        self.check(client.limiter_key()).map_err(|wait| {
            let ms = wait_ms(wait);
            AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "Too many requests from your network. Try again in {}.",
                    wait_text(ms)
                ),
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(ms)))
        })
    }
}

/// Failed attempts per client address where the attempt itself must not be tried once the
/// address is past its budget: an API key guessed at full speed would otherwise learn from a
/// `200` which guess was right even while its wrong ones are refused. An [`AddressLimiter`]
/// spent by failures only, and, for each address it refused, the time until which every
/// attempt from it is refused untried.
pub struct FailureGate {
    limiter: AddressLimiter,
    refused_until: Mutex<HashMap<IpAddr, Instant>>,
}

impl FailureGate {
    pub fn new(per_minute: u32) -> FailureGate {
        FailureGate {
            limiter: AddressLimiter::new(per_minute),
            refused_until: Mutex::new(HashMap::new()),
        }
    }

    fn refused(&self) -> MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.refused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Before an attempt: `Err(wait)` while `client` waits after using up its failures.
    pub fn admit(&self, client: ClientAddr) -> Result<(), Duration> {
        let key = client.limiter_key();
        let now = Instant::now();
        let mut refused = self.refused();
        match refused.get(&key) {
            Some(until) if *until > now => Err(*until - now),
            Some(_) => {
                refused.remove(&key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// After a failed attempt: counts it; `Err(wait)` when it was one too many, and from
    /// then on [`FailureGate::admit`] refuses the address for `wait`.
    pub fn failed(&self, client: ClientAddr) -> Result<(), Duration> {
        let key = client.limiter_key();
        self.limiter.check(key).inspect_err(|wait| {
            let now = Instant::now();
            let mut refused = self.refused();
            // Forget the waits that are over, so memory stays bounded.
            if refused.len() > 10_000 {
                refused.retain(|_, until| *until > now);
            }
            refused.insert(key, now + *wait);
        })
    }
}

pub fn wait_ms(wait: Duration) -> i64 {
    i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)
}

/// Whole seconds to wait, at least one.
pub fn retry_after_secs(wait_ms: i64) -> i64 {
    (wait_ms.saturating_add(999) / 1000).max(1)
}

/// "40 seconds", "3 minutes".
pub fn wait_text(wait_ms: i64) -> String {
    let secs = retry_after_secs(wait_ms);
    if secs < 90 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", (secs + 59) / 60)
    }
}

/// A page answered 429, with `Retry-After`.
pub fn too_many(wait_ms: i64, mut page: Response) -> Response {
    *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    page.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(wait_ms)),
    );
    page
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_day_without_failures_starts_the_count_afresh() {
        let day = super::FAILURES_FORGOTTEN_AFTER_MS;
        assert_eq!(super::next_failures(None, 1_000), 1);
        assert_eq!(super::next_failures(Some((4, 1_000)), 1_000 + day - 1), 5);
        assert_eq!(super::next_failures(Some((4, 1_000)), 1_000 + day), 1);
    }

    use super::*;

    #[test]
    fn the_back_off_doubles_and_is_capped_at_15_minutes() {
        assert_eq!(backoff_ms(1), 0);
        assert_eq!(backoff_ms(3), 0);
        assert_eq!(backoff_ms(4), 2_000);
        assert_eq!(backoff_ms(5), 4_000);
        assert_eq!(backoff_ms(12), 512_000);
        assert_eq!(backoff_ms(13), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(1_000), MAX_BACKOFF_MS);
    }

    #[test]
    fn an_address_gets_its_quota_then_a_wait() {
        let l = AddressLimiter::new(3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(ip).is_ok());
        }
        let wait = l.check(ip).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(l.check("192.0.2.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn an_address_past_its_failures_is_refused_before_trying() {
        let gate = FailureGate::new(2);
        let (a, b) = (
            ClientAddr("192.0.2.1".parse().unwrap()),
            ClientAddr("192.0.2.2".parse().unwrap()),
        );
        for _ in 0..2 {
            assert!(gate.admit(a).is_ok());
            assert!(gate.failed(a).is_ok());
        }
        // Admitted until a failure is one too many; from then on refused before trying.
        assert!(gate.admit(a).is_ok());
        let wait = gate.failed(a).unwrap_err();
        assert!(wait <= Duration::from_secs(30), "{wait:?}");
        let left = gate.admit(a).unwrap_err();
        assert!(left > Duration::ZERO && left <= wait, "{left:?}");
        assert!(gate.admit(b).is_ok());
    }
}
