//! The `leadsment` command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{Config, LogFormat, Overrides};
use crate::server::{Server, shutdown_signal};
use crate::store::{self, Db};

mod commands;

use commands::{
    SiteArgs, audit, export, ipdb_lookup, migrate, site_add, site_list, site_release, user_create,
};

/// Leadsment: see which companies visit your websites, without cookies.
#[derive(Debug, Parser)]
#[command(
    name = "leadsment",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// A TOML configuration file. Environment variables (LEADSMENT_*) override it, and flags
    /// override both.
    #[arg(long, global = true, env = "LEADSMENT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Folder for the SQLite database and the IP index [default: leadsment-data]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// sqlite://PATH or postgres://USER@HOST/DB [default: a SQLite file in the data folder].
    /// Prefer LEADSMENT_DATABASE_URL for URLs with a password: flags are visible to other users
    /// of the machine.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server: the tracker endpoint, the dashboard and the public site.
    Serve(ServeArgs),
    /// Create or update the database schema, then exit. `serve` does this at start too.
    Migrate,
    /// Add and list the websites Leadsment tracks.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Build and query the IP-to-organisation index.
    #[command(subcommand)]
    Ipdb(IpdbCommand),
    /// Write a site's stored events to standard output, as JSON lines or CSV.
    Export(ExportArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Create a Demo workspace and site with four weeks of made-up traffic from organisations
    /// in the IP data (run `ipdb fetch` first).
    Demo(crate::demo::DemoArgs),
    /// Copy the SQLite database into a new FILE, consistently, while the server runs.
    Backup {
        /// The new file; it must not exist yet.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Audit a site's cookies and consent banner in headless Chromium: a fresh visit, then
    /// after Reject, after Accept and after withdrawal, compared with the cookie registry.
    /// Exits 0 with no findings, 3 with findings, 1 when the audit cannot run.
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
struct AuditArgs {
    /// The site's first page, such as https://www.example.com/.
    #[arg(value_name = "URL")]
    url: String,
    /// How many same-site pages to follow, 1 to 50.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..=50))]
    pages: u16,
    /// A cookie registry in the /legal/cookies.json schema [default: the site's own
    /// /legal/cookies.json]
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the report as an HTML page, with a screenshot of the banner, to this file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// The whole audit's time cap, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(10..=3600))]
    timeout: u64,
    /// One page's time cap, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    page_timeout: u64,
    /// The Chromium binary [default: /usr/bin/chromium, Debian's package]
    #[arg(long, env = "LEADSMENT_CHROMIUM", value_name = "FILE")]
    chromium: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum IpdbCommand {
    /// Download the open IP data (with npm), check it, and build the index from it.
    Fetch,
    /// Build the index from files: ip-location-db CSV, iptoasn TSV or MMDB. When files
    /// disagree, the earlier file wins.
    Build {
        /// The files, most trusted first.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The date the data is from (YYYY-MM-DD), shown in summaries [default: the files' date]
        #[arg(long, value_name = "DATE")]
        data_date: Option<String>,
    },
    /// Look addresses up and print one JSON object per line.
    Lookup {
        /// IPv4 or IPv6 addresses.
        #[arg(required = true, value_name = "IP")]
        ips: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The site's domain.
    #[arg(long, value_name = "DOMAIN")]
    site: String,
    /// First day to include (YYYY-MM-DD, in the site's time zone) [default: the beginning]
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Last day to include (YYYY-MM-DD, in the site's time zone) [default: today]
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::tracking::export::Format::Jsonl)]
    format: crate::tracking::export::Format,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user and print a one-time address where they choose their password (there is
    /// no default password).
    Create {
        /// The user's email address; they sign in with it.
        #[arg(long)]
        email: String,
        /// The user's name [default: the part of the email before the @].
        #[arg(long)]
        name: Option<String>,
        /// Make the user a platform administrator (the operator's staff).
        #[arg(long)]
        platform_admin: bool,
        /// Also create a workspace with this name, owned by the user.
        #[arg(long, value_name = "NAME")]
        workspace: Option<String>,
        /// The address the link points at [default: the public URL].
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The address users and tracking snippets reach, such as https://stats.example.com
    /// [default: http:// and the listen address]
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum SiteCommand {
    /// Add a website and print the snippet to paste into its pages.
    Add {
        /// The site's domain, such as example.com (its www. form is included).
        domain: String,
        /// Another host whose pages count as this site (repeat for more).
        #[arg(long = "alias", value_name = "HOST")]
        aliases: Vec<String>,
        /// The address the snippet loads the tracker from [default: the public URL].
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// The IANA time zone where the site's days begin, such as Europe/Berlin.
        #[arg(long, value_name = "ZONE", default_value = "UTC")]
        time_zone: String,
        /// The workspace (its id or name) the site belongs to [default: the only workspace;
        /// several need this].
        #[arg(long, value_name = "ID|NAME")]
        workspace: Option<String>,
    },
    /// Mark a verified host unverified, for a domain that changed hands: a workspace that
    /// then proves it controls the host can take it, and the site holding it gets its events
    /// only once it is verified again. The site keeps its data.
    Release {
        /// The host, such as example.com (its www. form is the same host).
        host: String,
    },
    /// List the websites and their aliases.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

/// Runs the command line and turns any failure into one line on standard error.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to standard output as usual; usage errors become one line.
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    // clap's message is a first line, perhaps indented details (the missing arguments),
    // usage and tips; keep the message, its details and the tips on one line.
    let rendered = e.render().to_string();
    let mut message = String::new();
    let mut tips = Vec::new();
    for raw in rendered.lines() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with("Usage:") || l.starts_with("For more") {
            continue;
        }
        if l.starts_with("tip:") {
            tips.push(l.to_owned());
        } else if message.is_empty() {
            message = l.trim_start_matches("error: ").to_owned();
        } else if raw.starts_with(' ') && tips.is_empty() && !message.contains("Usage") {
            message.push(' ');
            message.push_str(l);
        }
    }
    if message.is_empty() {
        message = "invalid arguments".to_owned();
    }
    let mut line = format!("error: {}", message.trim_end_matches(':'));
    for tip in tips {
        line.push_str(&format!(" ({tip})"));
    }
    line.push_str("; see `leadsment --help`");
    let _ = writeln!(std::io::stderr(), "{line}");
    ExitCode::from(2)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        ..Overrides::default()
    };
    let is_serve = matches!(cli.command, Command::Serve(_));
    match &cli.command {
        Command::Serve(args) => {
            overrides.listen = args.listen.clone();
            overrides.public_url = args.public_url.clone();
        }
        Command::Site(SiteCommand::Add { public_url, .. })
        | Command::User(UserCommand::Create { public_url, .. }) => {
            overrides.public_url = public_url.clone();
        }
        _ => {}
    }
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    init_logging(&config, is_serve);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Command::Audit(args) = cli.command {
        return runtime.block_on(audit(config, args));
    }
    runtime
        .block_on(async move {
            match cli.command {
                Command::Serve(_) => serve(config).await,
                Command::Migrate => migrate(config).await,
                Command::Site(SiteCommand::Add {
                    domain,
                    aliases,
                    time_zone,
                    workspace,
                    ..
                }) => {
                    let site = SiteArgs {
                        domain: &domain,
                        aliases: &aliases,
                        time_zone: &time_zone,
                        workspace: workspace.as_deref(),
                    };
                    site_add(config, site).await
                }
                Command::Site(SiteCommand::List { format }) => site_list(config, format).await,
                Command::Site(SiteCommand::Release { host }) => site_release(config, &host).await,
                Command::Ipdb(IpdbCommand::Fetch) => {
                    tokio::task::spawn_blocking(move || crate::ipdb::fetch(&config.data_dir))
                        .await?
                }
                Command::Ipdb(IpdbCommand::Build { files, data_date }) => {
                    tokio::task::spawn_blocking(move || {
                        crate::ipdb::build(&config.data_dir, &files, data_date)
                    })
                    .await?
                }
                Command::Ipdb(IpdbCommand::Lookup { ips }) => ipdb_lookup(&config, &ips),
                Command::Export(args) => export(config, args).await,
                Command::User(UserCommand::Create {
                    email,
                    name,
                    platform_admin,
                    workspace,
                    ..
                }) => {
                    user_create(
                        config,
                        &email,
                        name.as_deref(),
                        platform_admin,
                        workspace.as_deref(),
                    )
                    .await
                }
                Command::Demo(args) => crate::demo::run(config, args, open_store).await,
                Command::Backup { file } => commands::backup(&config, &file),
                Command::Audit(_) => Ok(()),
            }
        })
        .map(|()| ExitCode::SUCCESS)
}

/// The server logs at `info`; the other commands only report problems, so their own output
/// stays clean.
fn init_logging(config: &Config, is_serve: bool) {
    let filter = if is_serve {
        config.log.clone()
    } else {
        "warn".to_owned()
    };
    // sqlx logs every statement at info; keep that for those who ask for it by name.
    let filter = if filter.contains("sqlx") {
        filter
    } else {
        format!("{filter},sqlx=warn")
    };
    // The CDP client warns of every browser event it has no type for (newer Chromium sends
    // many): noise in the audit's output, nothing the user can act on.
    let filter = if filter.contains("chromiumoxide") {
        filter
    } else {
        format!("{filter},chromiumoxide=error")
    };
    let env_filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // Global filters, not per-layer ones: with a per-layer filter, events at a callsite
    // another thread was registering (sqlx logs each statement from its own threads) were
    // dropped, the setup address on a fresh PostgreSQL database among them.
    let registry = tracing_subscriber::registry()
        .with(env_filter)
        .with(quiet_dns_resolver());
    let _ = match config.log_format {
        LogFormat::Json => registry.with(layer.json()).try_init(),
        LogFormat::Text => registry.with(layer).try_init(),
    };
}

/// hickory (reverse DNS) logs query names, which spell the visitor's address backwards
/// (`77.113.0.203.in-addr.arpa`): at debug and trace for every query, and at warn and error
/// for odd answers (a forged or mismatched question section). None of its events pass,
/// whatever `log` says, even a filter that names hickory's crates: no address in a log line.
/// A resolver that cannot be set up stops start-up with its own error instead.
fn quiet_dns_resolver() -> tracing_subscriber::filter::FilterFn {
    tracing_subscriber::filter::filter_fn(|meta| !meta.target().starts_with("hickory"))
}

async fn open_store(config: &Config) -> anyhow::Result<Db> {
    if config.store.database_url.backend() == Some(crate::store::settings::Backend::Sqlite) {
        crate::server::ensure_writable_dir(&config.data_dir)?;
    }
    let store = store::connect(&config.store).await?;
    crate::store::migrate(&store).await?;
    Ok(store)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // A file-size limit (`ulimit -f`) must not kill the server in the middle of a write: with
    // SIGXFSZ ignored the write fails (EFBIG) and is answered 503 like a full disk.
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // Held until `serve` returns: one server per SQLite file (store/lockfile.rs).
    let _lock = match config.store.database_url.backend() {
        Some(crate::store::settings::Backend::Sqlite) => {
            crate::server::ensure_writable_dir(&config.data_dir)?;
            match store::lockfile::sqlite_file(config.store.database_url.expose()) {
                Some(file) => Some(store::lockfile::ServeLock::acquire(&file)?),
                None => None,
            }
        }
        _ => None,
    };
    let server = Server::bind(config).await?;
    server.run(shutdown_signal()).await
}
