//! The company feed as named steps: the period's companies, narrowed by each filter, scored,
//! ordered, cut at the cursor, then filled in with their top pages and first source.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use ipintel::Class;

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::cache::DayCache;
use super::filters::{Cursor, CursorKey, FeedQuery, Sort};
use super::pieces::{Reads, Sums};
use super::score::{self, Score};
use super::span::Span;
use super::store::{self, Company, CompanyVisits, FirstVisit};
use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError};
use crate::tracking::rollups::day_of;

/// Rows per page of the feed.
pub const PAGE_SIZE: usize = 50;
/// Hosting networks shown beside the feed (all of them when they are the only class asked).
pub const HOSTING_SHOWN: usize = 10;

#[derive(Debug, Clone)]
pub struct FeedRow {
    pub company_id: i64,
    pub name: String,
    pub domain: Option<String>,
    pub country: Option<String>,
    pub class: String,
    /// Why the IP data gives that class, shown beside it.
    pub class_reason: Option<String>,
    pub score: Score,
    pub last_visit_at: i64,
    pub visits: i64,
    pub visitors: i64,
    pub pageviews: i64,
    pub engaged_ms: i64,
    pub top_pages: Vec<(String, i64)>,
    pub first: Option<FirstVisit>,
}

#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub rows: Vec<FeedRow>,
    /// Rows matching the filters, on every page.
    pub total: usize,
    /// Hosting networks, apart: the company behind them is not the network's owner.
    pub hosting: Vec<FeedRow>,
    pub hosting_total: usize,
    pub next: Option<Cursor>,
}

/// How many rows to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    Page,
    Every,
}

/// How far back a cursor may set the time a feed scores at.
const CURSOR_AGE_MS: i64 = 24 * 3600 * 1000;

pub async fn feed(
    db: &Db,
    cache: &DayCache,
    site: SiteId,
    q: &FeedQuery,
    now_ms: i64,
    rows: Rows,
) -> Result<Feed, StoreError> {
    // The period is split at the clock's now: whether today's rollup can stand for the rest
    // of the period depends on what has happened by now, not by the first page.
    let span = span_of(q, now_ms);
    // Later pages score at the first page's time: never later than now, nor more than a day
    // earlier (a cursor is text anyone can write, and each time would be new pieces to keep).
    let now_ms = q
        .cursor
        .as_ref()
        .map_or(now_ms, |c| c.now.clamp(now_ms - CURSOR_AGE_MS, now_ms));
    let window = score::window(now_ms);
    let reads = Reads::new(db, cache, site, days_read(&span, window), now_ms).await?;
    // The workspace's hidden companies are in no row, count, CSV or score.
    let mut companies = period_companies(&reads, &span, q).await?;
    companies.retain(|(c, _)| !reads.excluded.contains(c.id));
    let companies = keep_matching(companies, q);
    let activity = reads.activity(window).await?;
    let hits = match &q.page {
        Some(page) => reads.page_hits(&span, page).await?,
        None => FxHashMap::default(),
    };

    // Every company is ordered by its score's value; only the rows shown get their lines.
    let mut all: Vec<Candidate> = companies
        .into_iter()
        .filter(|(c, _, _)| q.page.is_none() || hits.get(&c.id).is_some_and(|n| *n > 0))
        .map(|(company, sums, class)| {
            let score = activity
                .get(&company.id)
                .filter(|a| a.visits > 0)
                .map_or(0, |a| {
                    score::value(&a.activity(&reads.rules), &reads.rules, now_ms)
                });
            Candidate {
                company,
                sums,
                score,
                class,
            }
        })
        .filter(|c| q.min_score.is_none_or(|min| c.score >= min))
        .collect();
    sort(q.sort, &mut all);

    let hosting_only = q.classes == [Class::Hosting];
    let (hosting, mut main): (Vec<Candidate>, Vec<Candidate>) = if hosting_only {
        (Vec::new(), all)
    } else {
        all.into_iter().partition(|c| c.class == Class::Hosting)
    };
    let total = main.len();
    let hosting_total = hosting.len();
    let mut hosting: Vec<Candidate> = match rows {
        Rows::Every => hosting,
        Rows::Page => hosting.into_iter().take(HOSTING_SHOWN).collect(),
    };
    if let Some(c) = &q.cursor {
        let from = main
            .iter()
            .position(|r| order_key(q.sort, r).cmp_after(c) == Ordering::Greater)
            .unwrap_or(main.len());
        main.drain(..from);
        hosting.clear();
    }
    let next = if rows == Rows::Page && main.len() > PAGE_SIZE {
        main.truncate(PAGE_SIZE);
        main.last().map(|r| cursor_of(q.sort, r, now_ms))
    } else {
        None
    };

    let shown: Vec<i64> = main.iter().chain(&hosting).map(|c| c.company.id).collect();
    let (mut tops, mut firsts, mut reasons) = match rows {
        // A page's companies' pages are kept piece by piece; every row of a CSV is not.
        Rows::Page => futures_util::try_join!(
            reads.top_pages(&span, &shown, 3),
            store::first_visits(db, site, &shown),
            store::class_reasons(db, &shown),
        )?,
        Rows::Every => futures_util::try_join!(
            store::top_pages(db, site, &span, &shown, 3),
            store::first_visits(db, site, &shown),
            store::class_reasons(db, &shown),
        )?,
    };
    let mut row = |c: Candidate| {
        let score = activity
            .get(&c.company.id)
            .filter(|a| a.visits > 0)
            .map(|a| score::score(&a.activity(&reads.rules), &reads.rules, now_ms))
            .unwrap_or(Score {
                value: 0,
                lines: vec![],
            });
        let id = c.company.id;
        let mut r = row(&c.company, &c.sums, score);
        r.top_pages = tops.remove(&id).unwrap_or_default();
        r.first = firsts.remove(&id);
        r.class_reason = reasons.remove(&id);
        r
    };
    let rows: Vec<FeedRow> = main.into_iter().map(&mut row).collect();
    let hosting: Vec<FeedRow> = hosting.into_iter().map(&mut row).collect();
    Ok(Feed {
        rows,
        total,
        hosting,
        hosting_total,
        next,
    })
}

/// A company of the period before it is shown: its figures and its score's value.
struct Candidate {
    company: Arc<Company>,
    sums: Sums,
    score: u8,
    class: Class,
}

/// The period as the feed reads it. The country and source of a visit are in no rollup, so a
/// feed filtered by them reads the period's visits.
fn span_of(q: &FeedQuery, now_ms: i64) -> Span {
    let period = (q.period.start_ms, q.period.end_ms);
    if raw_filters(q) {
        Span::raw(period)
    } else {
        Span::of(period, now_ms)
    }
}

fn raw_filters(q: &FeedQuery) -> bool {
    q.country.is_some() || q.source.is_some()
}

/// The UTC days a feed reads: its span's and the score's window.
fn days_read(span: &Span, window: (i64, i64)) -> (i64, i64) {
    let (mut first, mut end) = window;
    if span.days.0 < span.days.1 {
        first = first.min(span.days.0);
        end = end.max(span.days.1);
    }
    for (a, b) in &span.raw {
        first = first.min(day_of(*a));
        end = end.max(day_of(*b - 1) + 1);
    }
    (first, end)
}

/// Every company with a visit that started in the period, with its sums: kept pieces of whole
/// UTC days (the rollups) and of the edges (the raw tables), or, filtered by a visit's
/// country or source, the period's visits.
async fn period_companies(
    reads: &Reads<'_>,
    span: &Span,
    q: &FeedQuery,
) -> Result<Vec<(Arc<Company>, Sums)>, StoreError> {
    if raw_filters(q) {
        return raw_period_companies(reads.db, reads.site, span, q).await;
    }
    let sums = reads.span_sums(span).await?;
    let ids: Vec<i64> = sums
        .iter()
        .filter(|(_, s)| s.visits > 0)
        .map(|(id, _)| *id)
        .collect();
    let companies = reads.companies(&ids).await?;
    Ok(ids
        .into_iter()
        .filter_map(|id| Some((companies.get(&id)?.clone(), *sums.get(&id)?)))
        .collect())
}

/// Every company with a visit that started in `span` (read raw) from the filter's country and
/// source.
async fn raw_period_companies(
    db: &Db,
    site: SiteId,
    span: &Span,
    q: &FeedQuery,
) -> Result<Vec<(Arc<Company>, Sums)>, StoreError> {
    let mut by_id: HashMap<i64, CompanyVisits> = HashMap::new();
    // Pageviews are added once every company of every piece is in: a company may have
    // pageviews at the start and its first visit at the end.
    let mut pageviews: HashMap<i64, i64> = HashMap::new();
    for range in &span.raw {
        for (id, p) in store::company_pageviews(db, site, *range, None).await? {
            *pageviews.entry(id).or_default() += p.pageviews;
        }
        let visits =
            store::company_visits(db, site, *range, q.country.as_deref(), q.source.as_deref())
                .await?;
        for c in visits {
            match by_id.entry(c.id) {
                Entry::Vacant(v) => {
                    v.insert(c);
                }
                Entry::Occupied(mut o) => {
                    let e = o.get_mut();
                    e.visits += c.visits;
                    e.visitors += c.visitors;
                    e.engaged_ms += c.engaged_ms;
                    e.last_seen_at = e.last_seen_at.max(c.last_seen_at);
                    e.country_hits += c.country_hits;
                    e.source_hits += c.source_hits;
                }
            }
        }
    }
    Ok(by_id
        .into_values()
        .filter(|c| c.visits > 0)
        .filter(|c| q.country.is_none() || c.country_hits > 0)
        .filter(|c| q.source.is_none() || c.source_hits > 0)
        .map(|c| {
            let sums = Sums {
                visits: c.visits,
                visitors: c.visitors,
                pageviews: pageviews.get(&c.id).copied().unwrap_or(0),
                engaged_ms: c.engaged_ms,
                last_seen_at: c.last_seen_at,
                rule_hits: Default::default(),
            };
            let company = Company {
                id: c.id,
                name: c.name,
                org: None,
                domain: c.domain,
                asn: None,
                country: c.country,
                class: c.class,
                class_reason: None,
            };
            (Arc::new(company), sums)
        })
        .collect())
}

/// Class and the name or domain searched; each company with its class.
fn keep_matching(
    companies: Vec<(Arc<Company>, Sums)>,
    q: &FeedQuery,
) -> Vec<(Arc<Company>, Sums, Class)> {
    let needle = q.q.as_ref().map(|s| s.to_lowercase());
    companies
        .into_iter()
        .filter_map(|(c, s)| {
            let class = Class::from_name(&c.class).unwrap_or(Class::Unknown);
            // Hosting networks are shown apart unless the link chose its classes.
            let shown =
                q.classes.contains(&class) || (class == Class::Hosting && !q.classes_chosen);
            shown.then_some((c, s, class))
        })
        .filter(|(c, _, _)| match &needle {
            None => true,
            Some(n) => {
                c.name.to_lowercase().contains(n)
                    || c.domain
                        .as_deref()
                        .is_some_and(|d| d.to_lowercase().contains(n.as_str()))
            }
        })
        .collect()
}

fn row(c: &Company, s: &Sums, score: Score) -> FeedRow {
    FeedRow {
        company_id: c.id,
        name: c.name.clone(),
        domain: c.domain.clone(),
        country: c.country.clone(),
        class: c.class.clone(),
        class_reason: c.class_reason.clone(),
        score,
        last_visit_at: s.last_seen_at,
        visits: s.visits,
        visitors: s.visitors,
        pageviews: s.pageviews,
        engaged_ms: s.engaged_ms,
        top_pages: Vec::new(),
        first: None,
    }
}

/// A row's place in an order: its sort value, then its id.
struct Key {
    sort: Sort,
    key: CursorKey,
    id: i64,
}

impl Key {
    /// Whether this row comes after the cursor's (Greater) in the order.
    fn cmp_after(&self, c: &Cursor) -> Ordering {
        let by_key = match self.sort {
            // Names ascend; every number descends.
            Sort::Name => self.key.cmp(&c.key),
            _ => c.key.cmp(&self.key),
        };
        by_key.then(self.id.cmp(&c.id))
    }
}

/// The number a candidate is ordered by (none when by name).
fn number(sort: Sort, c: &Candidate) -> Option<i64> {
    match sort {
        Sort::Score => Some(i64::from(c.score)),
        Sort::LastVisit => Some(c.sums.last_seen_at),
        Sort::Visits => Some(c.sums.visits),
        Sort::Pageviews => Some(c.sums.pageviews),
        Sort::Name => None,
    }
}

fn order_key(sort: Sort, c: &Candidate) -> Key {
    let key = match number(sort, c) {
        Some(n) => CursorKey::Int(n),
        None => CursorKey::Text(c.company.name.to_lowercase()),
    };
    Key {
        sort,
        key,
        id: c.company.id,
    }
}

/// Orders the candidates: by the sort's value (names ascending, numbers descending), then id.
/// Numbers are sorted as plain pairs beside each row's place, which moves less memory.
fn sort(sort: Sort, all: &mut Vec<Candidate>) {
    let mut order: Vec<usize> = (0..all.len()).collect();
    match sort {
        Sort::Name => {
            let names: Vec<String> = all.iter().map(|c| c.company.name.to_lowercase()).collect();
            order.sort_unstable_by(|&a, &b| {
                names[a]
                    .cmp(&names[b])
                    .then(all[a].company.id.cmp(&all[b].company.id))
            });
        }
        _ => {
            let mut keyed: Vec<(std::cmp::Reverse<i64>, i64, usize)> = all
                .iter()
                .enumerate()
                // Descending by value, ascending by id.
                .map(|(i, c)| {
                    (
                        std::cmp::Reverse(number(sort, c).unwrap_or(0)),
                        c.company.id,
                        i,
                    )
                })
                .collect();
            keyed.sort_unstable();
            order = keyed.into_iter().map(|(_, _, i)| i).collect();
        }
    }
    let mut slots: Vec<Option<Candidate>> = std::mem::take(all).into_iter().map(Some).collect();
    *all = order.into_iter().filter_map(|i| slots[i].take()).collect();
}

fn cursor_of(sort: Sort, c: &Candidate, now: i64) -> Cursor {
    let k = order_key(sort, c);
    Cursor {
        sort,
        key: k.key,
        id: k.id,
        now,
    }
}
