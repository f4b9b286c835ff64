//! The visitor hash: a keyed hash of (daily salt, site, address, user agent). It tells one
//! visitor's events apart from another's for a day, and cannot be turned back into an address:
//! the salt is random, lives only in the store, and is deleted after 48 hours, after which
//! nobody (us included) can recompute a hash from an address.

use std::net::IpAddr;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Mutex;

use crate::store::{Db, StoreError};

const SALT_PREFIX: &str = "visitor-salt/";
const SALT_LEN: usize = 32;
/// A salt is deleted this long after it was created.
pub const SALT_LIFETIME_MS: i64 = 48 * 60 * 60 * 1000;

struct Day {
    /// The UTC date, `2026-11-25`.
    date: String,
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
}

/// Today's and yesterday's salts, read from the store once a day per node.
pub struct Salts {
    db: Db,
    /// Shared rather than cloned: every event reads it.
    day: Mutex<Option<Arc<Day>>>,
}

/// The hashes of one request: with today's salt and, while it exists, yesterday's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitorHashes {
    pub current: i64,
    pub previous: Option<i64>,
}

fn utc_date(ts_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ts_ms)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

fn hash(salt: &[u8], site: i64, ip: IpAddr, user_agent: &str) -> i64 {
    // HMAC accepts keys of any length, so new_from_slice cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(salt) else {
        return 0;
    };
    mac.update(&site.to_be_bytes());
    let ip16 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    mac.update(&ip16);
    mac.update(user_agent.as_bytes());
    let out = mac.finalize().into_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out[..8]);
    of_digest(u64::from_be_bytes(first))
}

/// How many bits of the digest a hash keeps: enough that two of a site's visitors share one
/// about once in 10^14 pairs, few enough that SQLite stores it in 6 bytes rather than 8 (in
/// each visit and each visitor's day; migration 0024 cut the stored hashes the same way).
pub const HASH_BITS: u32 = 47;

/// The hash of a digest's first 64 bits: their first [`HASH_BITS`].
fn of_digest(first: u64) -> i64 {
    (first >> (64 - HASH_BITS)) as i64
}

impl Salts {
    pub fn new(db: Db) -> Salts {
        Salts {
            db,
            day: Mutex::new(None),
        }
    }

    /// The visitor hashes for an event at `ts_ms`.
    pub async fn hashes(
        &self,
        ts_ms: i64,
        site: i64,
        ip: IpAddr,
        user_agent: &str,
    ) -> Result<VisitorHashes, StoreError> {
        let day = self.day_of(ts_ms).await?;
        Ok(VisitorHashes {
            current: hash(&day.current, site, ip, user_agent),
            previous: day.previous.as_ref().map(|s| hash(s, site, ip, user_agent)),
        })
    }

    async fn day_of(&self, ts_ms: i64) -> Result<Arc<Day>, StoreError> {
        let date = utc_date(ts_ms);
        let mut guard = self.day.lock().await;
        if let Some(day) = guard.as_ref()
            && day.date == date
        {
            return Ok(Arc::clone(day));
        }
        let current =
            crate::store::secrets::shared(&self.db, &format!("{SALT_PREFIX}{date}"), SALT_LEN)
                .await?;
        let yesterday = utc_date(ts_ms - 24 * 60 * 60 * 1000);
        let previous =
            crate::store::secrets::existing(&self.db, &format!("{SALT_PREFIX}{yesterday}")).await?;
        let deleted =
            crate::store::secrets::delete_older(&self.db, SALT_PREFIX, ts_ms - SALT_LIFETIME_MS)
                .await?;
        if deleted > 0 {
            tracing::info!(deleted, "deleted visitor salts older than 48 hours");
        }
        let day = Arc::new(Day {
            date,
            current,
            previous,
        });
        *guard = Some(Arc::clone(&day));
        Ok(day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_depends_on_every_input() {
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let base = hash(b"salt-a", 1, ip, "UA");
        assert_eq!(base, hash(b"salt-a", 1, ip, "UA"));
        assert_ne!(base, hash(b"salt-b", 1, ip, "UA"));
        assert_ne!(base, hash(b"salt-a", 2, ip, "UA"));
        assert_ne!(
            base,
            hash(b"salt-a", 1, "198.51.100.8".parse().unwrap(), "UA")
        );
        assert_ne!(base, hash(b"salt-a", 1, ip, "UA2"));
    }

    #[test]
    fn a_hash_is_the_digest_cut_to_47_bits_and_fits_six_bytes() {
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        for salt in [&b"salt-a"[..], b"salt-b", b"c"] {
            let h = hash(salt, 1, ip, "UA");
            assert!((0..1 << 47).contains(&h), "{h}");
        }
        // The digest's first bits, as migration 0024 cut the stored hashes:
        // (old >> 17) & (2^47 - 1), the old being the first 64 bits as a signed number.
        let old: i64 = -0x1234_5678_9abc_def0;
        assert_eq!(of_digest(old as u64), (old >> 17) & ((1 << 47) - 1));
        assert_eq!(of_digest(u64::MAX), (1 << 47) - 1);
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(86_400_000 - 1), "1970-01-01");
        assert_eq!(utc_date(86_400_000), "1970-01-02");
    }
}
