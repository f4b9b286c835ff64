//! Site ownership: each host a site claims (its domain and every alias, `www.` being the same
//! host) is proven by a DNS TXT record `leadsment-verify=<token>` on the host or by the file
//! `/.well-known/leadsment-verify.txt` on it holding that line, where the token is the
//! workspace's own. A host claimed less than [`GRACE`] ago takes events unverified; afterwards
//! only a verified one does. A workspace that proves a host held, unverified, by another
//! workspace takes it (docs/ownership.md).
//!
//! The check itself looks at the internet only through a [`Probe`] (the outbound fetcher and
//! a DNS resolver in the server, see [`NetProbe`]), and says exactly what it looked for and
//! what it found, in bounded time.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

/// Ownership checks ("Check now", "Verify and take") a workspace may ask for in an hour: each
/// makes the server look up and fetch from hosts its users chose, so a workspace cannot turn
/// it into a stream of requests at someone else's server. One more comes back every
/// 3 minutes.
pub const CHECKS_PER_HOUR: u32 = 20;

/// How long a newly claimed host takes events without being verified.
pub const GRACE: Duration = Duration::from_secs(72 * 3600);

/// How often the background job re-checks an unverified host.
pub const RECHECK_EVERY: Duration = Duration::from_secs(3600);

/// The TXT record's and the file's line start.
pub const PREFIX: &str = "leadsment-verify=";

/// Where the file is looked for on the host.
pub const FILE_PATH: &str = "/.well-known/leadsment-verify.txt";

/// The most of the file that is read.
pub const FILE_MAX_BYTES: usize = 4 * 1024;

/// How long one lookup or one fetch may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound on the whole check (a TXT lookup and up to two fetches), whatever the probe does.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// One host a site claims, with its ownership state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostClaim {
    /// Compared form, without `www.`.
    pub host: String,
    /// Milliseconds since the Unix epoch.
    pub claimed_at: i64,
    /// `None` while unverified.
    pub verified_at: Option<i64>,
    pub last_check: Option<LastCheck>,
}

/// The last check of a host, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastCheck {
    pub at: i64,
    /// The ways tried: `dns`, `file` or `dns, file`.
    pub how: String,
    /// What was looked for, one line per way.
    pub sought: String,
    /// What was found, one line per way.
    pub found: String,
}

impl HostClaim {
    pub fn is_verified(&self) -> bool {
        self.verified_at.is_some()
    }

    /// Whether events for this host are taken at `now_ms`: verified, or still in its grace.
    pub fn takes_events(&self, now_ms: i64) -> bool {
        self.is_verified() || now_ms < self.grace_ends_at()
    }

    /// When the grace of an unverified host ends (ms).
    pub fn grace_ends_at(&self) -> i64 {
        self.claimed_at
            .saturating_add(i64::try_from(GRACE.as_millis()).unwrap_or(i64::MAX))
    }
}

/// The line a workspace publishes: `leadsment-verify=<token>`.
pub fn token_line(token: &str) -> String {
    format!("{PREFIX}{token}")
}

/// What a TXT lookup gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtLookup {
    /// The host's TXT strings (each record's strings joined).
    Records(Vec<String>),
    /// The lookup failed, in words (`timed out after 5 s`, `the name does not exist`).
    Failed(String),
}

/// What fetching the file gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFetch {
    /// An HTTP answer: its status and (at most [`FILE_MAX_BYTES`] of) its body.
    Answered { status: u16, body: Vec<u8> },
    /// The body is larger than [`FILE_MAX_BYTES`].
    TooLarge,
    /// No answer, in words (`timed out after 5 s`, `redirect loop`, `connection refused`).
    Failed(String),
}

/// How the check reaches the internet.
#[async_trait]
pub trait Probe: Send + Sync + 'static {
    async fn txt(&self, host: &str) -> TxtLookup;
    async fn fetch(&self, url: &str) -> FileFetch;
}

/// The outcome of a check, for the page and the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub verified: bool,
    pub how: String,
    pub sought: String,
    pub found: String,
}

impl CheckResult {
    pub fn into_last_check(self, at: i64) -> LastCheck {
        LastCheck {
            at,
            how: self.how,
            sought: self.sought,
            found: self.found,
        }
    }
}

/// Checks that `host` carries `token`: the TXT record first, then the file over https, then
/// over http when https gave no answer at all. Never longer than [`CHECK_TIMEOUT`].
pub async fn check(probe: &dyn Probe, host: &str, token: &str) -> CheckResult {
    match tokio::time::timeout(CHECK_TIMEOUT, check_unbounded(probe, host, token)).await {
        Ok(result) => result,
        Err(_) => CheckResult {
            verified: false,
            how: "dns, file".to_owned(),
            sought: format!("{} on {host}", token_line(token)),
            found: format!(
                "the check took longer than {} s and was stopped",
                CHECK_TIMEOUT.as_secs()
            ),
        },
    }
}

async fn check_unbounded(probe: &dyn Probe, host: &str, token: &str) -> CheckResult {
    let line = token_line(token);
    let dns_sought = format!("TXT records of {host}: {line}");
    let (dns_ok, dns_found) = match probe.txt(host).await {
        TxtLookup::Failed(why) => (false, format!("TXT records of {host}: {why}")),
        TxtLookup::Records(records) => txt_verdict(host, &records, &line),
    };
    if dns_ok {
        return CheckResult {
            verified: true,
            how: "dns".to_owned(),
            sought: dns_sought,
            found: dns_found,
        };
    }
    let https = format!("https://{host}{FILE_PATH}");
    let http = format!("http://{host}{FILE_PATH}");
    let file_sought = format!("{https} (then http) with the line {line}");
    let (mut file_ok, mut file_found) = file_verdict(&https, probe.fetch(&https).await, &line);
    if !file_ok && file_found.ends_with(NO_ANSWER) {
        let (ok, found) = file_verdict(&http, probe.fetch(&http).await, &line);
        file_ok = ok;
        file_found = format!("{file_found}; {found}");
    }
    CheckResult {
        verified: file_ok,
        how: "dns, file".to_owned(),
        sought: format!("{dns_sought}\n{file_sought}"),
        found: format!("{dns_found}\n{file_found}"),
    }
}

/// Checks `host` of `site` against its workspace's token and stores the outcome (a success
/// verifies the host); whether it is verified now.
pub async fn check_and_record(
    db: &crate::store::Db,
    probe: &dyn Probe,
    workspace: super::WorkspaceId,
    site: super::sites::SiteId,
    host: &str,
) -> Result<bool, crate::store::StoreError> {
    let token = super::store::verify_token(db, workspace).await?;
    let result = check(probe, host, &token).await;
    let verified = result.verified;
    let at = crate::store::now_ms();
    super::store::record_check(db, site, host, &result.into_last_check(at), verified).await?;
    Ok(verified)
}

/// How many hosts the hourly job checks at once: a slow host (each check is bounded by
/// [`CHECK_TIMEOUT`]) does not hold up the others, and a round of 100 ends within minutes.
pub const CHECKS_AT_ONCE: usize = 8;

/// The hourly job's round: claims the unverified hosts not checked for [`RECHECK_EVERY`]
/// (each claimed by one node, so several nodes may run it) and checks them,
/// [`CHECKS_AT_ONCE`] at a time. How many were checked and how many of those are verified
/// now.
pub async fn recheck_due(
    db: &crate::store::Db,
    probe: &dyn Probe,
) -> Result<(usize, usize), crate::store::StoreError> {
    use futures_util::StreamExt;
    let due = super::store::claim_due_hosts(db, crate::store::now_ms(), 100).await?;
    // Each check owns its host: a future borrowing from the list would not be `Send` for
    // every lifetime, which the job's `tokio::spawn` needs.
    let outcomes: Vec<Result<bool, crate::store::StoreError>> =
        futures_util::stream::iter(due.iter().cloned())
            .map(|h| async move { check_and_record(db, probe, h.workspace, h.site, &h.host).await })
            .buffer_unordered(CHECKS_AT_ONCE)
            .collect()
            .await;
    let mut verified = 0;
    for outcome in outcomes {
        if outcome? {
            verified += 1;
        }
    }
    Ok((due.len(), verified))
}

/// Ends the words of a fetch that got no HTTP answer (so http is tried after https).
const NO_ANSWER: &str = "(no answer)";

fn txt_verdict(host: &str, records: &[String], line: &str) -> (bool, String) {
    if records.iter().any(|r| r.trim() == line) {
        return (true, format!("TXT records of {host}: found {line}"));
    }
    let ours: Vec<&String> = records
        .iter()
        .filter(|r| r.trim().starts_with(PREFIX))
        .collect();
    let found = match (records.is_empty(), ours.first()) {
        (true, _) => format!("TXT records of {host}: none"),
        (false, Some(other)) => format!(
            "TXT records of {host}: found {}, not this workspace's token",
            shown(other.trim(), 40)
        ),
        (false, None) => format!(
            "TXT records of {host}: {} record(s), none starting with {PREFIX}",
            records.len()
        ),
    };
    (false, found)
}

fn file_verdict(url: &str, fetched: FileFetch, line: &str) -> (bool, String) {
    match fetched {
        FileFetch::Failed(why) => (false, format!("{url}: {why} {NO_ANSWER}")),
        FileFetch::TooLarge => (
            false,
            format!(
                "{url}: the file is larger than {} KiB",
                FILE_MAX_BYTES / 1024
            ),
        ),
        FileFetch::Answered { status, .. } if !(200..300).contains(&status) => {
            (false, format!("{url}: the file answered {status}"))
        }
        FileFetch::Answered { body, .. } => {
            let text = String::from_utf8_lossy(&body);
            let lines: Vec<&str> = text.trim().lines().map(str::trim).collect();
            if lines.contains(&line) {
                return (true, format!("{url}: found {line}"));
            }
            let found = match lines.iter().find(|l| l.starts_with(PREFIX)) {
                Some(other) => format!(
                    "{url}: found {}, not this workspace's token",
                    shown(other, 40)
                ),
                None if text.trim().is_empty() => format!("{url}: the file is empty"),
                None => format!("{url}: the file has no line starting with {PREFIX}"),
            };
            (false, found)
        }
    }
}

/// At most `max` characters of what a host sent, with `…` when cut.
fn shown(s: &str, max: usize) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    match clean.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &clean[..end]),
        None => clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(TxtLookup, Vec<FileFetch>, std::sync::Mutex<Vec<String>>);

    #[async_trait]
    impl Probe for Fixed {
        async fn txt(&self, _: &str) -> TxtLookup {
            self.0.clone()
        }
        async fn fetch(&self, url: &str) -> FileFetch {
            let mut asked = self.2.lock().unwrap();
            asked.push(url.to_owned());
            self.1[asked.len() - 1].clone()
        }
    }

    fn probe(txt: TxtLookup, files: Vec<FileFetch>) -> Fixed {
        Fixed(txt, files, Default::default())
    }

    #[tokio::test]
    async fn a_txt_record_with_the_token_verifies() {
        let p = probe(
            TxtLookup::Records(vec!["v=spf1".into(), "leadsment-verify=abc".into()]),
            vec![],
        );
        let r = check(&p, "example.com", "abc").await;
        assert!(r.verified);
        assert_eq!(r.how, "dns");
        assert!(r.found.contains("found leadsment-verify=abc"), "{r:?}");
    }

    #[tokio::test]
    async fn another_token_is_named_as_not_ours_and_http_follows_a_failed_https() {
        let p = probe(
            TxtLookup::Records(vec!["leadsment-verify=zzz".into()]),
            vec![
                FileFetch::Failed("connection refused".into()),
                FileFetch::Answered {
                    status: 404,
                    body: vec![],
                },
            ],
        );
        let r = check(&p, "example.com", "abc").await;
        assert!(!r.verified);
        assert!(
            r.found
                .contains("found leadsment-verify=zzz, not this workspace's token"),
            "{}",
            r.found
        );
        assert!(r.found.contains("the file answered 404"), "{}", r.found);
        assert_eq!(p.2.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_file_verifies_with_the_line_among_others() {
        let p = probe(
            TxtLookup::Records(vec![]),
            vec![FileFetch::Answered {
                status: 200,
                body: b"\n  other\nleadsment-verify=abc  \n".to_vec(),
            }],
        );
        let r = check(&p, "example.com", "abc").await;
        assert!(r.verified, "{r:?}");
        assert!(r.found.contains("TXT records of example.com: none"));
        let p = probe(TxtLookup::Records(vec![]), vec![FileFetch::TooLarge]);
        let r = check(&p, "example.com", "abc").await;
        assert!(!r.verified);
        assert!(r.found.contains("larger than 4 KiB"), "{}", r.found);
    }

    #[test]
    fn grace_lasts_72_hours_unless_verified() {
        let claim = HostClaim {
            host: "example.com".into(),
            claimed_at: 1_000,
            verified_at: None,
            last_check: None,
        };
        let h72 = 72 * 3600 * 1000;
        assert!(claim.takes_events(1_000 + h72 - 1));
        assert!(!claim.takes_events(1_000 + h72));
        let verified = HostClaim {
            verified_at: Some(5),
            ..claim
        };
        assert!(verified.takes_events(i64::MAX));
    }
}
