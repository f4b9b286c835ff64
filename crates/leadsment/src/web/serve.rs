//! The accept loop: how connections are let in, timed and closed.
//!
//! - At most `max_connections` connections are served at once; past that the server stops
//!   accepting, and new connections wait in the operating system's listen queue (or are
//!   refused by it when that is full) until one closes.
//! - A request's head (request line and headers) must arrive within `header_read_timeout`:
//!   counted from the connection's start for its first request, and from the first byte of
//!   the next request after an idle wait. Past it the connection is closed, so a client that
//!   sends half a request (or nothing) cannot hold a slot.
//! - A connection with no request in flight is closed after `idle_timeout`.
//! - On shutdown no new connection is accepted; open ones finish the requests in flight and
//!   close, and the loop returns when the last has.
//!
//! `axum::serve` offers none of these limits, and hyper's own header timeout also cuts idle
//! keep-alive connections at the header timeout: hence a loop of our own over hyper-util.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Version};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use super::settings::WebSettings;

/// The limits every connection of a listener meets.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl ConnectionLimits {
    pub fn from_settings(web: &WebSettings) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: web.header_read_timeout,
            idle_timeout: web.idle_timeout,
            max_connections: web.max_connections,
        }
    }
}

/// Connections open, closed by a timeout, and held back by the cap.
pub struct ConnectionMetrics {
    open: IntGauge,
    closed: IntCounterVec,
    limit_reached: IntCounter,
}

impl ConnectionMetrics {
    pub fn new() -> Result<ConnectionMetrics, prometheus::Error> {
        let closed = IntCounterVec::new(
            Opts::new(
                "leadsment_http_connections_closed_total",
                "Connections the server closed by a timeout: `header_timeout` (a request head \
                 was not sent in time) or `idle_timeout` (no request came).",
            ),
            &["reason"],
        )?;
        for reason in [Closed::HeaderTimeout, Closed::IdleTimeout] {
            closed.with_label_values(&[reason.label()]);
        }
        Ok(ConnectionMetrics {
            open: IntGauge::new(
                "leadsment_http_connections",
                "Connections open now, on every listener.",
            )?,
            closed,
            limit_reached: IntCounter::new(
                "leadsment_http_connection_limit_reached_total",
                "Times the server stopped accepting because `max_connections` were open.",
            )?,
        })
    }

    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.open.clone()))?;
        registry.register(Box::new(self.closed.clone()))?;
        registry.register(Box::new(self.limit_reached.clone()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    HeaderTimeout,
    IdleTimeout,
}

impl Closed {
    fn label(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
        }
    }
}

/// How often, at most, reaching the connection cap is logged.
const LIMIT_LOG_EVERY: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and
/// returns once every open connection has finished its requests and closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Arc<ConnectionMetrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    let (close_tx, close_rx) = watch::channel(());
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    // No timer is given to hyper, so none of its own timeouts apply: they are kept here
    // (see `Watch`).
    let builder = Arc::new(Builder::new(TokioExecutor::new()));
    let mut last_logged: Option<Instant> = None;

    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                metrics.limit_reached.inc();
                if last_logged.is_none_or(|at| at.elapsed() >= LIMIT_LOG_EVERY) {
                    last_logged = Some(Instant::now());
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections wait until one closes"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    _ = signal_tx.closed() => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = signal_tx.closed() => break,
        };
        let connection = Connection {
            router: router.clone(),
            builder: builder.clone(),
            limits,
            metrics: metrics.clone(),
            signal: signal_tx.clone(),
            _close: close_rx.clone(),
            _slot: slot,
        };
        tokio::spawn(connection.run(stream, peer));
    }
    // Closing the socket refuses new connections while the open ones finish.
    drop(listener);
    drop(close_rx);
    close_tx.closed().await;
}

/// An error from `accept`: a connection that failed before it was accepted is nothing; any
/// other (out of descriptors, say) is logged and waited out, as hyper's server did.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One accepted connection and what it holds: a slot of the cap, and a handle that keeps
/// the server's shutdown waiting for it.
struct Connection {
    router: Router,
    builder: Arc<Builder<TokioExecutor>>,
    limits: ConnectionLimits,
    metrics: Arc<ConnectionMetrics>,
    signal: watch::Sender<()>,
    _close: watch::Receiver<()>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, peer: SocketAddr) {
        self.metrics.open.inc();
        let watch = Arc::new(Watch::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            watch: watch.clone(),
        });
        let service = {
            let (router, watch) = (self.router.clone(), watch.clone());
            hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let in_flight = watch.request_started(req.version());
                req.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                async move {
                    let response = router.oneshot(req).await?;
                    // The request counts as in flight until its response is sent.
                    Ok::<_, Infallible>(response.map(|body| {
                        Body::new(Tracked {
                            body,
                            _in_flight: in_flight,
                        })
                    }))
                }
            })
        };
        let mut conn = pin!(self.builder.serve_connection_with_upgrades(io, service));
        let mut signalled = pin!(self.signal.closed());
        let mut shutting_down = false;
        // When the server asked an idle connection to close; it has a header timeout to do so.
        let mut closing_since: Option<Instant> = None;
        let mut closed_by = None;
        loop {
            let deadline = match closing_since {
                Some(at) => Some((at + self.limits.header_read_timeout, Closed::IdleTimeout)),
                None => watch.deadline(&self.limits),
            };
            let far = Instant::now() + Duration::from_secs(86_400);
            let sleep = tokio::time::sleep_until(deadline.map_or(far, |(at, _)| at));
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                _ = &mut signalled, if !shutting_down => {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = watch.changed.notified() => {}
                _ = sleep, if deadline.is_some() => {
                    if closing_since.is_some() {
                        // Asked to close when idle and still open: cut it.
                        break;
                    }
                    // The state may have moved on since the deadline was taken.
                    match watch.deadline(&self.limits) {
                        Some((at, Closed::HeaderTimeout)) if at <= Instant::now() => {
                            closed_by = Some(Closed::HeaderTimeout);
                            break;
                        }
                        Some((at, Closed::IdleTimeout)) if at <= Instant::now() => {
                            closed_by = Some(Closed::IdleTimeout);
                            closing_since = Some(Instant::now());
                            conn.as_mut().graceful_shutdown();
                        }
                        _ => {}
                    }
                }
            }
        }
        // Leaving the loop drops the connection, which closes the socket.
        if let Some(reason) = closed_by {
            self.metrics
                .closed
                .with_label_values(&[reason.label()])
                .inc();
        }
        self.metrics.open.dec();
    }
}

/// What the timeouts of one connection are measured from.
struct Watch {
    state: Mutex<WatchState>,
    /// Woken when a deadline may have come closer: a request ended, or a head began.
    changed: Notify,
}

struct WatchState {
    /// Requests whose response is not yet sent.
    in_flight: usize,
    /// Whether a request has come yet; until then the first head is due a header timeout
    /// after the connection's start.
    served: bool,
    /// HTTP/2 reads frames of its own between requests; only HTTP/1 bytes start a head.
    http2: bool,
    /// The connection's start, or the end of its last response.
    idle_since: Instant,
    /// The first byte read after an idle wait: the head that byte begins is due a header
    /// timeout after it.
    head_since: Option<Instant>,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            state: Mutex::new(WatchState {
                in_flight: 0,
                served: false,
                http2: false,
                idle_since: Instant::now(),
                head_since: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        // The state stays consistent at every step, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection is due to close, and why; `None` while a request is in flight
    /// (the request timeout bounds it).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, Closed)> {
        let s = self.lock();
        if s.in_flight > 0 {
            None
        } else if !s.served {
            Some((
                s.idle_since + limits.header_read_timeout,
                Closed::HeaderTimeout,
            ))
        } else if let Some(head) = s.head_since {
            Some((head + limits.header_read_timeout, Closed::HeaderTimeout))
        } else {
            Some((s.idle_since + limits.idle_timeout, Closed::IdleTimeout))
        }
    }

    /// A request's head has arrived: it is in flight until the returned guard is dropped.
    fn request_started(self: &Arc<Self>, version: Version) -> InFlight {
        let mut s = self.lock();
        s.in_flight += 1;
        s.served = true;
        s.http2 = version == Version::HTTP_2;
        s.head_since = None;
        InFlight(self.clone())
    }

    /// Bytes were read. With no request in flight on HTTP/1 they begin the next head.
    /// (Bytes of a pipelined request read while one is in flight are not noticed; that
    /// connection is then bounded by the idle timeout instead.)
    fn bytes_read(&self) {
        let mut s = self.lock();
        if s.served && !s.http2 && s.in_flight == 0 && s.head_since.is_none() {
            s.head_since = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }
}

/// A request in flight on its connection.
struct InFlight(Arc<Watch>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
            s.head_since = None;
        }
        drop(s);
        self.0.changed.notify_one();
    }
}

/// A response body that keeps its request in flight until it is sent (or dropped).
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, telling its [`Watch`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
