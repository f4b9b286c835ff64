//! The feed's filters, read from the query string so that every view is a link: the period,
//! classes, country, source, a name or domain, a least score, a page pattern, the order and
//! the cursor of the next page. Each bad value is reported by name; nothing is guessed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ipintel::Class;
use jiff::tz::TimeZone;

use super::pattern::PathPattern;
use super::period::{Period, PeriodError};

/// The classes a feed shows when the link names none: the organisations a sales team calls.
pub const DEFAULT_CLASSES: [Class; 3] = [Class::Business, Class::Education, Class::Government];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Score,
    LastVisit,
    Visits,
    Pageviews,
    Name,
}

impl Sort {
    pub const ALL: [Sort; 5] = [
        Sort::Score,
        Sort::LastVisit,
        Sort::Visits,
        Sort::Pageviews,
        Sort::Name,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Sort::Score => "score",
            Sort::LastVisit => "last_visit",
            Sort::Visits => "visits",
            Sort::Pageviews => "pageviews",
            Sort::Name => "name",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Score => "Score",
            Sort::LastVisit => "Last visit",
            Sort::Visits => "Visits",
            Sort::Pageviews => "Pages",
            Sort::Name => "Name",
        }
    }
}

/// Where the previous page of the feed ended: its last row's sort value and company id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub sort: Sort,
    pub key: CursorKey,
    pub id: i64,
    /// The time the first page was scored at: later pages score at the same time, so rows
    /// do not cross the cursor as their recency decays.
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum CursorKey {
    Int(i64),
    Text(String),
}

impl Cursor {
    pub fn encode(&self) -> String {
        let key = match &self.key {
            CursorKey::Int(v) => v.to_string(),
            CursorKey::Text(t) => t.clone(),
        };
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}|{}|{key}",
            self.sort.key(),
            self.id,
            self.now
        ))
    }

    fn decode(s: &str, sort: Sort) -> Option<Cursor> {
        let raw = URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let mut parts = raw.splitn(4, '|');
        let (s, id, now, key) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if s != sort.key() {
            return None;
        }
        let key = match sort {
            Sort::Name => CursorKey::Text(key.to_owned()),
            _ => CursorKey::Int(key.parse().ok()?),
        };
        Some(Cursor {
            sort,
            key,
            id: id.parse().ok()?,
            now: now.parse().ok()?,
        })
    }
}

/// A checked feed query.
#[derive(Debug, Clone)]
pub struct FeedQuery {
    pub period: Period,
    pub classes: Vec<Class>,
    /// True when the link named its classes.
    pub classes_chosen: bool,
    pub country: Option<String>,
    pub source: Option<String>,
    pub q: Option<String>,
    pub min_score: Option<u8>,
    pub page: Option<PathPattern>,
    pub sort: Sort,
    pub cursor: Option<Cursor>,
}

/// One refused parameter, named as in the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

/// The parameters as the link wrote them, kept to fill the form back in.
#[derive(Debug, Clone, Default)]
pub struct RawFilters {
    pub period: String,
    pub from: String,
    pub to: String,
    pub classes: Vec<String>,
    pub country: String,
    pub source: String,
    pub q: String,
    pub min_score: String,
    pub page: String,
    pub sort: String,
    pub cursor: String,
}

impl RawFilters {
    /// Reads a query string; unknown parameters are ignored (links from elsewhere add them).
    pub fn from_query(query: Option<&str>) -> RawFilters {
        let mut raw = RawFilters::default();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            // Enough for any value a field accepts (they say when one is too long); a cursor
            // carries a whole organisation name.
            let v: String = v
                .chars()
                .take(if k == "cursor" { 4_000 } else { 300 })
                .collect();
            match k.as_ref() {
                "period" => raw.period = v,
                "from" => raw.from = v,
                "to" => raw.to = v,
                "class" => raw.classes.push(v),
                "country" => raw.country = v,
                "source" => raw.source = v,
                "q" => raw.q = v,
                "min_score" => raw.min_score = v,
                "page" => raw.page = v,
                "sort" => raw.sort = v,
                "cursor" => raw.cursor = v,
                _ => {}
            }
        }
        raw
    }
}

impl RawFilters {
    /// The period the link names (the overview reads only this).
    pub fn period(&self, tz: &TimeZone, now_ms: i64) -> Result<Period, PeriodError> {
        Period::parse(
            nonempty(&self.period),
            nonempty(&self.from),
            nonempty(&self.to),
            tz,
            now_ms,
        )
    }
}

fn nonempty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

/// Checks every parameter; the query comes back only when all are good.
pub fn parse(raw: &RawFilters, tz: &TimeZone, now_ms: i64) -> Result<FeedQuery, Vec<Invalid>> {
    let mut bad = Vec::new();
    let mut refuse = |field: &'static str, message: String| bad.push(Invalid { field, message });

    let period = raw
        .period(tz, now_ms)
        .map_err(|e| refuse("period", e.0))
        .ok();

    let mut classes = Vec::new();
    for c in raw.classes.iter().filter_map(|c| nonempty(c)).take(20) {
        match Class::from_name(c) {
            Some(class) if !classes.contains(&class) => classes.push(class),
            Some(_) => {}
            None => refuse(
                "class",
                format!(
                    "class: `{}` is not one of business, education, government, isp, mobile, hosting or unknown",
                    c.chars().take(40).collect::<String>()
                ),
            ),
        }
    }
    let classes_chosen = !classes.is_empty();
    if !classes_chosen {
        classes = DEFAULT_CLASSES.to_vec();
    }

    let country = nonempty(&raw.country).and_then(|c| {
        if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) {
            Some(c.to_ascii_uppercase())
        } else {
            refuse(
                "country",
                "country: use a two-letter country code such as DE or US".to_owned(),
            );
            None
        }
    });
    let text = |field: &'static str, s: &str, refuse: &mut dyn FnMut(&'static str, String)| {
        let s = nonempty(s)?;
        if s.chars().count() > 100 || s.chars().any(char::is_control) {
            refuse(
                field,
                format!("{field}: at most 100 characters, no control characters"),
            );
            return None;
        }
        Some(s.to_owned())
    };
    let source = text("source", &raw.source, &mut refuse);
    let q = text("q", &raw.q, &mut refuse);
    let min_score = nonempty(&raw.min_score).and_then(|s| match s.parse::<u8>() {
        Ok(n) if n <= 100 => Some(n),
        _ => {
            refuse(
                "min_score",
                "min_score: a whole number from 0 to 100".to_owned(),
            );
            None
        }
    });
    let page = nonempty(&raw.page).and_then(|p| match PathPattern::parse(p) {
        Ok(p) => Some(p),
        Err(e) => {
            refuse("page", format!("page: {e}"));
            None
        }
    });
    let sort = match nonempty(&raw.sort) {
        None => Some(Sort::Score),
        Some(s) => Sort::ALL.into_iter().find(|o| o.key() == s).or_else(|| {
            refuse(
                "sort",
                "sort: one of score, last_visit, visits, pageviews or name".to_owned(),
            );
            None
        }),
    };
    let cursor = match (nonempty(&raw.cursor), sort) {
        (Some(c), Some(sort)) => Cursor::decode(c, sort).or_else(|| {
            refuse(
                "cursor",
                "cursor: this link's page marker is damaged or belongs to another order; start from the first page".to_owned(),
            );
            None
        }),
        _ => None,
    };

    match (period, sort) {
        (Some(period), Some(sort)) if bad.is_empty() => Ok(FeedQuery {
            period,
            classes,
            classes_chosen,
            country,
            source,
            q,
            min_score,
            page,
            sort,
            cursor,
        }),
        _ => Err(bad),
    }
}

impl FeedQuery {
    /// The query string of this view (without the cursor), for links and the CSV.
    pub fn link(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        out.append_pair("period", self.period.range.key());
        if let super::period::Range::Custom { from, to } = &self.period.range {
            out.append_pair("from", &from.to_string());
            out.append_pair("to", &to.to_string());
        }
        if self.classes_chosen {
            for c in &self.classes {
                out.append_pair("class", c.as_str());
            }
        }
        for (k, v) in [
            ("country", &self.country),
            ("source", &self.source),
            ("q", &self.q),
        ] {
            if let Some(v) = v {
                out.append_pair(k, v);
            }
        }
        if let Some(n) = self.min_score {
            out.append_pair("min_score", &n.to_string());
        }
        if let Some(p) = &self.page {
            out.append_pair("page", p.as_str());
        }
        if self.sort != Sort::Score {
            out.append_pair("sort", self.sort.key());
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(q: &str) -> RawFilters {
        RawFilters::from_query(Some(q))
    }

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    #[test]
    fn defaults_are_thirty_days_of_companies_by_score() {
        let q = parse(&raw(""), &utc(), 0).unwrap();
        assert_eq!(q.period.days(), 30);
        assert_eq!(q.classes, DEFAULT_CLASSES.to_vec());
        assert!(!q.classes_chosen);
        assert_eq!(q.sort, Sort::Score);
        assert_eq!(q.link(), "period=30d");
    }

    #[test]
    fn any_class_replaces_the_default_and_links_round_trip() {
        let link = "period=7d&class=isp&class=hosting&country=de&q=acme&min_score=20&page=%2Fpricing*&sort=visits";
        let q = parse(&raw(link), &utc(), 0).unwrap();
        assert_eq!(q.classes, vec![Class::Isp, Class::Hosting]);
        assert_eq!(q.country.as_deref(), Some("DE"));
        assert_eq!(q.link(), link.replace("country=de", "country=DE"));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let bad = parse(
            &raw("period=week&class=spies&country=Germany&min_score=101&page=pricing&sort=best&cursor=x"),
            &utc(),
            0,
        )
        .unwrap_err();
        let fields: Vec<_> = bad.iter().map(|b| b.field).collect();
        assert_eq!(
            fields,
            ["period", "class", "country", "min_score", "page", "sort"]
        );
        let bad = parse(&raw("cursor=%%%"), &utc(), 0).unwrap_err();
        assert_eq!(bad[0].field, "cursor");
    }

    #[test]
    fn cursors_belong_to_their_order() {
        let c = Cursor {
            sort: Sort::Name,
            key: CursorKey::Text("a|b".into()),
            id: 7,
            now: 1_800_000_000_000,
        };
        let s = c.encode();
        assert_eq!(Cursor::decode(&s, Sort::Name), Some(c));
        assert_eq!(Cursor::decode(&s, Sort::Score), None);
    }
}
