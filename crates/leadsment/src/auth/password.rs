//! Password hashing: Argon2id with OWASP's minimum (19 MiB, 2 iterations, 1 lane), always off
//! the async runtime. Unknown accounts are verified against a dummy hash, so the time an
//! answer takes does not reveal whether an account exists (zero2prod's habit).

use std::sync::OnceLock;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::auth::users::Password;

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

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for the password.
pub async fn hash(password: &Password) -> anyhow::Result<String> {
    let password = password.expose().to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .context("the hashing task failed")?
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

/// Whether `password` matches `stored`; with `None` (no such account, or no password yet)
/// the work is the same and the answer is false.
pub async fn verify(password: &str, stored: Option<String>) -> anyhow::Result<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => (dummy_hash(), false),
        };
        let parsed = PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let ok = argon2()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && real)
    })
    .await
    .context("the hashing task failed")?
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
        let pw = Password::parse("correct horse battery").unwrap();
        let h = hash(&pw).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify("correct horse battery", Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse battery", Some(h)).await.unwrap());
        assert!(!verify("correct horse battery", None).await.unwrap());
    }
}
