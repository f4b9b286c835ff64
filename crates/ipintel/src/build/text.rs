//! CSV and TSV importers: ip-location-db (dotted or numeric) and iptoasn.

use std::io::{BufReader, Read};
use std::net::IpAddr;
use std::path::Path;

use super::{BuildError, Interner, Parsed, Row, Source, SourceFormat};
use crate::index::{NO_COUNTRY, NONE};
use crate::ip::{Family, key_of};

fn open(path: &Path) -> Result<Box<dyn Read>, BuildError> {
    let f = std::fs::File::open(path).map_err(|source| BuildError::Io {
        path: path.to_owned(),
        source,
    })?;
    let name = path.to_string_lossy().to_ascii_lowercase();
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(f)))
    } else {
        Box::new(f)
    })
}

/// Columns in the first non-empty line, for format detection.
pub(super) fn first_line_columns(path: &Path) -> Result<usize, BuildError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(open(path)?);
    let mut rec = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut rec) {
            Ok(true) if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim_ascii().is_empty()) => {
                continue;
            }
            Ok(true) => return Ok(rec.len()),
            Ok(false) => return Ok(0),
            Err(e) => {
                return Err(BuildError::UnknownFormat {
                    path: path.to_owned(),
                    reason: e.to_string(),
                });
            }
        }
    }
}

/// Counts bytes read, for progress.
struct Counting<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

pub(super) fn read(
    source: &Source,
    interner: &mut Interner,
    progress: &mut dyn FnMut(u64),
) -> Result<Parsed, BuildError> {
    let path = source.path.as_path();
    let count = std::rc::Rc::new(std::cell::Cell::new(0u64));
    // Compressed files report compressed bytes read, which is what the file size total counts.
    let raw = std::fs::File::open(path).map_err(|e| BuildError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let counted = Counting {
        inner: raw,
        count: count.clone(),
    };
    let input: Box<dyn Read> = if path.to_string_lossy().to_ascii_lowercase().ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(counted)))
    } else {
        Box::new(counted)
    };
    let delimiter = if source.format == SourceFormat::Iptoasn {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(1 << 16)
        .from_reader(BufReader::with_capacity(1 << 16, input));
    let mut parsed = Parsed::default();
    let mut rec = csv::ByteRecord::new();
    let mut lines = 0u64;
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // The csv reader resynchronises at the next line after most errors.
                parsed.bad(path, line, e.to_string());
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(BuildError::Io {
                        path: path.to_owned(),
                        source: std::io::Error::other(e.to_string()),
                    });
                }
                continue;
            }
        }
        let line = rec.position().map_or(line, |p| p.line());
        lines += 1;
        if lines.is_multiple_of(65_536) {
            progress(count.get());
        }
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        match parse_row(source, &rec, line, interner) {
            Ok(Some((family, row))) => parsed.push(family, row),
            Ok(None) => parsed.skipped += 1,
            Err(reason) => {
                // A first line whose first field is not an address is a header row.
                if line == 1 && parse_addr(field(&rec, 0).unwrap_or(""), None).is_err() {
                    parsed.skipped += 1;
                } else {
                    parsed.bad(path, line, reason);
                }
            }
        }
    }
    progress(count.get());
    Ok(parsed)
}

fn field(rec: &csv::ByteRecord, i: usize) -> Result<&str, String> {
    let b = rec
        .get(i)
        .ok_or_else(|| format!("missing column {}", i + 1))?;
    std::str::from_utf8(b)
        .map(str::trim)
        .map_err(|_| format!("column {} is not UTF-8", i + 1))
}

/// An address, dotted/colon form or a decimal number; returns family and integer key.
fn parse_addr(s: &str, hint: Option<Family>) -> Result<(Family, u128), String> {
    if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
        let n: u128 = s
            .parse()
            .map_err(|_| format!("number {s:?} is too large for an address"))?;
        let family = hint.unwrap_or(if n > u128::from(u32::MAX) {
            Family::V6
        } else {
            Family::V4
        });
        if family == Family::V4 && n > u128::from(u32::MAX) {
            return Err(format!("number {s} is too large for an IPv4 address"));
        }
        return Ok((family, n));
    }
    let ip: IpAddr = s
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address"))?;
    Ok(key_of(ip))
}

fn parse_row(
    source: &Source,
    rec: &csv::ByteRecord,
    line: u64,
    interner: &mut Interner,
) -> Result<Option<(Family, Row)>, String> {
    let want = match source.format {
        SourceFormat::IpLocationDbAsn => 4,
        SourceFormat::IpLocationDbCountry => 3,
        SourceFormat::Iptoasn => 5,
        SourceFormat::Mmdb => 0,
    };
    if rec.len() < want {
        return Err(format!("{} columns, want {want}", rec.len()));
    }
    let (f1, start) = parse_addr(field(rec, 0)?, source.family)?;
    let (f2, end) = parse_addr(field(rec, 1)?, source.family)?;
    if f1 != f2 {
        return Err("start and end are of different address families".to_owned());
    }
    if start > end {
        return Err("range start is after range end".to_owned());
    }
    let (owner, country) = match source.format {
        SourceFormat::IpLocationDbAsn => {
            let asn = parse_asn(field(rec, 2)?)?;
            let org = field(rec, 3)?;
            let owner = interner
                .owner(asn, Some(org), None)
                .map_err(|e| e.to_string())?;
            (owner, NO_COUNTRY)
        }
        SourceFormat::IpLocationDbCountry => (NONE, interner.country(field(rec, 2)?)?),
        SourceFormat::Iptoasn => {
            let asn = parse_asn(field(rec, 2)?)?;
            let desc = field(rec, 4)?;
            // iptoasn marks unannounced space with AS 0 and "Not routed".
            if asn == 0 {
                return Ok(None);
            }
            let country = interner.country(field(rec, 3)?)?;
            let owner = interner
                .owner(asn, Some(desc), None)
                .map_err(|e| e.to_string())?;
            (owner, country)
        }
        SourceFormat::Mmdb => return Err("not a text format".to_owned()),
    };
    if owner == NONE && country == NO_COUNTRY {
        return Ok(None);
    }
    Ok(Some((
        f1,
        Row {
            start,
            end,
            line,
            owner,
            country,
        },
    )))
}

fn parse_asn(s: &str) -> Result<u32, String> {
    let digits = s
        .strip_prefix("AS")
        .or_else(|| s.strip_prefix("as"))
        .unwrap_or(s);
    digits
        .parse()
        .map_err(|_| format!("ASN {s:?} is not a number"))
}
