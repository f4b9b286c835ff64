//! The retention job: once an hour (and once a day for the partitions ahead), per site, what
//! is older than the site's retention is deleted, a batch of at most [`BATCH`] rows per
//! transaction with a pause between batches, so that the event writer never waits long for
//! it. On PostgreSQL, a month's partition that no site keeps any more is detached and dropped
//! whole first.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::partitions;
use super::store::{self, BOT_COUNTS, EVENTS, ROLLUPS, SiteRetention, VISITS};
use super::{DAY_MS, Months, local_day};
use crate::store::{Db, StoreError, db::Arg};

/// Rows per transaction: a few milliseconds of the writer's time at most.
pub const BATCH: i64 = 1000;
/// The pause between two batches, for the writer's transactions to go first.
const PAUSE: Duration = Duration::from_millis(10);
/// How often the job runs.
pub const EVERY: Duration = Duration::from_secs(3600);
/// How long after a start the first run waits: a start's own work comes first.
const FIRST_RUN_AFTER: Duration = Duration::from_secs(5 * 60);
/// How many runs apart the partitions ahead are checked (the first run checks them too).
const KEEP_AHEAD_EVERY_RUNS: u64 = 24;

/// The job, with its counter on `/metrics`. Cheap to share.
pub struct Retention {
    db: Db,
    deleted: prometheus::IntCounterVec,
}

/// What one run deleted: rows by table, and the partitions dropped whole.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub deleted: BTreeMap<&'static str, u64>,
    pub partitions_dropped: Vec<String>,
}

impl RunReport {
    pub fn total(&self) -> u64 {
        self.deleted.values().sum()
    }

    fn add(&mut self, label: &'static str, n: u64) {
        *self.deleted.entry(label).or_default() += n;
    }
}

impl Retention {
    pub fn new(db: Db) -> Retention {
        let deleted = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "leadsment_retention_deleted_rows_total",
                "Rows deleted by the retention job because they were older than their site's \
                 retention, by table (events of dropped partitions included).",
            ),
            &["table"],
        )
        .unwrap_or_else(|_| unreachable!("a valid metric name and label"));
        for t in [&EVENTS, &VISITS, &BOT_COUNTS].into_iter().chain(&ROLLUPS) {
            deleted.with_label_values(&[t.label]);
        }
        Retention { db, deleted }
    }

    /// Puts the deleted-rows counter on `/metrics`.
    pub fn register(&self, registry: &prometheus::Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.deleted.clone()))
    }

    /// Makes PostgreSQL's partitions for this month and the next three when missing.
    pub async fn keep_partitions_ahead(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        partitions::keep_ahead(&self.db, now_ms).await
    }

    /// One run at `now_ms`: every site's traffic older than its retention deleted.
    pub async fn run_once(&self, now_ms: i64) -> Result<RunReport, StoreError> {
        let mut report = RunReport::default();
        let sites = store::sites(&self.db).await?;
        // A month no site keeps goes whole.
        if let Some(oldest_kept) = sites.iter().map(|s| s.months().cutoff_ms(now_ms)).min() {
            for p in partitions::past_retention(&self.db, oldest_kept).await? {
                // One that cannot go now (its lock not granted in time, another node
                // dropping it) is tried again at the next run; the sites' rows in it are
                // deleted in batches meanwhile.
                match store::postgres::drop_partition(&self.db, &p.name).await {
                    Ok(rows) => {
                        self.count(&mut report, EVENTS.label, rows);
                        report.partitions_dropped.push(p.name);
                    }
                    Err(e) => {
                        tracing::warn!(partition = %p.name, error = %e, "dropping an event partition failed")
                    }
                }
            }
        }
        for site in &sites {
            self.forget(site, site.months(), now_ms, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// Deletes the site's rows before its cutoff, table by table, batch by batch.
    async fn forget(
        &self,
        site: &SiteRetention,
        months: Months,
        now_ms: i64,
        report: &mut RunReport,
    ) -> Result<(), StoreError> {
        let cutoff = months.cutoff_ms(now_ms);
        let day = cutoff.div_euclid(DAY_MS);
        let steps: [(&store::Target, Arg); 7] = [
            (&EVENTS, Arg::from(cutoff)),
            (&VISITS, Arg::from(cutoff)),
            (&ROLLUPS[0], Arg::from(day)),
            (&ROLLUPS[1], Arg::from(day)),
            (&ROLLUPS[2], Arg::from(day)),
            (&ROLLUPS[3], Arg::from(day * 24)),
            (&BOT_COUNTS, Arg::from(local_day(cutoff, &site.time_zone))),
        ];
        for (target, bound) in steps {
            loop {
                let n =
                    store::delete_batch(&self.db, target, site.id, bound.clone(), BATCH).await?;
                self.count(report, target.label, n);
                if n < BATCH as u64 {
                    break;
                }
                tokio::time::sleep(PAUSE).await;
            }
        }
        Ok(())
    }

    fn count(&self, report: &mut RunReport, label: &'static str, n: u64) {
        report.add(label, n);
        self.deleted.with_label_values(&[label]).inc_by(n);
    }

    /// Runs the job for as long as the returned task lives: partitions ahead at once, the
    /// first deletion [`FIRST_RUN_AFTER`] a start, then every [`EVERY`], partitions ahead
    /// again once a day. One log line per run.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            self.keep_ahead_logged().await;
            tokio::time::sleep(FIRST_RUN_AFTER).await;
            let mut runs: u64 = 0;
            loop {
                if runs > 0 && runs.is_multiple_of(KEEP_AHEAD_EVERY_RUNS) {
                    self.keep_ahead_logged().await;
                }
                runs += 1;
                let started = Instant::now();
                match self.run_once(crate::store::now_ms()).await {
                    Ok(r) => tracing::info!(
                        deleted = r.total(),
                        events = r.deleted.get("events").copied().unwrap_or(0),
                        visits = r.deleted.get("visits").copied().unwrap_or(0),
                        partitions_dropped = r.partitions_dropped.len(),
                        took_ms = started.elapsed().as_millis() as u64,
                        "retention run: traffic older than each site's retention deleted"
                    ),
                    Err(e) => tracing::warn!(
                        error = %e,
                        took_ms = started.elapsed().as_millis() as u64,
                        "retention run failed; the next run tries again"
                    ),
                }
                tokio::time::sleep(EVERY).await;
            }
        })
    }

    async fn keep_ahead_logged(&self) {
        match self.keep_partitions_ahead(crate::store::now_ms()).await {
            Ok(made) if made.is_empty() => {}
            Ok(made) => tracing::info!(partitions = ?made, "event partitions made ahead"),
            Err(e) => tracing::warn!(error = %e, "making the event partitions ahead failed"),
        }
    }
}
