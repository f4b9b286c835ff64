//! Prometheus metrics: requests and latency by route, connections (see [`super::serve`]), and
//! build information.

use std::sync::Arc;
use std::time::Instant;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::error::AppError;
use super::serve::ConnectionMetrics;

pub struct Metrics {
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    token: Option<SecretString>,
    /// With neither a token nor a listener of its own, `/metrics` answers only a loopback
    /// peer whose request carries no forwarded header (a proxy on the same machine passes on
    /// other people's requests from loopback).
    local_only: bool,
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    connections: Arc<ConnectionMetrics>,
}

impl Metrics {
    pub fn new(
        token: Option<SecretString>,
        local_only: bool,
    ) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "leadsment_http_requests_total",
                "HTTP requests answered, by method, route and status code.",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "leadsment_http_request_duration_seconds",
                "Time to answer an HTTP request, by method and route.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )?;
        let build_info = IntGauge::with_opts(
            Opts::new(
                "leadsment_build_info",
                "Always 1; the labels say which build runs.",
            )
            .const_label("version", env!("CARGO_PKG_VERSION")),
        )?;
        build_info.set(1);
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(build_info))?;
        let connections = ConnectionMetrics::new()?;
        connections.register(&registry)?;
        Ok(Metrics {
            token,
            local_only,
            registry,
            requests,
            latency,
            connections: Arc::new(connections),
        })
    }

    /// The listeners' connection counts.
    pub fn connections(&self) -> Arc<ConnectionMetrics> {
        self.connections.clone()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}

/// Counts and times each request under its route pattern (`/api/sites/{id}`), never the raw
/// path, so the label set stays small and carries no user data.
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    m.latency
        .with_label_values(&[method, route.as_str()])
        .observe(elapsed);
    m.requests
        .with_label_values(&[method, route.as_str(), response.status().as_str()])
        .inc();
    response
}

/// The method as a label: the standard ones by name, any other (clients may send any token,
/// of any length) as `other`, so that the label set stays bounded.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`, in the Prometheus text format.
pub async fn render(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
) -> Result<Response, AppError> {
    let headers = req.headers();
    if metrics.local_only {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"]
            .iter()
            .any(|h| headers.contains_key(*h));
        if forwarded || !peer.is_some_and(|ip| ip.to_canonical().is_loopback()) {
            return Err(AppError::not_found("There is nothing at this address."));
        }
    }
    if let Some(token) = &metrics.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Comparing digests keeps the comparison's timing independent of the token.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(token.expose_secret().as_bytes()) {
            let mut response =
                AppError::unauthorized("Send the metrics token as `Authorization: Bearer …`.")
                    .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            return Ok(response);
        }
    }
    let body = metrics.render().map_err(AppError::internal)?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            TextEncoder::new().format_type().to_owned(),
        )],
        body,
    )
        .into_response())
}
