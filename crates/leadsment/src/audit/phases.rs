//! The four visits: a fresh visitor follows links and finds the banner; then a visitor who
//! rejects, one who accepts, and the same one after withdrawing, each over the same pages.
//! What each page shows is written into [`Progress`] as it is seen, so a run cut short by
//! the time cap still reports what it saw.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::registry::{Entry, RegistryDocument};

use super::browser::{AuditBrowser, Visitor};
use super::findings::{Banner, Button, Finding, PageVisit, Phase, PhaseVisits};
use super::site::Site;

/// How long a banner may take to appear after its page loaded.
const BANNER_WAIT: Duration = Duration::from_secs(6);

/// What the run needs to know, fixed at start.
pub struct Plan<'a> {
    pub site: &'a Site,
    pub pages: usize,
    pub page_cap: Duration,
    pub banners_js: String,
    pub stand_in: Option<&'a Url>,
    /// `None`: read `/legal/cookies.json` from the site.
    pub registry_given: bool,
}

/// What the run has seen so far.
#[derive(Default)]
pub struct Progress {
    pub pages: Vec<String>,
    pub phases: Vec<PhaseVisits>,
    pub banner: Option<Banner>,
    pub screenshot: Option<Vec<u8>>,
    pub registry: Option<Vec<Entry>>,
    pub findings: Vec<Finding>,
    /// Whether the accepting visitor saw every page (so a declared key never seen is stale).
    pub accepted_done: bool,
}

/// What a page says about itself once loaded.
#[derive(Deserialize)]
struct Loaded {
    href: String,
    ct: String,
    status: i64,
}

/// Opens `url`; `None` (with a finding) when it is not an HTML page of the site.
async fn open(v: &Visitor, plan: &Plan<'_>, url: &str, out: &mut Progress) -> Option<i64> {
    let finding = match tokio::time::timeout(plan.page_cap, v.page.goto(url)).await {
        Err(_) => {
            let _ = super::browser::capped(
                "stop",
                v.page.execute(
                    chromiumoxide::cdp::browser_protocol::page::StopLoadingParams::default(),
                ),
            )
            .await;
            Some(Finding::PageTimeout {
                url: url.to_owned(),
                seconds: plan.page_cap.as_secs(),
            })
        }
        Ok(Err(e)) => Some(Finding::Unreachable {
            url: url.to_owned(),
            error: e.to_string(),
        }),
        Ok(Ok(_)) => None,
    };
    if let Some(f) = finding {
        out.findings.push(f);
        return None;
    }
    let loaded: Loaded = match v
        .eval("({href: location.href, ct: document.contentType, status: (performance.getEntriesByType('navigation')[0] || {}).responseStatus || 0})")
        .await
    {
        Ok(l) => l,
        Err(e) => {
            out.findings.push(Finding::Unreachable {
                url: url.to_owned(),
                error: e.to_string(),
            });
            return None;
        }
    };
    let host = super::site::host_of(&loaded.href).unwrap_or_default();
    let finding = if loaded.href.starts_with("chrome-error:") {
        Some(Finding::Unreachable {
            url: url.to_owned(),
            error: "the browser showed its error page".to_owned(),
        })
    } else if !plan.site.is_same_site(&host) {
        Some(Finding::OffSiteRedirect {
            url: url.to_owned(),
            to: loaded.href.clone(),
        })
    } else if !matches!(loaded.ct.as_str(), "text/html" | "application/xhtml+xml") {
        Some(Finding::NotHtml {
            url: url.to_owned(),
            content_type: loaded.ct.clone(),
        })
    } else {
        None
    };
    if let Some(f) = finding {
        out.findings.push(f);
        return None;
    }
    v.quiet(Duration::from_secs(4)).await;
    Some(loaded.status)
}

/// What the page holds now, and the requests to other sites since it was opened.
async fn observe(
    browser: &AuditBrowser,
    v: &Visitor,
    url: &str,
    status: Option<i64>,
    out: &mut Progress,
) -> PageVisit {
    #[derive(Deserialize, Default)]
    struct Keys {
        l: Vec<String>,
        s: Vec<String>,
        i: Vec<String>,
        popups: u64,
    }
    let keys: Keys = v
        .eval(
            "(async () => { const k = s => { try { return Object.keys(s()).sort() } catch (e) { return [] } };
              let i = []; try { i = (await indexedDB.databases()).map(d => d.name).sort() } catch (e) {}
              return {l: k(() => localStorage), s: k(() => sessionStorage), i, popups: window.__lmAuditPopups || 0}; })()",
        )
        .await
        .unwrap_or_default();
    if keys.popups > 0 {
        out.findings.push(Finding::Popups {
            url: url.to_owned(),
            count: keys.popups,
        });
    }
    PageVisit {
        url: url.to_owned(),
        status,
        cookies: v.cookies(browser).await.unwrap_or_default(),
        local_storage: keys.l,
        session_storage: keys.s,
        indexed_db: keys.i,
        third_party_requests: v.take_requests(),
    }
}

#[derive(Deserialize)]
struct Found {
    kind: String,
    #[serde(default)]
    selector: String,
    #[serde(rename = "box")]
    rect: Option<super::findings::BoxArea>,
    accept: Option<Button>,
    reject: Option<Button>,
    settings: Option<Button>,
}

/// Looks for the banner (or, with `settings`, the control that reopens it) until it shows.
async fn find(v: &Visitor, plan: &Plan<'_>, settings: bool) -> Option<Found> {
    let js = format!(
        "({})({}, {settings})",
        super::banners::FIND_JS,
        plan.banners_js
    );
    let until = tokio::time::Instant::now() + BANNER_WAIT;
    loop {
        if let Ok(Some(found)) = v.eval::<Option<Found>>(&js).await {
            return Some(found);
        }
        if tokio::time::Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn click(v: &Visitor, which: &str) -> bool {
    let js = format!("({})({which:?})", super::banners::CLICK_JS);
    let clicked = v.eval::<bool>(&js).await.unwrap_or(false);
    if clicked {
        // The choice is sent, and the page may reload to drop what was withdrawn.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), v.page.wait_for_navigation()).await;
        v.quiet(Duration::from_secs(4)).await;
    }
    clicked
}

/// The fresh visitor: follows links up to the page count, finds the banner on the first
/// page and reads the registry there when none was given.
pub async fn fresh(
    browser: &AuditBrowser,
    plan: &Plan<'_>,
    out: &mut Progress,
) -> anyhow::Result<()> {
    let v = browser.visitor(plan.site, plan.stand_in).await?;
    out.phases.push(PhaseVisits {
        phase: Phase::Fresh,
        pages: Vec::new(),
    });
    let mut queue = VecDeque::from([plan.site.start.clone()]);
    let mut queued: HashSet<Url> = queue.iter().cloned().collect();
    while let Some(url) = queue.pop_front() {
        if out.pages.len() >= plan.pages {
            break;
        }
        let first = out.pages.is_empty();
        v.take_requests();
        let Some(status) = open(&v, plan, url.as_str(), out).await else {
            if first && queue.is_empty() {
                break;
            }
            continue;
        };
        if status >= 400 {
            out.findings.push(Finding::BadStatus {
                url: url.to_string(),
                status,
            });
        }
        out.pages.push(url.to_string());
        if out.pages.len() == 1 {
            first_page(&v, plan, url.as_str(), out).await;
        }
        let visit = observe(browser, &v, url.as_str(), Some(status), out).await;
        if let Some(p) = out.phases.last_mut() {
            p.pages.push(visit);
        }
        let links: Vec<String> = v
            .eval("[...document.querySelectorAll('a[href]')].map(a => a.href)")
            .await
            .unwrap_or_default();
        for link in links {
            if let Some(u) = plan.site.page_link(&link)
                && queued.insert(u.clone())
            {
                queue.push_back(u);
            }
        }
    }
    browser.forget(v).await;
    Ok(())
}

/// The first page: is the browser seen as automated, the registry, the banner.
async fn first_page(v: &Visitor, plan: &Plan<'_>, url: &str, out: &mut Progress) {
    if v.eval::<bool>("navigator.webdriver === true")
        .await
        .unwrap_or(true)
    {
        out.findings.push(Finding::AutomationVisible);
    }
    if !plan.registry_given {
        let at = Url::parse(url)
            .and_then(|u| u.join(super::REGISTRY_PATH))
            .map(|u| u.to_string())
            .unwrap_or_default();
        let text: anyhow::Result<String> = v
            .eval(&format!(
                "fetch({at:?}, {{credentials: 'omit', redirect: 'error'}}).then(r => r.ok ? r.text() : Promise.reject('HTTP ' + r.status)).catch(e => ({{error: String(e)}}))"
            ))
            .await
            .and_then(|v: serde_json::Value| match v {
                serde_json::Value::String(s) => Ok(s),
                other => Err(anyhow::anyhow!("{}", other["error"].as_str().unwrap_or("no answer"))),
            });
        match text.and_then(|t| super::read_registry(&t)) {
            Ok(entries) => out.registry = Some(entries),
            Err(e) => {
                out.findings.push(Finding::NoRegistry {
                    url: at,
                    error: format!("{e:#}"),
                });
                out.registry = Some(Vec::new());
            }
        }
    }
    let Some(found) = find(v, plan, false).await else {
        out.findings.push(Finding::NoBanner {
            url: url.to_owned(),
        });
        return;
    };
    let banner = Banner {
        kind: found.kind,
        selector: found.selector,
        url: url.to_owned(),
        accept: found.accept,
        reject: found.reject,
    };
    out.findings.extend(super::compare::buttons(&banner));
    out.banner = Some(banner);
    if let Some(r) = found.rect {
        out.screenshot = super::report::screenshot(&v.page, r).await;
    }
}

/// A visitor who opens the first page, clicks `button` and visits every page; the
/// accepting one then withdraws and visits them again.
pub async fn chosen(
    browser: &AuditBrowser,
    plan: &Plan<'_>,
    out: &mut Progress,
) -> anyhow::Result<()> {
    let Some(start) = out.pages.first().cloned() else {
        return Ok(());
    };
    let has = |b: &Option<Button>| b.is_some();
    let (accept, reject) = match &out.banner {
        Some(b) => (has(&b.accept), has(&b.reject)),
        None => (false, false),
    };
    if reject {
        let v = browser.visitor(plan.site, plan.stand_in).await?;
        if choose(&v, plan, &start, "reject", out).await {
            walk(browser, &v, plan, Phase::Rejected, out).await;
        }
        browser.forget(v).await;
    }
    if !accept {
        return Ok(());
    }
    let v = browser.visitor(plan.site, plan.stand_in).await?;
    if choose(&v, plan, &start, "accept", out).await {
        walk(browser, &v, plan, Phase::Accepted, out).await;
        out.accepted_done = out
            .phases
            .last()
            .is_some_and(|p| p.phase == Phase::Accepted && p.pages.len() == out.pages.len());
        withdraw(browser, &v, plan, &start, out).await;
    }
    browser.forget(v).await;
    Ok(())
}

/// Opens `start`, finds the banner and clicks `which`.
async fn choose(
    v: &Visitor,
    plan: &Plan<'_>,
    start: &str,
    which: &str,
    out: &mut Progress,
) -> bool {
    if open(v, plan, start, out).await.is_none() {
        return false;
    }
    find(v, plan, false).await.is_some() && click(v, which).await
}

async fn withdraw(
    browser: &AuditBrowser,
    v: &Visitor,
    plan: &Plan<'_>,
    start: &str,
    out: &mut Progress,
) {
    if open(v, plan, start, out).await.is_none() {
        return;
    }
    let reopened = match find(v, plan, true).await {
        Some(f) if f.settings.is_some() => click(v, "settings").await,
        _ => false,
    };
    let withdrawn = reopened
        && matches!(find(v, plan, false).await, Some(f) if f.reject.is_some())
        && click(v, "reject").await;
    if !withdrawn {
        out.findings.push(Finding::NoWithdrawal {
            url: start.to_owned(),
        });
        return;
    }
    walk(browser, v, plan, Phase::Withdrawn, out).await;
}

/// Visits every page the fresh visitor found, as `phase`.
async fn walk(
    browser: &AuditBrowser,
    v: &Visitor,
    plan: &Plan<'_>,
    phase: Phase,
    out: &mut Progress,
) {
    out.phases.push(PhaseVisits {
        phase,
        pages: Vec::new(),
    });
    for url in out.pages.clone() {
        v.take_requests();
        let status = open(v, plan, &url, out).await;
        if status.is_none() {
            continue;
        }
        let visit = observe(browser, v, &url, status, out).await;
        if let Some(p) = out.phases.last_mut() {
            p.pages.push(visit);
        }
    }
}

/// `Some` registry read from a file in the `/legal/cookies.json` schema.
pub fn registry_file(path: &std::path::Path) -> anyhow::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    super::read_registry(&text).map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))
}

/// The schema check of a registry document.
pub fn check_schema(doc: &RegistryDocument) -> anyhow::Result<()> {
    if doc.schema != RegistryDocument::SCHEMA {
        anyhow::bail!(
            "the schema is {:?}, not {:?}",
            doc.schema,
            RegistryDocument::SCHEMA
        );
    }
    Ok(())
}
