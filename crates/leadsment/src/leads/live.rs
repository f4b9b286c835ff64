//! The live view: who is on a site now. The visits with an event in the last 30 minutes,
//! grouped by organisation, each visitor with the page they are on (their visit's latest page)
//! and when they were last seen; access providers and unknown networks as one line each.

use super::store::{self, LiveVisit};
use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError};

/// How far back "now" reaches.
pub const WINDOW_MS: i64 = 30 * 60_000;
/// The most visits read; a site busier than that shows the most recent ones.
pub const MOST_VISITS: i64 = 1_000;

/// What a group of visitors is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A named organisation (a business, a school, a public body, a cloud or VPN network).
    Company {
        id: i64,
        name: String,
        class: String,
        class_reason: Option<String>,
    },
    /// Home, office and mobile lines: the person is not identified.
    AccessProviders,
    /// No organisation in the IP data.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveVisitor {
    pub path: String,
    pub last_seen_at: i64,
}

#[derive(Debug, Clone)]
pub struct LiveGroup {
    pub who: Who,
    /// Each visitor once, the most recently seen first.
    pub visitors: Vec<LiveVisitor>,
}

impl LiveGroup {
    pub fn last_seen_at(&self) -> i64 {
        self.visitors.first().map_or(0, |v| v.last_seen_at)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Organisations, the most recently active first, then access providers and unknown
    /// networks.
    pub groups: Vec<LiveGroup>,
    /// True when the site had more visits than were read.
    pub truncated: bool,
}

pub async fn live(db: &Db, site: SiteId, now_ms: i64) -> Result<Live, StoreError> {
    let visits = store::live_visits(db, site, now_ms - WINDOW_MS, MOST_VISITS + 1).await?;
    let truncated = visits.len() as i64 > MOST_VISITS;
    // The workspace's exclusions hide a company here as everywhere else on the dashboard.
    let hidden = store::exclusions::excluded(db, site).await?;
    let shown = visits
        .into_iter()
        .take(MOST_VISITS as usize)
        .filter(|v| v.company_id.is_none_or(|id| !hidden.contains(id)));
    Ok(Live {
        groups: group(shown),
        truncated,
    })
}

fn who(v: &LiveVisit) -> Who {
    match (v.company_id, v.class.as_str()) {
        (_, "isp" | "mobile") => Who::AccessProviders,
        (Some(id), _) => Who::Company {
            id,
            name: v.name.clone().unwrap_or_default(),
            class: v.class.clone(),
            class_reason: v.class_reason.clone(),
        },
        (None, _) => Who::Unknown,
    }
}

/// Groups visits that come most recently seen first; a visitor (hash) counts once per group,
/// at their latest visit.
fn group(visits: impl Iterator<Item = LiveVisit>) -> Vec<LiveGroup> {
    let mut groups: Vec<(LiveGroup, Vec<i64>)> = Vec::new();
    for v in visits {
        let who = who(&v);
        let at = match groups.iter().position(|(g, _)| g.who == who) {
            Some(i) => i,
            None => {
                groups.push((
                    LiveGroup {
                        who,
                        visitors: Vec::new(),
                    },
                    Vec::new(),
                ));
                groups.len() - 1
            }
        };
        let (g, hashes) = &mut groups[at];
        if !hashes.contains(&v.visitor_hash) {
            hashes.push(v.visitor_hash);
            g.visitors.push(LiveVisitor {
                path: v.exit_path,
                last_seen_at: v.last_seen_at,
            });
        }
    }
    let (mut named, rest): (Vec<LiveGroup>, Vec<LiveGroup>) = groups
        .into_iter()
        .map(|(g, _)| g)
        .partition(|g| matches!(g.who, Who::Company { .. }));
    named.sort_by_key(|g| std::cmp::Reverse(g.last_seen_at()));
    let mut rest = rest;
    rest.sort_by_key(|g| matches!(g.who, Who::Unknown));
    named.extend(rest);
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(id: i64, hash: i64, at: i64, company: Option<i64>, class: &str) -> LiveVisit {
        LiveVisit {
            id,
            visitor_hash: hash,
            last_seen_at: at,
            exit_path: format!("/p{id}"),
            company_id: company,
            class: class.into(),
            name: company.map(|c| format!("C{c}")),
            class_reason: None,
        }
    }

    #[test]
    fn groups_by_organisation_newest_first_each_visitor_once() {
        let groups = group(
            [
                visit(1, 10, 900, Some(7), "business"),
                visit(2, 11, 800, None, "unknown"),
                visit(3, 12, 700, Some(8), "isp"),
                visit(4, 13, 600, Some(9), "education"),
                visit(5, 10, 500, Some(7), "business"),
                visit(6, 14, 400, Some(7), "business"),
            ]
            .into_iter(),
        );
        let kinds: Vec<&Who> = groups.iter().map(|g| &g.who).collect();
        assert!(matches!(kinds[0], Who::Company { id: 7, .. }));
        assert!(matches!(kinds[1], Who::Company { id: 9, .. }));
        assert_eq!(kinds[2], &Who::AccessProviders);
        assert_eq!(kinds[3], &Who::Unknown);
        let paths: Vec<&str> = groups[0].visitors.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, ["/p1", "/p6"]);
    }
}
