//! Sites, the hosts they claim, and the networks they ignore.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::accounts::WorkspaceId;
use crate::accounts::errors::AccountError;
use crate::accounts::sites::{Hostname, NewSite, Site, SiteId};
use crate::store::{Db, StoreError, is_unique_violation, now_ms, sql};

#[derive(sqlx::FromRow)]
struct SiteRow {
    id: i64,
    workspace_id: i64,
    domain: String,
    time_zone: String,
    created_at: i64,
    require_consent: bool,
}

#[derive(sqlx::FromRow)]
struct AliasRow {
    site_id: i64,
    alias: String,
}

const SITE_COLUMNS: &str =
    "s.id, s.workspace_id, s.domain, s.time_zone, s.created_at, s.require_consent";

/// Joins site rows with their alias rows, keeping the sites' order.
fn assemble(sites: Vec<SiteRow>, aliases: Vec<AliasRow>) -> Vec<Site> {
    let mut by_site: BTreeMap<i64, Vec<Hostname>> = BTreeMap::new();
    for a in aliases {
        by_site
            .entry(a.site_id)
            .or_default()
            .push(Hostname::from_stored(a.alias));
    }
    sites
        .into_iter()
        .map(|s| Site {
            id: SiteId(s.id),
            workspace_id: WorkspaceId(s.workspace_id),
            domain: Hostname::from_stored(s.domain),
            aliases: by_site.remove(&s.id).unwrap_or_default(),
            time_zone: s.time_zone,
            created_at: s.created_at,
            require_consent: s.require_consent,
        })
        .collect()
}

/// Creates a site. A domain or alias that another site claims is [`AccountError::HostTaken`],
/// which names that site only when it is in the same workspace.
pub async fn create_site(db: &Db, new: &NewSite) -> Result<Site, AccountError> {
    let mut tx = db.begin().await?;
    for host in new.claimed_hosts() {
        let owner: Option<OwnerRow> = tx
            .optional(
                sql("SELECT s.domain, s.workspace_id FROM site_hosts h \
                     JOIN sites s ON s.id = h.site_id WHERE h.host = $1")
                .bind(host),
            )
            .await?;
        if let Some(owner) = owner {
            // Named only to its own workspace: another customer's sites are none of its business.
            return Err(AccountError::HostTaken {
                host: host.to_owned(),
                owner: (owner.workspace_id == new.workspace_id.0).then_some(owner.domain),
            });
        }
    }
    let row: SiteRow = tx
        .one(
            sql(
                "INSERT INTO sites (workspace_id, domain, time_zone, created_at) \
                 VALUES ($1, $2, $3, $4) \
                 RETURNING id, workspace_id, domain, time_zone, created_at, require_consent",
            )
            .bind(new.workspace_id.0)
            .bind(new.domain.as_str())
            .bind(&new.time_zone)
            .bind(now_ms()),
        )
        .await
        .map_err(|e| match is_unique_violation(&e) {
            true => AccountError::SiteExists {
                domain: new.domain.as_str().to_owned(),
            },
            false => e.into(),
        })?;
    let claims = std::iter::once((new.domain.without_www(), None)).chain(
        new.aliases
            .iter()
            .map(|a| (a.without_www(), Some(a.as_str()))),
    );
    let now = now_ms();
    for (host, alias) in claims {
        let first = first_claim(&mut tx, host, now).await?;
        tx.execute(
            sql(
                "INSERT INTO site_hosts (host, site_id, is_alias, alias, claimed_at, verified_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(host)
            .bind(row.id)
            .bind(alias.is_some())
            .bind(alias)
            .bind(first)
            .bind(new.verified.then_some(now)),
        )
        .await
        .map_err(|e| match is_unique_violation(&e) {
            true => AccountError::HostTaken {
                host: host.to_owned(),
                owner: None,
            },
            false => e.into(),
        })?;
    }
    tx.commit().await?;
    let aliases = new
        .aliases
        .iter()
        .map(|a| AliasRow {
            site_id: row.id,
            alias: a.as_str().to_owned(),
        })
        .collect();
    let mut sites = assemble(vec![row], aliases);
    sites
        .pop()
        .ok_or_else(|| StoreError::Corrupt("the new site vanished".to_owned()).into())
}

/// Every site, oldest first.
pub async fn list_sites(db: &Db) -> Result<Vec<Site>, StoreError> {
    let sites = db
        .all(sql(format!(
            "SELECT {SITE_COLUMNS} FROM sites s ORDER BY s.id"
        )))
        .await?;
    let aliases = db
        .all(sql(
            "SELECT site_id, alias FROM site_hosts WHERE is_alias = TRUE ORDER BY alias",
        ))
        .await?;
    Ok(assemble(sites, aliases))
}

/// The sites of a workspace, by domain.
pub async fn workspace_sites(db: &Db, workspace: WorkspaceId) -> Result<Vec<Site>, StoreError> {
    let sites = db
        .all(
            sql(format!(
                "SELECT {SITE_COLUMNS} FROM sites s WHERE s.workspace_id = $1 ORDER BY s.domain"
            ))
            .bind(workspace.0),
        )
        .await?;
    let aliases = db
        .all(
            sql(
                "SELECT h.site_id, h.alias FROM site_hosts h JOIN sites s ON s.id = h.site_id \
                 WHERE s.workspace_id = $1 AND h.is_alias = TRUE ORDER BY h.alias",
            )
            .bind(workspace.0),
        )
        .await?;
    Ok(assemble(sites, aliases))
}

/// The site that claims `host` as its domain or an alias (compared without `www.`).
pub async fn site_by_host(db: &Db, host: &Hostname) -> Result<Option<Site>, StoreError> {
    let site: Option<SiteRow> = db
        .optional(
            sql(format!(
                "SELECT {SITE_COLUMNS} FROM site_hosts h JOIN sites s ON s.id = h.site_id \
                 WHERE h.host = $1"
            ))
            .bind(host.without_www()),
        )
        .await?;
    with_aliases(db, site).await
}

/// The site of `row`, if any, with its aliases.
async fn with_aliases(db: &Db, row: Option<SiteRow>) -> Result<Option<Site>, StoreError> {
    let Some(row) = row else { return Ok(None) };
    let aliases = db
        .all(
            sql("SELECT site_id, alias FROM site_hosts \
                 WHERE site_id = $1 AND is_alias = TRUE ORDER BY alias")
            .bind(row.id),
        )
        .await?;
    Ok(assemble(vec![row], aliases).pop())
}

/// Networks whose visits the site ignores.
pub async fn ignored_networks(db: &Db, site: SiteId) -> Result<Vec<IpNet>, StoreError> {
    let rows: Vec<String> = db
        .values(
            sql("SELECT network FROM site_ignored_networks WHERE site_id = $1 ORDER BY network")
                .bind(site.0),
        )
        .await?;
    // Only parsed networks are ever written, so a row that does not parse is skipped.
    Ok(rows.iter().filter_map(|n| n.parse().ok()).collect())
}

/// Adds a network to the site's ignore list (adding one twice is fine).
pub async fn add_ignored_network(db: &Db, site: SiteId, network: IpNet) -> Result<(), StoreError> {
    db.write(
        sql(
            "INSERT INTO site_ignored_networks (site_id, network) VALUES ($1, $2) \
             ON CONFLICT (site_id, network) DO NOTHING",
        )
        .bind(site.0)
        .bind(network.trunc().to_string()),
    )
    .await?;
    Ok(())
}

/// Takes a network off the site's ignore list; whether it was on it.
pub async fn remove_ignored_network(
    db: &Db,
    site: SiteId,
    network: IpNet,
) -> Result<bool, StoreError> {
    let removed = db
        .write(
            sql("DELETE FROM site_ignored_networks WHERE site_id = $1 AND network = $2")
                .bind(site.0)
                .bind(network.trunc().to_string()),
        )
        .await?;
    Ok(removed > 0)
}

/// The site `site` if it belongs to `workspace`.
pub async fn workspace_site(
    db: &Db,
    workspace: WorkspaceId,
    site: SiteId,
) -> Result<Option<Site>, StoreError> {
    let row: Option<SiteRow> = db
        .optional(
            sql(format!(
                "SELECT {SITE_COLUMNS} FROM sites s WHERE s.id = $1 AND s.workspace_id = $2"
            ))
            .bind(site.0)
            .bind(workspace.0),
        )
        .await?;
    with_aliases(db, row).await
}

/// Gives the site `site` of `new.workspace_id` the domain, aliases and time zone of `new`, and
/// claims its hosts instead of the old ones, in one transaction. A host another site claims is
/// [`AccountError::HostTaken`] and nothing changes; the other site is named only when it is in
/// the same workspace (another customer's sites are none of this one's business). `None` when
/// the workspace has no such site.
pub async fn update_site(
    db: &Db,
    site: SiteId,
    new: &NewSite,
) -> Result<Option<Site>, AccountError> {
    let mut tx = db.begin().await?;
    for host in new.claimed_hosts() {
        let owner: Option<OwnerRow> = tx
            .optional(
                sql("SELECT s.domain, s.workspace_id FROM site_hosts h \
                     JOIN sites s ON s.id = h.site_id WHERE h.host = $1 AND h.site_id <> $2")
                .bind(host)
                .bind(site.0),
            )
            .await?;
        if let Some(owner) = owner {
            return Err(AccountError::HostTaken {
                host: host.to_owned(),
                owner: (owner.workspace_id == new.workspace_id.0).then_some(owner.domain),
            });
        }
    }
    // A claim made by another transaction since the check above (PostgreSQL) is refused by a
    // key: `sites.domain` or `site_hosts.host`.
    let taken = |host: &str| {
        let host = host.to_owned();
        move |e: sqlx::Error| match is_unique_violation(&e) {
            true => AccountError::HostTaken { host, owner: None },
            false => e.into(),
        }
    };
    let row: Option<SiteRow> = tx
        .optional(
            sql("UPDATE sites SET domain = $1, time_zone = $2 \
                 WHERE id = $3 AND workspace_id = $4 \
                 RETURNING id, workspace_id, domain, time_zone, created_at, require_consent")
            .bind(new.domain.as_str())
            .bind(&new.time_zone)
            .bind(site.0)
            .bind(new.workspace_id.0),
        )
        .await
        .map_err(taken(new.domain.without_www()))?;
    let Some(row) = row else { return Ok(None) };
    // Hosts the site keeps keep their claim time and verification; only new ones start over.
    let kept: Vec<String> = new.claimed_hosts().map(str::to_owned).collect();
    let old: Vec<String> = tx
        .values(sql("SELECT host FROM site_hosts WHERE site_id = $1").bind(site.0))
        .await?;
    for host in old.iter().filter(|h| !kept.contains(h)) {
        tx.execute(
            sql("DELETE FROM site_hosts WHERE host = $1 AND site_id = $2")
                .bind(host)
                .bind(site.0),
        )
        .await?;
    }
    let claims = std::iter::once((new.domain.without_www(), None)).chain(
        new.aliases
            .iter()
            .map(|a| (a.without_www(), Some(a.as_str()))),
    );
    let now = now_ms();
    for (host, alias) in claims {
        let first = first_claim(&mut tx, host, now).await?;
        // The `WHERE` leaves another site's row alone: 0 rows means the host is taken.
        let n = tx
            .execute(
                sql(
                    "INSERT INTO site_hosts (host, site_id, is_alias, alias, claimed_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (host) DO UPDATE SET is_alias = excluded.is_alias, \
                     alias = excluded.alias WHERE site_hosts.site_id = excluded.site_id",
                )
                .bind(host)
                .bind(site.0)
                .bind(alias.is_some())
                .bind(alias)
                .bind(first),
            )
            .await
            .map_err(taken(host))?;
        if n == 0 {
            return Err(AccountError::HostTaken {
                host: host.to_owned(),
                owner: None,
            });
        }
    }
    tx.commit().await?;
    let aliases = new
        .aliases
        .iter()
        .map(|a| AliasRow {
            site_id: row.id,
            alias: a.as_str().to_owned(),
        })
        .collect();
    Ok(assemble(vec![row], aliases).pop())
}

/// Sets whether the site's snippet waits for consent; `false` when the workspace has no such
/// site.
pub async fn set_require_consent(
    db: &Db,
    workspace: WorkspaceId,
    site: SiteId,
    on: bool,
) -> Result<bool, StoreError> {
    let changed = db
        .write(
            sql("UPDATE sites SET require_consent = $1 WHERE id = $2 AND workspace_id = $3")
                .bind(on)
                .bind(site.0)
                .bind(workspace.0),
        )
        .await?;
    Ok(changed > 0)
}

#[derive(sqlx::FromRow)]
struct OwnerRow {
    domain: String,
    workspace_id: i64,
}

/// When `host` was first claimed by any site (recorded now if never): an unverified host's
/// grace counts from it, so letting a host go and claiming it again starts no new grace.
pub(crate) async fn first_claim(
    tx: &mut crate::store::Tx,
    host: &str,
    now: i64,
) -> Result<i64, StoreError> {
    tx.execute(
        sql(
            "INSERT INTO host_first_claims (host, claimed_at) VALUES ($1, $2) \
             ON CONFLICT (host) DO NOTHING",
        )
        .bind(host)
        .bind(now),
    )
    .await?;
    Ok(tx
        .value(sql("SELECT claimed_at FROM host_first_claims WHERE host = $1").bind(host))
        .await?)
}
