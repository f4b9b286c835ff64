//! The marketing pages' content: Markdown files in `<data_dir>/pages/`, or the defaults built
//! into the binary. A file is looked at on every request (one `stat`) and read and rendered
//! again only when its modification time or size changed, so an edit shows on the next
//! request without a restart. A missing file means the default; a file that cannot be used
//! (unreadable, not UTF-8, empty, larger than [`MAX_PAGE_BYTES`]) logs a warning once per
//! change and means the default too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::markdown::{self, Rendered};

/// The largest page file used.
pub const MAX_PAGE_BYTES: u64 = 256 * 1024;

/// The folder under the data directory that holds the page files.
pub const PAGES_DIR: &str = "pages";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageKind {
    Home,
    Pricing,
    HowItWorks,
}

impl PageKind {
    pub const ALL: [PageKind; 3] = [PageKind::Home, PageKind::Pricing, PageKind::HowItWorks];

    /// The file's name in the pages folder.
    pub fn file_name(self) -> &'static str {
        match self {
            PageKind::Home => "home.md",
            PageKind::Pricing => "pricing.md",
            PageKind::HowItWorks => "how-it-works.md",
        }
    }

    fn default_markdown(self) -> &'static str {
        match self {
            PageKind::Home => include_str!("defaults/home.md"),
            PageKind::Pricing => include_str!("defaults/pricing.md"),
            PageKind::HowItWorks => include_str!("defaults/how-it-works.md"),
        }
    }

    /// The page's name in the navigation, and its title when its Markdown has no `# heading`.
    pub fn label(self) -> &'static str {
        match self {
            PageKind::Home => "Home",
            PageKind::Pricing => "Pricing",
            PageKind::HowItWorks => "How it works",
        }
    }
}

/// What a file looked like when it was last read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stamp {
    Missing,
    /// It could not even be looked at; the error's kind.
    Unreachable(std::io::ErrorKind),
    File {
        modified: Option<SystemTime>,
        len: u64,
    },
}

struct Cached {
    stamp: Stamp,
    page: Arc<Rendered>,
}

/// The pages folder and what was last read from it.
pub struct PageFiles {
    dir: PathBuf,
    defaults: HashMap<PageKind, Arc<Rendered>>,
    cache: Mutex<HashMap<PageKind, Cached>>,
}

impl PageFiles {
    pub fn new(data_dir: &std::path::Path) -> PageFiles {
        let defaults = PageKind::ALL
            .into_iter()
            .map(|k| (k, Arc::new(markdown::render(k.default_markdown()))))
            .collect();
        PageFiles {
            dir: data_dir.join(PAGES_DIR),
            defaults,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn default_of(&self, kind: PageKind) -> Arc<Rendered> {
        self.defaults[&kind].clone()
    }

    /// The page as it is now: the file's, or the default.
    pub async fn get(&self, kind: PageKind) -> Arc<Rendered> {
        let path = self.dir.join(kind.file_name());
        let stamp = match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Stamp::File {
                modified: meta.modified().ok(),
                len: meta.len(),
            },
            Ok(_) => Stamp::Unreachable(std::io::ErrorKind::InvalidInput),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stamp::Missing,
            Err(e) => Stamp::Unreachable(e.kind()),
        };
        if let Some(hit) = self.cached(kind, &stamp) {
            return hit;
        }
        let page = match &stamp {
            Stamp::Missing => self.default_of(kind),
            Stamp::Unreachable(kind_of_error) => {
                tracing::warn!(
                    file = %path.display(),
                    error = %kind_of_error,
                    "a page file is not a readable file; serving the built-in page"
                );
                self.default_of(kind)
            }
            Stamp::File { len, .. } => match read(&path, *len).await {
                Ok(text) => Arc::new(markdown::render(&text)),
                Err(problem) => {
                    tracing::warn!(
                        file = %path.display(),
                        problem,
                        "a page file cannot be used; serving the built-in page"
                    );
                    self.default_of(kind)
                }
            },
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(
            kind,
            Cached {
                stamp,
                page: page.clone(),
            },
        );
        page
    }

    fn cached(&self, kind: PageKind, stamp: &Stamp) -> Option<Arc<Rendered>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&kind)
            .filter(|c| &c.stamp == stamp)
            .map(|c| c.page.clone())
    }
}

/// The file's text, or why it cannot be used.
async fn read(path: &std::path::Path, len: u64) -> Result<String, String> {
    if len > MAX_PAGE_BYTES {
        return Err(format!(
            "it is {len} bytes, more than the {MAX_PAGE_BYTES} a page may have"
        ));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("it cannot be read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())?;
    if text.trim().is_empty() {
        return Err("it is empty".to_owned());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_replace_defaults_and_bad_files_fall_back() {
        let dir = tempfile::TempDir::new().unwrap();
        let files = PageFiles::new(dir.path());
        let default = files.get(PageKind::Pricing).await;
        assert!(default.title.is_some(), "the default has a title");

        std::fs::create_dir_all(dir.path().join(PAGES_DIR)).unwrap();
        let path = dir.path().join(PAGES_DIR).join("pricing.md");
        std::fs::write(&path, "# Our plans\n\nAsk us.").unwrap();
        let page = files.get(PageKind::Pricing).await;
        assert_eq!(page.title.as_deref(), Some("Our plans"));

        // A change shows at once (a different size, whatever the clock's resolution).
        std::fs::write(&path, "# Our new plans\n\nAsk us today.").unwrap();
        assert_eq!(
            files.get(PageKind::Pricing).await.title.as_deref(),
            Some("Our new plans")
        );

        for bad in [vec![0xff, 0xfe, b'#'], b"  \n".to_vec()] {
            std::fs::write(&path, bad).unwrap();
            assert_eq!(files.get(PageKind::Pricing).await, default);
        }
        std::fs::write(&path, vec![b'a'; MAX_PAGE_BYTES as usize + 1]).unwrap();
        assert_eq!(files.get(PageKind::Pricing).await, default);
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert_eq!(files.get(PageKind::Pricing).await, default);
    }
}
