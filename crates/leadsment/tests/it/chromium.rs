//! The one Chromium launcher of the browser tests: Debian's `chromium` (or the binary that
//! `LEADSMENT_TEST_CHROMIUM` names), driven over CDP, with a profile of its own and an ordinary
//! desktop user agent so the bot filter treats it as a person's browser.

use std::path::PathBuf;
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use futures_util::StreamExt;

use crate::tracking::CHROME;

fn chromium_path() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("LEADSMENT_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    assert!(
        path.exists(),
        "Chromium is needed for the browser tests and was not found at {}: install Debian's \
         `chromium` package (scripts/test does) or set LEADSMENT_TEST_CHROMIUM",
        path.display()
    );
    path
}

pub struct TestBrowser {
    pub browser: Browser,
    _dir: tempfile::TempDir,
    handler: tokio::task::JoinHandle<()>,
}

impl TestBrowser {
    /// A fresh headless Chromium with an ordinary desktop user agent, so the bot filter lets
    /// it through as it would a person's browser.
    pub async fn launch() -> TestBrowser {
        TestBrowser::launch_with(CHROME).await
    }

    /// The same with another user agent.
    pub async fn launch_with(user_agent: &str) -> TestBrowser {
        TestBrowser::launch_args(user_agent, &[]).await
    }

    /// The same with more command-line switches, as `(name, value)` (no leading dashes).
    pub async fn launch_args(user_agent: &str, extra: &[(&str, &str)]) -> TestBrowser {
        let dir = tempfile::tempdir().unwrap();
        let config = BrowserConfig::builder()
            .chrome_executable(chromium_path())
            .no_sandbox()
            .user_data_dir(dir.path())
            .window_size(1280, 900)
            // chromiumoxide adds the leading dashes.
            .args([
                "disable-gpu",
                "disable-quic",
                "no-first-run",
                "disable-background-networking",
                "disable-component-update",
                "disable-sync",
                "disable-dev-shm-usage",
                "hide-scrollbars",
            ])
            .arg(("user-agent", user_agent))
            .args(extra.iter().copied())
            .launch_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let (browser, mut handler) = Browser::launch(config).await.unwrap();
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if event.is_err() {
                    break;
                }
            }
        });
        TestBrowser {
            browser,
            _dir: dir,
            handler,
        }
    }

    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
    }
}
