//! The demo site's pages: a B2B product's marketing site, its blog and docs, where a visitor
//! goes next, and the custom events pages send. Plain data; the generator draws from it.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// The kinds of page of a B2B marketing site, each with its own part in a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Home,
    Pricing,
    Feature,
    Integration,
    Customer,
    Blog,
    Docs,
    Resource,
    Demo,
    Signup,
    Contact,
    Careers,
    Job,
    Company,
}

/// Fixed pages; the rest of the catalogue is made of blog posts and docs pages.
const CORE: &[(&str, Kind)] = &[
    ("/", Kind::Home),
    ("/pricing", Kind::Pricing),
    ("/demo", Kind::Demo),
    ("/signup", Kind::Signup),
    ("/contact", Kind::Contact),
    ("/careers", Kind::Careers),
    ("/about", Kind::Company),
    ("/security", Kind::Company),
    ("/privacy", Kind::Company),
    ("/partners", Kind::Company),
    ("/changelog", Kind::Company),
    ("/customers", Kind::Customer),
    ("/blog", Kind::Blog),
    ("/docs", Kind::Docs),
    ("/features", Kind::Feature),
    ("/integrations", Kind::Integration),
    ("/resources", Kind::Resource),
    ("/compare/leadfeeder-alternative", Kind::Pricing),
    ("/compare/clearbit-reveal-alternative", Kind::Pricing),
];

const FEATURES: &[&str] = &[
    "visitor-identification",
    "company-enrichment",
    "lead-scoring",
    "crm-sync",
    "real-time-alerts",
    "intent-signals",
    "gdpr-compliance",
    "account-based-marketing",
    "website-analytics",
    "cookieless-tracking",
];

const INTEGRATIONS: &[&str] = &[
    "hubspot",
    "salesforce",
    "pipedrive",
    "slack",
    "microsoft-teams",
    "zapier",
    "webhooks",
    "linkedin-ads",
    "segment",
    "google-sheets",
];

const CUSTOMERS: &[&str] = &[
    "nordwerk-maschinenbau",
    "bluefin-logistics",
    "helix-software",
    "alpenrot-consulting",
    "quantum-fintech",
    "greenline-energy",
    "orbit-medtech",
    "tessera-insurance",
];

const JOBS: &[&str] = &[
    "senior-rust-engineer",
    "account-executive-dach",
    "customer-success-manager",
    "product-designer",
    "sales-development-representative",
    "data-engineer",
    "product-marketing-manager",
    "solutions-engineer",
];

/// Whitepapers and guides (a path and the title the download event carries).
pub const RESOURCES: &[(&str, &str)] = &[
    ("b2b-intent-data-report-2025", "B2B Intent Data Report 2025"),
    ("gdpr-visitor-tracking-guide", "GDPR and Visitor Tracking"),
    ("abm-playbook", "The ABM Playbook"),
    ("sales-marketing-alignment", "Aligning Sales and Marketing"),
    ("lead-scoring-template", "Lead Scoring Template"),
    (
        "cookieless-analytics-explained",
        "Cookieless Analytics Explained",
    ),
];

const BLOG_OPENINGS: &[&str] = &[
    "how-to",
    "why-you-should",
    "7-ways-to",
    "the-complete-guide-to",
    "5-mistakes-when-you",
    "a-checklist-to",
    "what-it-takes-to",
    "lessons-learned-as-we",
    "a-guide-to",
    "when-to",
    "the-fastest-way-to",
    "do-you-still-need-to",
];
const BLOG_VERBS: &[&str] = &[
    "identify",
    "qualify",
    "score",
    "convert",
    "engage",
    "prioritise",
    "track",
    "reach",
    "nurture",
    "retain",
];
const BLOG_OBJECTS: &[&str] = &[
    "anonymous-website-visitors",
    "b2b-leads",
    "target-accounts",
    "inbound-demand",
    "buying-committees",
    "high-intent-companies",
    "trial-users",
    "enterprise-prospects",
    "returning-visitors",
    "event-attendees",
    "partner-referrals",
    "linkedin-audiences",
    "website-visitors",
    "marketing-qualified-leads",
    "sales-pipelines",
    "key-accounts",
    "webinar-signups",
    "free-trial-leads",
    "decision-makers",
    "inbound-leads",
];
const DOCS_SECTIONS: &[&str] = &[
    "getting-started",
    "tracking",
    "integrations",
    "api",
    "self-hosting",
    "privacy",
    "reports",
    "alerts",
];
const DOCS_TOPICS: &[&str] = &[
    "install-the-snippet",
    "single-page-apps",
    "custom-events",
    "ignore-your-office",
    "api-keys",
    "webhooks",
    "export",
    "time-zones",
    "postgres",
    "sqlite",
    "reverse-proxy",
    "consent-banner",
    "utm-parameters",
    "company-filters",
    "lead-scores",
    "slack-alerts",
    "roles",
    "sso",
    "rate-limits",
    "data-retention",
];

pub struct Page {
    pub path: String,
    pub kind: Kind,
}

/// The site's pages, `count` of them (at least the fixed ones), each once, grouped by kind in
/// the order the generator prefers them (most visited first within a kind).
pub fn pages(count: usize, rng: &mut StdRng) -> Vec<Page> {
    let mut pages: Vec<Page> = CORE
        .iter()
        .map(|(p, k)| Page {
            path: (*p).to_owned(),
            kind: *k,
        })
        .collect();
    let mut add = |prefix: &str, names: &[&str], kind: Kind| {
        for n in names {
            pages.push(Page {
                path: format!("{prefix}/{n}"),
                kind,
            });
        }
    };
    add("/features", FEATURES, Kind::Feature);
    add("/integrations", INTEGRATIONS, Kind::Integration);
    add("/customers", CUSTOMERS, Kind::Customer);
    add("/jobs", JOBS, Kind::Job);
    let resources: Vec<&str> = RESOURCES.iter().map(|(p, _)| *p).collect();
    add("/resources", &resources, Kind::Resource);

    // Blog posts and docs pages fill the rest, in an order of their own for each seed.
    let mut posts = Vec::new();
    for o in BLOG_OPENINGS {
        for v in BLOG_VERBS {
            for x in BLOG_OBJECTS {
                posts.push(format!("/blog/{o}-{v}-{x}"));
            }
        }
    }
    let mut docs = Vec::new();
    for s in DOCS_SECTIONS {
        for t in DOCS_TOPICS {
            docs.push(format!("/docs/{s}/{t}"));
        }
    }
    posts.shuffle(rng);
    docs.shuffle(rng);
    let rest = count.saturating_sub(pages.len());
    let want_docs = (rest * 2 / 5).min(docs.len());
    let want_posts = (rest - want_docs).min(posts.len());
    for path in posts.into_iter().take(want_posts) {
        pages.push(Page {
            path,
            kind: Kind::Blog,
        });
    }
    for path in docs.into_iter().take(want_docs) {
        pages.push(Page {
            path,
            kind: Kind::Docs,
        });
    }
    pages
}

/// One of `items`, at random.
pub fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// A custom event a page may send: its name (as `t.js` or the site's own code sends it), how
/// often a view of the page sends it, and its properties.
pub fn custom_event(
    kind: Kind,
    path: &str,
    domain: &str,
    rng: &mut StdRng,
) -> Option<(&'static str, Vec<(&'static str, String)>)> {
    let roll: f64 = rng.random();
    let one = |k: &'static str, v: &str| vec![(k, v.to_owned())];
    match kind {
        Kind::Demo if roll < 0.25 => Some((
            "Demo Request",
            one(
                "company_size",
                pick(rng, &["1-10", "11-50", "51-200", "201-1000", "1000+"]),
            ),
        )),
        Kind::Signup if roll < 0.35 => Some((
            "Signup",
            one("plan", pick(rng, &["trial", "trial", "starter", "growth"])),
        )),
        Kind::Contact if roll < 0.2 => Some((
            "Contact Form",
            one(
                "topic",
                pick(rng, &["sales", "sales", "support", "partnership"]),
            ),
        )),
        Kind::Resource if roll < 0.3 => {
            let slug = path.rsplit('/').next().unwrap_or_default();
            let title = RESOURCES
                .iter()
                .find(|(p, _)| *p == slug)
                .map_or("Leadsment Overview", |(_, t)| *t);
            Some(("Download whitepaper", one("title", title)))
        }
        // The tracker's own: a click on a file link or a link off the site.
        Kind::Pricing | Kind::Feature if roll < 0.03 => Some((
            "File Download",
            one(
                "url",
                &format!("https://{domain}/files/leadsment-product-sheet.pdf"),
            ),
        )),
        Kind::Docs if roll < 0.04 => Some((
            "Outbound Link: Click",
            one("url", "https://github.com/leadsment/leadsment-examples"),
        )),
        Kind::Job if roll < 0.1 => Some((
            "Outbound Link: Click",
            one(
                "url",
                &format!(
                    "https://jobs.ashbyhq.com/leadsment/{}",
                    path.rsplit('/').next().unwrap_or_default()
                ),
            ),
        )),
        _ => None,
    }
}

/// Where a visitor goes next from any page: buyers look at prices and products, readers at
/// posts, docs and jobs.
pub fn next_kind(buyer: bool, rng: &mut StdRng) -> Kind {
    const BUYER: &[(f64, Kind)] = &[
        (22.0, Kind::Pricing),
        (20.0, Kind::Feature),
        (9.0, Kind::Integration),
        (8.0, Kind::Customer),
        (8.0, Kind::Demo),
        (6.0, Kind::Home),
        (6.0, Kind::Blog),
        (6.0, Kind::Docs),
        (4.0, Kind::Resource),
        (4.0, Kind::Signup),
        (4.0, Kind::Contact),
        (3.0, Kind::Company),
    ];
    const READER: &[(f64, Kind)] = &[
        (24.0, Kind::Blog),
        (14.0, Kind::Docs),
        (10.0, Kind::Home),
        (9.0, Kind::Feature),
        (8.0, Kind::Pricing),
        (8.0, Kind::Careers),
        (8.0, Kind::Job),
        (5.0, Kind::Company),
        (4.0, Kind::Resource),
        (4.0, Kind::Customer),
        (3.0, Kind::Integration),
        (2.0, Kind::Signup),
        (1.0, Kind::Contact),
    ];
    let table = if buyer { BUYER } else { READER };
    let total: f64 = table.iter().map(|(w, _)| w).sum();
    let mut x = rng.random::<f64>() * total;
    for (w, kind) in table {
        if x < *w {
            return *kind;
        }
        x -= w;
    }
    Kind::Home
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_catalogue_has_as_many_distinct_pages_as_asked() {
        for count in [400, 2_000] {
            let pages = pages(count, &mut StdRng::seed_from_u64(1));
            let paths: std::collections::HashSet<&str> =
                pages.iter().map(|p| p.path.as_str()).collect();
            assert_eq!(paths.len(), count);
        }
    }
}
