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
        }
    };
}

pub(super) use impl_store;
