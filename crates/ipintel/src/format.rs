//! The index file: one file, a fixed header, then the payload.
//!
//! Header (32 bytes, little-endian): magic `IPINTEL\0`, format version (u32), reserved (u32),
//! payload length (u64), XXH3-64 of the payload (u64). Load reads the whole file, checks all
//! four, then decodes the payload and checks every invariant lookups rely on, so a truncated,
//! corrupt or forged file is refused with a message instead of giving wrong answers.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::classify::Class;
use crate::error::LoadError;
use crate::index::{
    Attribution, Credit, Index, IndexParts, MAX_COUNTRIES, MAX_RECORDS, NO_COUNTRY, NONE,
    OwnerData, RecordData, Strings,
};

pub(crate) const MAGIC: &[u8; 8] = b"IPINTEL\0";
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 32;

pub(crate) fn write(index: &Index, path: &Path) -> std::io::Result<()> {
    let payload = encode(index);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    // Write beside the target and rename, so a crash never leaves a half-written index in place.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

pub(crate) fn load(path: &Path) -> Result<Index, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode_file(&bytes, path)
}

pub(crate) fn decode_file(bytes: &[u8], path: &Path) -> Result<Index, LoadError> {
    let p = || path.to_owned();
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(LoadError::NotAnIndex { path: p() });
    }
    if bytes.len() < HEADER_LEN {
        return Err(LoadError::Truncated {
            path: p(),
            expected: 0,
            found: 0,
        });
    }
    let u32_at =
        |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[o..o + 8]);
        u64::from_le_bytes(b)
    };
    let version = u32_at(8);
    if version != VERSION {
        return Err(LoadError::Version {
            path: p(),
            found: version,
            expected: VERSION,
        });
    }
    let expected = u64_at(16);
    let stored = u64_at(24);
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != expected {
        return Err(LoadError::Truncated {
            path: p(),
            expected,
            found: payload.len() as u64,
        });
    }
    let computed = xxhash_rust::xxh3::xxh3_64(payload);
    if computed != stored {
        return Err(LoadError::Checksum {
            path: p(),
            stored,
            computed,
        });
    }
    decode(payload).map_err(|reason| LoadError::Malformed { path: p(), reason })
}

fn encode(index: &Index) -> Vec<u8> {
    let mut w =
        Vec::with_capacity(index.v4.starts.len() * 8 + index.v6.starts.len() * 20 + (1 << 20));
    put_opt_str(&mut w, index.data_date.as_deref());
    put_u64(&mut w, index.attribution.credits.len() as u64);
    for c in &index.attribution.credits {
        for s in [&c.text, &c.url, &c.licence, &c.licence_url] {
            put_opt_str(&mut w, Some(s));
        }
    }
    put_u64(&mut w, index.strings.buf.len() as u64);
    w.extend_from_slice(index.strings.buf.as_bytes());
    put_u32s(&mut w, &index.strings.offsets);
    put_u64(&mut w, index.countries.len() as u64);
    for c in &index.countries {
        w.extend_from_slice(c);
    }
    put_u64(&mut w, index.owners.len() as u64);
    for o in &index.owners {
        for v in [o.asn, o.org, o.name, o.domain] {
            w.extend_from_slice(&v.to_le_bytes());
        }
    }
    put_u64(&mut w, index.records.len() as u64);
    for r in &index.records {
        w.extend_from_slice(&r.owner.to_le_bytes());
        w.extend_from_slice(&r.country.to_le_bytes());
        w.push(r.class as u8);
        w.push(0);
        w.extend_from_slice(&r.reason.to_le_bytes());
    }
    put_u32s(&mut w, &index.v4.starts);
    put_u32s(&mut w, &index.v4.recs);
    put_u64(&mut w, index.v6.starts.len() as u64);
    for s in &index.v6.starts {
        w.extend_from_slice(&s.to_le_bytes());
    }
    put_u32s(&mut w, &index.v6.recs);
    w
}

fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_u32s(w: &mut Vec<u8>, vs: &[u32]) {
    put_u64(w, vs.len() as u64);
    for v in vs {
        w.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_opt_str(w: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            put_u64(w, s.len() as u64);
            w.extend_from_slice(s.as_bytes());
        }
        None => put_u64(w, u64::MAX),
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| format!("{what}: length out of range"))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| format!("{what} runs past the end of the data"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn count(&mut self, elem: u64, what: &str) -> Result<u64, String> {
        let n = self.u64(what)?;
        // Refuse counts that cannot fit in the rest of the file before allocating for them.
        let left = (self.buf.len() - self.pos) as u64;
        if n.checked_mul(elem).is_none_or(|b| b > left) {
            return Err(format!("{what}: count {n} does not fit in the file"));
        }
        Ok(n)
    }

    fn opt_str(&mut self, what: &str) -> Result<Option<String>, String> {
        let n = self.u64(what)?;
        if n == u64::MAX {
            return Ok(None);
        }
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| format!("{what} is not UTF-8"))
    }

    fn u32s(&mut self, what: &str) -> Result<Vec<u32>, String> {
        let n = self.count(4, what)?;
        let b = self.take(n * 4, what)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

fn decode(payload: &[u8]) -> Result<Index, String> {
    let mut c = Cursor {
        buf: payload,
        pos: 0,
    };
    let data_date = c.opt_str("data date")?;
    let n = c.count(32, "attribution")?;
    let mut attribution = Attribution::default();
    for _ in 0..n {
        let mut f = || -> Result<String, String> {
            c.opt_str("attribution")?
                .ok_or_else(|| "attribution field missing".to_owned())
        };
        let (text, url, licence, licence_url) = (f()?, f()?, f()?, f()?);
        attribution.credits.push(Credit {
            text,
            url,
            licence,
            licence_url,
        });
    }
    let n = c.count(1, "string buffer")?;
    let buf = String::from_utf8(c.take(n, "string buffer")?.to_vec())
        .map_err(|_| "string buffer is not UTF-8".to_owned())?;
    let offsets = c.u32s("string offsets")?;
    if offsets.first() != Some(&0)
        || offsets.last().map(|l| *l as usize) != Some(buf.len())
        || offsets.windows(2).any(|w| w[0] > w[1])
        || offsets.iter().any(|o| !buf.is_char_boundary(*o as usize))
    {
        return Err("string offsets are inconsistent".to_owned());
    }
    let strings = Strings { buf, offsets };
    let nstr = strings.len() as u32;
    let str_ok = |id: u32| id == NONE || id < nstr;

    let n = c.count(2, "countries")?;
    let b = c.take(n * 2, "countries")?;
    let countries: Vec<[u8; 2]> = b.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
    if countries.len() > MAX_COUNTRIES
        || countries.iter().flatten().any(|b| !b.is_ascii_uppercase())
    {
        return Err("a country code is not two capital letters".to_owned());
    }

    let n = c.count(16, "organisations")?;
    let b = c.take(n * 16, "organisations")?;
    let mut owners = Vec::with_capacity(n as usize);
    for ch in b.chunks_exact(16) {
        let v = |i: usize| u32::from_le_bytes([ch[i], ch[i + 1], ch[i + 2], ch[i + 3]]);
        let o = OwnerData {
            asn: v(0),
            org: v(4),
            name: v(8),
            domain: v(12),
        };
        if !(str_ok(o.org) && str_ok(o.name) && str_ok(o.domain)) {
            return Err("an organisation points outside the string table".to_owned());
        }
        owners.push(o);
    }

    let n = c.count(12, "records")?;
    if n as usize > MAX_RECORDS {
        return Err(format!("{n} records is more than the format holds"));
    }
    let b = c.take(n * 12, "records")?;
    let mut records = Vec::with_capacity(n as usize);
    for ch in b.chunks_exact(12) {
        let owner = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]);
        let country = u16::from_le_bytes([ch[4], ch[5]]);
        let class = Class::from_u8(ch[6]).ok_or_else(|| format!("unknown class {}", ch[6]))?;
        let reason = u32::from_le_bytes([ch[8], ch[9], ch[10], ch[11]]);
        if !(owner == NONE || (owner as usize) < owners.len())
            || !(country == NO_COUNTRY || usize::from(country) < countries.len())
            || !str_ok(reason)
        {
            return Err("a record points outside its tables".to_owned());
        }
        records.push(RecordData {
            owner,
            country,
            class,
            reason,
        });
    }

    let starts4 = c.u32s("IPv4 starts")?;
    let recs4 = c.u32s("IPv4 records")?;
    check_table(&starts4, &recs4, records.len(), "IPv4")?;
    let n = c.count(16, "IPv6 starts")?;
    let b = c.take(n * 16, "IPv6 starts")?;
    let starts6: Vec<u128> = b
        .chunks_exact(16)
        .map(|ch| {
            let mut a = [0u8; 16];
            a.copy_from_slice(ch);
            u128::from_le_bytes(a)
        })
        .collect();
    let recs6 = c.u32s("IPv6 records")?;
    check_table(&starts6, &recs6, records.len(), "IPv6")?;
    if c.pos != payload.len() {
        return Err("trailing bytes after the IPv6 table".to_owned());
    }
    Ok(Index::from_parts(IndexParts {
        starts4,
        recs4,
        starts6,
        recs6,
        records,
        owners,
        countries,
        strings,
        data_date,
        attribution,
    }))
}

fn check_table<K: Ord + Copy + Default>(
    starts: &[K],
    recs: &[u32],
    nrec: usize,
    what: &str,
) -> Result<(), String> {
    if starts.len() != recs.len() || starts.first() != Some(&K::default()) {
        return Err(format!("{what} table is malformed"));
    }
    if starts.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("{what} range starts are not sorted"));
    }
    if recs.iter().any(|r| *r != NONE && *r as usize >= nrec) {
        return Err(format!("an {what} range points outside the records"));
    }
    Ok(())
}
