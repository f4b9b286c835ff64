//! Where the application is composed: each capability's state, reachable from one
//! [`AppState`] through `FromRef`; the route table, every capability's routes in the terms of
//! one access type (`accounts::Access`) and each wrapped in its guard; and the router with
//! the kernel's middleware around it. Capabilities never name this module.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use crate::accounts::{Access, AccountsState};
use crate::auth::AuthState;
use crate::config::Config;
use crate::consent::AdminState;
use crate::consent::Consent;
use crate::leads::LeadsState;
use crate::legal::LegalState;
use crate::site::SiteState;
use crate::store::Db;
use crate::tracking::Tracking;
use crate::web::metrics::Metrics;
use crate::web::settings::WebSettings;
use crate::web::{self, Route, assets, error, metrics};

/// Every capability's state. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub config: Config,
    pub db: Db,
    pub web: Arc<WebSettings>,
    pub metrics: Arc<Metrics>,
    pub tracking: Arc<Tracking>,
    pub consent: Arc<Consent>,
    pub auth: AuthState,
    pub leads_cache: Arc<crate::leads::cache::DayCache>,
    pub site: SiteState,
    /// The dashboard's parts of the accounts' site pages (saved views, the score rules).
    pub site_parts: Arc<dyn crate::accounts::parts::SiteParts>,
    /// How ownership checks reach the internet: the outbound fetcher and DNS.
    pub ownership_probe: Arc<dyn crate::accounts::ownership::Probe>,
    /// Per workspace, the ownership checks it may still ask for.
    pub ownership_checks: Arc<crate::auth::throttle::KeyLimiter>,
    /// The retention job (started by the server), with its counter on `/metrics`.
    pub retention: Arc<crate::retention::Retention>,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    /// Registers the capabilities' metrics beside the kernel's.
    pub fn new(
        config: Config,
        db: Db,
        auth: AuthState,
        tracking: Arc<Tracking>,
        consent: Arc<Consent>,
        site: SiteState,
    ) -> Result<AppState, prometheus::Error> {
        let local_only = config.web.metrics_token.is_none() && config.web.metrics_listen.is_none();
        let metrics = Metrics::new(config.web.metrics_token.clone(), local_only)?;
        tracking.writer.metrics.register(metrics.registry())?;
        tracking.writer.health.register(metrics.registry())?;
        tracking.writer.lease.register(metrics.registry())?;
        tracking.dropped.register(metrics.registry())?;
        auth.hasher.register(metrics.registry())?;
        consent.register(metrics.registry())?;
        auth.mailer.register(metrics.registry())?;
        let retention = Arc::new(crate::retention::Retention::new(db.clone()));
        retention.register(metrics.registry())?;
        let ownership_probe = Arc::new(crate::accounts::probe::NetProbe::new(&config));
        Ok(AppState(Arc::new(AppInner {
            web: auth.web.clone(),
            config,
            db,
            metrics: Arc::new(metrics),
            tracking,
            consent,
            auth,
            leads_cache: Default::default(),
            site,
            site_parts: Arc::new(crate::leads::parts::LeadsParts),
            ownership_probe,
            ownership_checks: Arc::new(crate::auth::throttle::KeyLimiter::per_hour(
                crate::accounts::ownership::CHECKS_PER_HOUR,
            )),
            retention,
        })))
    }
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Db {
        state.db.clone()
    }
}

impl FromRef<AppState> for AuthState {
    fn from_ref(state: &AppState) -> AuthState {
        state.auth.clone()
    }
}

impl FromRef<AppState> for AccountsState {
    fn from_ref(state: &AppState) -> AccountsState {
        AccountsState {
            auth: state.auth.clone(),
            parts: state.site_parts.clone(),
            probe: state.ownership_probe.clone(),
            ownership_checks: state.ownership_checks.clone(),
        }
    }
}

impl FromRef<AppState> for LeadsState {
    fn from_ref(state: &AppState) -> LeadsState {
        LeadsState {
            accounts: AccountsState::from_ref(state),
            ipdb: state.tracking.ipdb.clone(),
            cache: state.leads_cache.clone(),
        }
    }
}

impl FromRef<AppState> for AdminState {
    fn from_ref(state: &AppState) -> AdminState {
        AdminState {
            consent: state.consent.clone(),
            accounts: AccountsState::from_ref(state),
        }
    }
}

impl FromRef<AppState> for LegalState {
    fn from_ref(state: &AppState) -> LegalState {
        LegalState {
            accounts: AccountsState::from_ref(state),
        }
    }
}

impl FromRef<AppState> for Arc<Tracking> {
    fn from_ref(state: &AppState) -> Arc<Tracking> {
        state.tracking.clone()
    }
}

impl FromRef<AppState> for Arc<Consent> {
    fn from_ref(state: &AppState) -> Arc<Consent> {
        state.consent.clone()
    }
}

impl FromRef<AppState> for Arc<WebSettings> {
    fn from_ref(state: &AppState) -> Arc<WebSettings> {
        state.web.clone()
    }
}

impl FromRef<AppState> for SiteState {
    fn from_ref(state: &AppState) -> SiteState {
        state.site.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Arc<Metrics> {
        state.metrics.clone()
    }
}

/// Every route of the application, as the main listener serves them, each with its
/// capability's state supplied.
pub fn routes(state: &AppState) -> Vec<Route<AppState, Access>> {
    let kernel: Vec<Route<AppState, crate::auth::Access>> = vec![
        Route::get("/healthz", crate::auth::Access::Public, healthz),
        Route::get("/assets/{name}", crate::auth::Access::Public, assets::serve),
    ];
    let mut routes: Vec<Route<AppState, Access>> = kernel
        .into_iter()
        .map(|r| r.provide(state.clone()))
        .collect();
    if state.config.web.metrics_listen.is_none() {
        let route = Route::get("/metrics", crate::auth::Access::Operator, metrics::render);
        routes.push(route.provide(Arc::<Metrics>::from_ref(state)));
    }
    let site = crate::site::routes().into_iter();
    routes.extend(site.map(|r| r.provide(SiteState::from_ref(state))));
    let tracking = crate::tracking::routes().into_iter();
    routes.extend(tracking.map(|r| r.provide(Arc::<Tracking>::from_ref(state))));
    let consent = crate::consent::routes().into_iter();
    routes.extend(consent.map(|r| r.provide(Arc::<Consent>::from_ref(state))));
    let auth = crate::auth::pages::routes().into_iter();
    routes.extend(auth.map(|r| r.provide(AuthState::from_ref(state))));
    let accounts = crate::accounts::pages::routes().into_iter();
    routes.extend(accounts.map(|r| r.provide(AccountsState::from_ref(state))));
    let leads = crate::leads::pages::routes().into_iter();
    routes.extend(leads.map(|r| r.provide(LeadsState::from_ref(state))));
    let api = crate::leads::api::routes().into_iter();
    routes.extend(api.map(|r| r.provide(LeadsState::from_ref(state))));
    let tags = crate::consent::tags::page::routes().into_iter();
    routes.extend(tags.map(|r| r.provide(AdminState::from_ref(state))));
    let proof = crate::consent::proof_page::routes().into_iter();
    routes.extend(proof.map(|r| r.provide(AdminState::from_ref(state))));
    let legal = crate::legal::routes().into_iter();
    routes.extend(legal.map(|r| r.provide(LegalState::from_ref(state))));
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
    let guard_state = AccountsState::from_ref(&state);
    for route in routes(&state) {
        // Each route is wrapped in the check its access names (only for its own method: a
        // wrong method still gets 405); the same path with several methods merges into one
        // method router.
        let access = route.access;
        let guarded = route
            .handler
            .route_layer(axum::middleware::from_fn_with_state(
                guard_state.clone(),
                move |State(s): State<AccountsState>, req: Request, next: Next| {
                    crate::accounts::guard::enforce(s, access, req, next)
                },
            ));
        router = router.route(route.path, guarded);
    }
    let router = router.fallback(error::fallback).with_state(state.clone());
    let csp: Arc<dyn web::security::ExtraSources> = state.consent.clone();
    web::with_middleware(router, &state.web, state.metrics.clone(), Some(csp))
}

/// The separate metrics listener, when `metrics_listen` is set.
pub fn metrics_router(state: &AppState) -> Router {
    web::metrics_router(&state.web, state.metrics.clone())
}

/// `GET /healthz`: 200 when the database answers, 503 when it does not; the body also says
/// whether the event writer's last write succeeded (`writer`), which does not change the
/// status: pages are still served while events cannot be stored, and a load balancer that
/// took the node out would keep away the events that show the store works again.
async fn healthz(State(state): State<AppState>) -> Response {
    let db = &state.db;
    let answer = tokio::time::timeout(Duration::from_secs(2), db.ping()).await;
    let (status, database) = match answer {
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
        "backend": format!("{:?}", db.backend()).to_lowercase(),
        "writer": state.tracking.writer.health.writer_state(),
        "queued_events": state.tracking.writer.queued(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, Json(body)).into_response()
}
