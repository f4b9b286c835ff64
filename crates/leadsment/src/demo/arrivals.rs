//! Where the demo's visits come from (the referrer and the landing page's campaign
//! parameters, which the ingest path's attribution turns into a source and channel) and the
//! browsers they use.

use rand::Rng;
use rand::rngs::StdRng;

use super::pages::{Kind, pick};

/// How a visit arrives: the referrer the browser sends and the query string of the first page,
/// which the ingest path's attribution turns into a source and channel.
pub struct Arrival {
    pub weight: f64,
    pub referrer: Option<&'static str>,
    /// `utm_*` and click ids; `{campaign}` and friends are filled in per visit.
    pub query: Query,
    /// The kind of page such visits land on.
    pub lands_on: &'static [Kind],
}

pub enum Query {
    None,
    Newsletter,
    LinkedInAds,
    GoogleAds,
}

pub const ARRIVALS: &[Arrival] = &[
    arrival(
        30.0,
        None,
        Query::None,
        &[Kind::Home, Kind::Home, Kind::Pricing, Kind::Docs],
    ),
    arrival(
        21.0,
        Some("https://www.google.com/"),
        Query::None,
        &[
            Kind::Blog,
            Kind::Blog,
            Kind::Feature,
            Kind::Home,
            Kind::Docs,
        ],
    ),
    arrival(
        3.0,
        Some("https://www.google.de/"),
        Query::None,
        &[Kind::Blog, Kind::Home, Kind::Feature],
    ),
    arrival(
        4.0,
        Some("https://www.bing.com/"),
        Query::None,
        &[Kind::Blog, Kind::Home, Kind::Feature],
    ),
    arrival(
        2.0,
        Some("https://duckduckgo.com/"),
        Query::None,
        &[Kind::Blog, Kind::Docs],
    ),
    arrival(
        2.0,
        Some("https://chatgpt.com/"),
        Query::None,
        &[Kind::Home, Kind::Pricing, Kind::Feature],
    ),
    arrival(
        8.0,
        Some("https://www.linkedin.com/"),
        Query::None,
        &[Kind::Blog, Kind::Home, Kind::Job],
    ),
    arrival(
        4.0,
        Some("https://www.linkedin.com/"),
        Query::LinkedInAds,
        &[Kind::Resource, Kind::Demo, Kind::Feature],
    ),
    arrival(
        5.0,
        Some("https://www.google.com/"),
        Query::GoogleAds,
        &[Kind::Pricing, Kind::Demo, Kind::Home],
    ),
    arrival(
        6.0,
        None,
        Query::Newsletter,
        &[Kind::Blog, Kind::Resource, Kind::Feature],
    ),
    arrival(
        2.0,
        Some("https://www.xing.com/"),
        Query::None,
        &[Kind::Job, Kind::Careers],
    ),
    arrival(
        2.0,
        Some("https://news.ycombinator.com/"),
        Query::None,
        &[Kind::Blog, Kind::Docs],
    ),
    arrival(
        2.0,
        Some("https://www.reddit.com/"),
        Query::None,
        &[Kind::Blog],
    ),
    arrival(1.0, Some("https://github.com/"), Query::None, &[Kind::Docs]),
    arrival(
        3.0,
        Some("https://www.g2.com/products/leadsment/reviews"),
        Query::None,
        &[Kind::Pricing, Kind::Home],
    ),
    arrival(
        1.0,
        Some("https://www.capterra.com/"),
        Query::None,
        &[Kind::Pricing],
    ),
    arrival(
        2.0,
        Some("https://blog.hubspot.com/"),
        Query::None,
        &[Kind::Integration, Kind::Home],
    ),
    arrival(
        2.0,
        Some("https://www.saastr.com/"),
        Query::None,
        &[Kind::Blog, Kind::Home],
    ),
];

const fn arrival(
    weight: f64,
    referrer: Option<&'static str>,
    query: Query,
    lands_on: &'static [Kind],
) -> Arrival {
    Arrival {
        weight,
        referrer,
        query,
        lands_on,
    }
}

const NEWSLETTER_CAMPAIGNS: &[&str] = &[
    "product-update-spring",
    "webinar-intent-data",
    "customer-story-helix",
    "monthly-digest",
];
const LINKEDIN_CAMPAIGNS: &[&str] = &[
    "abm-manufacturing",
    "abm-saas-revops",
    "retargeting-pricing",
];
const LINKEDIN_CONTENT: &[&str] = &["carousel", "video", "single-image", "document-ad"];
const GOOGLE_CAMPAIGNS: &[&str] = &["brand", "competitors", "visitor-identification"];
const GOOGLE_TERMS: &[&str] = &[
    "b2b visitor identification",
    "website visitor tracking",
    "leadfeeder alternative",
    "reverse ip lookup",
    "identify companies visiting website",
];

/// The query string of a landing page for `query` (without `?`), `week` choosing the
/// newsletter of that week.
pub fn query_string(query: &Query, week: u64, rng: &mut StdRng) -> Option<String> {
    Some(match query {
        Query::None => return None,
        Query::Newsletter => format!(
            "utm_source=newsletter&utm_medium=email&utm_campaign={}",
            NEWSLETTER_CAMPAIGNS[week as usize % NEWSLETTER_CAMPAIGNS.len()]
        ),
        Query::LinkedInAds => format!(
            "utm_source=linkedin&utm_medium=paid_social&utm_campaign={}&utm_content={}&li_fat_id={:08x}",
            pick(rng, LINKEDIN_CAMPAIGNS),
            pick(rng, LINKEDIN_CONTENT),
            rng.random::<u32>()
        ),
        Query::GoogleAds => format!(
            "utm_source=google&utm_medium=cpc&utm_campaign={}&utm_term={}&gclid=Cj0KCQ{:016x}",
            pick(rng, GOOGLE_CAMPAIGNS),
            pick(rng, GOOGLE_TERMS).replace(' ', "+"),
            rng.random::<u64>()
        ),
    })
}

/// Real browsers' user agents (the ingest path's parser reads them) and how common each is
/// among desktop and mobile visitors.
pub const USER_AGENTS: &[(f64, bool, &str)] = &[
    (
        30.0,
        false,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    ),
    (
        15.0,
        false,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    ),
    (
        14.0,
        false,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    ),
    (
        9.0,
        false,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    ),
    (
        5.0,
        false,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ),
    (
        2.0,
        false,
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ),
    (
        2.0,
        false,
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    ),
    (
        2.0,
        false,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
    ),
    (
        9.0,
        true,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    ),
    (
        7.0,
        true,
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    ),
    (
        1.5,
        true,
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    ),
    (
        1.5,
        true,
        "Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    ),
];
