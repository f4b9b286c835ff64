//! Ownership of hosts: the workspace's token, each host's claim and verification, the last
//! check, the background job's claims and moving a host to the workspace that proved it.

use crate::accounts::WorkspaceId;
use crate::accounts::errors::AccountError;
use crate::accounts::ownership::{HostClaim, LastCheck, RECHECK_EVERY};
use crate::accounts::sites::{Hostname, NewSite, SiteId};
use crate::store::{Db, StoreError, now_ms, sql};

/// The workspace's verification token, made on first use (once, however many ask at once).
pub async fn verify_token(db: &Db, workspace: WorkspaceId) -> Result<String, StoreError> {
    let read = || {
        db.value_optional::<Option<String>>(
            sql("SELECT verify_token FROM workspaces WHERE id = $1").bind(workspace.0),
        )
    };
    if let Some(Some(token)) = read().await? {
        return Ok(token);
    }
    // Hex, so it fits any DNS TXT record and any file, and reads back unchanged.
    let fresh: String = crate::auth::tokens::random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    db.write(
        sql("UPDATE workspaces SET verify_token = $1 WHERE id = $2 AND verify_token IS NULL")
            .bind(fresh)
            .bind(workspace.0),
    )
    .await?;
    read()
        .await?
        .flatten()
        .ok_or_else(|| StoreError::Corrupt("the workspace has no token after making one".into()))
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    host: String,
    claimed_at: i64,
    verified_at: Option<i64>,
    checked_at: Option<i64>,
    check_how: Option<String>,
    check_sought: Option<String>,
    check_found: Option<String>,
}

impl From<ClaimRow> for HostClaim {
    fn from(r: ClaimRow) -> HostClaim {
        let last_check = r.checked_at.map(|at| LastCheck {
            at,
            how: r.check_how.unwrap_or_default(),
            sought: r.check_sought.unwrap_or_default(),
            found: r.check_found.unwrap_or_default(),
        });
        HostClaim {
            host: r.host,
            claimed_at: r.claimed_at,
            verified_at: r.verified_at,
            last_check,
        }
    }
}

const CLAIM_COLUMNS: &str =
    "h.host, h.claimed_at, h.verified_at, h.checked_at, h.check_how, h.check_sought, h.check_found";

/// The hosts a site claims: its domain first, then its aliases by name.
pub async fn host_claims(db: &Db, site: SiteId) -> Result<Vec<HostClaim>, StoreError> {
    let rows: Vec<ClaimRow> = db
        .all(
            sql(format!(
                "SELECT {CLAIM_COLUMNS} FROM site_hosts h WHERE h.site_id = $1 \
                 ORDER BY h.is_alias, h.host"
            ))
            .bind(site.0),
        )
        .await?;
    Ok(rows.into_iter().map(HostClaim::from).collect())
}

/// Who holds a host, for the reclaim rules.
#[derive(Debug, Clone)]
pub struct Holder {
    pub site: SiteId,
    pub workspace: WorkspaceId,
    pub verified: bool,
}

#[derive(sqlx::FromRow)]
struct HolderRow {
    site_id: i64,
    workspace_id: i64,
    verified_at: Option<i64>,
}

/// The site and workspace that hold `host` (compared without `www.`), if any.
pub async fn holder(db: &Db, host: &Hostname) -> Result<Option<Holder>, StoreError> {
    let row: Option<HolderRow> = db
        .optional(
            sql(
                "SELECT h.site_id, s.workspace_id, h.verified_at FROM site_hosts h \
                 JOIN sites s ON s.id = h.site_id WHERE h.host = $1",
            )
            .bind(host.without_www()),
        )
        .await?;
    Ok(row.map(|r| Holder {
        site: SiteId(r.site_id),
        workspace: WorkspaceId(r.workspace_id),
        verified: r.verified_at.is_some(),
    }))
}

/// Stores a check's outcome for the host of `site`; a successful one verifies it (a verified
/// host stays verified). Whether the site still held the host.
pub async fn record_check(
    db: &Db,
    site: SiteId,
    host: &str,
    check: &LastCheck,
    verified: bool,
) -> Result<bool, StoreError> {
    let n = db
        .write(
            sql(
                "UPDATE site_hosts SET checked_at = $1, check_how = $2, check_sought = $3, \
                 check_found = $4, verified_at = COALESCE(verified_at, $5) \
                 WHERE host = $6 AND site_id = $7",
            )
            .bind(check.at)
            .bind(&check.how)
            .bind(&check.sought)
            .bind(&check.found)
            .bind(verified.then_some(check.at))
            .bind(host)
            .bind(site.0),
        )
        .await?;
    Ok(n > 0)
}

/// An unverified host due for its hourly check, claimed by this node.
#[derive(Debug, Clone)]
pub struct DueHost {
    pub host: String,
    pub site: SiteId,
    pub workspace: WorkspaceId,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    host: String,
    site_id: i64,
    workspace_id: i64,
    checked_at: Option<i64>,
}

/// Unverified hosts not checked for [`RECHECK_EVERY`], at most `limit`, those never checked
/// first (PostgreSQL would sort them last), each claimed for this node by moving its
/// `checked_at` to `now`: with several nodes, a host is claimed by one, and the others skip it
/// until the next hour.
pub async fn claim_due_hosts(db: &Db, now: i64, limit: i64) -> Result<Vec<DueHost>, StoreError> {
    let due_before = now - i64::try_from(RECHECK_EVERY.as_millis()).unwrap_or(i64::MAX);
    let rows: Vec<DueRow> = db
        .all(
            sql(
                "SELECT h.host, h.site_id, s.workspace_id, h.checked_at FROM site_hosts h \
                 JOIN sites s ON s.id = h.site_id \
                 WHERE h.verified_at IS NULL AND (h.checked_at IS NULL OR h.checked_at <= $1) \
                 ORDER BY h.checked_at IS NOT NULL, h.checked_at LIMIT $2",
            )
            .bind(due_before)
            .bind(limit),
        )
        .await?;
    let mut claimed = Vec::new();
    for r in rows {
        // The row's own `checked_at` as read: another node's claim changes it first.
        let n = db
            .write(
                sql(
                    "UPDATE site_hosts SET checked_at = $1 WHERE host = $2 AND site_id = $3 \
                     AND verified_at IS NULL AND COALESCE(checked_at, -1) = $4",
                )
                .bind(now)
                .bind(&r.host)
                .bind(r.site_id)
                .bind(r.checked_at.unwrap_or(-1)),
            )
            .await?;
        if n == 1 {
            claimed.push(DueHost {
                host: r.host,
                site: SiteId(r.site_id),
                workspace: WorkspaceId(r.workspace_id),
            });
        }
    }
    Ok(claimed)
}

/// Where a taken host goes.
#[derive(Debug, Clone)]
pub enum TakeInto {
    /// A new site of the taking workspace with this domain.
    NewSite(NewSite),
    /// An alias of this site of the taking workspace (as typed, `www.` kept).
    Alias(SiteId, Hostname),
}

/// What a move did, for the mail to the old owners.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The site that now holds the host.
    pub site: SiteId,
    pub from_workspace: WorkspaceId,
    /// The old site's domain before the move, and after it (changed when the host was it).
    pub from_domain_before: String,
    pub from_domain_after: String,
}

#[derive(sqlx::FromRow)]
struct OldRow {
    site_id: i64,
    workspace_id: i64,
    is_alias: bool,
    verified_at: Option<i64>,
    domain: String,
}

/// Moves `host` from the unverified claim of another workspace's site to `into` (of
/// `workspace`), verified as of now, in one transaction. The host's key (`site_hosts.host`)
/// makes two moves or a move and a new claim exclusive: the loser gets
/// [`AccountError::HostTaken`]. A verified host, or one of the same workspace, is never
/// taken. When the host was the old site's domain, its first alias becomes its domain, or,
/// with none, the domain `moved-<site id>.invalid`, which claims no host; the old site keeps
/// its id, its events and everything else.
pub async fn take_host(
    db: &Db,
    workspace: WorkspaceId,
    host: &Hostname,
    into: &TakeInto,
) -> Result<Moved, AccountError> {
    let key = host.without_www();
    let taken = || AccountError::HostTaken {
        host: key.to_owned(),
        owner: None,
    };
    let mut tx = db.begin().await?;
    let old: OldRow = tx
        .optional(
            sql(
                "SELECT h.site_id, s.workspace_id, h.is_alias, h.verified_at, s.domain \
                 FROM site_hosts h JOIN sites s ON s.id = h.site_id WHERE h.host = $1",
            )
            .bind(key),
        )
        .await?
        .ok_or_else(|| AccountError::NotHeld {
            host: key.to_owned(),
        })?;
    if old.workspace_id == workspace.0 || old.verified_at.is_some() {
        return Err(taken());
    }
    let n = tx
        .execute(
            sql("DELETE FROM site_hosts WHERE host = $1 AND site_id = $2 AND verified_at IS NULL")
                .bind(key)
                .bind(old.site_id),
        )
        .await?;
    if n != 1 {
        return Err(taken());
    }
    let mut domain_after = old.domain.clone();
    if !old.is_alias {
        let next: Option<(String, Option<String>)> = tx
            .all::<NextRow>(
                sql("SELECT host, alias FROM site_hosts WHERE site_id = $1 ORDER BY host LIMIT 1")
                    .bind(old.site_id),
            )
            .await?
            .into_iter()
            .next()
            .map(|r| (r.host, r.alias));
        domain_after = match next {
            Some((next_host, alias)) => {
                tx.execute(
                    sql("UPDATE site_hosts SET is_alias = FALSE, alias = NULL WHERE host = $1")
                        .bind(&next_host),
                )
                .await?;
                alias.unwrap_or(next_host)
            }
            None => format!("moved-{}.invalid", old.site_id),
        };
        tx.execute(
            sql("UPDATE sites SET domain = $1 WHERE id = $2")
                .bind(&domain_after)
                .bind(old.site_id),
        )
        .await?;
    }
    let now = now_ms();
    let site = match into {
        TakeInto::Alias(site, alias) => {
            let ours: Option<i64> = tx
                .value_optional(
                    sql("SELECT id FROM sites WHERE id = $1 AND workspace_id = $2")
                        .bind(site.0)
                        .bind(workspace.0),
                )
                .await?;
            if ours.is_none() {
                return Err(AccountError::NotHeld {
                    host: key.to_owned(),
                });
            }
            insert_host(&mut tx, key, *site, Some(alias.as_str()), now).await?;
            *site
        }
        TakeInto::NewSite(new) => {
            let id: i64 = tx
                .value(
                    sql(
                        "INSERT INTO sites (workspace_id, domain, time_zone, created_at) \
                         VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(workspace.0)
                    .bind(new.domain.as_str())
                    .bind(&new.time_zone)
                    .bind(now),
                )
                .await
                .map_err(|e| match crate::store::is_unique_violation(&e) {
                    true => taken(),
                    false => e.into(),
                })?;
            insert_host(&mut tx, key, SiteId(id), None, now).await?;
            SiteId(id)
        }
    };
    tx.commit().await?;
    Ok(Moved {
        site,
        from_workspace: WorkspaceId(old.workspace_id),
        from_domain_before: old.domain,
        from_domain_after: domain_after,
    })
}

#[derive(sqlx::FromRow)]
struct NextRow {
    host: String,
    alias: Option<String>,
}

async fn insert_host(
    tx: &mut crate::store::Tx,
    host: &str,
    site: SiteId,
    alias: Option<&str>,
    now: i64,
) -> Result<(), AccountError> {
    tx.execute(
        sql(
            "INSERT INTO site_hosts (host, site_id, is_alias, alias, claimed_at, verified_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(host)
        .bind(site.0)
        .bind(alias.is_some())
        .bind(alias)
        .bind(now),
    )
    .await
    .map_err(|e| match crate::store::is_unique_violation(&e) {
        true => AccountError::HostTaken {
            host: host.to_owned(),
            owner: None,
        },
        false => e.into(),
    })?;
    Ok(())
}

/// Marks `host` (compared without `www.`) unverified, so that a workspace that proves it
/// controls the host can take it: the operator's way out when a verified domain changed hands.
/// The domain of the site that holds it, or `None` when no site does.
pub async fn release_host(db: &Db, host: &Hostname) -> Result<Option<String>, StoreError> {
    let key = host.without_www();
    let domain: Option<String> = db
        .value_optional(
            sql(
                "SELECT s.domain FROM site_hosts h JOIN sites s ON s.id = h.site_id \
                 WHERE h.host = $1",
            )
            .bind(key),
        )
        .await?;
    if domain.is_some() {
        db.write(sql("UPDATE site_hosts SET verified_at = NULL WHERE host = $1").bind(key))
            .await?;
    }
    Ok(domain)
}

/// Sets a host's claim time (its first claim's too), for tests and tools that need a host
/// past its grace.
pub async fn set_claimed_at(db: &Db, host: &str, at: i64) -> Result<bool, StoreError> {
    db.write(
        sql("UPDATE host_first_claims SET claimed_at = $1 WHERE host = $2")
            .bind(at)
            .bind(host),
    )
    .await?;
    let n = db
        .write(
            sql("UPDATE site_hosts SET claimed_at = $1 WHERE host = $2")
                .bind(at)
                .bind(host),
        )
        .await?;
    Ok(n > 0)
}
