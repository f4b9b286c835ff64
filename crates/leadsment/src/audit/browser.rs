//! Headless Chromium as the audit drives it: launched without chromiumoxide's default
//! switches (among them `--enable-automation`, which sets `navigator.webdriver`), with an
//! ordinary desktop user agent, a profile of its own that is deleted afterwards, and one
//! browser context per visitor so the phases share nothing. Every request of a page is
//! paused through CDP Fetch, recorded and let go; with a stand-in (tests only) requests to
//! other sites are answered by the stand-in instead of the network.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::fetch::{
    self, ContinueRequestParams, EventRequestPaused, FulfillRequestParams, HeaderEntry,
    RequestPattern,
};
use chromiumoxide::cdp::browser_protocol::page::{
    EventJavascriptDialogOpening, HandleJavaScriptDialogParams,
};
use chromiumoxide::cdp::browser_protocol::storage::GetCookiesParams;
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams, DisposeBrowserContextParams,
};
use chromiumoxide::page::Page;
use futures_util::StreamExt as _;

use super::findings::SeenCookie;
use super::site::Site;

/// Every CDP call but a navigation gets this long.
const CALL_CAP: Duration = Duration::from_secs(10);

/// Refuses pop-ups and counts them, before any script of the page runs.
const INIT_JS: &str = "(() => { let n = 0; Object.defineProperty(window, '__lmAuditPopups', \
    { get: () => n }); window.open = function () { n += 1; return null; }; })()";

/// Debian's Chromium, where the package puts it.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

pub struct AuditBrowser {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    profile: PathBuf,
    user_agent: String,
}

/// A CDP call with [`CALL_CAP`].
pub async fn capped<T, E: std::fmt::Display>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(CALL_CAP, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(anyhow::anyhow!("{what}: {e}")),
        Err(_) => Err(anyhow::anyhow!("{what}: no answer within {CALL_CAP:?}")),
    }
}

impl AuditBrowser {
    pub async fn launch(chromium: &std::path::Path, page_cap: Duration) -> anyhow::Result<Self> {
        if !chromium.exists() {
            anyhow::bail!(
                "Chromium was not found at {} (install Debian's `chromium` package, or give \
                 its path with --chromium)",
                chromium.display()
            );
        }
        let profile = std::env::temp_dir().join(format!(
            "leadsment-audit-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let mut config = BrowserConfig::builder()
            .chrome_executable(chromium)
            .user_data_dir(&profile)
            .disable_default_args()
            .window_size(1280, 900)
            .viewport(None::<chromiumoxide::handler::viewport::Viewport>)
            // Longer than the page cap, so a slow page is the page cap's finding.
            .request_timeout(page_cap + Duration::from_secs(5))
            .launch_timeout(Duration::from_secs(60))
            // chromiumoxide adds the leading dashes.
            .args([
                "disable-blink-features=AutomationControlled",
                "disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,Translate",
                "disable-gpu",
                "disable-background-networking",
                "disable-component-update",
                "disable-default-apps",
                "disable-sync",
                "disable-dev-shm-usage",
                "no-first-run",
                "no-default-browser-check",
                "password-store=basic",
                "use-mock-keychain",
                "lang=en-US",
            ]);
        if running_as_root() {
            // Chromium refuses to start its sandbox for root.
            config = config.no_sandbox();
        }
        let config = config
            .build()
            .map_err(|e| anyhow::anyhow!("cannot configure Chromium: {e}"))?;
        let (browser, mut handler) = Browser::launch(config)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start Chromium: {e}"))?;
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if event.is_err() {
                    break;
                }
            }
        });
        let mut this = AuditBrowser {
            browser,
            handler,
            profile,
            user_agent: String::new(),
        };
        // The headless product name, as a person's Chrome on Linux says it.
        let version = capped("version", this.browser.version()).await?;
        let major = version
            .product
            .rsplit('/')
            .next()
            .and_then(|v| v.split('.').next())
            .unwrap_or("131")
            .to_owned();
        this.user_agent = format!(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/{major}.0.0.0 Safari/537.36"
        );
        Ok(this)
    }

    /// A fresh visitor: a browser context of its own.
    pub async fn visitor(
        &self,
        site: &Site,
        stand_in: Option<&url::Url>,
    ) -> anyhow::Result<Visitor> {
        let context = capped(
            "new context",
            self.browser
                .create_browser_context(CreateBrowserContextParams::default()),
        )
        .await?;
        let page = capped(
            "new page",
            self.browser.new_page(
                CreateTargetParams::builder()
                    .url("about:blank")
                    .browser_context_id(context.clone())
                    .build()
                    .map_err(|e| anyhow::anyhow!(e))?,
            ),
        )
        .await?;
        capped("user agent", page.set_user_agent(&self.user_agent)).await?;
        capped("init script", page.evaluate_on_new_document(INIT_JS)).await?;
        let requests = Arc::new(Mutex::new(Requests::default()));
        let mut paused = capped("listen", page.event_listener::<EventRequestPaused>()).await?;
        let (p, r, site, stand_in) = (
            page.clone(),
            requests.clone(),
            site.clone(),
            stand_in.cloned(),
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let pausing = tokio::spawn(async move {
            while let Some(ev) = paused.next().await {
                let url = ev.request.url.clone();
                let host = super::site::host_of(&url).unwrap_or_default();
                let other = !site.is_same_site(&host);
                if let Ok(mut r) = r.lock() {
                    r.last = Some(Instant::now());
                    if other && url.starts_with("http") {
                        r.third_party.push(url.clone());
                    }
                }
                match stand_in
                    .as_ref()
                    .filter(|_| other && url.starts_with("http"))
                {
                    Some(stand_in) => {
                        let answer =
                            ask_stand_in(&client, stand_in, &url, ev.request_id.clone()).await;
                        let _ = p.execute(answer).await;
                    }
                    None => {
                        let _ = p
                            .execute(ContinueRequestParams::new(ev.request_id.clone()))
                            .await;
                    }
                }
            }
        });
        let mut dialogs = capped(
            "listen",
            page.event_listener::<EventJavascriptDialogOpening>(),
        )
        .await?;
        let p = page.clone();
        let dismissing = tokio::spawn(async move {
            while dialogs.next().await.is_some() {
                let _ = p.execute(HandleJavaScriptDialogParams::new(false)).await;
            }
        });
        capped(
            "intercept",
            page.execute(
                fetch::EnableParams::builder()
                    .pattern(RequestPattern::builder().url_pattern("*").build())
                    .build(),
            ),
        )
        .await?;
        Ok(Visitor {
            page,
            context,
            requests,
            tasks: vec![pausing, dismissing],
        })
    }

    /// Closes Chromium and deletes its profile.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.browser.close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.browser.wait()).await;
        let _ = self.browser.kill().await;
        self.handler.abort();
        let _ = std::fs::remove_dir_all(&self.profile);
    }

    /// Drops a visitor's context (its cookies and storage with it).
    pub async fn forget(&self, visitor: Visitor) {
        for t in &visitor.tasks {
            t.abort();
        }
        let _ = capped("close page", visitor.page.close()).await;
        let _ = capped(
            "dispose",
            self.browser
                .execute(DisposeBrowserContextParams::new(visitor.context)),
        )
        .await;
    }
}

/// The stand-in's answer to a request for another site: `{stand_in}/{host}{path}?{query}`.
async fn ask_stand_in(
    client: &reqwest::Client,
    stand_in: &url::Url,
    url: &str,
    id: fetch::RequestId,
) -> FulfillRequestParams {
    let target = url::Url::parse(url).ok().and_then(|u| {
        let mut path = format!("{}{}", u.host_str()?, u.path());
        if let Some(q) = u.query() {
            path = format!("{path}?{q}");
        }
        stand_in.join(&path).ok()
    });
    let answer = match target {
        Some(t) => client.get(t).send().await.ok(),
        None => None,
    };
    let (status, ctype, body) = match answer {
        Some(a) => {
            let status = a.status().as_u16() as i64;
            let ctype = a
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("text/plain")
                .to_owned();
            (
                status,
                ctype,
                a.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
            )
        }
        None => (502, "text/plain".to_owned(), Vec::new()),
    };
    let mut f = FulfillRequestParams::new(id, status);
    f.response_headers = Some(vec![
        HeaderEntry::new("Content-Type", ctype),
        HeaderEntry::new("Access-Control-Allow-Origin", "*"),
    ]);
    f.body = Some(
        base64::engine::general_purpose::STANDARD
            .encode(body)
            .into(),
    );
    f
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                == Some("0")
        })
        .unwrap_or(false)
}

#[derive(Debug, Default)]
struct Requests {
    third_party: Vec<String>,
    last: Option<Instant>,
}

/// One visitor: a page in a browser context of its own.
pub struct Visitor {
    pub page: Page,
    context: BrowserContextId,
    requests: Arc<Mutex<Requests>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Visitor {
    /// The third-party requests since the last call.
    pub fn take_requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .map(|mut r| std::mem::take(&mut r.third_party))
            .unwrap_or_default()
    }

    /// Waits until no request has started for half a second, for at most `cap`.
    pub async fn quiet(&self, cap: Duration) {
        let until = Instant::now() + cap;
        loop {
            let last = self.requests.lock().ok().and_then(|r| r.last);
            let calm = last.is_none_or(|t| t.elapsed() >= Duration::from_millis(500));
            if calm || Instant::now() >= until {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Evaluates `js` (an expression, or a promise of one) and reads its JSON value.
    pub async fn eval<T: serde::de::DeserializeOwned>(&self, js: &str) -> anyhow::Result<T> {
        let wrapped = format!("Promise.resolve(({js})).then(v => JSON.stringify(v ?? null))");
        let json: String = capped("evaluate", self.page.evaluate(wrapped))
            .await?
            .into_value()
            .map_err(|e| anyhow::anyhow!("evaluate: {e}"))?;
        Ok(serde_json::from_str(&json)?)
    }

    /// Every cookie of this visitor, on every domain: the browser's Storage.getCookies for
    /// the visitor's context, or, should that fail, the cookies the current page can see.
    pub async fn cookies(&self, browser: &AuditBrowser) -> anyhow::Result<Vec<SeenCookie>> {
        let params = GetCookiesParams::builder()
            .browser_context_id(self.context.clone())
            .build();
        let cookies = match capped("cookies", browser.browser.execute(params)).await {
            Ok(got) => got.result.cookies,
            Err(_) => capped("cookies", self.page.get_cookies()).await?,
        };
        let mut out: Vec<SeenCookie> = cookies
            .iter()
            .map(|c| SeenCookie {
                name: c.name.clone(),
                domain: c.domain.clone(),
                path: c.path.clone(),
                secure: c.secure,
                http_only: c.http_only,
                same_site: c
                    .same_site
                    .as_ref()
                    .map(|s| s.as_ref().to_owned())
                    .unwrap_or_default(),
                expires: (!c.session).then_some(c.expires),
            })
            .collect();
        out.sort_by(|a, b| (&a.name, &a.domain).cmp(&(&b.name, &b.domain)));
        Ok(out)
    }
}
