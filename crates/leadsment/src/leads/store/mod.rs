//! The dashboard's queries. They read `tracking`'s tables (visits, events, companies) and
//! never write them; the dashboard writes only its own tables ([`saved`] feeds and the
//! workspace's [`exclusions`]). A visit belongs to the period it starts in, with its visitor and
//! engaged time; pageviews and pages belong to the period they happen in.

use std::collections::HashMap;

use super::pattern::PathPattern;
use super::score::{Activity, ScoreRules};
use super::span::Span;
use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError, sql};

mod events;
pub mod exclusions;
mod live;
mod overview;
pub mod rollups;
pub mod saved;
pub mod score_rules;
pub use events::*;
pub use live::*;
pub use overview::*;

/// How many ids go into one `IN (…)` list.
const CHUNK: usize = 500;

/// Visitors among visits (`v.` before the columns, or nothing): a person counts once per UTC
/// day, the day a visit starts, as in the rollups. A visit that runs past UTC midnight takes
/// the new day's hash, so the hash alone would merge it with the person's next visit that day.
fn visitors(v: &str) -> String {
    format!(
        "COUNT(DISTINCT CAST({v}started_at / 86400000 AS TEXT) || ':' || \
         CAST({v}visitor_hash AS TEXT))"
    )
}

/// `$from, $from+1, …` for `n` arguments.
pub(super) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An organisation as the dashboard shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Company {
    pub id: i64,
    pub name: String,
    pub org: Option<String>,
    pub domain: Option<String>,
    pub asn: Option<i64>,
    pub country: Option<String>,
    pub class: String,
    /// Why the IP data gives that class; only the reads that show it select it.
    #[sqlx(default)]
    pub class_reason: Option<String>,
}

/// A company's visits in a period, with what the feed's filters ask of them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CompanyVisits {
    pub id: i64,
    pub name: String,
    pub domain: Option<String>,
    pub country: Option<String>,
    pub class: String,
    pub visits: i64,
    pub visitors: i64,
    pub engaged_ms: i64,
    pub last_seen_at: i64,
    /// Visits from the filter's country, and from its source or channel.
    pub country_hits: i64,
    pub source_hits: i64,
    /// Filled in from the pageviews (the query leaves it 0).
    #[sqlx(default)]
    pub pageviews: i64,
}

/// Every company with a visit to `site` that started in `[start, end)` (a range of the
/// visits' key, site and id, as well).
pub async fn company_visits(
    db: &Db,
    site: SiteId,
    (start, end): (i64, i64),
    country: Option<&str>,
    source: Option<&str>,
) -> Result<Vec<CompanyVisits>, StoreError> {
    let ids = crate::tracking::visits::visit_ids_started(start, end);
    Ok(db
        .all(
            sql(format!("SELECT c.id, c.name, c.domain, c.country, c.class, \
                 COUNT(*) AS visits, {} AS visitors, \
                 CAST(SUM(v.engaged_ms) AS BIGINT) AS engaged_ms, \
                 MAX(v.last_seen_at) AS last_seen_at, \
                 CAST(SUM(CASE WHEN t.country = $4 THEN 1 ELSE 0 END) AS BIGINT) AS country_hits, \
                 CAST(SUM(CASE WHEN LOWER(t.source) = LOWER($5) OR t.channel = LOWER($5) \
                     OR LOWER(t.utm_source) = LOWER($5) THEN 1 ELSE 0 END) AS BIGINT) AS source_hits \
                 FROM visits v JOIN companies c ON c.id = v.company_id \
                 JOIN visit_traits t ON t.id = v.traits_id \
                 WHERE v.site_id = $1 AND v.started_at >= $2 AND v.started_at < $3 \
                 AND v.id >= $6 AND v.id < $7 \
                 GROUP BY c.id, c.name, c.domain, c.country, c.class", visitors("v.")))
            .bind(site.0)
            .bind(start)
            .bind(end)
            .bind(country)
            .bind(source)
            .bind(ids.0)
            .bind(ids.1),
        )
        .await?)
}

#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct CompanyPages {
    pub company_id: i64,
    pub pageviews: i64,
    /// Pageviews matching the feed's page pattern.
    pub page_hits: i64,
}

/// Pageviews in `[start, end)` per company, and how many match `page`.
pub async fn company_pageviews(
    db: &Db,
    site: SiteId,
    (start, end): (i64, i64),
    page: Option<&PathPattern>,
) -> Result<HashMap<i64, CompanyPages>, StoreError> {
    let backend = db.backend();
    let hits = match page {
        // The pattern is matched against the site's paths once, not each event's.
        Some(_) => format!(
            "CAST(SUM(CASE WHEN path_id IN (SELECT id FROM paths WHERE site_id = $1 AND {}) \
             THEN 1 ELSE 0 END) AS BIGINT)",
            PathPattern::condition(backend, "path", 4)
        ),
        None => "CAST(0 AS BIGINT)".to_owned(),
    };
    let mut q = sql(format!(
        "SELECT company_id, COUNT(*) AS pageviews, {hits} AS page_hits FROM events \
         WHERE site_id = $1 AND ts >= $2 AND ts < $3 AND name = 'pageview' \
         AND company_id IS NOT NULL GROUP BY company_id"
    ))
    .bind(site.0)
    .bind(start)
    .bind(end);
    if let Some(p) = page {
        q = q.bind(p.sql_value(backend));
    }
    let rows: Vec<CompanyPages> = db.all(q).await?;
    Ok(rows.into_iter().map(|r| (r.company_id, r)).collect())
}

/// What each company (or the one named) did over the UTC days `[first, end)`, for its score.
pub async fn activity(
    db: &Db,
    site: SiteId,
    days: (i64, i64),
    company: Option<i64>,
    rules: &ScoreRules,
) -> Result<HashMap<i64, Activity>, StoreError> {
    let sums = rollups::day_sums(db, site, days, company).await?;
    let mut out: HashMap<i64, Activity> = sums
        .into_values()
        .filter(|s| s.visits > 0)
        .map(|s| {
            (
                s.company_id,
                Activity {
                    visits: s.visits,
                    visitors: s.visitors,
                    engaged_ms: s.engaged_ms,
                    last_visit_at: s.last_seen_at,
                    rule_hits: vec![0; rules.pages.len()],
                },
            )
        })
        .collect();
    if out.is_empty() {
        return Ok(out);
    }
    let paths = rollups::site_paths(db, site).await?;
    for (i, rule) in rules.pages.iter().enumerate() {
        let matching: Vec<i64> = paths
            .iter()
            .filter(|(_, p)| rule.matches(p))
            .map(|(id, _)| *id)
            .collect();
        if matching.is_empty() {
            continue;
        }
        for (id, n) in rollups::path_hits(db, site, days, &matching, company).await? {
            if let Some(a) = out.get_mut(&id) {
                a.rule_hits[i] = n;
            }
        }
    }
    Ok(out)
}

/// The most viewed pages over `span` of each of `companies`, most viewed first.
pub async fn top_pages(
    db: &Db,
    site: SiteId,
    span: &Span,
    companies: &[i64],
    per_company: usize,
) -> Result<HashMap<i64, Vec<(String, i64)>>, StoreError> {
    let mut counts: HashMap<i64, HashMap<String, i64>> = HashMap::new();
    let mut add = |id: i64, path: String, n: i64| {
        *counts.entry(id).or_default().entry(path).or_default() += n;
    };
    for (id, path, n) in rollups::company_paths(db, site, span.days, companies).await? {
        add(id, path, n);
    }
    for range in &span.raw {
        for (id, path, n) in raw_company_paths(db, site, *range, companies).await? {
            add(id, path, n);
        }
    }
    Ok(counts
        .into_iter()
        .map(|(id, paths)| {
            let mut pages: Vec<(String, i64)> = paths.into_iter().collect();
            pages.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            pages.truncate(per_company);
            (id, pages)
        })
        .collect())
}

/// Pageviews per path in `[start, end)` of each of `companies`, from the raw events.
pub async fn raw_company_paths(
    db: &Db,
    site: SiteId,
    (start, end): (i64, i64),
    companies: &[i64],
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    let mut out = Vec::new();
    for chunk in companies.chunks(CHUNK) {
        let mut q = sql(format!(
            // Counted by path id, then named.
            "SELECT x.company_id, p.path, x.n FROM (SELECT company_id, path_id, \
             COUNT(*) AS n FROM events \
             WHERE site_id = $1 AND ts >= $2 AND ts < $3 AND name = 'pageview' \
             AND company_id IN ({}) GROUP BY company_id, path_id) x \
             JOIN paths p ON p.id = x.path_id",
            placeholders(4, chunk.len())
        ))
        .bind(site.0)
        .bind(start)
        .bind(end);
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(db.all::<(i64, String, i64)>(q).await?);
    }
    Ok(out)
}

/// The companies of `ids`.
pub async fn companies(db: &Db, ids: &[i64]) -> Result<Vec<Company>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut q = sql(format!(
            "SELECT id, name, org, domain, asn, country, class, class_reason FROM companies \
             WHERE id IN ({})",
            placeholders(1, chunk.len())
        ));
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(db.all::<Company>(q).await?);
    }
    Ok(out)
}

/// Why the IP data gives each of `ids` its class, where it says.
pub async fn class_reasons(db: &Db, ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut q = sql(format!(
            "SELECT id, class_reason FROM companies \
             WHERE id IN ({}) AND class_reason IS NOT NULL",
            placeholders(1, chunk.len())
        ));
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(db.all::<(i64, String)>(q).await?);
    }
    Ok(out)
}

/// Where a company's first visit to the site came from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FirstVisit {
    pub company_id: i64,
    pub started_at: i64,
    pub source: Option<String>,
    pub channel: String,
    pub utm_campaign: Option<String>,
}

/// The first visit to `site` ever of each of `companies`: one read of the company's visits
/// index each.
pub async fn first_visits(
    db: &Db,
    site: SiteId,
    companies: &[i64],
) -> Result<HashMap<i64, FirstVisit>, StoreError> {
    let mut out = HashMap::new();
    for chunk in companies.chunks(CHUNK) {
        // One query: each company's first visit is one index seek (`visits_company`).
        let mut q = sql(format!(
            "SELECT v.company_id, v.started_at, t.source, t.channel, t.utm_campaign \
             FROM visits v JOIN visit_traits t ON t.id = v.traits_id \
             WHERE v.site_id = $1 AND v.id IN (SELECT (SELECT w.id FROM visits w \
                 WHERE w.site_id = $1 AND w.company_id = x.id \
                 ORDER BY w.id LIMIT 1) \
             FROM companies x WHERE x.id IN ({}))",
            placeholders(2, chunk.len())
        ))
        .bind(site.0);
        for id in chunk {
            q = q.bind(*id);
        }
        for f in db.all::<FirstVisit>(q).await? {
            out.insert(f.company_id, f);
        }
    }
    Ok(out)
}

/// The company, if it has a visit to `site`: nobody learns of other tenants' visitors by
/// walking the sequential ids.
pub async fn company_on_site(
    db: &Db,
    site: SiteId,
    company: i64,
) -> Result<Option<Company>, StoreError> {
    Ok(db
        .optional(
            sql(
                "SELECT c.id, c.name, c.org, c.domain, c.asn, c.country, c.class, c.class_reason \
                 FROM companies c WHERE c.id = $2 AND EXISTS \
                 (SELECT 1 FROM visits v WHERE v.site_id = $1 AND v.company_id = c.id)",
            )
            .bind(site.0)
            .bind(company),
        )
        .await?)
}

/// One visit of a company's timeline.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VisitRow {
    pub id: i64,
    pub visitor_hash: i64,
    pub started_at: i64,
    pub last_seen_at: i64,
    pub entry_path: String,
    pub pageviews: i64,
    pub engaged_ms: i64,
    pub source: Option<String>,
    pub channel: String,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub country: Option<String>,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub device: String,
}

/// A company's visits to `site`, newest first, at most `limit`. Their ids are read first,
/// from the company's index alone: asked for the whole rows in id order, SQLite (without
/// statistics) reads the site's visits backwards from the newest until it has found them,
/// which for a company last seen long ago is most of the site.
pub async fn company_timeline(
    db: &Db,
    site: SiteId,
    company: i64,
    limit: i64,
) -> Result<Vec<VisitRow>, StoreError> {
    Ok(db
        .all(
            sql(
                "SELECT v.id, v.visitor_hash, v.started_at, v.last_seen_at, \
                 (SELECT path FROM paths WHERE id = v.entry_path_id) AS entry_path, \
                 v.pageviews, v.engaged_ms, t.source, t.channel, t.utm_source, t.utm_medium, \
                 t.utm_campaign, t.country, t.browser, t.os, t.device \
                 FROM visits v JOIN visit_traits t ON t.id = v.traits_id \
                 WHERE v.site_id = $1 AND v.id IN (SELECT id FROM visits \
                     WHERE site_id = $1 AND company_id = $2 ORDER BY id DESC LIMIT $3) \
                 ORDER BY v.id DESC",
            )
            .bind(site.0)
            .bind(company)
            .bind(limit),
        )
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub visit_id: i64,
    pub ts: i64,
    pub name: String,
    pub path: String,
    pub props: Option<String>,
    pub engaged_ms: Option<i64>,
}

/// The events of `visits` (of `site`), in order: each visit's first `per_visit` at most.
pub async fn visit_events(
    db: &Db,
    site: SiteId,
    visits: &[i64],
    per_visit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let mut out = Vec::new();
    for chunk in visits.chunks(CHUNK) {
        let mut q = sql(format!(
            // The site is compared as an expression: as a column, SQLite would read the
            // site's whole time index rather than the visits' events.
            "SELECT visit_id, ts, name, (SELECT path FROM paths WHERE id = e.path_id) AS path, \
             props, engaged_ms FROM \
             (SELECT visit_id, ts, id, name, path_id, props, engaged_ms, \
             ROW_NUMBER() OVER (PARTITION BY visit_id ORDER BY ts, id) AS n FROM events \
             WHERE site_id + 0 = $1 AND visit_id IN ({})) e \
             WHERE n <= $2 ORDER BY ts, id",
            placeholders(3, chunk.len())
        ))
        .bind(site.0)
        .bind(per_visit);
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(db.all::<EventRow>(q).await?);
    }
    out.sort_by_key(|e| (e.ts, e.visit_id));
    Ok(out)
}

#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct CompanyTotalsRow {
    pub visits: i64,
    pub visitors: i64,
    pub pageviews: i64,
    pub engaged_ms: i64,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
}

/// Everything a company did on `site`, every visit counted: the sums of all its days, and
/// its first visit.
pub async fn company_totals(
    db: &Db,
    site: SiteId,
    company: i64,
) -> Result<CompanyTotalsRow, StoreError> {
    let sums = rollups::day_sums(db, site, (i64::MIN, i64::MAX), Some(company))
        .await?
        .remove(&company)
        .unwrap_or_default();
    // Ids begin with the start, so the first visit is the one with the smallest id: found in
    // the company's index (as `company_timeline` says, not through an ordered read).
    let first: Option<i64> = db
        .value_optional(
            sql("SELECT started_at FROM visits WHERE site_id = $1 AND id = \
                 (SELECT MIN(id) FROM visits WHERE site_id = $1 AND company_id = $2)")
            .bind(site.0)
            .bind(company),
        )
        .await?;
    Ok(CompanyTotalsRow {
        visits: sums.visits,
        visitors: sums.visitors,
        pageviews: sums.pageviews,
        engaged_ms: sums.engaged_ms,
        first_seen_at: first.unwrap_or(0),
        last_seen_at: sums.last_seen_at,
    })
}
