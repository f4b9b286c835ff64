//! The one writer of events. Requests hand their event over a bounded queue and wait; the
//! writer takes everything queued, writes it in one transaction (group commit), and only then
//! answers each request. A full queue is answered 503 at once; on shutdown the queue is
//! drained before the process exits.
//!
//! On SQLite the writer is an OS thread of its own that runs each transaction from start to
//! commit without yielding (on the database's bulk writer connection); on PostgreSQL, whose
//! connections live on the runtime, it is an async task.
//!
//! New visits' ids carry the node's leased tag (`nodes::NodeLease`); while the node holds
//! none (its lease was lost), every batch is refused and its requests answered 503.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntCounter, Opts, Registry};
use sqlx::postgres::PgConnection;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{mpsc, oneshot};

use super::model::{IngestBatch, NewEvent};
use super::store;
use super::visit_cache::VisitCache;
use crate::accounts::sites::SiteId;
use crate::nodes::NodeLease;
use crate::store::health::{StoreHealth, WriteErrorKind};
use crate::store::sqlite::BulkWriter;
use crate::store::{Db, StoreError};

/// Most events written in one transaction.
const MAX_BATCH: usize = 2_000;

enum Job {
    Event(Box<NewEvent>, oneshot::Sender<bool>),
    /// Bots are only counted; nobody waits for that.
    Bot(SiteId, String),
    /// Write what is queued, then stop.
    Stop,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the ingest queue is full")]
    Full,
    #[error("the event could not be stored")]
    Failed,
}

#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Job>,
    pub metrics: WriterMetrics,
    /// Whether the database takes writes, as the writer last found it.
    pub health: Arc<StoreHealth>,
    /// The node tag the writer opens visits with.
    pub lease: NodeLease,
}

/// What the writer does, for `/metrics`: how many events each transaction carries, how long
/// it takes, and how many failed.
#[derive(Clone)]
pub struct WriterMetrics {
    batch_events: Histogram,
    batch_seconds: Histogram,
    failures: IntCounter,
    site_gone: IntCounter,
}

impl WriterMetrics {
    fn new() -> Result<WriterMetrics, prometheus::Error> {
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        };
        Ok(WriterMetrics {
            batch_events: histogram(
                "leadsment_ingest_batch_events",
                "Events (and bot counts) written per transaction.",
                vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
                ],
            )?,
            batch_seconds: histogram(
                "leadsment_ingest_batch_duration_seconds",
                "Time to write one batch, from the start of its transaction to the commit.",
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                ],
            )?,
            failures: IntCounter::with_opts(Opts::new(
                "leadsment_ingest_batch_failures_total",
                "Attempts to write a batch that failed (leadsment_store_write_errors_total counts them by kind; only a busy database is tried again).",
            ))?,
            site_gone: IntCounter::with_opts(Opts::new(
                "leadsment_ingest_site_gone_events_total",
                "Events accepted for a site that was deleted before they were written: left out, the rest of their batch written.",
            ))?,
        })
    }

    /// Adds the writer's metrics to `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.batch_events.clone()))?;
        registry.register(Box::new(self.batch_seconds.clone()))?;
        registry.register(Box::new(self.failures.clone()))?;
        registry.register(Box::new(self.site_gone.clone()))?;
        Ok(())
    }
}

pub struct Writer {
    handle: WriterHandle,
    /// Fires when the writer has stopped; dropped unfired if it panicked.
    stopped: oneshot::Receiver<()>,
}

impl Writer {
    /// Starts the writer on a thread of its own. Fails only when the OS refuses a thread or
    /// a runtime, or SQLite's bulk writer connection cannot be opened. New visits' ids carry
    /// `lease`'s tag.
    pub fn spawn(db: Db, capacity: usize, lease: NodeLease) -> anyhow::Result<Writer> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (stopped_tx, stopped) = oneshot::channel();
        let metrics = WriterMetrics::new()?;
        let health = Arc::new(StoreHealth::new()?);
        let m = metrics.clone();
        let h = health.clone();
        let l = lease.clone();
        match db {
            Db::Sqlite(sqlite) => {
                let bulk = sqlite.bulk_writer()?;
                std::thread::Builder::new()
                    .name("event-writer".into())
                    .spawn(move || {
                        run_blocking(bulk, rx, m, h, l);
                        let _ = stopped_tx.send(());
                    })?;
            }
            Db::Postgres(pool) => {
                // A runtime of its own, on a thread of its own, with a connection of its own:
                // each batch is several round trips, and each reply would otherwise wait its
                // turn behind the requests the last batch answered.
                // (Built on that thread, which also drops it: a runtime may not be dropped
                // where the caller's runtime runs.)
                let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
                std::thread::Builder::new()
                    .name("event-writer".into())
                    .spawn(move || {
                        let built = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build();
                        let runtime = match built {
                            Ok(runtime) => runtime,
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        };
                        let _ = ready_tx.send(Ok(()));
                        runtime.block_on(run(pool, rx, m, h, l));
                        let _ = stopped_tx.send(());
                    })?;
                ready.recv()??;
            }
        }
        Ok(Writer {
            handle: WriterHandle {
                tx,
                metrics,
                health,
                lease,
            },
            stopped,
        })
    }

    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Writes what is queued, then stops. Call once no request can submit any more.
    pub async fn shutdown(self) {
        // Behind everything queued; waits for room if the queue is full.
        let _ = self.handle.tx.send(Job::Stop).await;
        drop(self.handle);
        if self.stopped.await.is_err() {
            tracing::error!("the event writer stopped abnormally");
        }
    }
}

impl WriterHandle {
    /// Queues an event and waits until it is durable.
    pub async fn submit(&self, event: NewEvent) -> Result<(), SubmitError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .try_send(Job::Event(Box::new(event), done))
            .map_err(|_| SubmitError::Full)?;
        match wait.await {
            Ok(true) => Ok(()),
            _ => Err(SubmitError::Failed),
        }
    }

    /// Counts a bot; dropped when the queue is full, since nobody waits for it.
    pub fn count_bot(&self, site: SiteId, day: String) {
        let _ = self.tx.try_send(Job::Bot(site, day));
    }

    /// Events waiting to be written.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Takes the jobs held, then whatever else is queued, up to a batch. Empty once the queue is
/// closed, or stopped and drained.
fn gather(held: Vec<Job>, rx: &mut mpsc::Receiver<Job>, stopping: &mut bool) -> Vec<Job> {
    let mut jobs = Vec::new();
    for job in held
        .into_iter()
        .chain(std::iter::from_fn(|| rx.try_recv().ok()))
    {
        match job {
            Job::Stop => *stopping = true,
            job => jobs.push(job),
        }
        if jobs.len() >= MAX_BATCH {
            break;
        }
    }
    jobs
}

/// Splits jobs into a batch and the requests waiting for it; bots are summed per site and day.
fn batch_of(jobs: Vec<Job>) -> (IngestBatch, Vec<oneshot::Sender<bool>>) {
    let mut batch = IngestBatch::default();
    let mut waiting = Vec::with_capacity(jobs.len());
    let mut bots: std::collections::HashMap<(SiteId, String), i64> = Default::default();
    for job in jobs {
        match job {
            Job::Event(event, done) => {
                batch.events.push(*event);
                waiting.push(done);
            }
            Job::Bot(site, day) => *bots.entry((site, day)).or_default() += 1,
            Job::Stop => {}
        }
    }
    batch.bots = bots.into_iter().map(|((s, d), n)| (s, d, n)).collect();
    (batch, waiting)
}

/// A write that failed because the database was busy (another process holding the write
/// lock) is tried this many times: that usually clears quickly. Other failures (a full disk,
/// a database down) are not tried again, nor is any batch while writes keep failing, so that
/// the requests are answered 503 without delay.
const ATTEMPTS: u64 = 3;

/// The longest a PostgreSQL batch may take before its requests are answered 503: a server
/// that stopped answering would otherwise hold them for the pool's connect timeout, with
/// every retry. (A batch cut short is rolled back, or was committed and answered 503: a
/// client that sends it again may store it twice, never lose it.)
const PG_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

fn retry_delay(attempt: u64) -> Duration {
    Duration::from_millis(50 * (attempt + 1))
}

/// What the writer does next.
enum Step {
    /// Write this batch, then answer these requests.
    Write(IngestBatch, Vec<oneshot::Sender<bool>>),
    /// Nothing was queued after all; wait again.
    Idle,
    /// Stopped and drained, or every sender is gone.
    Done,
}

/// The state both writer loops share: the visit cache, whether a stop was asked for, and
/// the metrics. The loops differ only in how they wait (await or block).
struct Loop {
    cache: VisitCache,
    stopping: bool,
    metrics: WriterMetrics,
    health: Arc<StoreHealth>,
    lease: NodeLease,
}

impl Loop {
    fn new(metrics: WriterMetrics, health: Arc<StoreHealth>, lease: NodeLease) -> Loop {
        Loop {
            cache: VisitCache::default(),
            stopping: false,
            metrics,
            health,
            lease,
        }
    }

    /// The node's tag, or `None` (then the batch is counted as refused, and its requests
    /// are to be answered 503): a node whose lease was lost writes nothing until it leases
    /// a new tag.
    fn tag(&self, batch: &IngestBatch) -> Option<u16> {
        let tag = self.lease.tag();
        if tag.is_none() {
            self.metrics.failures.inc();
            self.lease.refused(batch.events.len());
        }
        tag
    }

    /// Attempts for the next batch: one while writes are failing.
    fn attempts(&self) -> u64 {
        if self.health.is_failing() {
            1
        } else {
            ATTEMPTS
        }
    }

    /// Whether to wait for the next job (not once a stop was asked for: then only what is
    /// queued is written).
    fn waits(&self) -> bool {
        !self.stopping
    }

    fn take(&mut self, held: Vec<Job>, rx: &mut mpsc::Receiver<Job>) -> Step {
        let jobs = gather(held, rx, &mut self.stopping);
        if !jobs.is_empty() {
            let (batch, waiting) = batch_of(jobs);
            Step::Write(batch, waiting)
        } else if self.stopping || rx.is_closed() {
            Step::Done
        } else {
            Step::Idle
        }
    }

    /// Records one attempt to write `batch`: `Ok` when it succeeded, else whether another
    /// attempt may help (only a busy database clears by itself within milliseconds).
    fn record(
        &self,
        batch: &IngestBatch,
        started: std::time::Instant,
        result: Result<u64, StoreError>,
    ) -> Result<(), Retry> {
        match result {
            Ok(gone) => {
                self.health.succeeded();
                self.metrics.site_gone.inc_by(gone);
                self.metrics
                    .batch_seconds
                    .observe(started.elapsed().as_secs_f64());
                self.metrics
                    .batch_events
                    .observe((batch.events.len() + batch.bots.len()) as f64);
                Ok(())
            }
            Err(e) => {
                self.metrics.failures.inc();
                match self.health.failed(&e, batch.events.len()) {
                    WriteErrorKind::Busy => Err(Retry::May),
                    _ => Err(Retry::No),
                }
            }
        }
    }
}

/// Whether a failed attempt is worth another.
#[derive(PartialEq)]
enum Retry {
    May,
    No,
}

fn answer(waiting: Vec<oneshot::Sender<bool>>, ok: bool) {
    for done in waiting {
        let _ = done.send(ok);
    }
}

async fn run(
    pool: sqlx::PgPool,
    mut rx: mpsc::Receiver<Job>,
    metrics: WriterMetrics,
    health: Arc<StoreHealth>,
    lease: NodeLease,
) {
    let mut state = Loop::new(metrics, health, lease);
    // The writer's own connection, opened with the pool's settings but outside it (the pool
    // tests each connection it hands out with a round trip), kept from batch to batch, and
    // dropped after a failure so that the next batch starts on a fresh one.
    let mut conn: Option<PgConnection> = None;
    let mut last_used = std::time::Instant::now();
    let mut last_batch = 0;
    loop {
        let first = if state.waits() { rx.recv().await } else { None };
        let mut held: Vec<Job> = first.into_iter().collect();
        if !held.is_empty() {
            linger(&mut held, &mut rx, last_batch).await;
        }
        let (batch, waiting) = match state.take(held, &mut rx) {
            Step::Write(batch, waiting) => (batch, waiting),
            Step::Idle => continue,
            Step::Done => break,
        };
        let Some(tag) = state.tag(&batch) else {
            answer(waiting, false);
            continue;
        };
        let mut ok = false;
        let attempts = state.attempts();
        last_batch = waiting.len();
        for attempt in 0..attempts {
            let started = std::time::Instant::now();
            let write = async {
                // A connection left idle may have died meanwhile (a restarted server, a
                // proxy's idle timeout): checked first, so that the batch is not answered 503
                // for it. Under load it is never idle that long.
                if let Some(idle) = &mut conn
                    && last_used.elapsed() > PG_IDLE_CHECK
                    && idle.ping().await.is_err()
                {
                    conn = None;
                }
                let conn = match &mut conn {
                    Some(conn) => conn,
                    None => conn.insert(pool.connect_options().connect().await?),
                };
                store::postgres::write_on(conn, &batch, &mut state.cache, tag).await
            };
            let result = match tokio::time::timeout(PG_ATTEMPT_TIMEOUT, write).await {
                Ok(result) => result,
                Err(_) => {
                    // The visit cache may hold what the cut-short transaction did not keep.
                    state.cache.clear();
                    Err(StoreError::TimedOut)
                }
            };
            last_used = std::time::Instant::now();
            if result.is_err() {
                conn = None;
            }
            let recorded = state.record(&batch, started, result);
            ok = recorded.is_ok();
            if recorded != Err(Retry::May) || attempt + 1 == attempts {
                break;
            }
            tokio::time::sleep(retry_delay(attempt)).await;
        }
        answer(waiting, ok);
    }
    tracing::info!("event writer stopped; the queue is empty");
}

/// PostgreSQL's counterpart of [`LINGER`]: a batch there costs a few milliseconds beside its
/// statements (round trips, the commit) whatever its size, so before it writes, the writer
/// waits until as many jobs are queued as the last batch held, at most this long. Under load
/// the clients answered by the last batch send again within a fraction of a millisecond, so
/// the wait ends as soon as they have; on a quiet server the last batch held one event and
/// an event does not wait at all. A fixed wait of 1 ms (a timer's 1.0 to 2.0 ms) took a
/// fifth of each batch's time on the ingest benchmark (64 clients).
const PG_LINGER: Duration = Duration::from_millis(1);

/// The writer's PostgreSQL connection is checked with a round trip before a batch when it
/// has been idle longer than this.
const PG_IDLE_CHECK: Duration = Duration::from_secs(1);

/// Adds queued jobs to `held` until it holds `want` (or a stop), at most [`PG_LINGER`].
async fn linger(held: &mut Vec<Job>, rx: &mut mpsc::Receiver<Job>, want: usize) {
    let deadline = tokio::time::Instant::now() + PG_LINGER;
    while held.len() + rx.len() < want.min(MAX_BATCH) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(job)) => {
                let stop = matches!(job, Job::Stop);
                held.push(job);
                if stop {
                    break;
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
}

/// When fewer than [`LINGER_BELOW`] events are queued, the blocking writer waits this long
/// for more before it writes. A commit costs about the same for one event as for thirty (it
/// rewrites the last page of each table and index it appends to), and under load requests
/// arrive faster than that: on a busy 2-core machine batches grew from 8 to 26 events on
/// average, the writer's time per event fell by a fifth and the p99 latency by a third. An
/// event on a quiet server waits 0.2 ms more.
const LINGER: Duration = Duration::from_micros(200);
const LINGER_BELOW: usize = 16;

/// The writer's loop on its own thread: it blocks on the queue, and each batch runs from
/// begin to commit without a hand-off.
fn run_blocking(
    bulk: BulkWriter,
    mut rx: mpsc::Receiver<Job>,
    metrics: WriterMetrics,
    health: Arc<StoreHealth>,
    lease: NodeLease,
) {
    let mut state = Loop::new(metrics, health, lease);
    loop {
        let first = if state.waits() {
            rx.blocking_recv()
        } else {
            None
        };
        if first.is_some() && rx.len() + 1 < LINGER_BELOW {
            std::thread::sleep(LINGER);
        }
        let (batch, waiting) = match state.take(first.into_iter().collect(), &mut rx) {
            Step::Write(batch, waiting) => (batch, waiting),
            Step::Idle => continue,
            Step::Done => break,
        };
        let Some(tag) = state.tag(&batch) else {
            answer(waiting, false);
            continue;
        };
        let mut ok = false;
        let attempts = state.attempts();
        for attempt in 0..attempts {
            let started = std::time::Instant::now();
            let result = store::sqlite::write(&bulk, &batch, &mut state.cache, tag);
            let recorded = state.record(&batch, started, result);
            ok = recorded.is_ok();
            if recorded != Err(Retry::May) || attempt + 1 == attempts {
                break;
            }
            std::thread::sleep(retry_delay(attempt));
        }
        answer(waiting, ok);
    }
    tracing::info!("event writer stopped; the queue is empty");
}
