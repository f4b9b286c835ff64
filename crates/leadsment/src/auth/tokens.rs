//! Signed and random tokens: the access token, the CSRF token, refresh tokens (random, and
//! each child derived from its parent), emailed links and API keys. Secrets are stored only as
//! SHA-256 digests.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::model::SessionId;
use crate::auth::users::UserId;

type HmacSha256 = Hmac<Sha256>;

/// The keys every node must share: one master key, and a separate key per use derived from
/// it, so a token of one kind can never pass for another.
#[derive(Clone)]
pub struct Keys {
    access: Vec<u8>,
    csrf: Vec<u8>,
    refresh: Vec<u8>,
    throttle: Vec<u8>,
    mail: Vec<u8>,
}

impl Keys {
    pub fn derive(master: &[u8]) -> Keys {
        let sub = |label: &str| mac(master, label.as_bytes()).to_vec();
        Keys {
            access: sub("leadsment access token v1"),
            csrf: sub("leadsment csrf v1"),
            refresh: sub("leadsment refresh child v1"),
            throttle: sub("leadsment login throttle v1"),
            mail: sub("leadsment mail recipient v1"),
        }
    }

    // --- access tokens -------------------------------------------------------------------

    /// `payload.signature`, both base64url; the payload names the session, the user and the
    /// expiry.
    pub fn sign_access(&self, claims: &AccessClaims) -> String {
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let sig = B64.encode(mac(&self.access, payload.as_bytes()));
        format!("{payload}.{sig}")
    }

    /// The claims of a token with a valid signature, expired or not (the caller decides what
    /// an expired token means).
    pub fn verify_access(&self, token: &str) -> Option<AccessClaims> {
        let (payload, sig) = token.split_once('.')?;
        let sig = B64.decode(sig).ok()?;
        if !verify_mac(&self.access, payload.as_bytes(), &sig) {
            return None;
        }
        serde_json::from_slice(&B64.decode(payload).ok()?).ok()
    }

    // --- CSRF ----------------------------------------------------------------------------

    pub fn new_csrf(&self) -> String {
        let nonce = B64.encode(random_bytes::<18>());
        let sig = B64.encode(mac(&self.csrf, nonce.as_bytes()));
        format!("{nonce}.{sig}")
    }

    pub fn csrf_is_genuine(&self, token: &str) -> bool {
        let Some((nonce, sig)) = token.split_once('.') else {
            return false;
        };
        B64.decode(sig)
            .is_ok_and(|sig| verify_mac(&self.csrf, nonce.as_bytes(), &sig))
    }

    // --- refresh tokens ------------------------------------------------------------------

    /// The token that replaces `parent`. Deriving it (rather than drawing it at random) lets
    /// a parent presented again within the grace period get the very same child back, while
    /// only digests are stored.
    pub fn refresh_child(&self, parent: &str) -> String {
        B64.encode(mac(&self.refresh, parent.as_bytes()))
    }

    /// The key under which failed sign-ins for `email` are counted.
    pub fn throttle_key(&self, email: &str) -> Vec<u8> {
        mac(&self.throttle, email.as_bytes()).to_vec()
    }

    /// The key under which the emails sent to `email` (normalised) are counted.
    pub fn mail_recipient(&self, email: &str) -> [u8; 32] {
        mac(&self.mail, email.as_bytes())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub sid: i64,
    pub uid: i64,
    /// Expiry, milliseconds since the Unix epoch.
    pub exp: i64,
}

impl AccessClaims {
    pub fn session(&self) -> SessionId {
        SessionId(self.sid)
    }
    pub fn user(&self) -> UserId {
        UserId(self.uid)
    }
}

fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    m.update(data);
    m.finalize().into_bytes().into()
}

fn verify_mac(key: &[u8], data: &[u8], sig: &[u8]) -> bool {
    mac(key, data).ct_eq(sig).into()
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

/// A fresh random token of 256 bits, base64url.
pub fn random_token() -> String {
    B64.encode(random_bytes::<32>())
}

/// The stored form of a secret token.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Two strings compared in constant time.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_are_signed_and_tampering_is_detected() {
        let keys = Keys::derive(b"0123456789abcdef0123456789abcdef");
        let claims = AccessClaims {
            sid: 7,
            uid: 3,
            exp: 1_000,
        };
        let token = keys.sign_access(&claims);
        assert_eq!(keys.verify_access(&token), Some(claims.clone()));
        let other = Keys::derive(b"another key, another node........");
        assert_eq!(other.verify_access(&token), None);
        let (payload, sig) = token.split_once('.').unwrap();
        let forged = B64.encode(br#"{"sid":7,"uid":1,"exp":99999999999999}"#);
        assert_eq!(keys.verify_access(&format!("{forged}.{sig}")), None);
        assert_eq!(keys.verify_access(payload), None);
        assert_eq!(keys.verify_access(""), None);
    }

    #[test]
    fn csrf_tokens_are_signed_and_fresh() {
        let keys = Keys::derive(b"k");
        let a = keys.new_csrf();
        assert!(keys.csrf_is_genuine(&a));
        assert_ne!(a, keys.new_csrf());
        assert!(!keys.csrf_is_genuine("abc.def"));
        assert!(!Keys::derive(b"other").csrf_is_genuine(&a));
        // An access-token signature does not make a CSRF token.
        let access = keys.sign_access(&AccessClaims {
            sid: 1,
            uid: 1,
            exp: 1,
        });
        assert!(!keys.csrf_is_genuine(&access));
    }

    #[test]
    fn a_refresh_child_is_derived_from_its_parent_only() {
        let keys = Keys::derive(b"k");
        let parent = random_token();
        assert_eq!(keys.refresh_child(&parent), keys.refresh_child(&parent));
        assert_ne!(
            keys.refresh_child(&parent),
            keys.refresh_child(&random_token())
        );
        assert_ne!(
            Keys::derive(b"j").refresh_child(&parent),
            keys.refresh_child(&parent)
        );
    }
}
