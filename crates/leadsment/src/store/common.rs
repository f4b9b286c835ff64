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
            self.ingest_batch(batch, cache).await
        }

        async fn export_events(
            &self,
            site: crate::accounts::sites::SiteId,
            from_ms: i64,
            to_ms: i64,
            after: Option<(i64, i64)>,
            limit: i64,
        ) -> Result<Vec<crate::tracking::model::ExportedEvent>, crate::store::StoreError> {
            let (after_ts, after_id) = after.unwrap_or((i64::MIN, i64::MIN));
            // The page's lower bound on time, given once, so that the planner starts the
            // range read there rather than at `from_ms`.
            let from_ms = from_ms.max(after_ts);
            Ok(sqlx::query_as::<_, crate::tracking::model::ExportedEvent>(
                "SELECT e.id, e.ts, e.visit_id, e.name, e.path, e.props, e.engaged_ms, \
                        c.name AS company, c.domain AS company_domain, e.class, e.country, \
                        e.source, e.channel, e.utm_source, e.utm_medium, e.utm_campaign, \
                        e.utm_term, e.utm_content, e.browser, e.os, e.device \
                 FROM events e LEFT JOIN companies c ON c.id = e.company_id \
                 WHERE e.site_id = $1 AND e.ts >= $2 AND e.ts < $3 AND (e.ts, e.id) > ($4, $5) \
                 ORDER BY e.ts, e.id LIMIT $6",
            )
            .bind(site.0)
            .bind(from_ms)
            .bind(to_ms)
            .bind(after_ts)
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
#[derive(Default, Clone)]
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

/// A placeholder for parameter `n` (1-based): `$n` on PostgreSQL, `?` on SQLite, whose
/// lookup of numbered parameters by name costs time in their number for each one bound, which
/// makes a statement of a thousand `$n` parameters quadratic.
pub(super) fn placeholder(numbered: bool, n: usize) -> String {
    if numbered {
        format!("${n}")
    } else {
        "?".to_owned()
    }
}

/// `(…), (…)` for `rows` rows of `casts.len()` columns, the first parameter being number
/// `first`; each placeholder is wrapped in its column's cast (`CAST({} AS BIGINT)`; `{}` for
/// none).
pub(super) fn values_list(rows: usize, casts: &[&str], numbered: bool, first: usize) -> String {
    let mut sql = String::with_capacity(rows * casts.len() * 8);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for (c, cast) in casts.iter().enumerate() {
            if c > 0 {
                sql.push(',');
            }
            let n = first + r * casts.len() + c;
            sql.push_str(&cast.replace("{}", &placeholder(numbered, n)));
        }
        sql.push(')');
    }
    sql
}

/// `p, p, …` for `count` parameters from number `first`.
pub(super) fn param_list(count: usize, numbered: bool, first: usize) -> String {
    (first..first + count)
        .map(|n| placeholder(numbered, n))
        .collect::<Vec<_>>()
        .join(",")
}

/// Rows per multi-row statement: well below SQLite's and PostgreSQL's limits on parameters.
pub(super) const CHUNK: usize = 500;

/// A visit id, chosen by the writer so new visits are inserted in bulk without reading their
/// ids back: the time in milliseconds, then a tag this process drew at random, then a counter.
/// Ids rise with time, so inserts append to the table rather than land on random pages, and
/// two nodes collide only if they drew the same tag and count the same visit in the same
/// millisecond (an insert that collides fails its batch, which the writer retries).
pub(super) fn new_visit_id(ts_ms: i64) -> i64 {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static TAG: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tag = *TAG.get_or_init(|| rand::random::<u64>() & 0x3ff);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xfff;
    let ms = (ts_ms.max(0) as u64) & ((1 << 41) - 1);
    ((ms << 22) | (tag << 12) | count) as i64
}

/// The smallest id [`new_visit_id`] gives a visit started at `ts_ms` or later.
pub(super) fn visit_id_floor(ts_ms: i64) -> i64 {
    let ms = (ts_ms.max(0) as u64) & ((1 << 41) - 1);
    (ms << 22) as i64
}

/// A visit first seen in this batch, written once with its final counters.
pub(super) struct NewVisit<'a> {
    pub id: i64,
    pub first: &'a crate::tracking::model::NewEvent,
    pub company_id: Option<i64>,
    pub delta: SessionDelta,
}

/// The companies of a batch that the cache has no id for, each once.
pub(super) fn missing_companies<'b>(
    batch: &'b crate::tracking::model::IngestBatch,
    cache: &crate::tracking::model::SessionCache,
) -> Vec<&'b crate::tracking::model::CompanyInfo> {
    let mut missing: Vec<&crate::tracking::model::CompanyInfo> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for ev in &batch.events {
        if let Some(c) = &ev.company
            && cache.company(&c.key).is_none()
            && seen.insert(c.key.as_str())
        {
            missing.push(c);
        }
    }
    missing
}

/// The visitor hashes whose visit the cache cannot place (sorted, each once), and the oldest
/// last-seen time of a visit that one of them could still continue.
pub(super) fn wanted_visits(
    batch: &crate::tracking::model::IngestBatch,
    cache: &crate::tracking::model::SessionCache,
) -> (Vec<i64>, i64) {
    let mut wanted: Vec<i64> = Vec::new();
    let mut oldest = i64::MAX;
    if cache.is_complete() {
        // Nothing the store holds is missing from memory.
        return (wanted, oldest);
    }
    for ev in &batch.events {
        if cache
            .session(ev.site_id.0, ev.visitor_hash, ev.ts)
            .is_none()
        {
            wanted.push(ev.visitor_hash);
            wanted.extend(ev.previous_visitor_hash);
            oldest = oldest.min(ev.ts - crate::tracking::model::ENGAGEMENT_LOOKBACK_MS);
        }
    }
    wanted.sort_unstable();
    wanted.dedup();
    (wanted, oldest)
}

/// Visits read from the store: the latest of each (site, visitor hash), with its last-seen time.
#[derive(Default)]
pub(super) struct KnownVisits(std::collections::HashMap<(i64, i64), (i64, i64)>);

impl KnownVisits {
    pub(super) fn add(&mut self, site: i64, hash: i64, id: i64, last_seen: i64) {
        let e = self.0.entry((site, hash)).or_insert((id, last_seen));
        if last_seen > e.1 {
            *e = (id, last_seen);
        }
    }
}

/// What a batch writes: its events with their visits, the visits it opens, and what it adds to
/// visits that already exist.
pub(super) struct VisitPlan<'b> {
    pub rows: Vec<EventRow<'b>>,
    pub new_visits: Vec<NewVisit<'b>>,
    pub updates: Vec<(i64, SessionDelta)>,
}

/// Assigns each event of a batch to its visit, in order: the visit the cache knows, else the
/// one the store holds (`known`, which the caller read for [`wanted_visits`]), else, when the
/// cache is complete (SQLite), the one it holds for either hash, else a new one.
/// A visit continues while its events are at most [`SESSION_TIMEOUT_MS`] apart (an engagement
/// event, sent when a page is hidden, up to [`ENGAGEMENT_LOOKBACK_MS`]). Company ids come from
/// the cache, which must already know every company of the batch.
///
/// [`SESSION_TIMEOUT_MS`]: crate::tracking::model::SESSION_TIMEOUT_MS
pub(super) fn plan_visits<'b>(
    batch: &'b crate::tracking::model::IngestBatch,
    cache: &mut crate::tracking::model::SessionCache,
    known: &KnownVisits,
) -> VisitPlan<'b> {
    use crate::tracking::model::continues_visit;
    use std::collections::HashMap;

    let mut rows = Vec::with_capacity(batch.events.len());
    let mut new_visits: Vec<NewVisit<'b>> = Vec::new();
    let mut new_index: HashMap<i64, usize> = HashMap::new();
    let mut updates: HashMap<i64, SessionDelta> = HashMap::new();
    for ev in &batch.events {
        let site = ev.site_id.0;
        let company_id = ev.company.as_ref().and_then(|c| cache.company(&c.key));
        let mut visit = cache.session(site, ev.visitor_hash, ev.ts);
        if visit.is_none() {
            // Not in this node's memory (another node, a restart), or an engagement event, or
            // midnight: the store's latest visit of either hash, or, when memory is complete,
            // its own.
            for hash in [Some(ev.visitor_hash), ev.previous_visitor_hash]
                .into_iter()
                .flatten()
            {
                visit = known
                    .0
                    .get(&(site, hash))
                    .filter(|(_, last)| continues_visit(&ev.name, ev.ts - last))
                    .map(|(id, _)| *id)
                    .or_else(|| {
                        cache
                            .is_complete()
                            .then(|| cache.visit_for(site, hash, &ev.name, ev.ts))
                            .flatten()
                    });
                if visit.is_some() {
                    break;
                }
            }
        }
        let id = match visit {
            Some(id) => id,
            None => {
                let id = new_visit_id(ev.ts);
                new_index.insert(id, new_visits.len());
                new_visits.push(NewVisit {
                    id,
                    first: ev,
                    company_id,
                    delta: SessionDelta::default(),
                });
                id
            }
        };
        cache.remember_session(site, ev.visitor_hash, id, ev.ts);
        let d = match new_index.get(&id) {
            Some(i) => &mut new_visits[*i].delta,
            None => updates.entry(id).or_default(),
        };
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
            session_id: id,
            company_id,
        });
    }
    VisitPlan {
        rows,
        new_visits,
        updates: updates.into_iter().collect(),
    }
}

/// Expands to `ingest_in`, the backend-independent part of a batch write, in a handful of
/// statements whatever the batch's size: companies upserted in bulk, the visits the cache does
/// not know read in bulk, new visits inserted in bulk with their final counters, known visits
/// updated in bulk, bot counts added. The caller inserts the returned event rows in its
/// dialect's fastest way.
macro_rules! impl_ingest {
    ($store:ty, $db:ty, numbered = $numbered:expr) => {
        impl $store {
            /// Writes a batch in `tx` and commits it. On any failure the cache, which may
            /// already hold what the rolled-back transaction would have written, is cleared.
            async fn ingest_tx(
                mut tx: sqlx::Transaction<'_, $db>,
                batch: &crate::tracking::model::IngestBatch,
                cache: &mut crate::tracking::model::SessionCache,
            ) -> Result<(), crate::store::StoreError> {
                let result = async {
                    let rows = Self::ingest_in(&mut tx, batch, cache).await?;
                    Self::insert_events(&mut tx, &rows).await?;
                    tx.commit().await?;
                    Ok::<(), sqlx::Error>(())
                }
                .await;
                if result.is_err() {
                    cache.clear();
                }
                Ok(result?)
            }

            async fn ingest_in<'b>(
                tx: &mut sqlx::Transaction<'_, $db>,
                batch: &'b crate::tracking::model::IngestBatch,
                cache: &mut crate::tracking::model::SessionCache,
            ) -> Result<Vec<crate::store::common::EventRow<'b>>, sqlx::Error> {
                use crate::store::common::{
                    CHUNK, KnownVisits, VisitPlan, missing_companies, param_list, placeholder,
                    plan_visits, values_list, wanted_visits,
                };
                let numbered: bool = $numbered;

                // 1. Companies: insert the ones this node has not seen, then read their ids.
                let missing = missing_companies(batch, cache);
                let now = batch.events.first().map_or(0, |e| e.ts);
                for chunk in missing.chunks(CHUNK) {
                    let sql = format!(
                        "INSERT INTO companies (key, name, org, domain, asn, country, class, \
                         first_seen_at) VALUES {} ON CONFLICT (key) DO NOTHING",
                        values_list(chunk.len(), &["{}"; 8], numbered, 1)
                    );
                    let mut q = sqlx::query(&sql);
                    for c in chunk {
                        q = q
                            .bind(&c.key)
                            .bind(&c.name)
                            .bind(&c.org)
                            .bind(&c.domain)
                            .bind(c.asn)
                            .bind(&c.country)
                            .bind(&c.class)
                            .bind(now);
                    }
                    q.execute(&mut **tx).await?;
                    let sql = format!(
                        "SELECT key, id FROM companies WHERE key IN ({})",
                        param_list(chunk.len(), numbered, 1)
                    );
                    let mut q = sqlx::query_as::<_, (String, i64)>(&sql);
                    for c in chunk {
                        q = q.bind(&c.key);
                    }
                    for (key, id) in q.fetch_all(&mut **tx).await? {
                        cache.remember_company(&key, id);
                    }
                }

                // 2. Visits the cache does not know: the latest of each hash, read in bulk.
                let (wanted, oldest) = wanted_visits(batch, cache);
                let mut known = KnownVisits::default();
                for chunk in wanted.chunks(CHUNK) {
                    let sql = format!(
                        "SELECT site_id, visitor_hash, id, last_seen_at FROM visits \
                         WHERE last_seen_at >= {} AND visitor_hash IN ({})",
                        placeholder(numbered, 1),
                        param_list(chunk.len(), numbered, 2)
                    );
                    let mut q = sqlx::query_as::<_, (i64, i64, i64, i64)>(&sql).bind(oldest);
                    for h in chunk {
                        q = q.bind(*h);
                    }
                    for (site, hash, id, last) in q.fetch_all(&mut **tx).await? {
                        known.add(site, hash, id, last);
                    }
                }

                // 3. Each event to its visit, in order.
                let VisitPlan { rows, new_visits, updates } = plan_visits(batch, cache, &known);

                // 4. New visits, with their final counters.
                for chunk in new_visits.chunks(CHUNK) {
                    let sql = format!(
                        "INSERT INTO visits (id, site_id, visitor_hash, started_at, last_seen_at, \
                         company_id, class, country, entry_path, exit_path, pageviews, events, \
                         engaged_ms, source, channel, utm_source, utm_medium, utm_campaign, \
                         utm_term, utm_content, browser, os, device) VALUES {}",
                        values_list(chunk.len(), &["{}"; 23], numbered, 1)
                    );
                    let mut q = sqlx::query(&sql);
                    for v in chunk {
                        let e = v.first;
                        q = q
                            .bind(v.id)
                            .bind(e.site_id.0)
                            .bind(v.delta.visitor_hash)
                            .bind(e.ts)
                            .bind(v.delta.last_seen)
                            .bind(v.company_id)
                            .bind(&e.class)
                            .bind(&e.country)
                            .bind(&e.path)
                            .bind(v.delta.exit_path.as_deref().unwrap_or(&e.path))
                            .bind(v.delta.pageviews)
                            .bind(v.delta.events)
                            .bind(v.delta.engaged_ms)
                            .bind(&e.source)
                            .bind(&e.channel)
                            .bind(&e.utm_source)
                            .bind(&e.utm_medium)
                            .bind(&e.utm_campaign)
                            .bind(&e.utm_term)
                            .bind(&e.utm_content)
                            .bind(&e.browser)
                            .bind(&e.os)
                            .bind(&e.device);
                    }
                    q.execute(&mut **tx).await?;
                }

                // 5. Known visits: counters added, in one statement per chunk.
                for chunk in updates.chunks(CHUNK) {
                    let sql = format!(
                        "WITH d (id, last_seen, exit_path, pageviews, events, engaged_ms, hash) \
                         AS (VALUES {}) \
                         UPDATE visits SET \
                         last_seen_at = CASE WHEN visits.last_seen_at > d.last_seen \
                             THEN visits.last_seen_at ELSE d.last_seen END, \
                         exit_path = COALESCE(d.exit_path, visits.exit_path), \
                         pageviews = visits.pageviews + d.pageviews, \
                         events = visits.events + d.events, \
                         engaged_ms = visits.engaged_ms + d.engaged_ms, \
                         visitor_hash = CASE WHEN visits.last_seen_at > d.last_seen \
                             THEN visits.visitor_hash ELSE d.hash END \
                         FROM d WHERE visits.id = d.id",
                        values_list(
                            chunk.len(),
                            &[
                                "CAST({} AS BIGINT)",
                                "CAST({} AS BIGINT)",
                                "CAST({} AS TEXT)",
                                "CAST({} AS BIGINT)",
                                "CAST({} AS BIGINT)",
                                "CAST({} AS BIGINT)",
                                "CAST({} AS BIGINT)",
                            ],
                            numbered,
                            1,
                        )
                    );
                    let mut q = sqlx::query(&sql);
                    for (id, d) in chunk {
                        q = q
                            .bind(*id)
                            .bind(d.last_seen)
                            .bind(d.exit_path.as_deref())
                            .bind(d.pageviews)
                            .bind(d.events)
                            .bind(d.engaged_ms)
                            .bind(d.visitor_hash);
                    }
                    q.execute(&mut **tx).await?;
                }

                // 6. Bots.
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
