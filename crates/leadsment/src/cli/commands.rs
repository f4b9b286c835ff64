//! The one-shot commands: migrations, sites, users, IP look-ups, export, backups and the audit.

use std::io::Write;

use anyhow::Context;

use crate::accounts::sites::{NewSite, Site};
use crate::config::Config;
use crate::store;

use super::{AuditArgs, ExportArgs, ListFormat, open_store};

pub(super) async fn migrate(config: Config) -> anyhow::Result<()> {
    crate::server::ensure_writable_dir(&config.data_dir)?;
    let store = store::connect(&config.store).await?;
    let report = crate::store::migrate(&store).await?;
    store.close().await;
    let mut out = std::io::stdout().lock();
    if report.applied_now.is_empty() {
        writeln!(
            out,
            "The database at {} is up to date ({} migrations).",
            config.store.database_url, report.already_applied
        )?;
    } else {
        for m in &report.applied_now {
            writeln!(out, "applied {m}")?;
        }
        writeln!(
            out,
            "The database at {} is up to date ({} applied now, {} before).",
            config.store.database_url,
            report.applied_now.len(),
            report.already_applied
        )?;
    }
    Ok(())
}

/// `site release HOST`: the host unverified, so that whoever proves it can take it.
pub(super) async fn site_release(config: Config, host: &str) -> anyhow::Result<()> {
    let host = crate::accounts::sites::Hostname::parse(host)?;
    let store = open_store(&config).await?;
    let released = crate::accounts::store::release_host(&store, &host).await;
    store.close().await;
    let Some(domain) = released? else {
        anyhow::bail!("no site claims {host}");
    };
    writeln!(
        std::io::stdout().lock(),
        "{} is no longer verified. The site {domain} keeps its data; its events from {} are \
         refused until a workspace verifies the host again, and a workspace that verifies it \
         can take it.",
        host.without_www(),
        host.without_www(),
    )?;
    Ok(())
}

/// What `site add` was given.
pub(super) struct SiteArgs<'a> {
    pub domain: &'a str,
    pub aliases: &'a [String],
    pub time_zone: &'a str,
    /// `--workspace`: an id or a name.
    pub workspace: Option<&'a str>,
}

pub(super) async fn site_add(config: Config, site: SiteArgs<'_>) -> anyhow::Result<()> {
    let mut new = NewSite::new(crate::accounts::WorkspaceId(0), site.domain, site.aliases)?;
    new.set_time_zone(site.time_zone)?;
    // The operator owns the machine: a site added here needs no proof of ownership.
    new.verified = true;
    let store = open_store(&config).await?;
    let created = async {
        let workspace = crate::accounts::workspace_for_new_site(&store, site.workspace).await?;
        new.workspace_id = workspace.id;
        let site = crate::accounts::store::create_site(&store, &new).await?;
        anyhow::Ok((site, workspace))
    }
    .await;
    store.close().await;
    let (site, workspace) = created?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Added {} to the workspace {}.",
        site.domain, workspace.name
    )?;
    if !site.aliases.is_empty() {
        let names: Vec<&str> = site.aliases.iter().map(|a| a.as_str()).collect();
        writeln!(out, "Pages on {} count as this site too.", names.join(", "))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Paste this snippet into the <head> of every page of {}:",
        site.domain
    )?;
    writeln!(out)?;
    writeln!(out, "    {}", site.snippet(config.web.public_url.as_str()))?;
    writeln!(out)?;
    Ok(())
}

pub(super) async fn user_create(
    config: Config,
    email: &str,
    name: Option<&str>,
    platform_admin: bool,
    workspace: Option<&str>,
) -> anyhow::Result<()> {
    use crate::accounts::errors::AccountError;
    use crate::auth::model::LinkPurpose;
    use crate::auth::store::NewUser;
    use crate::auth::users::{Email, Name};

    let email = Email::parse(email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
    let default_name = email.as_str().split('@').next().unwrap_or("").to_owned();
    let name = Name::parse(name.unwrap_or(&default_name), "name")
        .map_err(|m| anyhow::anyhow!("--name: {m}"))?;
    let workspace = workspace
        .map(|w| Name::parse(w, "workspace name").map_err(|m| anyhow::anyhow!("--workspace: {m}")))
        .transpose()?;
    let store = open_store(&config).await?;
    let new = NewUser {
        email: email.as_str().to_owned(),
        name: name.as_str().to_owned(),
        password_hash: None,
        email_verified: false,
        is_platform_admin: platform_admin,
    };
    let result = async {
        let user = match &workspace {
            Some(ws) => {
                crate::accounts::store::create_user_with_workspace(&store, &new, ws.as_str())
                    .await?
                    .0
            }
            None => crate::auth::store::create_user(&store, &new)
                .await
                .map_err(AccountError::from)?,
        };
        let link = crate::auth::links::make_link(
            &store,
            &config.web,
            LinkPurpose::SetPassword,
            "/auth/reset",
            Some(user.id),
            None,
        )
        .await?;
        anyhow::Ok((user, link))
    }
    .await;
    store.close().await;
    let (user, link) = result.map_err(|e| match e.downcast::<AccountError>() {
        Ok(AccountError::EmailTaken) => {
            anyhow::anyhow!("a user with the email {email} already exists")
        }
        Ok(other) => other.into(),
        Err(e) => e,
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Created {}{} <{}>.",
        if user.is_platform_admin {
            "the platform administrator "
        } else {
            "the user "
        },
        user.name,
        user.email
    )?;
    writeln!(
        out,
        "Open this one-time address within 24 hours to choose the password:"
    )?;
    writeln!(out)?;
    writeln!(out, "    {link}",)?;
    writeln!(out)?;
    Ok(())
}

pub(super) async fn site_list(config: Config, format: ListFormat) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let sites = crate::accounts::store::list_sites(&store).await;
    store.close().await;
    let sites = sites?;
    let mut out = std::io::stdout().lock();
    match format {
        ListFormat::Json => {
            for site in &sites {
                writeln!(out, "{}", serde_json::to_string(site)?)?;
            }
        }
        ListFormat::Table => {
            if sites.is_empty() {
                writeln!(
                    out,
                    "No sites yet. Add one with: leadsment site add example.com"
                )?;
                return Ok(());
            }
            write_site_table(&mut out, &sites)?;
        }
    }
    Ok(())
}

fn write_site_table(out: &mut impl Write, sites: &[Site]) -> std::io::Result<()> {
    let rows: Vec<[String; 5]> = sites
        .iter()
        .map(|s| {
            let aliases: Vec<&str> = s.aliases.iter().map(|a| a.as_str()).collect();
            [
                s.id.0.to_string(),
                s.domain.to_string(),
                if aliases.is_empty() {
                    "-".to_owned()
                } else {
                    aliases.join(",")
                },
                s.time_zone.clone(),
                jiff::Timestamp::from_millisecond(s.created_at)
                    .map(|t| t.strftime("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["ID", "DOMAIN", "ALIASES", "TIME ZONE", "ADDED"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| -> String {
        let mut s = format!("{:>w$}", cells[0], w = widths[0]);
        for (cell, w) in cells.iter().zip(widths).skip(1) {
            s.push_str(&format!("  {cell:<w$}"));
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(header))?;
    for row in &rows {
        writeln!(out, "{}", line(row.each_ref().map(String::as_str)))?;
    }
    Ok(())
}

pub(super) fn ipdb_lookup(config: &Config, ips: &[String]) -> anyhow::Result<()> {
    let path = crate::ipdb::index_path(&config.data_dir);
    if !path.exists() {
        anyhow::bail!(
            "{} ({} does not exist)",
            crate::ipdb::NO_INDEX_HINT,
            path.display()
        );
    }
    let index = ipintel::Index::load(&path)
        .with_context(|| format!("cannot use the IP index {}", path.display()))?;
    let overrides = match &config.tracking.ip_overrides {
        Some(p) => ipintel::Overrides::from_path(p)?,
        None => ipintel::Overrides::default(),
    };
    let mut out = std::io::stdout().lock();
    let mut bad = Vec::new();
    for text in ips {
        match ipintel::parse_ip(text) {
            Ok(ip) => {
                serde_json::to_writer(&mut out, &index.lookup_with(&overrides, ip))?;
                writeln!(out)?;
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "error: {e}");
                bad.push(text.as_str());
            }
        }
    }
    if !bad.is_empty() {
        anyhow::bail!(
            "{} of {} addresses could not be read: {}",
            bad.len(),
            ips.len(),
            bad.join(", ")
        );
    }
    Ok(())
}

pub(super) async fn export(config: Config, args: ExportArgs) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let host = crate::accounts::sites::Hostname::parse(&args.site)?;
    let Some(site) = crate::accounts::store::site_by_host(&store, &host).await? else {
        anyhow::bail!("no site {host}; `leadsment site list` shows the sites");
    };
    let from = match &args.from {
        Some(d) => crate::tracking::export::day_start_ms(&site, d)?,
        None => 0,
    };
    let to = match &args.to {
        Some(d) => crate::tracking::export::day_start_ms(&site, d)? + 24 * 60 * 60 * 1000,
        None => i64::MAX,
    };
    if to <= from {
        anyhow::bail!("--to is before --from");
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let result =
        crate::tracking::export::export(&store, &site, from, to, args.format, &mut out).await;
    store.close().await;
    result.map(|_| ())
}

/// `backup FILE`: a consistent copy of the SQLite database, beside a running server (it takes
/// neither the server's lock nor the database's write lock).
pub(super) fn backup(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let url = config.store.database_url.expose();
    let database = match config.store.database_url.backend() {
        Some(store::settings::Backend::Postgres) => anyhow::bail!(
            "`backup` copies a SQLite database; for PostgreSQL use pg_dump (see docs/operations.md, Backups)"
        ),
        _ => store::lockfile::sqlite_file(url)
            .with_context(|| format!("{} names no SQLite file", config.store.database_url))?,
    };
    let done = store::backup::sqlite(&database, file)?;
    writeln!(
        std::io::stdout().lock(),
        "Backed up {} into {} ({} bytes, {} events).",
        database.display(),
        file.display(),
        done.bytes,
        done.events
    )?;
    Ok(())
}

/// `audit`: runs it, prints the readable report, writes the files asked for, and exits
/// [`EXIT_FINDINGS`](crate::audit::EXIT_FINDINGS) when there is a finding.
pub(super) async fn audit(
    config: Config,
    args: AuditArgs,
) -> anyhow::Result<std::process::ExitCode> {
    let mut options = crate::audit::Options::new(&args.url);
    options.pages = usize::from(args.pages);
    options.registry = args.registry;
    options.total_cap = std::time::Duration::from_secs(args.timeout);
    options.page_cap = std::time::Duration::from_secs(args.page_timeout);
    if let Some(path) = args.chromium {
        options.chromium = path;
    }
    options.stand_in = config.site.audit_tag_stand_in.clone();
    let report = crate::audit::run(&options).await?;
    if let Some(path) = &args.json {
        std::fs::write(path, report.json())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, report.html())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    write!(std::io::stdout().lock(), "{}", report.text())?;
    Ok(std::process::ExitCode::from(if report.passed() {
        crate::audit::EXIT_PASSED
    } else {
        crate::audit::EXIT_FINDINGS
    }))
}
