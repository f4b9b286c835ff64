//! `lm_consent`, the consent-preference cookie: strictly necessary, first party, readable by
//! consent.js (not HttpOnly), `SameSite=Lax`, `Secure` on https, at most six months.
//!
//! Its value is `v1.PAYLOAD.MAC`: PAYLOAD the base64url of a small JSON object (categories,
//! consent ID, policy revision, time in seconds), MAC the base64url of an HMAC-SHA256 over
//! `v1.PAYLOAD` with a key the nodes share. consent.js reads the payload; the server trusts
//! only a value whose MAC checks and whose time is within the six months. Anything else
//! (tampered, malformed, expired, from another instance) counts as no consent.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::registry::{CONSENT_MAX_AGE_DAYS, Category, SetCookie};

const VERSION: &str = "v1";
/// The longest value accepted before any work is done on it.
const MAX_LEN: usize = 512;
pub const MAX_AGE_SECS: i64 = CONSENT_MAX_AGE_DAYS * 24 * 3600;

/// What the cookie says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The accepted categories (never `necessary`, which needs no consent).
    #[serde(rename = "c")]
    pub categories: Vec<Category>,
    /// The consent ID, as stored in the proof log.
    #[serde(rename = "id")]
    pub consent_id: String,
    /// The policy revision the choice was made under.
    #[serde(rename = "r")]
    pub revision: String,
    /// When, in seconds since the Unix epoch.
    #[serde(rename = "t")]
    pub time: i64,
}

/// Signs and checks cookie values with the shared key.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    pub fn new(key: Vec<u8>) -> Signer {
        Signer { key }
    }

    fn mac(&self, signed: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(signed.as_bytes());
        mac
    }

    /// The cookie value for `stored`.
    pub fn sign(&self, stored: &Stored) -> String {
        let json = serde_json::to_vec(stored).unwrap_or_default();
        let signed = format!("{VERSION}.{}", B64.encode(json));
        let tag = self.mac(&signed).finalize().into_bytes();
        format!("{signed}.{}", B64.encode(tag))
    }

    /// The choice a cookie value holds, if its MAC checks and it is not older than six
    /// months at `now_secs` (nor from the future, beyond a minute of clock skew).
    pub fn verify(&self, value: &str, now_secs: i64) -> Option<Stored> {
        if value.len() > MAX_LEN {
            return None;
        }
        let (signed, tag) = value.rsplit_once('.')?;
        let payload = signed.strip_prefix(VERSION)?.strip_prefix('.')?;
        let tag = B64.decode(tag).ok()?;
        // Constant time.
        self.mac(signed).verify_slice(&tag).ok()?;
        let stored: Stored = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        let age = now_secs - stored.time;
        if !(-60..MAX_AGE_SECS).contains(&age) || stored.categories.contains(&Category::Necessary) {
            return None;
        }
        Some(stored)
    }
}

/// The cookie for a choice. `https` when the instance is served over https (then Secure).
pub fn set_cookie(value: String, https: bool) -> SetCookie {
    SetCookie::new(&crate::registry::cookie::CONSENT, value, https)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(time: i64) -> Stored {
        Stored {
            categories: vec![Category::Analytics],
            consent_id: "c_abc".to_owned(),
            revision: "0123456789abcdef".to_owned(),
            time,
        }
    }

    #[test]
    fn a_signed_value_verifies_and_nothing_else_does() {
        let s = Signer::new(b"key one".to_vec());
        let now = 1_800_000_000;
        let v = s.sign(&stored(now));
        assert!(v.starts_with("v1.") && v.len() < 200, "{v}");
        assert_eq!(s.verify(&v, now), Some(stored(now)));
        // Another instance's key.
        assert_eq!(Signer::new(b"key two".to_vec()).verify(&v, now), None);
        // Any byte changed.
        for i in 0..v.len() {
            let mut b = v.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(b).unwrap();
            if t != v {
                assert_eq!(s.verify(&t, now), None, "changed at {i}: {t}");
            }
        }
        // The payload swapped for one that grants more, keeping the MAC.
        let (_, tag) = v.rsplit_once('.').unwrap();
        let mut more = stored(now);
        more.categories.push(Category::Advertising);
        let forged = format!(
            "v1.{}.{tag}",
            B64.encode(serde_json::to_vec(&more).unwrap())
        );
        assert_eq!(s.verify(&forged, now), None);
        for bad in ["", ".", "v1..", "v2.e30.AAAA", "garbage", &"x".repeat(600)] {
            assert_eq!(s.verify(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn a_choice_lasts_six_months_at_most() {
        let s = Signer::new(b"k".to_vec());
        let then = 1_800_000_000;
        let v = s.sign(&stored(then));
        assert!(s.verify(&v, then + MAX_AGE_SECS - 1).is_some());
        assert_eq!(s.verify(&v, then + MAX_AGE_SECS), None);
        assert_eq!(s.verify(&v, then - 3600), None, "from the future");
        let on_https = set_cookie(v.clone(), true).to_string();
        for part in [
            format!("Max-Age={MAX_AGE_SECS}"),
            "SameSite=Lax".to_owned(),
            "Secure".to_owned(),
            "Path=/".to_owned(),
        ] {
            assert!(on_https.contains(&part), "{part}: {on_https}");
        }
        assert!(!set_cookie(v.clone(), false).to_string().contains("Secure"));
        assert!(!on_https.contains("HttpOnly"), "consent.js reads it");
    }

    #[test]
    fn necessary_is_not_a_choice() {
        let s = Signer::new(b"k".to_vec());
        let mut st = stored(1_800_000_000);
        st.categories = vec![Category::Necessary];
        assert_eq!(s.verify(&s.sign(&st), 1_800_000_000), None);
    }
}
