//! The HTTP kernel: the route type every capability's table is made of, the errors, the
//! client address, the metrics, the security headers and the middleware every response
//! passes through. It names no capability: each capability brings its routes, its state and
//! the guard for its access levels, and they are put together where the server is composed
//! (`crate::app`).

pub mod assets;
pub mod client_addr;
pub mod error;
pub mod metrics;
pub mod page;
pub mod security;
pub mod serve;
pub mod settings;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, Request, StatusCode};
use axum::routing::{MethodRouter, get};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use self::metrics::Metrics;
use self::settings::WebSettings;

/// One entry in a route table: a method and path, who may call it (`A`, the access levels of
/// the capability that declares it), and its handler over the capability's state `S`. The
/// composition wraps each route in the guard for its access, so tests can walk the table and
/// check that each route enforces what it claims.
pub struct Route<S, A> {
    pub method: Method,
    pub path: &'static str,
    pub access: A,
    pub handler: MethodRouter<S>,
}

impl<S: Clone + Send + Sync + 'static, A> Route<S, A> {
    pub fn get<H, T>(path: &'static str, access: A, handler: H) -> Route<S, A>
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
    {
        Route::new(Method::GET, path, access, get(handler))
    }

    pub fn post<H: axum::handler::Handler<T, S>, T: 'static>(
        path: &'static str,
        access: A,
        handler: H,
    ) -> Route<S, A> {
        Route::new(Method::POST, path, access, axum::routing::post(handler))
    }

    pub fn new(method: Method, path: &'static str, access: A, handler: MethodRouter<S>) -> Self {
        Route {
            method,
            path,
            access,
            handler,
        }
    }

    /// A page and the form it posts to itself: `GET path` shows it, `POST path` submits it,
    /// both with the same access.
    pub fn form<P, TP, F, TF>(path: &'static str, access: A, page: P, submit: F) -> [Route<S, A>; 2]
    where
        A: Copy,
        P: axum::handler::Handler<TP, S>,
        F: axum::handler::Handler<TF, S>,
        TP: 'static,
        TF: 'static,
    {
        [
            Route::get(path, access, page),
            Route::post(path, access, submit),
        ]
    }

    /// The route with its state supplied (any router state `S2` can then hold it) and its
    /// access in the table's terms.
    pub fn provide<S2, B: From<A>>(self, state: S) -> Route<S2, B>
    where
        S2: Clone + Send + Sync + 'static,
    {
        Route {
            method: self.method,
            path: self.path,
            access: self.access.into(),
            handler: self.handler.with_state(state),
        }
    }
}

/// The separate metrics listener, when `metrics_listen` is set.
pub fn metrics_router(web: &WebSettings, metrics: Arc<Metrics>) -> Router {
    let router = Router::new()
        .route("/metrics", get(metrics::render))
        .fallback(error::fallback)
        .with_state(metrics.clone());
    with_middleware(router, web, metrics, None)
}

/// A response that failed, logged as an error, except 503: a refusal for a reason that its
/// cause logs once (a full disk, a database down, a full queue), where an error per request
/// would bury that one line. Each response is still logged with its status at info.
fn on_failure(
    failure: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass;
    let latency_us = latency.as_micros();
    match failure {
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::debug!(latency_us, "answered 503");
        }
        failure => tracing::error!(classification = %failure, latency_us, "response failed"),
    }
}

/// The middleware every response passes through, around `router` (whose state is supplied).
/// `csp` names the extra sources some pages' Content-Security-Policy allows.
pub fn with_middleware(
    router: Router,
    web: &WebSettings,
    metrics: Arc<Metrics>,
    csp: Option<Arc<dyn security::ExtraSources>>,
) -> Router {
    let https = web.public_url.scheme() == "https";
    let x_request_id = HeaderName::from_static("x-request-id");
    let client_addr = Arc::new(client_addr::ClientAddrPolicy {
        trusted_proxies: web.trusted_proxies.clone(),
        header: web.client_ip_header.clone(),
    });
    // Listed outermost first: every response, even a timeout or a panic, passes the error
    // negotiation, the security headers, the metrics and the trace.
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(
            x_request_id.clone(),
            RandomRequestId,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_request(())
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                )
                .on_failure(on_failure),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(axum::Extension(client_addr))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(move |req, next| {
            security::headers(https, csp.clone(), req, next)
        }))
        .layer(axum::middleware::from_fn(error::negotiate))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            web.request_timeout,
        ))
        // Every body is read through an extractor, which enforces this limit with a 413.
        .layer(DefaultBodyLimit::max(web.body_limit));
    router.layer(stack)
}

/// A request's span names its method, route and path, never the client's address or the
/// query string (which can carry emails and tokens).
fn make_span<B>(req: &Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        id = %id,
    )
}

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _req: &Request<B>) -> Option<RequestId> {
        let id = format!("{:016x}", rand::random::<u64>());
        id.parse().ok().map(RequestId::new)
    }
}
