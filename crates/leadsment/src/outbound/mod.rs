//! The one way the server fetches from an address a user chose (a site's domain, later
//! webhooks): `GET` over HTTP or HTTPS that refuses private, loopback, link-local, unique-local
//! and cloud-metadata addresses, connects to exactly the address it checked, checks every
//! redirect again and caps the time and the size. Also the DNS TXT lookups of domain
//! verification. `docs/outbound.md` explains the choices.
//!
//! How the checks hold:
//! - the HTTP client resolves names only through [`resolve::CheckedResolver`], which looks a
//!   name up once and hands over only the addresses the [`AddressPolicy`] allows, so the
//!   connection goes to a checked address and no second lookup can differ (DNS rebinding);
//! - a URL whose host is an IP address skips resolution, so it is checked here first;
//! - redirects are not followed by the client but here, each new URL checked like the first;
//! - no proxy is used (one would make the client connect to the proxy, not the checked host)
//!   and idle connections are not kept, so every request resolves and checks afresh.
//!
//! This module imports no capability.

mod names;
mod ranges;
mod resolve;
pub mod settings;

use std::collections::HashSet;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use url::{Host, Url};

pub use names::private_name;
pub use ranges::{AddressPolicy, Embedding, RangeKind, RefusedRange, refused_range};
pub use resolve::DnsError;
use resolve::{CheckedResolver, ResolveFailure};
pub use settings::OutboundSettings;

/// Bounds of one fetch, redirects included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole fetch: every lookup, connection, redirect and the body.
    pub time: Duration,
    /// The largest body read; a larger one is [`FetchError::TooLarge`].
    pub max_bytes: usize,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// Follows only redirects to the same host (or its `www.` form): a proof that a host
    /// serves something must not be answered by another host it forwards to.
    pub same_host: bool,
}

impl Default for Limits {
    /// 10 seconds, 64 KiB, 5 redirects.
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(10),
            max_bytes: 64 * 1024,
            max_redirects: 5,
            same_host: false,
        }
    }
}

/// A successful (2xx) answer.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL that answered, after redirects.
    pub url: Url,
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why a fetch gave no body. Each message is fit to show the user who chose the URL; none
/// holds an IP address other than one the URL itself held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Not an absolute `http://` or `https://` URL with a host, or one with a user name or
    /// password.
    #[error("not a URL Leadsment fetches: {0}")]
    BadUrl(String),
    /// A port browsers refuse too (mail, DNS, SSH and the like; the Fetch standard's list).
    #[error("port {0} is not fetched from")]
    BadPort(u16),
    /// The host is, or resolves only to, an address in a refused range.
    #[error("{host} is not fetched from: its address is in {range}")]
    Refused { host: String, range: RefusedRange },
    /// The host is a name of private networks (`.internal`, `.local`, a single label): it is
    /// not looked up at all.
    #[error("{host} is not fetched from: it is not a name on the internet ({why})")]
    PrivateName { host: String, why: &'static str },
    /// The name does not exist or has no address.
    #[error("{host} has no address in DNS")]
    NoSuchHost { host: String },
    /// A lookup, connection, TLS or protocol failure.
    #[error("could not fetch: {0}")]
    Unreachable(String),
    /// The whole fetch took longer than its limit.
    #[error("no complete answer within {} seconds", .0.as_secs_f32())]
    TimedOut(Duration),
    /// The body is larger than the limit.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("more than {limit} redirects")]
    TooManyRedirects { limit: usize },
    /// A redirect led back to a URL already fetched.
    #[error("the redirects loop back to {url}")]
    RedirectLoop { url: String },
    /// A redirect to another host, when only the same host may answer.
    #[error("the answer redirects to another host ({url}), which cannot speak for this one")]
    OffHost { url: String },
    /// An answer that is neither a success nor a redirect with a `Location`.
    #[error("the server answered {0}")]
    Status(u16),
}

/// The fetcher could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the outbound fetcher: {0}")]
pub struct SetupError(String);

/// The outbound fetcher. Cheap to clone; build one at start and share it.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    checked: CheckedResolver,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

/// Ports the Fetch standard forbids browsers (mail, news, DNS, SSH, IRC, SIP, ...): an HTTP
/// request there could talk another protocol, as sending mail through port 25.
const BAD_PORTS: &[u16] = &[
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
    103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
    512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
    995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
    6669, 6679, 6697, 10080,
];

impl Outbound {
    /// Builds the client and the resolver; sends nothing. Needs a tokio runtime to fetch.
    pub fn new(settings: &OutboundSettings) -> Result<Outbound, SetupError> {
        let resolver = resolve::build_resolver(settings.resolver).map_err(SetupError)?;
        let checked = CheckedResolver {
            resolver,
            policy: AddressPolicy::new(settings.allow.clone()),
        };
        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(checked.clone()))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(0)
            .user_agent(concat!("Leadsment/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SetupError(e.to_string()))?;
        Ok(Outbound { client, checked })
    }

    /// `GET url`, following at most `limits.max_redirects` redirects, each checked again.
    /// Only a 2xx answer gives a body; anything else is an error.
    pub async fn get(&self, url: &str, limits: Limits) -> Result<Fetched, FetchError> {
        let url = Url::parse(url).map_err(|e| FetchError::BadUrl(format!("`{url}`: {e}")))?;
        match tokio::time::timeout(limits.time, self.follow(url, limits)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(FetchError::TimedOut(limits.time)),
        }
    }

    /// The TXT records of `name` (each record's strings joined), from the configured
    /// resolver; none is an empty list. Bounded by `timeout`.
    pub async fn txt_records(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<Vec<String>, DnsError> {
        resolve::txt_records(self.resolver(), name, timeout).await
    }

    fn resolver(&self) -> &TokioResolver {
        &self.checked.resolver
    }

    async fn follow(&self, mut url: Url, limits: Limits) -> Result<Fetched, FetchError> {
        let mut seen = HashSet::new();
        let mut redirects = 0;
        loop {
            self.check_url(&url)?;
            seen.insert(without_fragment(&url));
            let response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| describe(&url, &e))?;
            let status = response.status();
            if is_redirect(status) {
                let next = redirect_target(&url, &response, status)?;
                if limits.same_host && !same_host(&url, &next) {
                    return Err(FetchError::OffHost {
                        url: next.to_string(),
                    });
                }
                if seen.contains(&without_fragment(&next)) {
                    return Err(FetchError::RedirectLoop {
                        url: next.to_string(),
                    });
                }
                if redirects >= limits.max_redirects {
                    return Err(FetchError::TooManyRedirects {
                        limit: limits.max_redirects,
                    });
                }
                redirects += 1;
                url = next;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = read_capped(&url, response, limits.max_bytes).await?;
            return Ok(Fetched {
                url,
                status: status.as_u16(),
                content_type,
                body,
            });
        }
    }

    /// The checks a URL meets before anything is sent: scheme, credentials, port, a name of
    /// private networks, and an IP address host (which the resolver never sees).
    fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::BadUrl(format!(
                "`{}:` is not http or https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::BadUrl(
                "a URL with a user name or password".to_owned(),
            ));
        }
        if let Some(port) = url.port_or_known_default()
            && BAD_PORTS.contains(&port)
        {
            return Err(FetchError::BadPort(port));
        }
        let ip = match url.host() {
            None => return Err(FetchError::BadUrl("a URL without a host".to_owned())),
            Some(Host::Domain(name)) => {
                return match names::private_name(name) {
                    Some(why) => Err(FetchError::PrivateName {
                        host: name.to_owned(),
                        why,
                    }),
                    None => Ok(()),
                };
            }
            Some(Host::Ipv4(v4)) => std::net::IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => std::net::IpAddr::V6(v6),
        };
        self.checked
            .policy
            .check(ip)
            .map_err(|range| FetchError::Refused {
                host: host_of(url),
                range,
            })
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn redirect_target(
    url: &Url,
    response: &reqwest::Response,
    status: StatusCode,
) -> Result<Url, FetchError> {
    let location = response
        .headers()
        .get(LOCATION)
        .ok_or(FetchError::Status(status.as_u16()))?;
    let location = location
        .to_str()
        .map_err(|_| FetchError::BadUrl("a redirect to a Location that is not text".to_owned()))?;
    url.join(location)
        .map_err(|e| FetchError::BadUrl(format!("a redirect to `{location}`: {e}")))
}

/// Whether `next` is on `from`'s host, or its `www.` form (either way), whatever the scheme.
fn same_host(from: &Url, next: &Url) -> bool {
    let bare = |u: &Url| {
        let host = u
            .host_str()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_ascii_lowercase();
        host.strip_prefix("www.").map(str::to_owned).unwrap_or(host)
    };
    !bare(from).is_empty() && bare(from) == bare(next)
}

fn without_fragment(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);
    url
}

fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_owned()
}

/// Reads the body chunk by chunk and stops past `max` bytes, whatever `Content-Length` says.
async fn read_capped(
    url: &Url,
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, FetchError> {
    let too_large = FetchError::TooLarge { limit: max };
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(url, &e))? {
        if body.len() + chunk.len() > max {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The fetch error a client error stands for; a refusal from the resolver is found in its
/// causes.
fn describe(url: &Url, error: &reqwest::Error) -> FetchError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut innermost = error.to_string();
    while let Some(e) = cause {
        if let Some(failure) = e.downcast_ref::<ResolveFailure>() {
            return match failure {
                ResolveFailure::Refused(range) => FetchError::Refused {
                    host: host_of(url),
                    range: *range,
                },
                ResolveFailure::NoAddress => FetchError::NoSuchHost { host: host_of(url) },
                ResolveFailure::Lookup(why) => {
                    FetchError::Unreachable(format!("{}: {why}", host_of(url)))
                }
            };
        }
        innermost = e.to_string();
        cause = e.source();
    }
    if error.is_connect() {
        FetchError::Unreachable(format!("cannot connect to {}: {innermost}", host_of(url)))
    } else {
        FetchError::Unreachable(innermost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher() -> Outbound {
        // A resolver nobody answers on: these tests must refuse before any lookup.
        Outbound::new(&OutboundSettings {
            allow: Vec::new(),
            resolver: Some("127.0.0.1:9".parse().unwrap()),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn ip_literals_in_refused_ranges_are_refused_before_connecting() {
        let fetcher = fetcher();
        for (url, network) in [
            ("http://127.0.0.1/", "127.0.0.0/8"),
            ("http://2130706433/", "127.0.0.0/8"),
            ("http://0x7f.1/", "127.0.0.0/8"),
            ("http://0/", "0.0.0.0/8"),
            (
                "http://169.254.169.254/latest/meta-data/",
                "169.254.169.254/32",
            ),
            ("http://10.0.0.1:8080/", "10.0.0.0/8"),
            ("https://192.168.1.1/", "192.168.0.0/16"),
            ("http://[::1]/", "::1/128"),
            ("http://[::ffff:127.0.0.1]/", "127.0.0.0/8"),
            ("http://[::ffff:a9fe:a9fe]/", "169.254.169.254/32"),
            ("http://[fd00:ec2::254]/", "fd00:ec2::254/128"),
            ("http://[fe80::1]/", "fe80::/10"),
        ] {
            match fetcher.get(url, Limits::default()).await {
                Err(FetchError::Refused { range, .. }) => {
                    assert_eq!(range.network.to_string(), network, "{url}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn only_http_urls_on_ordinary_ports() {
        let fetcher = fetcher();
        for url in [
            "file:///etc/passwd",
            "ftp://example.com/",
            "gopher://example.com/",
            "http://user:pw@example.com/",
            "/relative",
        ] {
            let result = fetcher.get(url, Limits::default()).await;
            assert!(
                matches!(result, Err(FetchError::BadUrl(_))),
                "{url}: {result:?}"
            );
        }
        for (url, port) in [
            ("http://example.com:25/", 25),
            ("https://example.com:22/", 22),
        ] {
            let result = fetcher.get(url, Limits::default()).await;
            assert_eq!(result.unwrap_err(), FetchError::BadPort(port), "{url}");
        }
    }

    #[test]
    fn refusals_read_well() {
        let e = FetchError::Refused {
            host: "intranet.example".to_owned(),
            range: refused_range("10.1.2.3".parse().unwrap()).unwrap(),
        };
        assert_eq!(
            e.to_string(),
            "intranet.example is not fetched from: its address is in 10.0.0.0/8 (private network)"
        );
    }
}
