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

    /// Everything known about an address: the overrides first, then the data.
    pub fn lookup(&self, ip: IpAddr) -> Lookup {
        match self.index.load().as_ref() {
            Some(index) => index.lookup_with(&self.overrides, ip),
            None => self.overrides.apply(ip, Lookup::unknown(ip)),
        }
    }
}
