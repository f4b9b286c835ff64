//! `leadsment audit URL`: a cookie and consent audit of a live site in headless Chromium.
//! A fresh visitor follows same-site links; then one visitor rejects, one accepts, and the
//! accepting one withdraws; in each phase every cookie, storage key and request to another
//! host is recorded and compared with a cookie registry. The banner's Reject must be on the
//! first layer, as large and as clear as Accept. Every problem, a bad address or a page that
//! never loads among them, is a [`Finding`]; the whole run is bounded by a time cap.
//! `docs/audit.md` is the user's guide.
//!
//! The registry is the one the site publishes at `/legal/cookies.json` unless a file is
//! given: it is what the instance's cookie policy shows visitors (its built-in cookies and
//! the tags switched on), read from the instance that serves the pages, so the audit needs
//! no database and checks the policy the visitor is actually given.

pub mod banners;
pub mod browser;
pub mod compare;
pub mod findings;
pub mod phases;
pub mod report;
pub mod site;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::registry::{Entry, RegistryDocument};

pub use findings::{Finding, Phase};

/// Exit status: no findings.
pub const EXIT_PASSED: u8 = 0;
/// Exit status: the audit ran and found something (see the report).
pub const EXIT_FINDINGS: u8 = 3;

/// Where an instance publishes its registry (the consent capability's `/legal/cookies.json`).
pub const REGISTRY_PATH: &str = "/legal/cookies.json";

/// The most pages an audit follows.
pub const MAX_PAGES: usize = 50;

/// What to audit and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub url: String,
    /// Pages to follow, 1 to [`MAX_PAGES`].
    pub pages: usize,
    /// A registry file in the `/legal/cookies.json` schema; `None`: the site's own.
    pub registry: Option<PathBuf>,
    /// The whole run's cap.
    pub total_cap: Duration,
    /// One page's cap (its load and its requests).
    pub page_cap: Duration,
    pub chromium: PathBuf,
    /// Tests only: requests to other sites are answered by this address
    /// (`{stand_in}/{host}{path}`) instead of the network.
    pub stand_in: Option<url::Url>,
}

impl Options {
    pub fn new(url: &str) -> Options {
        Options {
            url: url.to_owned(),
            pages: 10,
            registry: None,
            total_cap: Duration::from_secs(300),
            page_cap: Duration::from_secs(30),
            chromium: PathBuf::from(browser::DEFAULT_CHROMIUM),
            stand_in: None,
        }
    }
}

/// The audit's result; serialised, it is the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `leadsment-audit/1`.
    pub schema: &'static str,
    pub url: String,
    /// When the run started (RFC 3339, UTC).
    pub started: String,
    pub seconds: f64,
    /// `--registry FILE`'s path, or the site's `/legal/cookies.json` address.
    pub registry_source: String,
    pub registry_entries: usize,
    /// The pages visited, in the order the fresh visitor found them.
    pub pages: Vec<String>,
    pub banner: Option<findings::Banner>,
    pub phases: Vec<findings::PhaseVisits>,
    pub findings: Vec<Finding>,
    /// The banner's PNG, in the HTML report only.
    #[serde(skip)]
    pub screenshot: Option<Vec<u8>>,
}

impl Report {
    pub const SCHEMA: &str = "leadsment-audit/1";

    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn text(&self) -> String {
        report::text(self)
    }

    pub fn html(&self) -> String {
        report::html(self)
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// A registry document's entries, after checking its schema.
pub fn read_registry(text: &str) -> anyhow::Result<Vec<Entry>> {
    let doc: RegistryDocument =
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("not a cookie registry: {e}"))?;
    phases::check_schema(&doc)?;
    Ok(doc.entries)
}

/// Runs the audit. An `Err` is a run that could not start (a bad address, no Chromium, an
/// unreadable registry file); anything about the site is a finding in the report.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let started_at = Instant::now();
    let started = jiff::Timestamp::now()
        .round(jiff::Unit::Second)?
        .to_string();
    if !(1..=MAX_PAGES).contains(&options.pages) {
        anyhow::bail!("--pages must be from 1 to {MAX_PAGES}");
    }
    let site = site::Site::of(&options.url)?;
    let banners = banners::Banners::builtin()?;
    let given = match &options.registry {
        Some(path) => Some(phases::registry_file(path)?),
        None => None,
    };
    let registry_source = match &options.registry {
        Some(path) => path.display().to_string(),
        None => site
            .start
            .join(REGISTRY_PATH)
            .map(|u| u.to_string())
            .unwrap_or_default(),
    };
    let browser = browser::AuditBrowser::launch(&options.chromium, options.page_cap).await?;
    let plan = phases::Plan {
        site: &site,
        pages: options.pages,
        page_cap: options.page_cap,
        banners_js: banners.to_js(),
        stand_in: options.stand_in.as_ref(),
        registry_given: given.is_some(),
    };
    let mut progress = phases::Progress {
        registry: given,
        ..phases::Progress::default()
    };
    let driven = tokio::time::timeout(options.total_cap, async {
        phases::fresh(&browser, &plan, &mut progress).await?;
        phases::chosen(&browser, &plan, &mut progress).await
    })
    .await;
    tokio::time::timeout(Duration::from_secs(15), browser.close())
        .await
        .ok();
    match driven {
        Ok(Ok(())) => {}
        Ok(Err(e)) => anyhow::bail!("the browser failed during the audit: {e:#}"),
        Err(_) => progress.findings.push(Finding::TimeCap {
            seconds: options.total_cap.as_secs(),
        }),
    }
    let registry = progress.registry.take().unwrap_or_default();
    // A declared key can only be called stale when the accepting visitor saw every page.
    let phases_for_stale: &[findings::PhaseVisits] = &progress.phases;
    let mut found = compare::keys_and_requests(&registry, &site, phases_for_stale);
    if !progress.accepted_done {
        found.retain(|f| !matches!(f, Finding::StalePolicy { .. }));
    }
    let mut findings = std::mem::take(&mut progress.findings);
    findings.extend(found);
    Ok(Report {
        schema: Report::SCHEMA,
        url: options.url.clone(),
        started,
        seconds: started_at.elapsed().as_secs_f64(),
        registry_source,
        registry_entries: registry.len(),
        pages: progress.pages,
        banner: progress.banner,
        phases: progress.phases,
        findings,
        screenshot: progress.screenshot,
    })
}
