//! The dashboard's queries. They read `tracking`'s tables (visits, events, companies) and
//! never write. A visit belongs to the period it starts in, with its visitor and engaged time;
//! pageviews and pages belong to the period they happen in.

use std::collections::HashMap;

use super::pattern::PathPattern;
use super::score::{Activity, PAGE_RULES};
use crate::accounts::sites::SiteId;
use crate::store::{Db, Sql, StoreError, sql};

/// How many ids go into one `IN (…)` list.
mod overview;
pub use overview::*;

const CHUNK: usize = 500;

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
}

/// Every company with a visit to `site` that started in `[start, end)`.
pub async fn company_visits(
    db: &Db,
    site: SiteId,
    (start, end): (i64, i64),
    country: Option<&str>,
    source: Option<&str>,
) -> Result<Vec<CompanyVisits>, StoreError> {
    Ok(db
        .all(
            sql("SELECT c.id, c.name, c.domain, c.country, c.class, \
                 COUNT(*) AS visits, COUNT(DISTINCT v.visitor_hash) AS visitors, \
                 CAST(SUM(v.engaged_ms) AS BIGINT) AS engaged_ms, \
                 MAX(v.last_seen_at) AS last_seen_at, \
                 CAST(SUM(CASE WHEN v.country = $4 THEN 1 ELSE 0 END) AS BIGINT) AS country_hits, \
                 CAST(SUM(CASE WHEN LOWER(v.source) = LOWER($5) OR v.channel = LOWER($5) \
                     OR LOWER(v.utm_source) = LOWER($5) THEN 1 ELSE 0 END) AS BIGINT) AS source_hits \
                 FROM visits v JOIN companies c ON c.id = v.company_id \
                 WHERE v.site_id = $1 AND v.started_at >= $2 AND v.started_at < $3 \
                 GROUP BY c.id, c.name, c.domain, c.country, c.class")
            .bind(site.0)
            .bind(start)
            .bind(end)
            .bind(country)
            .bind(source),
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
        Some(_) => format!(
            "CAST(SUM(CASE WHEN {} THEN 1 ELSE 0 END) AS BIGINT)",
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

#[derive(sqlx::FromRow)]
struct ActivityRow {
    company_id: i64,
    visits: i64,
    visitors: i64,
    engaged_ms: i64,
    last_seen_at: i64,
}

#[derive(sqlx::FromRow)]
struct HitsRow {
    company_id: i64,
    h0: i64,
    h1: i64,
    h2: i64,
    h3: i64,
}

/// What each company (or the one named) did in `[start, end)`, for its score.
pub async fn activity(
    db: &Db,
    site: SiteId,
    (start, end): (i64, i64),
    company: Option<i64>,
) -> Result<HashMap<i64, Activity>, StoreError> {
    let only = if company.is_some() {
        "AND company_id = $4"
    } else {
        "AND company_id IS NOT NULL"
    };
    let with_company = |q: Sql| match company {
        Some(id) => q.bind(id),
        None => q,
    };
    let visits: Vec<ActivityRow> = db
        .all(with_company(
            sql(format!(
                "SELECT company_id, COUNT(*) AS visits, \
                 COUNT(DISTINCT visitor_hash) AS visitors, \
                 CAST(SUM(engaged_ms) AS BIGINT) AS engaged_ms, \
                 MAX(last_seen_at) AS last_seen_at FROM visits \
                 WHERE site_id = $1 AND started_at >= $2 AND started_at < $3 {only} \
                 GROUP BY company_id"
            ))
            .bind(site.0)
            .bind(start)
            .bind(end),
        ))
        .await?;
    let backend = db.backend();
    let first_rule_arg = if company.is_some() { 5 } else { 4 };
    let mut n = first_rule_arg;
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for (i, rule) in PAGE_RULES.iter().enumerate() {
        let mut any = Vec::new();
        for p in rule.patterns {
            any.push(PathPattern::condition(backend, "path", n));
            values.push(PathPattern::fixed((*p).to_owned()).sql_value(backend));
            n += 1;
        }
        columns.push(format!(
            "CAST(SUM(CASE WHEN {} THEN 1 ELSE 0 END) AS BIGINT) AS h{i}",
            any.join(" OR ")
        ));
    }
    let mut q = with_company(
        sql(format!(
            "SELECT company_id, {} FROM events \
             WHERE site_id = $1 AND ts >= $2 AND ts < $3 AND name = 'pageview' {only} \
             GROUP BY company_id",
            columns.join(", ")
        ))
        .bind(site.0)
        .bind(start)
        .bind(end),
    );
    for v in values {
        q = q.bind(v);
    }
    let hits: Vec<HitsRow> = db.all(q).await?;
    let mut out: HashMap<i64, Activity> = visits
        .into_iter()
        .map(|v| {
            (
                v.company_id,
                Activity {
                    visits: v.visits,
                    visitors: v.visitors,
                    engaged_ms: v.engaged_ms,
                    last_visit_at: v.last_seen_at,
                    rule_hits: [0; PAGE_RULES.len()],
                },
            )
        })
        .collect();
    for h in hits {
        if let Some(a) = out.get_mut(&h.company_id) {
            a.rule_hits = [h.h0, h.h1, h.h2, h.h3];
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PathCount {
    pub company_id: i64,
    pub path: String,
    pub pageviews: i64,
}

/// The most viewed pages in `[start, end)` of each of `companies`, most viewed first.
pub async fn top_pages(
    db: &Db,
    site: SiteId,
    (start, end): (i64, i64),
    companies: &[i64],
    per_company: usize,
) -> Result<HashMap<i64, Vec<(String, i64)>>, StoreError> {
    let mut out: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
    for chunk in companies.chunks(CHUNK) {
        let mut q = sql(format!(
            "SELECT company_id, path, COUNT(*) AS pageviews FROM events \
             WHERE site_id = $1 AND ts >= $2 AND ts < $3 AND name = 'pageview' \
             AND company_id IN ({}) GROUP BY company_id, path",
            placeholders(4, chunk.len())
        ))
        .bind(site.0)
        .bind(start)
        .bind(end);
        for id in chunk {
            q = q.bind(*id);
        }
        let rows: Vec<PathCount> = db.all(q).await?;
        for r in rows {
            out.entry(r.company_id)
                .or_default()
                .push((r.path, r.pageviews));
        }
    }
    for pages in out.values_mut() {
        pages.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        pages.truncate(per_company);
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

/// The first visit to `site` ever of each of `companies`.
pub async fn first_visits(
    db: &Db,
    site: SiteId,
    companies: &[i64],
) -> Result<HashMap<i64, FirstVisit>, StoreError> {
    let mut out = HashMap::new();
    for chunk in companies.chunks(CHUNK) {
        let mut q = sql(format!(
            "SELECT v.company_id, v.started_at, v.source, v.channel, v.utm_campaign \
             FROM visits v JOIN (SELECT company_id, MIN(id) AS id FROM visits \
                 WHERE site_id = $1 AND company_id IN ({}) GROUP BY company_id) f \
             ON f.id = v.id",
            placeholders(2, chunk.len())
        ))
        .bind(site.0);
        for id in chunk {
            q = q.bind(*id);
        }
        let rows: Vec<FirstVisit> = db.all(q).await?;
        out.extend(rows.into_iter().map(|r| (r.company_id, r)));
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
                "SELECT c.id, c.name, c.org, c.domain, c.asn, c.country, c.class \
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

/// A company's visits to `site`, newest first, at most `limit`.
pub async fn company_timeline(
    db: &Db,
    site: SiteId,
    company: i64,
    limit: i64,
) -> Result<Vec<VisitRow>, StoreError> {
    Ok(db
        .all(
            sql(
                "SELECT id, visitor_hash, started_at, last_seen_at, entry_path, pageviews, \
                 engaged_ms, source, channel, utm_source, utm_medium, utm_campaign, country, \
                 browser, os, device FROM visits WHERE site_id = $1 AND company_id = $2 \
                 ORDER BY started_at DESC, id DESC LIMIT $3",
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

/// The events of `visits` (of `site`), in order.
pub async fn visit_events(
    db: &Db,
    site: SiteId,
    visits: &[i64],
) -> Result<Vec<EventRow>, StoreError> {
    let mut out = Vec::new();
    for chunk in visits.chunks(CHUNK) {
        let mut q = sql(format!(
            "SELECT visit_id, ts, name, path, props, engaged_ms FROM events \
             WHERE site_id = $1 AND visit_id IN ({}) ORDER BY ts, id",
            placeholders(2, chunk.len())
        ))
        .bind(site.0);
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

/// Everything a company did on `site`, every visit counted.
pub async fn company_totals(
    db: &Db,
    site: SiteId,
    company: i64,
) -> Result<CompanyTotalsRow, StoreError> {
    Ok(db
        .one(
            sql(
                "SELECT COUNT(*) AS visits, COUNT(DISTINCT visitor_hash) AS visitors, \
                 CAST(COALESCE(SUM(pageviews), 0) AS BIGINT) AS pageviews, \
                 CAST(COALESCE(SUM(engaged_ms), 0) AS BIGINT) AS engaged_ms, \
                 COALESCE(MIN(started_at), 0) AS first_seen_at, \
                 COALESCE(MAX(last_seen_at), 0) AS last_seen_at \
                 FROM visits WHERE site_id = $1 AND company_id = $2",
            )
            .bind(site.0)
            .bind(company),
        )
        .await?)
}
