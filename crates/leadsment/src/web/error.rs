//! Errors as clients see them: `{"error": "snake_case_kind", "message": "…"}` for the API and
//! programs, an HTML page for browsers. The message is written for the user; the cause, when
//! there is one, is only logged.

use askama::Template;
use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    field: Option<&'static str>,
    parameter: Option<String>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    cause: Option<anyhow::Error>,
}

/// What an error response says; kept in the response's extensions so the negotiation
/// middleware can render it as HTML for a browser.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: &'static str,
    pub message: String,
    /// The input field that was wrong, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    /// The query parameter that was wrong or unknown (the API's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

impl AppError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            kind,
            message: message.into(),
            field: None,
            parameter: None,
            headers: Vec::new(),
            cause: None,
        }
    }

    /// Names the input field that was wrong.
    pub fn with_field(mut self, field: &'static str) -> AppError {
        self.field = Some(field);
        self
    }

    /// Names the query parameter that was wrong or unknown.
    pub fn with_parameter(mut self, parameter: impl Into<String>) -> AppError {
        self.parameter = Some(parameter.into());
        self
    }

    /// Adds a header to the response (`Retry-After`, say).
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> AppError {
        self.headers.push((name, value));
        self
    }

    pub fn bad_request(kind: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, kind, message)
    }

    pub fn not_found(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// A failure of ours: the client is told only that something went wrong.
    pub fn internal(cause: impl Into<anyhow::Error>) -> AppError {
        AppError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: "Something went wrong on our side. It has been logged; please try again."
                .to_owned(),
            field: None,
            parameter: None,
            headers: Vec::new(),
            cause: Some(cause.into()),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        AppError::internal(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(status = self.status.as_u16(), error = %format!("{cause:#}"), "request failed");
        }
        let body = ErrorBody {
            error: self.kind,
            message: self.message,
            field: self.field,
            parameter: self.parameter,
        };
        let mut response = (self.status, Json(body.clone())).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response.extensions_mut().insert(body);
        response
    }
}

/// A stable, machine-readable kind for a status code, for errors that the framework produced.
fn kind_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "There is nothing at this address.".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "This address does not accept that method.".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "The request took too long and was stopped.".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is larger than allowed.".to_owned(),
        s if s.is_server_error() => {
            "Something went wrong on our side. It has been logged; please try again.".to_owned()
        }
        s => s.canonical_reason().unwrap_or("Error").to_owned(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// Browsers get HTML; the API, scripts and `curl` get JSON.
fn wants_html(req: &Request) -> bool {
    if req.uri().path().starts_with("/api/") {
        return false;
    }
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// Gives every error response one shape, including those that the framework and the
/// middleware produce (unknown routes, wrong methods, bodies over the limit, timeouts, panics,
/// extractor rejections), in JSON or HTML as the client prefers.
pub async fn negotiate(req: Request, next: Next) -> Response {
    let html = wants_html(&req);
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let known = response.extensions().get::<ErrorBody>().cloned();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    // A handler that answered an error in JSON or HTML of its own (the health check, a form
    // shown again with its errors next to the fields) meant it.
    if known.is_none() && (is_json || is_html) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let had_known = known.is_some();
    let info = match known {
        Some(info) => info,
        None => {
            let text_body = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("text/plain"));
            // Extractor rejections explain themselves in a short text body; keep that message.
            let message = match axum::body::to_bytes(body, 4096).await {
                Ok(bytes) if text_body && !bytes.is_empty() && !status.is_server_error() => {
                    String::from_utf8_lossy(&bytes).trim().to_owned()
                }
                _ => default_message(status),
            };
            ErrorBody {
                error: kind_for(status),
                message,
                field: None,
                parameter: None,
            }
        }
    };
    if !html && had_known {
        return Response::from_parts(parts, Body::from(serde_json_body(&info)));
    }
    let (content_type, body) = if html {
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message: &info.message,
        };
        match page.render() {
            Ok(html) => ("text/html; charset=utf-8", html),
            Err(_) => ("application/json", serde_json_body(&info)),
        }
    } else {
        ("application/json", serde_json_body(&info))
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    parts.extensions.insert(info);
    Response::from_parts(parts, Body::from(body))
}

fn serde_json_body(info: &ErrorBody) -> String {
    serde_json::to_string(info).unwrap_or_else(|_| {
        "{\"error\":\"internal\",\"message\":\"Something went wrong.\"}".to_owned()
    })
}

/// The answer for a handler that panicked: a plain 500, with nothing of the panic in it.
pub fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    AppError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        default_message(StatusCode::INTERNAL_SERVER_ERROR),
    )
    .into_response()
}

/// For routes that do not exist.
pub async fn fallback() -> AppError {
    AppError::not_found(default_message(StatusCode::NOT_FOUND))
}
