//! Static files embedded in the binary, served with their exact content types and validators.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::AppError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/app.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../assets/favicon.svg"),
    },
];

/// Strong validators, computed once per process from the embedded bytes.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.bytes);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, AppError> {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return Err(AppError::not_found(format!(
            "There is no asset named {name}."
        )));
    };
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.bytes,
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600, must-revalidate"),
    );
    Ok(response)
}

/// Content type of an embedded asset, for tests and the docs.
pub fn content_type_of(name: &str) -> Option<&'static str> {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.content_type)
}

/// A script served as `text/javascript`, gzipped once (at the best level) for clients that
/// accept it. t.js and consent.js are served this way.
pub struct Script {
    source: &'static str,
    gzipped: OnceLock<Vec<u8>>,
}

impl Script {
    pub const fn new(source: &'static str) -> Script {
        Script {
            source,
            gzipped: OnceLock::new(),
        }
    }

    /// The script gzipped, as [`Script::respond`] serves it (size tests measure this).
    pub fn compress(&self) -> std::io::Result<Vec<u8>> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, self.source.as_bytes())?;
        enc.finish()
    }

    /// The gzipped bytes as served; empty (and the script served plain) if compression failed.
    pub fn gzipped(&self) -> &[u8] {
        self.gzipped
            .get_or_init(|| self.compress().unwrap_or_default())
    }

    /// The answer to a `GET`: gzipped when the client accepts it, cacheable for an hour.
    pub fn respond(&'static self, headers: &HeaderMap) -> Response {
        let gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
            && !self.gzipped().is_empty();
        let mut response = if gzip {
            (
                [(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))],
                self.gzipped(),
            )
                .into_response()
        } else {
            self.source.into_response()
        };
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        response
    }
}
