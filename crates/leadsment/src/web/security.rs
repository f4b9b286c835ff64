//! One middleware sets the security headers of every response, including a Content Security
//! Policy with a fresh nonce: pages put the nonce on their own scripts, and `'strict-dynamic'`
//! lets a nonced script (the consent manager) add the tags a visitor consented to, and nothing
//! else.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

/// Whether `origin` (an `Origin` header's value) is this instance's own: the public URL's
/// origin, or the host the request was sent to (`Host`, as an `http://localhost:PORT`
/// development server sees it). `null` and anything unparsable are not.
pub fn origin_is_own(public_url: &url::Url, headers: &axum::http::HeaderMap, origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    if url.origin() == public_url.origin() {
        return true;
    }
    // The Host fallback is for development servers on their own address; the scheme must
    // still be the public URL's, so a page served over plain http cannot pass for the site.
    if url.scheme() != public_url.scheme() {
        return false;
    }
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| h.eq_ignore_ascii_case(&authority))
}

/// The nonce of this response, for templates to put on `<script nonce="…">`.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

impl CspNonce {
    fn fresh() -> CspNonce {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        CspNonce(STANDARD.encode(bytes))
    }
}

/// Sources a page may reach beyond its own origin, by directive (`https://host`, or
/// `https://*.host` for a host's subdomains).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CspSources {
    pub script: Vec<String>,
    pub connect: Vec<String>,
    pub img: Vec<String>,
    pub frame: Vec<String>,
}

impl CspSources {
    /// Adds `other`'s sources that are not here yet.
    pub fn merge(&mut self, other: &CspSources) {
        for (mine, theirs) in [
            (&mut self.script, &other.script),
            (&mut self.connect, &other.connect),
            (&mut self.img, &other.img),
            (&mut self.frame, &other.frame),
        ] {
            for s in theirs {
                if !mine.contains(s) {
                    mine.push(s.clone());
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.script.is_empty()
            && self.connect.is_empty()
            && self.img.is_empty()
            && self.frame.is_empty()
    }
}

/// Which extra sources a request's page may reach. The application decides (the consent
/// manager: the hosts of switched-on tags, on the pages where tags may load); the kernel
/// only writes them into the policy.
pub trait ExtraSources: Send + Sync + 'static {
    fn for_path(&self, path: &str) -> Option<Arc<CspSources>>;
}

pub fn content_security_policy(nonce: &str, extra: Option<&CspSources>) -> String {
    let list = |sources: Option<&Vec<String>>| {
        sources
            .map(|s| s.iter().fold(String::new(), |acc, h| acc + " " + h))
            .unwrap_or_default()
    };
    let script = list(extra.map(|e| &e.script));
    let connect = list(extra.map(|e| &e.connect));
    let img = list(extra.map(|e| &e.img));
    let frame = match extra.filter(|e| !e.frame.is_empty()) {
        Some(e) => format!(" frame-src 'self'{};", list(Some(&e.frame))),
        None => String::new(),
    };
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic'{script}; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data:{img}; font-src 'self'; \
         connect-src 'self'{connect};{frame} object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), \
     magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=(), browsing-topics=()";

/// Sets the headers; a handler that sets one of them itself keeps its own value.
pub async fn headers(
    https: bool,
    extra: Option<Arc<dyn ExtraSources>>,
    mut req: Request,
    next: Next,
) -> Response {
    let nonce = CspNonce::fresh();
    let sources = extra.and_then(|e| e.for_path(req.uri().path()));
    let csp = content_security_policy(&nonce.0, sources.as_deref());
    req.extensions_mut().insert(nonce);
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let mut set = |name: HeaderName, value: HeaderValue| {
        h.entry(name).or_insert(value);
    };
    // Extra sources come checked; should one still not fit in a header, the page gets a
    // policy that runs no script at all rather than none.
    let csp = HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static(
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'",
    ));
    set(header::CONTENT_SECURITY_POLICY, csp);
    set(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    set(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    set(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(PERMISSIONS_POLICY),
    );
    set(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages behind sign-in and pages with a token in their address must not be kept by a
    // browser or a proxy: nothing is, but what says otherwise itself (assets, t.js).
    set(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    set(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if https {
        set(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}
