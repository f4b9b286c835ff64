//! `leadsment demo`: a workspace named Demo, owned by every platform administrator (or the
//! user `--owner` names), with a site and four weeks of made-up past traffic from organisations
//! in the real IP data, written through the event writer's batch path
//! (`tracking::store::ingest`), so the dashboard has something to show. Composition-level, like
//! `cli`: it uses accounts, tracking and the IP index.
//!
//! The traffic ([`generator`]) and the organisations ([`organisations`]) are reusable: a
//! benchmark loads millions of events the same way, with [`write_traffic`].

pub mod arrivals;
pub mod generator;
pub mod organisations;
pub mod pages;
mod shape;

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use crate::accounts::errors::AccountError;
use crate::accounts::roles::Role;
use crate::accounts::sites::{NewSite, Site};
use crate::accounts::{WorkspaceId, store as accounts_store};
use crate::auth::users::{Email, User};
use crate::config::Config;
use crate::ipdb::IpDb;
use crate::store::{Db, StoreError, sql};
use crate::tracking::model::IngestBatch;
use crate::tracking::visit_cache::VisitCache;

use self::generator::{Generator, Params};

/// The site's domain unless `--domain` names another.
pub const DEMO_DOMAIN: &str = "demo.leadsment.test";
pub const DEMO_WORKSPACE: &str = "Demo";
pub const DEMO_TIME_ZONE: &str = "Europe/Berlin";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The user (by email) who owns the demo workspace [default: every platform administrator].
    #[arg(long, value_name = "EMAIL")]
    pub owner: Option<String>,
    /// The demo site's domain; it must not be a site yet.
    #[arg(long, value_name = "DOMAIN", default_value = DEMO_DOMAIN)]
    pub domain: String,
    /// About how many events to write.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub events: u64,
    /// How many organisations to draw from the IP data.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub organisations: usize,
    /// Days of traffic, ending now.
    #[arg(long, value_name = "N", default_value_t = 28, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// The same seed makes the same traffic.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
}

/// Runs `leadsment demo`. `open_store` opens (and migrates) the configured database; it is
/// called only once the IP index is known to be there.
pub async fn run<F>(config: Config, args: DemoArgs, open_store: F) -> anyhow::Result<()>
where
    F: AsyncFnOnce(&Config) -> anyhow::Result<Db>,
{
    let started = Instant::now();
    let mut new = NewSite::new(WorkspaceId(0), &args.domain, &[])?;
    new.set_time_zone(DEMO_TIME_ZONE)?;
    // Added by the operator, like `site add`.
    new.verified = true;
    let owner = args
        .owner
        .as_deref()
        .map(|e| Email::parse(e).map_err(|m| anyhow::anyhow!("--owner: {m}")))
        .transpose()?;
    anyhow::ensure!(args.events > 0, "--events must be at least 1");
    anyhow::ensure!(args.organisations > 0, "--organisations must be at least 1");

    let ipdb = load_ip_index(&config).await?;
    let db = open_store(&config).await?;
    let result = async {
        let owners = owners(&db, owner.as_ref()).await?;
        let (workspace, site) = create_workspace_and_site(&db, &config, &owners, new).await?;
        let draw = {
            let (count, seed) = (args.organisations, args.seed);
            tokio::task::spawn_blocking(move || organisations::draw(&ipdb, count, seed)).await?
        };
        let organisations = draw.context("the IP index could not be read")?;
        anyhow::ensure!(
            !organisations.is_empty(),
            "the IP index names no organisations; run `leadsment ipdb fetch` to build it from the open data"
        );
        let drawn = by_class(&organisations);
        let params = Params {
            events: args.events,
            days: args.days,
            seed: args.seed,
            ..Params::demo(site.clone(), crate::store::now_ms())
        };
        let bar = progress(args.events);
        let written = write_traffic(&db, Generator::new(params, organisations), |n| {
            bar.inc(n as u64)
        })
        .await;
        bar.finish_and_clear();
        let written = written?;
        let (visits, companies) = counts(&db, &site).await?;
        let emails: Vec<&str> = owners.iter().map(|u| u.email.as_str()).collect();
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "Created the workspace {} (owned by {}) with the site {} ({DEMO_TIME_ZONE}).",
            DEMO_WORKSPACE,
            emails.join(", "),
            site.domain
        )?;
        writeln!(
            out,
            "Wrote {} events in {} visits from {} organisations (drawn from the IP data: {}) \
             over {} days, in {:.1} seconds.",
            written.events,
            visits,
            companies,
            drawn,
            args.days,
            started.elapsed().as_secs_f64()
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "    {}",
            config
                .web
                .public_url_for(&format!("/w/{}/sites/{}", workspace.0, site.id.0))
        )?;
        writeln!(out)?;
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    result
}

/// How many organisations of each class: `350 business, 60 isp, …`.
fn by_class(organisations: &[ipintel::Lookup]) -> String {
    organisations::MIX
        .iter()
        .map(|(class, _)| {
            let n = organisations.iter().filter(|l| l.class == *class).count();
            format!("{n} {class}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The IP index, loaded as `serve` loads it (with the configured overrides); its absence is the
/// one-line error that says how to get it.
async fn load_ip_index(config: &Config) -> anyhow::Result<std::sync::Arc<IpDb>> {
    let path = crate::ipdb::index_path(&config.data_dir);
    if !path.exists() {
        anyhow::bail!(
            "no IP index in {}: run `leadsment ipdb fetch` first (the demo draws its organisations from the IP data)",
            config.data_dir.display()
        );
    }
    let overrides = match &config.tracking.ip_overrides {
        Some(p) => ipintel::Overrides::from_path(p)
            .with_context(|| format!("key `ip_overrides`: cannot use {}", p.display()))?,
        None => ipintel::Overrides::default(),
    };
    let dir = config.data_dir.clone();
    let ipdb = tokio::task::spawn_blocking(move || IpDb::open(&dir, overrides)).await?;
    if !ipdb.has_index() {
        anyhow::bail!(
            "the IP index {} cannot be read: run `leadsment ipdb fetch` to build it again",
            path.display()
        );
    }
    Ok(std::sync::Arc::new(ipdb))
}

/// The workspace's owners: the user `--owner` names, else every platform administrator.
async fn owners(db: &Db, owner: Option<&Email>) -> anyhow::Result<Vec<User>> {
    if let Some(email) = owner {
        return match crate::auth::store::user_by_email(db, email.as_str()).await? {
            Some(u) => Ok(vec![u.user]),
            None => anyhow::bail!(
                "no user has the email {email}; create one with `leadsment user create --email {email}`"
            ),
        };
    }
    let admins: Vec<User> = crate::auth::store::list_users(db)
        .await?
        .into_iter()
        .filter(|u| u.is_platform_admin)
        .collect();
    if admins.is_empty() {
        anyhow::bail!(
            "there is no platform administrator to own the demo workspace: finish set-up in the \
             browser, or run `leadsment user create --email EMAIL --platform-admin`, or name a \
             user with --owner EMAIL"
        );
    }
    Ok(admins)
}

/// Creates the Demo workspace with its owners and the site in it. A site of that domain is
/// never reused: a second run would double its traffic, so it is an error that points at it.
async fn create_workspace_and_site(
    db: &Db,
    config: &Config,
    owners: &[User],
    mut new: NewSite,
) -> anyhow::Result<(WorkspaceId, Site)> {
    if let Some(site) = accounts_store::site_by_host(db, &new.domain).await? {
        anyhow::bail!(
            "the site {} exists already ({}); give another --domain for a new demo",
            site.domain,
            config
                .web
                .public_url_for(&format!("/w/{}/sites/{}", site.workspace_id.0, site.id.0))
        );
    }
    let Some((first, others)) = owners.split_first() else {
        anyhow::bail!("the demo workspace needs an owner");
    };
    let mut tx = db.begin().await?;
    let workspace = accounts_store::insert_workspace(&mut tx, DEMO_WORKSPACE, first.id).await?;
    for user in others {
        accounts_store::add_or_raise_member(&mut tx, workspace.id, user.id, Role::Owner).await?;
    }
    tx.commit().await?;
    new.workspace_id = workspace.id;
    let site = accounts_store::create_site(db, &new)
        .await
        .map_err(|e| match e {
            AccountError::SiteExists { domain } | AccountError::HostTaken { host: domain, .. } => {
                anyhow::anyhow!("the site {domain} exists already; give another --domain")
            }
            e => e.into(),
        })?;
    Ok((workspace.id, site))
}

/// What [`write_traffic`] wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    pub events: u64,
    pub batches: u64,
}

/// A failed batch is tried this many times, as the server's writer does: a busy database (a
/// running server writing) usually clears, and a retried batch draws new visit ids.
const ATTEMPTS: u32 = 3;

/// Batches generated ahead of the writer.
const QUEUED_BATCHES: usize = 4;

/// Writes the generator's batches through the event writer's batch path, each in one
/// transaction, while the next ones are generated on a thread of their own. `progress` is
/// told how many events each batch wrote.
///
/// The site must be new (no visits yet): nobody else writes visits of its made-up visitors, so
/// the visit cache starts complete, and no batch looks visits up in the store (on PostgreSQL,
/// whose writer otherwise reads the visits its cache lacks, that read of a table without
/// statistics yet took a scan of every visit per batch). After a failed batch the cache is
/// cleared and the store answers again, as for the server's writer.
pub async fn write_traffic(
    db: &Db,
    generator: Generator,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Written> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<IngestBatch>(QUEUED_BATCHES);
    let producer = tokio::task::spawn_blocking(move || {
        for batch in generator {
            if tx.blocking_send(batch).is_err() {
                break;
            }
        }
    });
    let mut cache = VisitCache::default();
    cache.mark_complete();
    let mut written = Written::default();
    // The ids of the visits this opens carry a node tag of their own, as a node's would.
    let lease = crate::nodes::NodeLease::for_command(db.clone()).await?;
    let result = async {
        let tag = lease
            .tag()
            .ok_or_else(|| anyhow::anyhow!("no node tag could be leased"))?;
        while let Some(batch) = rx.recv().await {
            write_batch(db, &batch, &mut cache, tag).await?;
            written.events += batch.events.len() as u64;
            written.batches += 1;
            progress(batch.events.len());
        }
        anyhow::Ok(())
    }
    .await;
    lease.release().await;
    // Stops the generator should the writing have failed.
    drop(rx);
    producer.await?;
    result.map(|()| written)
}

async fn write_batch(
    db: &Db,
    batch: &IngestBatch,
    cache: &mut VisitCache,
    tag: u16,
) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match crate::tracking::store::ingest(db, batch, cache, tag).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt + 1 < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "writing demo events failed; trying again");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The site's visits and the organisations they came from, as stored.
async fn counts(db: &Db, site: &Site) -> Result<(i64, i64), StoreError> {
    let visits = db
        .value(sql("SELECT COUNT(*) FROM visits WHERE site_id = $1").bind(site.id.0))
        .await?;
    let companies = db
        .value(
            sql("SELECT COUNT(DISTINCT company_id) FROM visits WHERE site_id = $1").bind(site.id.0),
        )
        .await?;
    Ok((visits, companies))
}

/// A progress bar on standard error when it is a terminal.
fn progress(events: u64) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(events);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "writing demo traffic [{bar:30}] {pos}/{len} events {elapsed}",
    ) {
        bar.set_style(style);
    }
    bar
}
