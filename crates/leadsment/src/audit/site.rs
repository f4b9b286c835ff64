//! Which hosts belong to the audited site: the start address's host and, once a leading
//! `www.` is dropped, its subdomains and parent (`www.example.com`, `example.com` and
//! `cdn.example.com` are one site). A request to any other host is a third-party request;
//! pages are followed on the start host only.

use url::Url;

#[derive(Debug, Clone)]
pub struct Site {
    /// The start address.
    pub start: Url,
    /// The start address's host.
    pub host: String,
    /// The host without a leading `www.`.
    base: String,
}

impl Site {
    /// The site of an http or https address with a host.
    pub fn of(address: &str) -> anyhow::Result<Site> {
        let start = Url::parse(address)
            .map_err(|e| anyhow::anyhow!("{address:?} is not an address: {e}"))?;
        if !matches!(start.scheme(), "http" | "https") {
            anyhow::bail!("{address:?} is not an http or https address");
        }
        let host = start
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("{address:?} has no host"))?
            .to_ascii_lowercase();
        let base = host.strip_prefix("www.").unwrap_or(&host).to_owned();
        Ok(Site { start, host, base })
    }

    /// Whether `host` is this site's.
    pub fn is_same_site(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        host == self.host
            || host == self.base
            || host
                .strip_suffix(&self.base)
                .is_some_and(|rest| rest.ends_with('.'))
    }

    /// A link worth following: on the start host, over http(s), not a file download or a
    /// sign-out, without its fragment.
    pub fn page_link(&self, href: &str) -> Option<Url> {
        let mut url = Url::parse(href).ok()?;
        url.set_fragment(None);
        let path = url.path().to_ascii_lowercase();
        let file = [
            ".pdf", ".zip", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".csv", ".json",
            ".xml", ".txt", ".js", ".css", ".ico", ".mp4", ".mp3",
        ]
        .iter()
        .any(|ext| path.ends_with(ext));
        let leaves = ["logout", "log-out", "sign-out", "signout"]
            .iter()
            .any(|w| path.contains(w));
        let ok = matches!(url.scheme(), "http" | "https")
            && url
                .host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.host))
            && url.port_or_known_default() == self.start.port_or_known_default()
            && !file
            && !leaves;
        ok.then_some(url)
    }
}

/// The host of an address, in lower case.
pub fn host_of(address: &str) -> Option<String> {
    Url::parse(address)
        .ok()?
        .host_str()
        .map(|h| h.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_is_the_host_its_parent_and_their_subdomains() {
        let site = Site::of("https://www.example.com/start").unwrap();
        for same in [
            "www.example.com",
            "example.com",
            "cdn.example.com",
            "WWW.EXAMPLE.COM",
        ] {
            assert!(site.is_same_site(same), "{same}");
        }
        for other in ["badexample.com", "example.com.evil.net", "example.org"] {
            assert!(!site.is_same_site(other), "{other}");
        }
        assert!(site.page_link("https://www.example.com/a#x").is_some());
        assert!(site.page_link("https://example.com/a").is_none());
        assert!(site.page_link("https://www.example.com/file.pdf").is_none());
        assert!(
            site.page_link("https://www.example.com/auth/sign-out")
                .is_none()
        );
        assert!(site.page_link("mailto:a@example.com").is_none());
        assert!(Site::of("ftp://example.com").is_err());
        assert!(Site::of("not a url").is_err());
    }
}
