//! Rendering server-side pages: a template to an HTML response with a status, the errors a
//! form shows next to its fields, and how pages write times.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::error::AppError;

/// Renders `page` with `status`. Pages for form errors keep their status (400, 401, 409…)
/// and are passed through the error negotiation as they are.
pub fn render(status: StatusCode, page: &impl Template) -> Result<Response, AppError> {
    let html = page.render().map_err(AppError::internal)?;
    Ok((status, Html(html)).into_response())
}

pub fn ok(page: &impl Template) -> Result<Response, AppError> {
    render(StatusCode::OK, page)
}

/// What was wrong with a form, field by field; shown next to each field.
#[derive(Debug, Default, Clone)]
pub struct Errors(Vec<(&'static str, String)>);

impl Errors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if !self.has(field) {
            self.0.push((field, message.into()));
        }
    }

    pub fn get(&self, field: impl AsRef<str>) -> Option<&str> {
        let field = field.as_ref();
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn has(&self, field: impl AsRef<str>) -> bool {
        self.get(field).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes `result`'s value, or records its error under `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &'static str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }
}

/// A CSV file to download: `text/csv`, saved under the name `disposition` gives (an
/// `attachment; filename="…"` value), never cached.
pub fn csv_download(disposition: &str, body: impl Into<axum::body::Body>) -> Response {
    use axum::http::{HeaderValue, header};
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body.into(),
    )
        .into_response()
}

/// Milliseconds since the epoch as a short date and time (UTC).
pub fn when(ms: &i64) -> String {
    jiff::Timestamp::from_millisecond(*ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Milliseconds since the epoch as a day, `YYYY-MM-DD` (UTC).
pub fn day(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

pub fn when_opt(ms: &Option<i64>) -> String {
    ms.as_ref().map(when).unwrap_or_else(|| "never".to_owned())
}
