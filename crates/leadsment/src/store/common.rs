//! Queries whose SQL is the same in SQLite and PostgreSQL, written once.
//!
//! `impl_store!` implements [`Store`](super::Store) for a store type: the methods given to it
//! (what differs between backends) plus the shared ones below. The type must provide
//! `reader()` (a pool for reads) and `begin_write()` (a write transaction: `BEGIN IMMEDIATE` on
//! SQLite's single writer, an ordinary one on PostgreSQL).
//! A macro rather than generic functions because sqlx's per-database trait bounds would have to
//! be repeated on every function (sqlx issue 1458 describes the same wall).

use std::collections::BTreeMap;

use crate::accounts::sites::{Hostname, Site, SiteId};
use crate::accounts::{Workspace, WorkspaceId};

#[derive(sqlx::FromRow)]
pub(super) struct WorkspaceRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

impl From<WorkspaceRow> for Workspace {
    fn from(r: WorkspaceRow) -> Self {
        Workspace {
            id: WorkspaceId(r.id),
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SiteRow {
    pub id: i64,
    pub workspace_id: i64,
    pub domain: String,
    pub time_zone: String,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct AliasRow {
    pub site_id: i64,
    pub alias: String,
}

/// Joins site rows with their alias rows, keeping the sites' order.
pub(super) fn assemble_sites(sites: Vec<SiteRow>, aliases: Vec<AliasRow>) -> Vec<Site> {
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
        })
        .collect()
}

pub(super) const SITE_COLUMNS: &str = "id, workspace_id, domain, time_zone, created_at";

macro_rules! impl_store {
    ($store:ty, { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl crate::store::Store for $store {
        $($own)*
        async fn default_workspace(
            &self,
        ) -> Result<crate::accounts::Workspace, crate::store::StoreError> {
            use crate::store::common::WorkspaceRow;
            const SELECT: &str =
                "SELECT id, name, created_at FROM workspaces WHERE is_default = TRUE";
            if let Some(row) = sqlx::query_as::<_, WorkspaceRow>(SELECT)
                .fetch_optional(self.reader())
                .await?
            {
                return Ok(row.into());
            }
            let mut tx = self.begin_write().await?;
            // Another node may have created it since the read above; the unique index on
            // is_default makes that a no-op here.
            let existing = sqlx::query_as::<_, WorkspaceRow>(SELECT)
                .fetch_optional(&mut *tx)
                .await?;
            let row = match existing {
                Some(row) => row,
                None => {
                    // On PostgreSQL another node's insert may commit between the read and
                    // this insert; then nothing is inserted and the winner's row is read.
                    let inserted = sqlx::query_as::<_, WorkspaceRow>(
                        "INSERT INTO workspaces (name, is_default, created_at) \
                         VALUES ($1, TRUE, $2) ON CONFLICT DO NOTHING \
                         RETURNING id, name, created_at",
                    )
                    .bind(crate::accounts::DEFAULT_WORKSPACE_NAME)
                    .bind(crate::store::now_ms())
                    .fetch_optional(&mut *tx)
                    .await?;
                    match inserted {
                        Some(row) => row,
                        None => {
                            sqlx::query_as::<_, WorkspaceRow>(SELECT)
                                .fetch_one(&mut *tx)
                                .await?
                        }
                    }
                }
            };
            tx.commit().await?;
            Ok(row.into())
        }

        async fn create_site(
            &self,
            new: &crate::accounts::sites::NewSite,
        ) -> Result<crate::accounts::sites::Site, crate::store::StoreError> {
            use crate::store::common::{SITE_COLUMNS, SiteRow, assemble_sites};
            use crate::store::{StoreError, conflict_or};

            let mut tx = self.begin_write().await?;
            for host in new.claimed_hosts() {
                let owner: Option<String> = sqlx::query_scalar(
                    "SELECT s.domain FROM site_hosts h JOIN sites s ON s.id = h.site_id \
                     WHERE h.host = $1",
                )
                .bind(host)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(owner) = owner {
                    return Err(StoreError::Conflict(format!(
                        "`{host}` already belongs to the site {owner}"
                    )));
                }
            }
            let row = sqlx::query_as::<_, SiteRow>(&format!(
                "INSERT INTO sites (workspace_id, domain, time_zone, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING {SITE_COLUMNS}"
            ))
            .bind(new.workspace_id.0)
            .bind(new.domain.as_str())
            .bind(&new.time_zone)
            .bind(crate::store::now_ms())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                conflict_or(e, || format!("the site {} already exists", new.domain))
            })?;
            let claims = std::iter::once((new.domain.without_www(), None)).chain(
                new.aliases
                    .iter()
                    .map(|a| (a.without_www(), Some(a.as_str()))),
            );
            for (host, alias) in claims {
                sqlx::query(
                    "INSERT INTO site_hosts (host, site_id, is_alias, alias) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(host)
                .bind(row.id)
                .bind(alias.is_some())
                .bind(alias)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    conflict_or(e, || format!("`{host}` already belongs to another site"))
                })?;
            }
            tx.commit().await?;
            let aliases = new
                .aliases
                .iter()
                .map(|a| crate::store::common::AliasRow {
                    site_id: row.id,
                    alias: a.as_str().to_owned(),
                })
                .collect();
            let mut sites = assemble_sites(vec![row], aliases);
            sites
                .pop()
                .ok_or_else(|| StoreError::Conflict("the new site vanished".to_owned()))
        }

        async fn list_sites(
            &self,
        ) -> Result<Vec<crate::accounts::sites::Site>, crate::store::StoreError> {
            use crate::store::common::{AliasRow, SITE_COLUMNS, SiteRow, assemble_sites};
            let sites = sqlx::query_as::<_, SiteRow>(&format!(
                "SELECT {SITE_COLUMNS} FROM sites ORDER BY id"
            ))
            .fetch_all(self.reader())
            .await?;
            let aliases = sqlx::query_as::<_, AliasRow>(
                "SELECT site_id, alias FROM site_hosts WHERE is_alias = TRUE ORDER BY alias",
            )
            .fetch_all(self.reader())
            .await?;
            Ok(assemble_sites(sites, aliases))
        }

        async fn site_by_host(
            &self,
            host: &crate::accounts::sites::Hostname,
        ) -> Result<Option<crate::accounts::sites::Site>, crate::store::StoreError> {
            use crate::store::common::{AliasRow, SiteRow, assemble_sites};
            let site = sqlx::query_as::<_, SiteRow>(
                "SELECT s.id, s.workspace_id, s.domain, s.time_zone, s.created_at \
                 FROM site_hosts h JOIN sites s ON s.id = h.site_id WHERE h.host = $1",
            )
            .bind(host.without_www())
            .fetch_optional(self.reader())
            .await?;
            let Some(site) = site else { return Ok(None) };
            let aliases = sqlx::query_as::<_, AliasRow>(
                "SELECT site_id, alias FROM site_hosts \
                 WHERE site_id = $1 AND is_alias = TRUE ORDER BY alias",
            )
            .bind(site.id)
            .fetch_all(self.reader())
            .await?;
            Ok(assemble_sites(vec![site], aliases).pop())
        }

        async fn shared_secret(
            &self,
            name: &str,
            len: usize,
        ) -> Result<Vec<u8>, crate::store::StoreError> {
            const SELECT: &str = "SELECT value FROM shared_secrets WHERE name = $1";
            if let Some(value) = sqlx::query_scalar::<_, Vec<u8>>(SELECT)
                .bind(name)
                .fetch_optional(self.reader())
                .await?
            {
                return Ok(value);
            }
            let mut fresh = vec![0u8; len];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut fresh);
            let mut tx = self.begin_write().await?;
            // The first node to insert wins; every other one reads the winner's value.
            sqlx::query(
                "INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(&fresh)
            .bind(crate::store::now_ms())
            .execute(&mut *tx)
            .await?;
            let value = sqlx::query_scalar::<_, Vec<u8>>(SELECT)
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(value)
        }

        async fn existing_shared_secret(
            &self,
            name: &str,
        ) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
            Ok(sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT value FROM shared_secrets WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(self.reader())
            .await?)
        }

        async fn delete_shared_secrets(
            &self,
            prefix: &str,
            before_ms: i64,
        ) -> Result<u64, crate::store::StoreError> {
            let mut tx = self.begin_write().await?;
            // Compared as a range rather than with LIKE, so `_` and `%` in names mean nothing.
            let done = sqlx::query(
                "DELETE FROM shared_secrets WHERE name >= $1 AND name < $2 AND created_at < $3",
            )
            .bind(prefix)
            .bind(format!("{prefix}\u{10ffff}"))
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        }

        async fn ignored_networks(
            &self,
            site: crate::accounts::sites::SiteId,
        ) -> Result<Vec<ipnet::IpNet>, crate::store::StoreError> {
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT network FROM site_ignored_networks WHERE site_id = $1 ORDER BY network",
            )
            .bind(site.0)
            .fetch_all(self.reader())
            .await?;
            // Only parsed networks are ever written, so a row that does not parse is skipped.
            Ok(rows.iter().filter_map(|n| n.parse().ok()).collect())
        }

        async fn add_ignored_network(
            &self,
            site: crate::accounts::sites::SiteId,
            network: ipnet::IpNet,
        ) -> Result<(), crate::store::StoreError> {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO site_ignored_networks (site_id, network) VALUES ($1, $2) \
                 ON CONFLICT (site_id, network) DO NOTHING",
            )
            .bind(site.0)
            .bind(network.trunc().to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn ingest(
            &self,
            batch: &crate::tracking::model::IngestBatch,
            cache: &mut crate::tracking::model::SessionCache,
        ) -> Result<(), crate::store::StoreError> {
            if batch.events.is_empty() && batch.bots.is_empty() {
                return Ok(());
            }
            let mut tx = self.begin_write().await?;
            let result = Self::ingest_in(&mut tx, batch, cache).await;
            let rows = match result {
                Ok(rows) => rows,
                Err(e) => {
                    cache.clear();
                    return Err(e.into());
                }
            };
            if let Err(e) = Self::insert_events(&mut tx, &rows).await {
                cache.clear();
                return Err(e.into());
            }
            if let Err(e) = tx.commit().await {
                cache.clear();
                return Err(e.into());
            }
            Ok(())
        }

        async fn export_events(
            &self,
            site: crate::accounts::sites::SiteId,
            from_ms: i64,
            to_ms: i64,
            after_id: i64,
            limit: i64,
        ) -> Result<Vec<crate::tracking::model::ExportedEvent>, crate::store::StoreError> {
            Ok(sqlx::query_as::<_, crate::tracking::model::ExportedEvent>(
                "SELECT e.id, e.ts, e.visit_id, e.name, e.path, e.props, e.engaged_ms, \
                        c.name AS company, c.domain AS company_domain, e.class, e.country, \
                        e.source, e.channel, e.utm_source, e.utm_medium, e.utm_campaign, \
                        e.utm_term, e.utm_content, e.browser, e.os, e.device \
                 FROM events e LEFT JOIN companies c ON c.id = e.company_id \
                 WHERE e.site_id = $1 AND e.ts >= $2 AND e.ts < $3 AND e.id > $4 \
                 ORDER BY e.id LIMIT $5",
            )
            .bind(site.0)
            .bind(from_ms)
            .bind(to_ms)
            .bind(after_id)
            .bind(limit)
            .fetch_all(self.reader())
            .await?)
        }
        }
    };
}

pub(super) use impl_store;

/// One event ready for insertion, with its session and company resolved.
pub struct EventRow<'a> {
    pub event: &'a crate::tracking::model::NewEvent,
    pub session_id: i64,
    pub company_id: Option<i64>,
}

/// What a batch changes in one session.
#[derive(Default)]
pub(super) struct SessionDelta {
    pub last_seen: i64,
    /// The visitor hash of the latest event: after midnight a visit continues under the new
    /// day's hash, and later events find it by that.
    pub visitor_hash: i64,
    pub exit_path: Option<String>,
    pub pageviews: i64,
    pub events: i64,
    pub engaged_ms: i64,
}

/// Engagement is reported when a page is hidden, which can be long after the last pageview;
/// it still belongs to that visit.
pub(super) const ENGAGEMENT_LOOKBACK_MS: i64 = 24 * 60 * 60 * 1000;

/// Expands to `ingest_in`, the backend-independent part of a batch write: companies and
/// sessions resolved (from the cache, else from the store), session counters updated, bot
/// counts added. The caller inserts the returned rows in its dialect's fastest way.
macro_rules! impl_ingest {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn ingest_in<'b>(
                tx: &mut sqlx::Transaction<'static, $db>,
                batch: &'b crate::tracking::model::IngestBatch,
                cache: &mut crate::tracking::model::SessionCache,
            ) -> Result<Vec<crate::store::common::EventRow<'b>>, sqlx::Error> {
                use crate::store::common::{ENGAGEMENT_LOOKBACK_MS, EventRow, SessionDelta};
                use crate::tracking::model::SESSION_TIMEOUT_MS;
                let mut rows = Vec::with_capacity(batch.events.len());
                let mut deltas: std::collections::HashMap<i64, SessionDelta> =
                    std::collections::HashMap::new();
                for ev in &batch.events {
                    let company_id = match &ev.company {
                        None => None,
                        Some(c) => match cache.company(&c.key) {
                            Some(id) => Some(id),
                            None => {
                                let id: i64 = sqlx::query_scalar(
                                    "INSERT INTO companies \
                                     (key, name, org, domain, asn, country, class, first_seen_at) \
                                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                                     ON CONFLICT (key) DO UPDATE SET name = excluded.name \
                                     RETURNING id",
                                )
                                .bind(&c.key)
                                .bind(&c.name)
                                .bind(&c.org)
                                .bind(&c.domain)
                                .bind(c.asn)
                                .bind(&c.country)
                                .bind(&c.class)
                                .bind(ev.ts)
                                .fetch_one(&mut **tx)
                                .await?;
                                cache.remember_company(&c.key, id);
                                Some(id)
                            }
                        },
                    };

                    let site = ev.site_id.0;
                    let engagement = ev.name == "engagement";
                    let window = if engagement { ENGAGEMENT_LOOKBACK_MS } else { SESSION_TIMEOUT_MS };
                    let mut session = cache.session(site, ev.visitor_hash, ev.ts);
                    if session.is_none() {
                        // Not in this node's memory: another node, a restart, or midnight.
                        let hashes = [Some(ev.visitor_hash), ev.previous_visitor_hash];
                        for hash in hashes.into_iter().flatten() {
                            let found: Option<i64> = sqlx::query_scalar(
                                "SELECT id FROM visits WHERE site_id = $1 AND visitor_hash = $2 \
                                 AND last_seen_at >= $3 ORDER BY last_seen_at DESC LIMIT 1",
                            )
                            .bind(site)
                            .bind(hash)
                            .bind(ev.ts - window)
                            .fetch_optional(&mut **tx)
                            .await?;
                            if found.is_some() {
                                session = found;
                                break;
                            }
                        }
                    }
                    let session_id = match session {
                        Some(id) => id,
                        None => {
                            sqlx::query_scalar::<_, i64>(
                                "INSERT INTO visits (site_id, visitor_hash, started_at, \
                                 last_seen_at, company_id, class, country, entry_path, exit_path, \
                                 source, channel, utm_source, utm_medium, utm_campaign, utm_term, \
                                 utm_content, browser, os, device) VALUES ($1, $2, $3, $3, $4, \
                                 $5, $6, $7, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                                 RETURNING id",
                            )
                            .bind(site)
                            .bind(ev.visitor_hash)
                            .bind(ev.ts)
                            .bind(company_id)
                            .bind(&ev.class)
                            .bind(&ev.country)
                            .bind(&ev.path)
                            .bind(&ev.source)
                            .bind(&ev.channel)
                            .bind(&ev.utm_source)
                            .bind(&ev.utm_medium)
                            .bind(&ev.utm_campaign)
                            .bind(&ev.utm_term)
                            .bind(&ev.utm_content)
                            .bind(&ev.browser)
                            .bind(&ev.os)
                            .bind(&ev.device)
                            .fetch_one(&mut **tx)
                            .await?
                        }
                    };
                    cache.remember_session(site, ev.visitor_hash, session_id, ev.ts);

                    let d = deltas.entry(session_id).or_default();
                    if ev.ts >= d.last_seen {
                        d.last_seen = ev.ts;
                        d.visitor_hash = ev.visitor_hash;
                    }
                    d.events += 1;
                    if ev.name == "pageview" {
                        d.pageviews += 1;
                        d.exit_path = Some(ev.path.clone());
                    }
                    d.engaged_ms += ev.engaged_ms.unwrap_or(0);
                    rows.push(EventRow {
                        event: ev,
                        session_id,
                        company_id,
                    });
                }
                for (id, d) in deltas {
                    sqlx::query(
                        "UPDATE visits SET \
                         last_seen_at = CASE WHEN last_seen_at > $2 THEN last_seen_at ELSE $2 END, \
                         exit_path = COALESCE($3, exit_path), pageviews = pageviews + $4, \
                         events = events + $5, engaged_ms = engaged_ms + $6, \
                         visitor_hash = CASE WHEN last_seen_at > $2 THEN visitor_hash ELSE $7 END \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(d.last_seen)
                    .bind(d.exit_path)
                    .bind(d.pageviews)
                    .bind(d.events)
                    .bind(d.engaged_ms)
                    .bind(d.visitor_hash)
                    .execute(&mut **tx)
                    .await?;
                }
                for (site, day, count) in &batch.bots {
                    sqlx::query(
                        "INSERT INTO bot_counts (site_id, day, count) VALUES ($1, $2, $3) \
                         ON CONFLICT (site_id, day) DO UPDATE SET count = bot_counts.count + excluded.count",
                    )
                    .bind(site.0)
                    .bind(day)
                    .bind(*count)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(rows)
            }
        }
    };
}

pub(super) use impl_ingest;

/// The event columns in insertion order, shared by both backends' bulk inserts.
pub(super) const EVENT_COLUMNS: &str = "site_id, visit_id, ts, name, path, props, engaged_ms, \
     company_id, class, country, source, channel, utm_source, utm_medium, utm_campaign, \
     utm_term, utm_content, browser, os, device";
pub(super) const EVENT_COLUMN_COUNT: usize = 20;
