//! Sign-in's queries: users, sessions and their rotating refresh tokens, single-use emailed
//! links, and the per-account login throttle.

mod users;

pub use users::*;

use crate::auth::model::{LinkPurpose, LinkToken, RefreshOutcome, Session, SessionId, SessionTtl};
use crate::auth::users::{User, UserId};
use crate::store::{Db, StoreError, Tx, now_ms, sql};

/// A session to open, with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: UserId,
    pub persistent: bool,
    pub user_agent: String,
    pub refresh_hash: Vec<u8>,
    pub expires_at: i64,
}

/// A refresh token as presented, and the digest of the child that replaces it.
#[derive(Debug, Clone)]
pub struct PresentedRefresh {
    pub hash: Vec<u8>,
    pub child_hash: Vec<u8>,
    /// A used token whose child is still current returns that child within this window.
    pub grace_ms: i64,
    pub ttl: SessionTtl,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: i64,
    user_id: i64,
    persistent: bool,
    user_agent: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

const SESSION_COLUMNS: &str =
    "id, user_id, persistent, user_agent, created_at, last_seen_at, expires_at";

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Session {
        Session {
            id: SessionId(r.id),
            user_id: UserId(r.user_id),
            persistent: r.persistent,
            user_agent: r.user_agent,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
        }
    }
}

pub async fn create_session(db: &Db, new: &NewSession) -> Result<Session, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let row: SessionRow = tx
        .one(
            sql(format!(
                "INSERT INTO sessions (user_id, persistent, user_agent, created_at, \
                 last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5) \
                 RETURNING {SESSION_COLUMNS}"
            ))
            .bind(new.user_id.0)
            .bind(new.persistent)
            .bind(&new.user_agent)
            .bind(now)
            .bind(new.expires_at),
        )
        .await?;
    tx.execute(
        sql("INSERT INTO refresh_tokens (session_id, token_hash, created_at) VALUES ($1, $2, $3)")
            .bind(row.id)
            .bind(&new.refresh_hash)
            .bind(now),
    )
    .await?;
    tx.commit().await?;
    Ok(row.into())
}

/// The session and its user, while the session is neither revoked nor expired.
pub async fn active_session(db: &Db, id: SessionId) -> Result<Option<(Session, User)>, StoreError> {
    let row: Option<SessionRow> = db
        .optional(
            sql(format!(
                "SELECT {SESSION_COLUMNS} FROM sessions \
                 WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2"
            ))
            .bind(id.0)
            .bind(now_ms()),
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let session: Session = row.into();
    Ok(crate::auth::store::user(db, session.user_id)
        .await?
        .map(|u| (session, u)))
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    id: i64,
    session_id: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
    expires_at: i64,
    created_at: i64,
}

/// Rotates a refresh token, with reuse detection (see [`RefreshOutcome`]).
pub async fn refresh(db: &Db, p: &PresentedRefresh) -> Result<RefreshOutcome, StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let row: Option<RefreshRow> = tx
        .optional(
            sql(
                "SELECT t.id, t.session_id, t.used_at, s.revoked_at, s.expires_at, s.created_at \
                 FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
                 WHERE t.token_hash = $1",
            )
            .bind(&p.hash),
        )
        .await?;
    let Some(row) = row else {
        return Ok(RefreshOutcome::Invalid);
    };
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Ok(RefreshOutcome::Invalid);
    }
    // Claim the token; a concurrent claim (another tab, another node) makes this update match
    // nothing, and the token counts as used.
    let claimed = row.used_at.is_none()
        && tx
            .execute(
                sql("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                    .bind(now)
                    .bind(row.id),
            )
            .await?
            == 1;
    if claimed {
        tx.execute(
            sql(
                "INSERT INTO refresh_tokens (session_id, token_hash, parent_id, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(row.session_id)
            .bind(&p.child_hash)
            .bind(row.id)
            .bind(now),
        )
        .await?;
        let persistent: bool = tx
            .value(sql("SELECT persistent FROM sessions WHERE id = $1").bind(row.session_id))
            .await?;
        tx.execute(
            sql("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3")
                .bind(now)
                .bind(p.ttl.expiry(persistent, row.created_at, now))
                .bind(row.session_id),
        )
        .await?;
        let session = load_session(&mut tx, row.session_id).await?;
        tx.commit().await?;
        return Ok(match crate::auth::store::user(db, session.user_id).await? {
            Some(user) => RefreshOutcome::Rotated { session, user },
            None => RefreshOutcome::Invalid,
        });
    }
    // Used before. Moments ago, by the parent of the current token: racing tabs.
    let used_at: Option<i64> = tx
        .value(sql("SELECT used_at FROM refresh_tokens WHERE id = $1").bind(row.id))
        .await?;
    let child: Option<(Vec<u8>, Option<i64>)> = tx
        .optional(
            sql("SELECT token_hash, used_at FROM refresh_tokens WHERE parent_id = $1").bind(row.id),
        )
        .await?;
    let recent = used_at.is_some_and(|t| now - t <= p.grace_ms);
    let child_is_current = child
        .as_ref()
        .is_some_and(|(hash, used)| used.is_none() && *hash == p.child_hash);
    if recent && child_is_current {
        let session = load_session(&mut tx, row.session_id).await?;
        tx.commit().await?;
        return Ok(match crate::auth::store::user(db, session.user_id).await? {
            Some(user) => RefreshOutcome::Replayed { session, user },
            None => RefreshOutcome::Invalid,
        });
    }
    // Reuse of an old token: someone else may hold the family. Revoke it all.
    tx.execute(
        sql(
            "UPDATE sessions SET revoked_at = $1, revoked_why = 'refresh token reuse' \
             WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(row.session_id),
    )
    .await?;
    tx.commit().await?;
    Ok(RefreshOutcome::ReuseDetected {
        session_id: SessionId(row.session_id),
    })
}

async fn load_session(tx: &mut Tx, id: i64) -> Result<Session, StoreError> {
    let row: SessionRow = tx
        .one(
            sql(format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
            ))
            .bind(id),
        )
        .await?;
    Ok(row.into())
}

/// The session a refresh token belongs to, used or not (for signing out).
pub async fn session_of_refresh(db: &Db, hash: &[u8]) -> Result<Option<SessionId>, StoreError> {
    let id: Option<i64> = db
        .value_optional(
            sql("SELECT session_id FROM refresh_tokens WHERE token_hash = $1").bind(hash),
        )
        .await?;
    Ok(id.map(SessionId))
}

/// The user's active sessions, most recently seen first.
pub async fn sessions(db: &Db, user: UserId) -> Result<Vec<Session>, StoreError> {
    let rows: Vec<SessionRow> = db
        .all(
            sql(format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 \
                 AND revoked_at IS NULL AND expires_at > $2 ORDER BY last_seen_at DESC, id DESC"
            ))
            .bind(user.0)
            .bind(now_ms()),
        )
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Revokes one of the user's sessions; false when there is no such active session.
pub async fn revoke_session(db: &Db, user: UserId, id: SessionId) -> Result<bool, StoreError> {
    let n = db
        .write(
            sql(
                "UPDATE sessions SET revoked_at = $1, revoked_why = 'signed out' \
                 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(id.0)
            .bind(user.0),
        )
        .await?;
    Ok(n > 0)
}

/// Revokes every session of the user but `except`; returns how many.
pub async fn revoke_sessions(
    db: &Db,
    user: UserId,
    except: Option<SessionId>,
) -> Result<u64, StoreError> {
    Ok(db
        .write(
            sql(
                "UPDATE sessions SET revoked_at = $1, revoked_why = 'signed out everywhere' \
                 WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3",
            )
            .bind(now_ms())
            .bind(user.0)
            .bind(except.map_or(-1, |s| s.0)),
        )
        .await?)
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    user_id: Option<i64>,
    email: Option<String>,
    expires_at: i64,
}

impl From<LinkRow> for LinkToken {
    fn from(r: LinkRow) -> LinkToken {
        LinkToken {
            user_id: r.user_id.map(UserId),
            email: r.email,
            expires_at: r.expires_at,
        }
    }
}

/// Links of one purpose that work at once for one user. Asking again leaves the links
/// already in the inbox working (an attacker asking on the owner's behalf cannot break them),
/// and asking many times does not pile them up: the oldest beyond these is deleted.
pub const OPEN_LINKS_PER_PURPOSE: i64 = 3;

/// Stores a link. For a user, the newest [`OPEN_LINKS_PER_PURPOSE`] unused links of the same
/// purpose (this one included) work until they expire and older ones stop working; a link for
/// nobody (setup, a reset request for an unknown address) replaces the previous one. Expired
/// links are swept.
pub async fn create_link(
    db: &Db,
    hash: &[u8],
    purpose: LinkPurpose,
    user: Option<UserId>,
    email: Option<&str>,
    expires_at: i64,
) -> Result<(), StoreError> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    tx.execute(
        sql("DELETE FROM email_tokens WHERE expires_at < $1 \
             OR (purpose = $2 AND used_at IS NULL AND user_id IS NULL AND $3 IS NULL) \
             OR (purpose = $2 AND used_at IS NULL AND user_id = $3 AND token_hash NOT IN ( \
                 SELECT token_hash FROM email_tokens \
                 WHERE purpose = $2 AND used_at IS NULL AND user_id = $3 \
                 ORDER BY created_at DESC, token_hash DESC LIMIT $4))")
        .bind(now)
        .bind(purpose.as_str())
        .bind(user.map(|u| u.0))
        .bind(OPEN_LINKS_PER_PURPOSE - 1),
    )
    .await?;
    tx.execute(
        sql(
            "INSERT INTO email_tokens (token_hash, purpose, user_id, email, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash)
        .bind(purpose.as_str())
        .bind(user.map(|u| u.0))
        .bind(email)
        .bind(now)
        .bind(expires_at),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends every unused link of the user (a reset, an email change, a verification): after a
/// password change, a reset, an email change or "sign out everywhere", nobody holding an
/// older link can use it to take the account back.
pub async fn drop_links(db: &Db, user: UserId) -> Result<u64, StoreError> {
    Ok(db
        .write(sql("DELETE FROM email_tokens WHERE user_id = $1 AND used_at IS NULL").bind(user.0))
        .await?)
}

/// The link's payload while it is unused and unexpired, without using it.
pub async fn peek_link(
    db: &Db,
    hash: &[u8],
    purpose: LinkPurpose,
) -> Result<Option<LinkToken>, StoreError> {
    let row: Option<LinkRow> = db
        .optional(
            sql("SELECT user_id, email, expires_at FROM email_tokens \
                 WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3")
            .bind(hash)
            .bind(purpose.as_str())
            .bind(now_ms()),
        )
        .await?;
    Ok(row.map(Into::into))
}

/// Uses the link: it works once.
pub async fn consume_link(
    db: &Db,
    hash: &[u8],
    purpose: LinkPurpose,
) -> Result<Option<LinkToken>, StoreError> {
    let mut tx = db.begin().await?;
    let row: Option<LinkRow> = tx
        .optional(
            sql("UPDATE email_tokens SET used_at = $1 \
                 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
                 RETURNING user_id, email, expires_at")
            .bind(now_ms())
            .bind(hash)
            .bind(purpose.as_str()),
        )
        .await?;
    tx.commit().await?;
    Ok(row.map(Into::into))
}

/// The time until which sign-in under `key` is blocked, if it is.
pub async fn login_blocked_until(db: &Db, key: &[u8]) -> Result<Option<i64>, StoreError> {
    let until: Option<i64> = db
        .value_optional(
            sql("SELECT blocked_until FROM login_throttle WHERE account_key = $1").bind(key),
        )
        .await?;
    Ok(until.filter(|t| *t > now_ms()))
}

/// The failures counted under `key` and the time of the last one.
pub async fn login_failures(tx: &mut Tx, key: &[u8]) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(tx
        .optional(
            sql("SELECT failures, last_failure_at FROM login_throttle WHERE account_key = $1")
                .bind(key),
        )
        .await?)
}

/// Stores the count of failures under `key`, blocked until `until`.
pub async fn set_login_failures(
    tx: &mut Tx,
    key: &[u8],
    failures: i64,
    until: i64,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        sql(
            "INSERT INTO login_throttle (account_key, failures, blocked_until, last_failure_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_key) DO UPDATE SET \
             failures = excluded.failures, blocked_until = excluded.blocked_until, \
             last_failure_at = excluded.last_failure_at",
        )
        .bind(key)
        .bind(failures)
        .bind(until)
        .bind(now),
    )
    .await?;
    Ok(())
}

pub async fn clear_login_failures(db: &Db, key: &[u8]) -> Result<(), StoreError> {
    db.write(sql("DELETE FROM login_throttle WHERE account_key = $1").bind(key))
        .await?;
    Ok(())
}
