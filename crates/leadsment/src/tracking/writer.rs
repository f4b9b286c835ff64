//! The one task that writes events. Requests hand their event over a bounded queue and wait;
//! the writer takes everything queued, writes it in one transaction (group commit), and only
//! then answers each request. A full queue is answered 503 at once; on shutdown the queue is
//! drained before the process exits.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::model::{IngestBatch, NewEvent, SessionCache};
use crate::accounts::sites::SiteId;
use crate::store::DynStore;

/// Most events written in one transaction.
const MAX_BATCH: usize = 2_000;

enum Job {
    Event(Box<NewEvent>, oneshot::Sender<bool>),
    /// Bots are only counted; nobody waits for that.
    Bot(SiteId, String),
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
}

pub struct Writer {
    handle: WriterHandle,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Writer {
    pub fn spawn(store: DynStore, capacity: usize) -> Writer {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(store, rx, stop_rx));
        Writer {
            handle: WriterHandle { tx },
            stop,
            task,
        }
    }

    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Writes what is queued, then stops. Call once no request can submit any more.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        drop(self.handle);
        if self.task.await.is_err() {
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

async fn run(store: DynStore, mut rx: mpsc::Receiver<Job>, mut stop: watch::Receiver<bool>) {
    let mut cache = SessionCache::default();
    let mut stopping = false;
    loop {
        let mut jobs = Vec::new();
        if stopping {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        } else {
            tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => jobs.push(job),
                    None => break,
                },
                _ = stop.changed() => {
                    stopping = true;
                    continue;
                }
            }
        }
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        write(&store, jobs, &mut cache).await;
    }
    tracing::info!("event writer stopped; the queue is empty");
}

async fn write(store: &DynStore, jobs: Vec<Job>, cache: &mut SessionCache) {
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
        }
    }
    batch.bots = bots.into_iter().map(|((s, d), n)| (s, d, n)).collect();

    // A busy database (another process holding the write lock) usually clears quickly.
    let mut ok = false;
    for attempt in 0..3u64 {
        match store.ingest(&batch, cache).await {
            Ok(()) => {
                ok = true;
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.events.len(), attempt, "writing events failed");
                tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
            }
        }
    }
    for done in waiting {
        let _ = done.send(ok);
    }
}
