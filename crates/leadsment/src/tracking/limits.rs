//! The events API's rate limits: events a minute per client of a site
//! (`events_per_client_per_minute`) and, when set, per site (`events_per_site_per_minute`).
//!
//! Each node counts in its own memory: behind a load balancer, a client may send up to the
//! limit to every node. A client is its limiter key (an IPv4 address, an IPv6 /64; see
//! `web::client_addr::limiter_key`), held in memory only, and only while its allowance is
//! not whole again: keys whose bucket has refilled are forgotten, so memory follows the
//! clients of about the last minute, never every address ever seen.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::accounts::sites::SiteId;

/// The limit an event ran into, and the wait until the next event would be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// The client sent its events of the minute to this site.
    Client(Duration),
    /// The site received its events of the minute on this node.
    Site(Duration),
}

impl Limited {
    /// The wait in whole seconds, at least one (for `Retry-After`).
    pub fn retry_after_secs(self) -> u64 {
        let (Limited::Client(wait) | Limited::Site(wait)) = self;
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// The limits of one node.
pub struct EventLimits<C: Clock = DefaultClock> {
    per_client: Option<Keyed<(SiteId, IpAddr), C>>,
    per_site: Option<Keyed<SiteId, C>>,
}

impl EventLimits {
    /// Limits of `per_client` and `per_site` events a minute; 0 is no limit.
    pub fn new(per_client: u32, per_site: u32) -> EventLimits {
        EventLimits::with_clock(per_client, per_site, DefaultClock::default())
    }
}

impl<C: Clock + Clone> EventLimits<C> {
    pub fn with_clock(per_client: u32, per_site: u32, clock: C) -> EventLimits<C> {
        EventLimits {
            per_client: NonZeroU32::new(per_client).map(|n| Keyed::new(n, clock.clone())),
            per_site: NonZeroU32::new(per_site).map(|n| Keyed::new(n, clock)),
        }
    }

    /// Takes one event of `client` (its limiter key) for `site`, or says which limit it ran
    /// into. The client's limit comes first, so one client cannot use up its site's.
    pub fn check(&self, site: SiteId, client: IpAddr) -> Result<(), Limited> {
        if let Some(limiter) = &self.per_client {
            limiter.check((site, client)).map_err(Limited::Client)?;
        }
        if let Some(limiter) = &self.per_site {
            limiter.check(site).map_err(Limited::Site)?;
        }
        Ok(())
    }
}

/// Below this many keys, none is forgotten.
const MIN_SWEEP: usize = 10_000;

/// A keyed token bucket (governor's GCRA) that forgets its idle keys.
struct Keyed<K: Hash + Eq + Clone, C: Clock> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    /// The number of keys past which the next check sweeps.
    sweep_above: AtomicUsize,
}

impl<K: Hash + Eq + Clone, C: Clock> Keyed<K, C> {
    fn new(per_minute: NonZeroU32, clock: C) -> Keyed<K, C> {
        Keyed {
            limiter: RateLimiter::new(
                Quota::per_minute(per_minute),
                DefaultKeyedStateStore::default(),
                clock,
            ),
            sweep_above: AtomicUsize::new(MIN_SWEEP),
        }
    }

    fn check(&self, key: K) -> Result<(), Duration> {
        let result = self
            .limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()));
        self.sweep();
        result
    }

    /// Forgets the keys whose bucket is full again (they are as good as new) once the keys
    /// have doubled since the last sweep: memory stays within twice the keys in use, at a
    /// constant cost per event on average.
    fn sweep(&self) {
        let above = self.sweep_above.load(Ordering::Acquire);
        if self.limiter.len() <= above {
            return;
        }
        // One caller sweeps; the others carry on meanwhile.
        if self
            .sweep_above
            .compare_exchange(above, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        let left = self.limiter.len();
        self.sweep_above
            .store(MIN_SWEEP.max(left.saturating_mul(2)), Ordering::Release);
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_gets_its_minute_then_a_wait_and_others_do_not() {
        let clock = FakeRelativeClock::default();
        let limits = EventLimits::with_clock(3, 0, clock.clone());
        let (a, b) = (SiteId(1), SiteId(2));
        for _ in 0..3 {
            assert_eq!(limits.check(a, ip("192.0.2.1")), Ok(()));
        }
        let Err(limited @ Limited::Client(wait)) = limits.check(a, ip("192.0.2.1")) else {
            panic!("the fourth event of the minute is refused");
        };
        assert_eq!(wait, Duration::from_secs(20));
        assert_eq!(limited.retry_after_secs(), 20);
        assert_eq!(limits.check(a, ip("192.0.2.2")), Ok(()), "another client");
        assert_eq!(limits.check(b, ip("192.0.2.1")), Ok(()), "another site");
        clock.advance(Duration::from_secs(20));
        assert_eq!(
            limits.check(a, ip("192.0.2.1")),
            Ok(()),
            "one more after 20 s"
        );
        assert!(limits.check(a, ip("192.0.2.1")).is_err());
    }

    #[test]
    fn a_site_limit_counts_every_client() {
        let clock = FakeRelativeClock::default();
        let limits = EventLimits::with_clock(0, 2, clock);
        assert_eq!(limits.check(SiteId(1), ip("192.0.2.1")), Ok(()));
        assert_eq!(limits.check(SiteId(1), ip("192.0.2.2")), Ok(()));
        assert!(matches!(
            limits.check(SiteId(1), ip("192.0.2.3")),
            Err(Limited::Site(_))
        ));
        assert_eq!(limits.check(SiteId(2), ip("192.0.2.3")), Ok(()));
    }

    #[test]
    fn no_limit_when_zero() {
        let limits = EventLimits::new(0, 0);
        assert!(limits.per_client.is_none() && limits.per_site.is_none());
        for _ in 0..10_000 {
            assert_eq!(limits.check(SiteId(1), ip("192.0.2.1")), Ok(()));
        }
    }

    #[test]
    fn retry_after_rounds_up_to_a_whole_second() {
        assert_eq!(
            Limited::Client(Duration::from_millis(50)).retry_after_secs(),
            1
        );
        assert_eq!(
            Limited::Site(Duration::from_millis(1001)).retry_after_secs(),
            2
        );
        assert_eq!(Limited::Site(Duration::ZERO).retry_after_secs(), 1);
    }

    #[test]
    fn clients_whose_minute_is_over_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let limits = EventLimits::with_clock(1200, 0, clock.clone());
        let per_client = limits.per_client.as_ref().unwrap();
        // Two hundred thousand clients, a new one every millisecond (a fresh address each, as a flood
        // from many addresses would be), each sending a few events.
        let mut most = 0;
        for i in 0..200_000u32 {
            let client = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            for _ in 0..3 {
                assert_eq!(limits.check(SiteId(1), client), Ok(()));
            }
            most = most.max(per_client.keys());
            clock.advance(Duration::from_millis(1));
        }
        assert!(most <= 2 * MIN_SWEEP, "{most} keys held");
        // A client that used up its minute is still known while it waits: through sweeps
        // over 30 seconds, it gets back half its minute, not a whole new one.
        let heavy = ip("192.0.2.1");
        while limits.check(SiteId(1), heavy).is_ok() {}
        for i in 0..3 * MIN_SWEEP as u32 {
            let client = IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            let _ = limits.check(SiteId(1), client);
            clock.advance(Duration::from_millis(1));
        }
        let mut taken = 0;
        while limits.check(SiteId(1), heavy).is_ok() {
            taken += 1;
        }
        assert_eq!(taken, 600);
    }
}
