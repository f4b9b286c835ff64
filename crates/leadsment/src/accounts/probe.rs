//! The ownership checks' way to the internet: DNS TXT lookups and the file fetched through the
//! outbound fetcher ([`crate::outbound`]), each capped by [`ownership`](super::ownership)'s
//! limits (5 s a step, 4 KiB of file), and every failure put in words for the page.

use async_trait::async_trait;

use super::ownership::{FILE_MAX_BYTES, FileFetch, Probe, STEP_TIMEOUT, TxtLookup};
use crate::config::Config;
use crate::outbound::{DnsError, FetchError, Limits, Outbound};

/// The fetcher, or why it could not be set up (then every check says so; the server still
/// starts).
pub struct NetProbe(Result<Outbound, String>);

impl NetProbe {
    pub fn new(config: &Config) -> NetProbe {
        NetProbe(Outbound::new(&config.outbound).map_err(|e| {
            tracing::warn!(error = %e, "ownership checks cannot reach the internet");
            e.to_string()
        }))
    }
}

fn secs(d: std::time::Duration) -> String {
    format!("{} s", d.as_secs_f32())
}

#[async_trait]
impl Probe for NetProbe {
    async fn txt(&self, host: &str) -> TxtLookup {
        let outbound = match &self.0 {
            Ok(o) => o,
            Err(e) => return TxtLookup::Failed(e.clone()),
        };
        match outbound.txt_records(host, STEP_TIMEOUT).await {
            Ok(records) => TxtLookup::Records(records),
            Err(DnsError::TimedOut(d)) => {
                TxtLookup::Failed(format!("the lookup timed out after {}", secs(d)))
            }
            Err(e) => TxtLookup::Failed(e.to_string()),
        }
    }

    async fn fetch(&self, url: &str) -> FileFetch {
        let outbound = match &self.0 {
            Ok(o) => o,
            Err(e) => return FileFetch::Failed(e.clone()),
        };
        let limits = Limits {
            time: STEP_TIMEOUT,
            max_bytes: FILE_MAX_BYTES,
            max_redirects: 5,
            same_host: true,
        };
        match outbound.get(url, limits).await {
            Ok(fetched) => FileFetch::Answered {
                status: fetched.status,
                body: fetched.body,
            },
            Err(FetchError::Status(status)) => FileFetch::Answered {
                status,
                body: Vec::new(),
            },
            Err(FetchError::TooLarge { .. }) => FileFetch::TooLarge,
            Err(FetchError::TimedOut(d)) => {
                FileFetch::Failed(format!("timed out after {}", secs(d)))
            }
            Err(FetchError::RedirectLoop { url }) => {
                FileFetch::Failed(format!("redirect loop (back to {url})"))
            }
            Err(e) => FileFetch::Failed(e.to_string()),
        }
    }
}
