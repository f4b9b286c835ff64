//! The third-party tag types an operator can switch on, with what their vendors document:
//! the consent category, the cookies and storage keys each sets, and the hosts the browser
//! must be allowed to reach (for the public pages' Content-Security-Policy).
//!
//! Sources, as published by each vendor (facts, restated in our words):
//! - Google Analytics 4: "Google Analytics cookie usage on websites" (`_ga`, `_ga_<container-id>`,
//!   2 years) and "Use a Content Security Policy with Google Analytics" (the hosts).
//! - LinkedIn Insight Tag: LinkedIn's Cookie Table (`li_fat_id`, `li_giant`, `lidc`, `bcookie`,
//!   `li_sugr`, `UserMatchHistory`, `AnalyticsSyncHistory`) and its CSP help page
//!   (`snap.licdn.com`, `px.ads.linkedin.com`).
//! - Microsoft Clarity: "Clarity cookies" (`_clck` 1 year, `_clsk` 1 day, `CLID` 1 year,
//!   `ANONCHK` 10 minutes, `MR` 7 days, `MUID` 1 year, `SM` session) and its CSP guidance
//!   (`*.clarity.ms`, `c.bing.com`).

use super::{Appears, Category, Entry, Party, Storage};

/// A kind of tag. Its id or URL is the tag's own; what it sets and reaches is the kind's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TagKind {
    /// Google Analytics 4, by measurement ID (`G-XXXXXXX`).
    Ga4,
    /// LinkedIn Insight Tag, by partner ID (digits).
    LinkedIn,
    /// Microsoft Clarity, by project ID.
    Clarity,
    /// An image beacon to an https URL the operator gives (a conversion or retargeting
    /// pixel, the Leadsment pixel among them).
    Pixel,
    /// A script from an https URL, with the hosts it talks to and the keys it sets, as the
    /// operator declares them.
    Custom,
}

/// The hosts a tag needs, by CSP directive.
pub type TagRequirements = crate::web::security::CspSources;

impl TagKind {
    pub const ALL: [TagKind; 5] = [
        TagKind::Ga4,
        TagKind::LinkedIn,
        TagKind::Clarity,
        TagKind::Pixel,
        TagKind::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TagKind::Ga4 => "ga4",
            TagKind::LinkedIn => "linkedin",
            TagKind::Clarity => "clarity",
            TagKind::Pixel => "pixel",
            TagKind::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<TagKind> {
        TagKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// As the admin panel and the policy name it.
    pub fn title(self) -> &'static str {
        match self {
            TagKind::Ga4 => "Google Analytics 4",
            TagKind::LinkedIn => "LinkedIn Insight Tag",
            TagKind::Clarity => "Microsoft Clarity",
            TagKind::Pixel => "Pixel",
            TagKind::Custom => "Custom script",
        }
    }

    /// The category a new tag of this kind starts in. GA4 and Clarity measure (analytics,
    /// Clarity as the seed policy says); LinkedIn and pixels serve advertising.
    pub fn default_category(self) -> Category {
        match self {
            TagKind::Ga4 | TagKind::Clarity => Category::Analytics,
            TagKind::LinkedIn | TagKind::Pixel | TagKind::Custom => Category::Advertising,
        }
    }

    pub fn provider(self) -> &'static str {
        match self {
            TagKind::Ga4 => "Google",
            TagKind::LinkedIn => "LinkedIn",
            TagKind::Clarity => "Microsoft",
            TagKind::Pixel | TagKind::Custom => "",
        }
    }

    /// The keys a tag of this kind sets, as its vendor documents them, in its default
    /// category. Pixels and custom scripts declare their own.
    pub fn cookies(self) -> Vec<Entry> {
        let category = self.default_category();
        let provider = self.provider();
        let entry = |name: &str, party: Party, domain: &str, duration: &str, purpose: &str| Entry {
            name: name.to_owned(),
            storage: Storage::Cookie,
            purpose: purpose.to_owned(),
            duration: duration.to_owned(),
            party,
            provider: provider.to_owned(),
            category,
            domain: domain.to_owned(),
            http_only: false,
            appears: Appears::of_party(party),
        };
        use Party::{First, Third};
        match self {
            TagKind::Ga4 => vec![
                entry(
                    "_ga",
                    First,
                    "",
                    "2 years",
                    "Distinguishes visitors for Google Analytics.",
                ),
                entry(
                    "_ga_*",
                    First,
                    "",
                    "2 years",
                    "Keeps the Google Analytics session state of one measurement ID.",
                ),
            ],
            TagKind::LinkedIn => vec![
                entry(
                    "li_fat_id",
                    First,
                    "",
                    "30 days",
                    "A member identifier LinkedIn uses to attribute conversions to ad clicks.",
                ),
                entry(
                    "li_giant",
                    First,
                    "",
                    "7 days",
                    "An identifier for groups of LinkedIn members, for conversion tracking.",
                ),
                entry(
                    "lidc",
                    Third,
                    "linkedin.com",
                    "1 day",
                    "Routes requests within LinkedIn.",
                ),
                entry(
                    "bcookie",
                    Third,
                    "linkedin.com",
                    "1 year",
                    "Identifies the browser to LinkedIn.",
                ),
                entry(
                    "li_sugr",
                    Third,
                    "linkedin.com",
                    "90 days",
                    "A browser identifier LinkedIn uses to match visitors to its members.",
                ),
                entry(
                    "UserMatchHistory",
                    Third,
                    "linkedin.com",
                    "30 days",
                    "Syncs LinkedIn Ads identifiers.",
                ),
                entry(
                    "AnalyticsSyncHistory",
                    Third,
                    "linkedin.com",
                    "30 days",
                    "Records when the browser was last synced with LinkedIn's analytics.",
                ),
            ],
            TagKind::Clarity => vec![
                entry(
                    "_clck",
                    First,
                    "",
                    "1 year",
                    "Keeps the Clarity visitor ID and preferences for this site.",
                ),
                entry(
                    "_clsk",
                    First,
                    "",
                    "1 day",
                    "Joins page views into one Clarity recording.",
                ),
                entry(
                    "CLID",
                    Third,
                    "clarity.ms",
                    "1 year",
                    "Identifies the first visit of a browser to any site using Clarity.",
                ),
                entry(
                    "ANONCHK",
                    Third,
                    "clarity.ms",
                    "10 minutes",
                    "Tells Clarity whether MUID is passed on to Bing ads.",
                ),
                entry(
                    "MR",
                    Third,
                    "clarity.ms",
                    "7 days",
                    "Tells Clarity whether to refresh MUID.",
                ),
                entry(
                    "MUID",
                    Third,
                    "clarity.ms",
                    "1 year",
                    "Identifies the browser across Microsoft sites.",
                ),
                entry(
                    "SM",
                    Third,
                    "clarity.ms",
                    "Session",
                    "Synchronises MUID across Microsoft domains.",
                ),
            ],
            TagKind::Pixel | TagKind::Custom => Vec::new(),
        }
    }

    /// The hosts a tag of this kind needs. For pixels and custom scripts, `own` holds the
    /// hosts the operator gave (the URL's host and, for a script, those it talks to).
    pub fn requirements(self, own: &[String]) -> TagRequirements {
        let list = |hosts: &[&str]| hosts.iter().map(|h| format!("https://{h}")).collect();
        let own: Vec<String> = own.iter().map(|h| format!("https://{h}")).collect();
        match self {
            TagKind::Ga4 => TagRequirements {
                script: list(&["www.googletagmanager.com"]),
                connect: list(&[
                    "*.google-analytics.com",
                    "*.analytics.google.com",
                    "www.googletagmanager.com",
                ]),
                img: list(&["*.google-analytics.com", "www.googletagmanager.com"]),
                frame: Vec::new(),
            },
            TagKind::LinkedIn => TagRequirements {
                script: list(&["snap.licdn.com"]),
                connect: list(&["px.ads.linkedin.com"]),
                img: list(&["px.ads.linkedin.com"]),
                frame: Vec::new(),
            },
            TagKind::Clarity => TagRequirements {
                script: list(&["www.clarity.ms", "*.clarity.ms"]),
                connect: list(&["*.clarity.ms", "c.bing.com"]),
                img: list(&["*.clarity.ms", "c.bing.com"]),
                frame: Vec::new(),
            },
            TagKind::Pixel => TagRequirements {
                img: own,
                ..Default::default()
            },
            TagKind::Custom => TagRequirements {
                script: own.clone(),
                connect: own.clone(),
                img: own.clone(),
                frame: own,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_kinds_declare_their_vendors_keys_and_hosts() {
        assert_eq!(TagKind::Clarity.default_category(), Category::Analytics);
        assert_eq!(TagKind::LinkedIn.default_category(), Category::Advertising);
        for kind in [TagKind::Ga4, TagKind::LinkedIn, TagKind::Clarity] {
            let cookies = kind.cookies();
            assert!(!cookies.is_empty(), "{kind:?}");
            assert!(
                cookies
                    .iter()
                    .all(|c| c.category == kind.default_category()),
                "{kind:?}"
            );
            assert!(
                cookies
                    .iter()
                    .all(|c| (c.party == Party::Third) != c.domain.is_empty()),
                "{kind:?}: a third-party key names its domain"
            );
            let r = kind.requirements(&[]);
            assert!(!r.script.is_empty() && !r.connect.is_empty(), "{kind:?}");
        }
        assert_eq!(TagKind::parse("linkedin"), Some(TagKind::LinkedIn));
        assert_eq!(TagKind::parse("LinkedIn"), None);
        let pixel = TagKind::Pixel.requirements(&["px.example.com".to_owned()]);
        assert_eq!(pixel.img, ["https://px.example.com"]);
        assert!(pixel.script.is_empty() && pixel.connect.is_empty());
    }
}
