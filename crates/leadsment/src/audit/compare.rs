//! From what the audit saw to findings: the keys and requests of each phase against the
//! registry, and the banner's two buttons against each other.

use std::collections::BTreeMap;

use crate::registry::{Appears, Category, Entry, Storage};

use super::findings::{Banner, Finding, KeyKind, Phase, PhaseVisits};
use super::site::Site;

/// Reject's box may be this much smaller than Accept's.
const MIN_AREA_SHARE: f64 = 0.9;

/// The registry entry that declares a key, if any.
fn declared<'a>(registry: &'a [Entry], key: KeyKind, name: &str) -> Option<&'a Entry> {
    let storage = match key {
        KeyKind::Cookie => Storage::Cookie,
        KeyKind::LocalStorage => Storage::LocalStorage,
        KeyKind::SessionStorage => Storage::SessionStorage,
        // The registry's schema has no IndexedDB: every database is undeclared.
        KeyKind::IndexedDb => return None,
    };
    registry
        .iter()
        .find(|e| e.storage == storage && e.matches(name))
}

/// Every key of one page, as (kind, name, domain).
fn keys(page: &super::findings::PageVisit) -> Vec<(KeyKind, &str, &str)> {
    let mut out: Vec<(KeyKind, &str, &str)> = page
        .cookies
        .iter()
        .map(|c| (KeyKind::Cookie, c.name.as_str(), c.domain.as_str()))
        .collect();
    for (kind, names) in [
        (KeyKind::LocalStorage, &page.local_storage),
        (KeyKind::SessionStorage, &page.session_storage),
        (KeyKind::IndexedDb, &page.indexed_db),
    ] {
        out.extend(names.iter().map(|n| (kind, n.as_str(), "")));
    }
    out
}

/// The findings about keys and requests: undeclared keys (once each, with the phases they
/// were seen in), non-essential keys and third-party requests without consent (once per
/// phase), and declared public-page keys never seen.
pub fn keys_and_requests(registry: &[Entry], site: &Site, phases: &[PhaseVisits]) -> Vec<Finding> {
    let mut undeclared: BTreeMap<(KeyKind, String, String), Vec<Phase>> = BTreeMap::new();
    let mut without: BTreeMap<(Phase, KeyKind, String), Finding> = BTreeMap::new();
    let mut requests: BTreeMap<(Phase, String), Finding> = BTreeMap::new();
    let mut seen: Vec<(KeyKind, String)> = Vec::new();
    for visits in phases {
        let phase = visits.phase;
        for page in &visits.pages {
            for (kind, name, domain) in keys(page) {
                seen.push((kind, name.to_owned()));
                match declared(registry, kind, name) {
                    None => {
                        let at = undeclared
                            .entry((kind, name.to_owned(), domain.to_owned()))
                            .or_default();
                        if !at.contains(&phase) {
                            at.push(phase);
                        }
                    }
                    Some(e) if phase.without_consent() && e.category != Category::Necessary => {
                        without
                            .entry((phase, kind, name.to_owned()))
                            .or_insert_with(|| Finding::WithoutConsent {
                                phase,
                                key: kind,
                                name: name.to_owned(),
                                category: e.category.as_str().to_owned(),
                                url: page.url.clone(),
                            });
                    }
                    Some(_) => {}
                }
            }
            if phase.without_consent() {
                for url in &page.third_party_requests {
                    let host = super::site::host_of(url).unwrap_or_default();
                    if site.is_same_site(&host) {
                        continue;
                    }
                    requests.entry((phase, host.clone())).or_insert_with(|| {
                        Finding::ThirdPartyRequest {
                            phase,
                            host,
                            url: url.clone(),
                        }
                    });
                }
            }
        }
    }
    let mut out: Vec<Finding> = undeclared
        .into_iter()
        .map(|((key, name, domain), phases)| Finding::Undeclared {
            key,
            name,
            domain,
            phases,
        })
        .collect();
    out.extend(without.into_values());
    out.extend(requests.into_values());
    // Stale: the caller drops these when the accepting visitor did not see every page.
    {
        for e in registry
            .iter()
            .filter(|e| e.appears == Appears::PublicPages)
        {
            let kind = match e.storage {
                Storage::Cookie => KeyKind::Cookie,
                Storage::LocalStorage => KeyKind::LocalStorage,
                Storage::SessionStorage => KeyKind::SessionStorage,
            };
            if !seen.iter().any(|(k, n)| *k == kind && e.matches(n)) {
                out.push(Finding::StalePolicy {
                    key: kind,
                    name: e.name.clone(),
                });
            }
        }
    }
    out
}

/// The findings about the first layer's buttons.
pub fn buttons(banner: &Banner) -> Vec<Finding> {
    let mut out = Vec::new();
    match (&banner.accept, &banner.reject) {
        (_, None) => out.push(Finding::RejectMissing),
        (None, Some(_)) => out.push(Finding::AcceptMissing),
        (Some(accept), Some(reject)) => {
            let (a, r) = (accept.rect.area(), reject.rect.area());
            if r < a * MIN_AREA_SHARE {
                out.push(Finding::RejectSmaller {
                    reject_area: r,
                    accept_area: a,
                });
            }
            if reject.contrast < accept.contrast {
                out.push(Finding::RejectFainter {
                    reject_contrast: reject.contrast,
                    accept_contrast: accept.contrast,
                });
            }
        }
    }
    if banner.accept.is_none() && banner.reject.is_none() {
        out.push(Finding::AcceptMissing);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::findings::{BoxArea, Button, PageVisit, SeenCookie};
    use super::*;
    use crate::registry::TagKind;

    fn cookie(name: &str) -> SeenCookie {
        SeenCookie {
            name: name.to_owned(),
            domain: "example.com".to_owned(),
            path: "/".to_owned(),
            secure: false,
            http_only: false,
            same_site: String::new(),
            expires: None,
        }
    }

    fn visits(phase: Phase, cookies: &[&str], requests: &[&str]) -> PhaseVisits {
        PhaseVisits {
            phase,
            pages: vec![PageVisit {
                url: "https://example.com/".to_owned(),
                cookies: cookies.iter().map(|c| cookie(c)).collect(),
                third_party_requests: requests.iter().map(|r| r.to_string()).collect(),
                ..PageVisit::default()
            }],
        }
    }

    #[test]
    fn keys_are_judged_by_phase_and_registry() {
        let mut registry = crate::registry::builtin(30);
        registry.extend(TagKind::Ga4.cookies());
        let site = Site::of("https://www.example.com/").unwrap();
        let phases = [
            visits(
                Phase::Fresh,
                &["lm_consent", "_ga"],
                &["https://cdn.example.com/a.js"],
            ),
            visits(
                Phase::Rejected,
                &["lm_consent"],
                &["https://tracker.example.net/p"],
            ),
            visits(
                Phase::Accepted,
                &["lm_consent", "_ga", "_ga_X1", "odd"],
                &["https://tracker.example.net/p"],
            ),
            visits(Phase::Withdrawn, &["lm_consent"], &[]),
        ];
        let found = keys_and_requests(&registry, &site, &phases);
        let kinds: Vec<String> = found.iter().map(|f| f.to_string()).collect();
        assert_eq!(found.len(), 4, "{kinds:#?}");
        assert!(
            matches!(&found[0], Finding::Undeclared { name, phases, .. } if name == "odd" && phases == &[Phase::Accepted])
        );
        assert!(
            matches!(&found[1], Finding::WithoutConsent { phase: Phase::Fresh, name, .. } if name == "_ga")
        );
        assert!(
            matches!(&found[2], Finding::ThirdPartyRequest { phase: Phase::Rejected, host, .. } if host == "tracker.example.net")
        );
        // __Host-csrf is declared for the public pages and was never seen.
        assert!(matches!(&found[3], Finding::StalePolicy { name, .. } if name == "__Host-csrf"));
    }

    #[test]
    fn reject_must_be_as_large_and_as_clear_as_accept() {
        let button = |w: f64, contrast: f64| Button {
            text: String::new(),
            rect: BoxArea {
                x: 0.0,
                y: 0.0,
                width: w,
                height: 40.0,
            },
            contrast,
        };
        let banner = |accept, reject| Banner {
            kind: "x".into(),
            selector: "#x".into(),
            url: String::new(),
            accept,
            reject,
        };
        assert!(buttons(&banner(Some(button(100.0, 7.0)), Some(button(91.0, 7.0)))).is_empty());
        assert_eq!(
            buttons(&banner(Some(button(100.0, 7.0)), Some(button(89.0, 6.9))))
                .iter()
                .map(Finding::kind)
                .collect::<Vec<_>>(),
            ["reject_smaller", "reject_fainter"]
        );
        assert_eq!(
            buttons(&banner(Some(button(100.0, 7.0)), None)),
            [Finding::RejectMissing]
        );
    }
}
