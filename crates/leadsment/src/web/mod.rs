//! The HTTP surface: the application state, the route table every capability adds to, and the
//! middleware that every response passes through.

pub mod assets;
pub mod client_addr;
pub mod error;
pub mod metrics;
pub mod page;
pub mod security;
pub mod settings;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Method, Request, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{MethodRouter, get};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::store::Db;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub config: Config,
    pub db: Db,
    pub metrics: metrics::Metrics,
    pub tracking: crate::tracking::Tracking,
    pub auth: crate::auth::AuthState,
}

impl AppState {
    pub fn new(
        config: Config,
        db: Db,
        auth: crate::auth::AuthState,
        tracking: crate::tracking::Tracking,
    ) -> Result<AppState, prometheus::Error> {
        let metrics = metrics::Metrics::new()?;
        tracking.writer.metrics.register(metrics.registry())?;
        tracking.dropped.register(metrics.registry())?;
        Ok(AppState(Arc::new(AppInner {
            config,
            db,
            metrics,
            tracking,
            auth,
        })))
    }
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// Who may call a route. Every route declares it, and the router wraps each route in the
/// check for it (`auth::guard`), so tests can walk the table and check that each one enforces
/// what it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: public pages, sign-in. Requests with unsafe methods must pass the CSRF check.
    Public,
    /// Anyone, from any site, without credentials (the tracker's `POST /api/event`): no CSRF
    /// check, and cookies are ignored.
    Beacon,
    /// The operator's monitoring (metrics): a bearer token or a separate address.
    Operator,
    /// Any signed-in user (by the session cookie).
    Session,
    /// A signed-in member of the workspace in the path (`{workspace_id}`) with at least this
    /// role. Non-members get 404, members with a lesser role 403.
    Member(crate::accounts::roles::Role),
    /// A signed-in platform administrator (the operator's staff); others get 404.
    PlatformAdmin,
    /// An API key of the workspace in the path with at least this scope. No cookies, so no
    /// CSRF check.
    ApiKey(crate::accounts::api_keys::Scope),
}

/// One entry in the route table.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub handler: MethodRouter<AppState>,
}

impl Route {
    pub fn get<H, T>(path: &'static str, access: Access, handler: H) -> Route
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        Route {
            method: Method::GET,
            path,
            access,
            handler: get(handler),
        }
    }

    pub fn post<H, T>(path: &'static str, access: Access, handler: H) -> Route
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        Route {
            method: Method::POST,
            path,
            access,
            handler: axum::routing::post(handler),
        }
    }
}

/// Every route of the application, as the main listener serves them.
pub fn routes(config: &Config) -> Vec<Route> {
    let mut routes = vec![
        Route::get("/healthz", Access::Public, healthz),
        Route::get("/assets/{name}", Access::Public, assets::serve),
    ];
    if config.web.metrics_listen.is_none() {
        routes.push(Route::get("/metrics", Access::Operator, metrics::render));
    }
    routes.extend(crate::site::routes());
    routes.extend(crate::tracking::routes());
    routes.extend(crate::auth::pages::routes());
    routes.extend(crate::accounts::pages::routes());
    routes
}

/// The application: the route table plus the middleware stack.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The application with `extra` routes behind the same middleware (tests add slow or
/// panicking routes this way).
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let mut router = extra;
    for route in routes(&state.config) {
        // Each route is wrapped in the check its access names (only for its own method: a
        // wrong method still gets 405); the same path with several methods merges into one
        // method router.
        let access = route.access;
        let guarded = route
            .handler
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                move |State(s): State<AppState>, req: Request<axum::body::Body>, next| {
                    crate::auth::guard::enforce(s, access, req, next)
                },
            ));
        router = router.route(route.path, guarded);
    }
    with_middleware(router.fallback(error::fallback), state)
}

/// The separate metrics listener, when `metrics_listen` is set.
pub fn metrics_router(state: AppState) -> Router {
    let router = Router::new()
        .route("/metrics", get(metrics::render))
        .fallback(error::fallback);
    with_middleware(router, state)
}

fn with_middleware(router: Router<AppState>, state: AppState) -> Router {
    let https = state.config.web.public_url.scheme() == "https";
    let x_request_id = HeaderName::from_static("x-request-id");
    let client_addr = std::sync::Arc::new(client_addr::ClientAddrPolicy {
        trusted_proxies: state.config.web.trusted_proxies.clone(),
        header: state.config.web.client_ip_header.clone(),
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
                ),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(axum::Extension(client_addr))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn(move |req, next| {
            security::headers(https, req, next)
        }))
        .layer(axum::middleware::from_fn(error::negotiate))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.config.web.request_timeout,
        ))
        // Every body is read through an extractor, which enforces this limit with a 413.
        .layer(DefaultBodyLimit::max(state.config.web.body_limit));
    router.layer(stack).with_state(state)
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

/// `GET /healthz`: 200 when the database answers, 503 when it does not.
async fn healthz(State(state): State<AppState>) -> Response {
    let db = tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await;
    let (status, database) = match db {
        Ok(Ok(())) => (StatusCode::OK, "ok"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: the database did not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "unreachable")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "timed out"),
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "database": database,
        "backend": format!("{:?}", state.db.backend()).to_lowercase(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, Json(body)).into_response()
}
