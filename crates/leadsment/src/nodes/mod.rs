//! What lets several `leadsment serve` processes on one PostgreSQL database act as one server:
//! each node's lease on a node tag (its part of the visit ids it chooses, so that two nodes
//! never choose the same one), and the clock events are timed by ([`clock`]).
//!
//! A node takes a free tag at start ([`NodeLease::start`]) and renews it every quarter of the
//! lease. When a renewal finds the tag taken by another node, or no renewal succeeded for half
//! the lease, the lease is lost: the event writer refuses batches (answered 503) until the
//! node has leased another tag, which it tries at every renewal. A node that stops cleanly
//! frees its tag. On SQLite the one node leases a tag the same way.
//!
//! Lease times are the nodes' real clocks (not the event clock, which tests may move), so the
//! nodes' clocks may differ by up to half a lease.

pub mod clock;
pub mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge, Opts, Registry};

use crate::store::{Db, StoreError, now_ms};

/// How long a lease lasts without a renewal. A node renews every quarter of it, and stops
/// writing after half of it without a successful renewal.
pub const LEASE: Duration = Duration::from_secs(60);

/// A one-shot command (`leadsment demo`) holds its tag this long; it does not renew it.
const COMMAND_LEASE: Duration = Duration::from_secs(3600);

/// This node's lease on a node tag. Cheap to clone; the writer asks [`NodeLease::tag`] before
/// each batch (two atomic reads, no round trip).
#[derive(Clone)]
pub struct NodeLease(Arc<Inner>);

struct Inner {
    db: Db,
    /// A random name of this node, stored as the holder of its tag.
    holder: String,
    lease: Duration,
    /// The tag, or -1 while this node holds none.
    tag: AtomicI32,
    /// Until when the tag may be used: milliseconds since `epoch`.
    valid_until: AtomicU64,
    epoch: Instant,
    metrics: LeaseMetrics,
    renewal: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Clone)]
struct LeaseMetrics {
    tag: IntGauge,
    lost: IntCounter,
    refused: IntCounter,
}

/// Why a lease was lost, for the log.
enum Loss {
    Taken,
    NotRenewed(String),
}

impl NodeLease {
    /// Leases a tag for `lease` and renews it in the background until [`NodeLease::release`].
    /// Fails when the database cannot be read, or when all 1024 tags are held by running nodes.
    pub async fn start(db: Db, lease: Duration) -> anyhow::Result<NodeLease> {
        let node = NodeLease::new(db, lease)?;
        if !node.try_take().await? {
            anyhow::bail!(
                "every node tag (1024) is leased by a running node; stop a node, or wait {} s \
                 for the lease of one that stopped to expire",
                lease.as_secs()
            );
        }
        // The task holds the lease weakly: it ends once every handle is gone.
        let renewing = Arc::downgrade(&node.0);
        let every = lease / 4;
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = renewing.upgrade() else {
                    break;
                };
                NodeLease(inner).renew().await;
            }
        });
        if let Ok(mut slot) = node.0.renewal.lock() {
            *slot = Some(task);
        }
        Ok(node)
    }

    /// A tag for a one-shot command that writes events: held for an hour, not renewed.
    pub async fn for_command(db: Db) -> anyhow::Result<NodeLease> {
        let node = NodeLease::new(db, COMMAND_LEASE)?;
        if !node.try_take().await? {
            anyhow::bail!("every node tag (1024) is leased by a running node");
        }
        Ok(node)
    }

    fn new(db: Db, lease: Duration) -> Result<NodeLease, prometheus::Error> {
        let metrics = LeaseMetrics {
            tag: IntGauge::with_opts(Opts::new(
                "leadsment_node_tag",
                "The node tag this node leases for the ids of the visits it opens; -1 while it holds none (then events are answered 503).",
            ))?,
            lost: IntCounter::with_opts(Opts::new(
                "leadsment_node_lease_lost_total",
                "Times this node lost the lease on its node tag (taken by another node, or not renewed in time).",
            ))?,
            refused: IntCounter::with_opts(Opts::new(
                "leadsment_node_lease_refused_events_total",
                "Events answered 503 because this node held no node tag.",
            ))?,
        };
        metrics.tag.set(-1);
        Ok(NodeLease(Arc::new(Inner {
            db,
            holder: format!("{:016x}", rand::random::<u64>()),
            lease,
            tag: AtomicI32::new(-1),
            valid_until: AtomicU64::new(0),
            epoch: Instant::now(),
            metrics,
            renewal: std::sync::Mutex::new(None),
        })))
    }

    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        let m = &self.0.metrics;
        registry.register(Box::new(m.tag.clone()))?;
        registry.register(Box::new(m.lost.clone()))?;
        registry.register(Box::new(m.refused.clone()))?;
        Ok(())
    }

    /// The tag to write with, or `None` while this node holds none or its lease may have
    /// expired (no renewal succeeded for half the lease).
    pub fn tag(&self) -> Option<u16> {
        let tag = self.0.tag.load(Ordering::Acquire);
        if tag < 0 || self.elapsed_ms() >= self.0.valid_until.load(Ordering::Acquire) {
            return None;
        }
        u16::try_from(tag).ok()
    }

    /// Counts events refused for want of a tag.
    pub fn refused(&self, events: usize) {
        self.0.metrics.refused.inc_by(events as u64);
    }

    /// This node's name as the holder of its tag.
    pub fn holder(&self) -> &str {
        &self.0.holder
    }

    fn elapsed_ms(&self) -> u64 {
        self.0.epoch.elapsed().as_millis() as u64
    }

    /// Marks the tag usable for half the lease from `asked` (when the statement that took or
    /// renewed it was sent).
    fn hold(&self, tag: u16, asked: Instant) {
        let until = asked.duration_since(self.0.epoch) + self.0.lease / 2;
        self.0
            .valid_until
            .store(until.as_millis() as u64, Ordering::Release);
        self.0.tag.store(i32::from(tag), Ordering::Release);
        self.0.metrics.tag.set(i64::from(tag));
    }

    async fn try_take(&self) -> Result<bool, StoreError> {
        let asked = Instant::now();
        let now = now_ms();
        let until = now + self.0.lease.as_millis() as i64;
        match store::take(&self.0.db, &self.0.holder, now, until).await? {
            Some(tag) => {
                self.hold(tag, asked);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// One renewal: extends the lease, or finds it lost and tries to lease another tag.
    async fn renew(&self) {
        let held = self.0.tag.load(Ordering::Acquire);
        if let Ok(tag) = u16::try_from(held) {
            let asked = Instant::now();
            let until = now_ms() + self.0.lease.as_millis() as i64;
            let loss = match store::renew(&self.0.db, tag, &self.0.holder, until).await {
                Ok(true) => {
                    self.hold(tag, asked);
                    return;
                }
                Ok(false) => Some(Loss::Taken),
                // Still ours for a while: the next renewal may succeed.
                Err(e) if self.tag().is_some() => {
                    tracing::warn!(tag, error = %e, "renewing this node's tag failed; trying again");
                    None
                }
                Err(e) => Some(Loss::NotRenewed(e.to_string())),
            };
            let Some(loss) = loss else { return };
            self.lose(tag, loss);
        }
        match self.try_take().await {
            Ok(true) => tracing::info!(
                tag = self.0.tag.load(Ordering::Acquire),
                "this node leased a new node tag; it writes events again"
            ),
            Ok(false) => {
                tracing::warn!("no node tag is free; events are still answered 503 (trying again)")
            }
            Err(e) => tracing::warn!(error = %e, "leasing a node tag failed; trying again"),
        }
    }

    fn lose(&self, tag: u16, loss: Loss) {
        self.0.tag.store(-1, Ordering::Release);
        self.0.metrics.tag.set(-1);
        self.0.metrics.lost.inc();
        let why = match loss {
            Loss::Taken => "another node holds it now".to_owned(),
            Loss::NotRenewed(e) => format!("it could not be renewed in time ({e})"),
        };
        tracing::error!(
            tag,
            "this node lost the lease on its node tag: {why}; events are answered 503 until it \
             leases a new tag, which it tries every {} s",
            (self.0.lease / 4).as_secs_f64()
        );
    }

    /// Stops renewing and frees the tag, so a node starting next may take it.
    pub async fn release(&self) {
        if let Ok(mut slot) = self.0.renewal.lock()
            && let Some(task) = slot.take()
        {
            task.abort();
        }
        let held = self.0.tag.swap(-1, Ordering::AcqRel);
        self.0.metrics.tag.set(-1);
        if let Ok(tag) = u16::try_from(held)
            && let Err(e) = store::release(&self.0.db, tag, &self.0.holder).await
        {
            tracing::warn!(tag, error = %e, "freeing this node's tag failed; it expires by itself");
        }
    }
}
