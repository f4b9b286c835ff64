//! The compiled, immutable index and its lookups.
//!
//! Layout: each family is a full partition of its address space into ranges, stored as a
//! sorted array of range starts (`u32` for IPv4, `u128` for IPv6) beside an array of record
//! ids. A table over the top 16 bits of the address gives the slice of starts that can hold
//! the answer, so a lookup is one table read plus a short binary search in one or two cache
//! lines. Records are deduplicated (organisation, country, class) triples; organisations and
//! their strings are stored once.

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use crate::classify::Class;
use crate::consent::in_consent_zone;
use crate::ip::{Family, addr_of, cidr_within, key_of};
use crate::overrides::Overrides;

/// Marks "nothing here" in id columns.
pub(crate) const NONE: u32 = u32::MAX;
/// Country column value for "no country".
pub(crate) const NO_COUNTRY: u16 = u16::MAX;

/// The number of top-level buckets (top 16 bits of an address).
pub(crate) const BUCKETS: usize = 1 << 16;

/// One family's partition of the address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table<K> {
    /// Sorted, strictly increasing, `starts[0] == 0`.
    pub(crate) starts: Vec<K>,
    /// Record id per range, or [`NONE`].
    pub(crate) recs: Vec<u32>,
    /// `buckets[b]` = index of the first start whose top 16 bits are `>= b`; `BUCKETS + 1` entries.
    pub(crate) buckets: Vec<u32>,
}

/// Keys stored in a [`Table`].
pub(crate) trait Key: Copy + Ord + Into<u128> {
    fn bucket(self) -> usize;
}

impl Key for u32 {
    #[inline(always)]
    fn bucket(self) -> usize {
        (self >> 16) as usize
    }
}

impl Key for u128 {
    #[inline(always)]
    fn bucket(self) -> usize {
        (self >> 112) as usize
    }
}

impl<K: Key> Table<K> {
    pub(crate) fn new(starts: Vec<K>, recs: Vec<u32>) -> Self {
        let mut buckets = Vec::with_capacity(BUCKETS + 1);
        let mut i = 0usize;
        for b in 0..=BUCKETS {
            while i < starts.len() && starts[i].bucket() < b {
                i += 1;
            }
            buckets.push(i as u32);
        }
        Table {
            starts,
            recs,
            buckets,
        }
    }

    /// Position of the range holding `key`.
    #[inline(always)]
    fn find(&self, key: K) -> Option<usize> {
        let b = key.bucket();
        let lo = *self.buckets.get(b)? as usize;
        let hi = *self.buckets.get(b + 1)? as usize;
        let slice = self.starts.get(lo..hi)?;
        // Branch-free binary search: the slice is short, and a conditional move beats a
        // mispredicted branch on random addresses.
        let mut base = 0usize;
        let mut size = slice.len();
        if size == 0 {
            return lo.checked_sub(1);
        }
        while size > 1 {
            let half = size / 2;
            if slice[base + half] <= key {
                base += half;
            }
            size -= half;
        }
        let base = base + usize::from(slice[base] <= key);
        // `base` = number of starts in the slice that are <= key; the range is the one before.
        (lo + base).checked_sub(1)
    }

    fn end_of(&self, i: usize, family: Family) -> u128 {
        match self.starts.get(i + 1) {
            Some(next) => (*next).into() - 1,
            None => family.max(),
        }
    }
}

/// A deduplicated (organisation, country, class) triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RecordData {
    pub(crate) owner: u32,
    pub(crate) country: u16,
    pub(crate) class: Class,
    pub(crate) reason: u32,
}

/// An organisation: ASN with its published name, display name and domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct OwnerData {
    /// 0 when the source has no ASN.
    pub(crate) asn: u32,
    pub(crate) org: u32,
    pub(crate) name: u32,
    pub(crate) domain: u32,
}

/// Interned strings: one buffer, offsets into it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Strings {
    pub(crate) buf: String,
    /// `offsets.len() == count + 1`, starts at 0, ends at `buf.len()`.
    pub(crate) offsets: Vec<u32>,
}

impl Strings {
    pub(crate) fn get(&self, id: u32) -> Option<&str> {
        let i = id as usize;
        let a = *self.offsets.get(i)? as usize;
        let b = *self.offsets.get(i + 1)? as usize;
        self.buf.get(a..b)
    }

    pub(crate) fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
}

/// Who must be credited for the data, and where to link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credit {
    /// Short credit line, e.g. "IP to ASN data by DB-IP".
    pub text: String,
    /// Link the credit must carry, e.g. `https://db-ip.com`.
    pub url: String,
    /// Licence name, e.g. "CC BY 4.0".
    pub licence: String,
    /// Licence link.
    pub licence_url: String,
}

/// Everything an index's data asks to be credited with, in build order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Attribution {
    /// One entry per data provider, deduplicated.
    pub credits: Vec<Credit>,
}

impl Attribution {
    /// Plain text, one credit per line: "TEXT (URL), licensed under LICENCE (LICENCE_URL)".
    pub fn text(&self) -> String {
        self.credits
            .iter()
            .map(|c| format!("{} ({}), {} ({})", c.text, c.url, c.licence, c.licence_url))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// HTML with links, for page footers. Text is escaped.
    pub fn html(&self) -> String {
        self.credits
            .iter()
            .map(|c| {
                format!(
                    "<a href=\"{}\">{}</a> (<a href=\"{}\">{}</a>)",
                    escape(&c.url),
                    escape(&c.text),
                    escape(&c.licence_url),
                    escape(&c.licence)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn push(&mut self, credit: Credit) {
        if !self.credits.contains(&credit) {
            self.credits.push(credit);
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What an index holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// IPv4 ranges that carry data (after merging sources).
    pub ranges_v4: u64,
    /// IPv6 ranges that carry data.
    pub ranges_v6: u64,
    /// Distinct ASNs.
    pub asns: u64,
    /// Distinct organisation names.
    pub organisations: u64,
    /// Distinct countries.
    pub countries: u64,
    /// Heap bytes the loaded index uses.
    pub bytes: u64,
    /// Date of the data (YYYY-MM-DD), when known.
    pub data_date: Option<String>,
}

/// The compiled index. Immutable; share it in an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub(crate) v4: Table<u32>,
    pub(crate) v6: Table<u128>,
    pub(crate) records: Vec<RecordData>,
    pub(crate) owners: Vec<OwnerData>,
    pub(crate) countries: Vec<[u8; 2]>,
    pub(crate) strings: Strings,
    pub(crate) data_date: Option<String>,
    pub(crate) attribution: Attribution,
}

/// The result of a lookup, borrowing from the index. Cheap: no allocation.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    index: &'a Index,
    family: Family,
    key: u128,
    start: u128,
    end: u128,
    data: &'a RecordData,
    owner: Option<&'a OwnerData>,
}

impl<'a> Record<'a> {
    /// The address looked up (IPv4-mapped IPv6 reported as IPv4).
    pub fn ip(&self) -> IpAddr {
        addr_of(self.family, self.key)
    }

    /// First and last address of the range in the index that holds the address.
    pub fn range(&self) -> (IpAddr, IpAddr) {
        (
            addr_of(self.family, self.start),
            addr_of(self.family, self.end),
        )
    }

    /// The largest CIDR block that holds the address and lies wholly inside [`Record::range`].
    pub fn network(&self) -> ipnet::IpNet {
        cidr_within(self.family, self.key, self.start, self.end)
    }

    /// Autonomous system number, when the data has one.
    pub fn asn(&self) -> Option<u32> {
        self.owner.map(|o| o.asn).filter(|a| *a != 0)
    }

    /// Organisation name as the data publishes it.
    pub fn org(&self) -> Option<&'a str> {
        self.owner.and_then(|o| self.index.string(o.org))
    }

    /// Normalised display name ("GOOGLE - Google LLC" becomes "Google").
    pub fn name(&self) -> Option<&'a str> {
        self.owner.and_then(|o| self.index.string(o.name))
    }

    /// Company domain, when a source has one (IPinfo Lite's `as_domain`).
    pub fn domain(&self) -> Option<&'a str> {
        self.owner.and_then(|o| self.index.string(o.domain))
    }

    /// ISO 3166-1 alpha-2 country code.
    #[inline]
    pub fn country(&self) -> Option<&'a str> {
        let code = self.index.countries.get(usize::from(self.data.country))?;
        std::str::from_utf8(code).ok()
    }

    /// Whether the address is in the EU/EEA/UK/CH consent zone; an unknown country counts as in it.
    pub fn consent_zone(&self) -> bool {
        self.country().is_none_or(in_consent_zone)
    }

    /// The class of the organisation behind the address.
    pub fn class(&self) -> Class {
        self.data.class
    }

    /// Why the class was given.
    pub fn class_reason(&self) -> Option<&'a str> {
        self.index.string(self.data.reason)
    }

    /// An owned, serialisable copy.
    pub fn to_lookup(&self) -> Lookup {
        Lookup {
            ip: self.ip().to_string(),
            network: Some(self.network().to_string()),
            asn: self.asn(),
            org: self.org().map(str::to_owned),
            name: self.name().map(str::to_owned),
            domain: self.domain().map(str::to_owned),
            country: self.country().map(str::to_owned),
            consent_zone: self.consent_zone(),
            class: self.class(),
            class_reason: self.class_reason().map(str::to_owned),
        }
    }
}

/// An owned lookup result; serialises to the JSON the CLI and API print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lookup {
    /// The address looked up.
    pub ip: String,
    /// CIDR of the matched range (see [`Record::network`]) or of the matched override.
    pub network: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Organisation name as published.
    pub org: Option<String>,
    /// Normalised display name.
    pub name: Option<String>,
    /// Company domain.
    pub domain: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// EU/EEA/UK/CH consent zone; true when the country is unknown.
    pub consent_zone: bool,
    /// Class of the organisation.
    pub class: Class,
    /// Why that class.
    pub class_reason: Option<String>,
}

impl Lookup {
    /// The result for an address the data knows nothing about.
    pub fn unknown(ip: IpAddr) -> Self {
        Lookup {
            ip: crate::ip::canonical(ip).to_string(),
            network: None,
            asn: None,
            org: None,
            name: None,
            domain: None,
            country: None,
            consent_zone: true,
            class: Class::Unknown,
            class_reason: Some("no data for this address".to_owned()),
        }
    }
}

impl Index {
    /// Looks up an address. `None` when no source has data for it. Does not allocate.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<Record<'_>> {
        let (family, key) = key_of(ip);
        let (i, rec, start, end) = match family {
            Family::V4 => {
                let k = key as u32;
                let i = self.v4.find(k)?;
                let rec = *self.v4.recs.get(i)?;
                if rec == NONE {
                    return None;
                }
                let start = u128::from(*self.v4.starts.get(i)?);
                (i, rec, start, self.v4.end_of(i, family))
            }
            Family::V6 => {
                let i = self.v6.find(key)?;
                let rec = *self.v6.recs.get(i)?;
                if rec == NONE {
                    return None;
                }
                let start = *self.v6.starts.get(i)?;
                (i, rec, start, self.v6.end_of(i, family))
            }
        };
        let _ = i;
        let data = self.records.get(rec as usize)?;
        let owner = self.owners.get(data.owner as usize);
        Some(Record {
            index: self,
            family,
            key,
            start,
            end,
            data,
            owner,
        })
    }

    /// Only the country code: the minimum a lookup needs, used to compare speed with MMDB readers.
    #[inline]
    pub fn country(&self, ip: IpAddr) -> Option<&str> {
        let (family, key) = key_of(ip);
        let rec = match family {
            Family::V4 => *self.v4.recs.get(self.v4.find(key as u32)?)?,
            Family::V6 => *self.v6.recs.get(self.v6.find(key)?)?,
        };
        let data = self.records.get(rec as usize)?;
        let code = self.countries.get(usize::from(data.country))?;
        std::str::from_utf8(code).ok()
    }

    /// Looks up an address with the customer's overrides, which win over the data.
    pub fn lookup_with(&self, overrides: &Overrides, ip: IpAddr) -> Lookup {
        let base = match self.lookup(ip) {
            Some(r) => r.to_lookup(),
            None => Lookup::unknown(ip),
        };
        overrides.apply(ip, base)
    }

    /// What the index holds.
    pub fn summary(&self) -> Summary {
        let mut asns: Vec<u32> = self
            .owners
            .iter()
            .map(|o| o.asn)
            .filter(|a| *a != 0)
            .collect();
        asns.sort_unstable();
        asns.dedup();
        let mut orgs: Vec<u32> = self
            .owners
            .iter()
            .map(|o| o.org)
            .filter(|o| *o != NONE)
            .collect();
        orgs.sort_unstable();
        orgs.dedup();
        Summary {
            ranges_v4: self.v4.recs.iter().filter(|r| **r != NONE).count() as u64,
            ranges_v6: self.v6.recs.iter().filter(|r| **r != NONE).count() as u64,
            asns: asns.len() as u64,
            organisations: orgs.len() as u64,
            countries: self.countries.len() as u64,
            bytes: self.heap_bytes() as u64,
            data_date: self.data_date.clone(),
        }
    }

    /// What the data's licences ask to be shown wherever results are shown.
    pub fn attribution(&self) -> &Attribution {
        &self.attribution
    }

    /// Reads an index written by [`Index::write_to`], refusing a corrupt or truncated file.
    pub fn load(path: impl AsRef<Path>) -> Result<Index, crate::LoadError> {
        crate::format::load(path.as_ref())
    }

    /// Writes the index to one file (atomically: a temporary file renamed into place).
    pub fn write_to(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        crate::format::write(self, path.as_ref())
    }

    pub(crate) fn string(&self, id: u32) -> Option<&str> {
        if id == NONE {
            return None;
        }
        self.strings.get(id)
    }

    fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.v4.starts.len() * 4
            + self.v4.recs.len() * 4
            + self.v4.buckets.len() * 4
            + self.v6.starts.len() * 16
            + self.v6.recs.len() * 4
            + self.v6.buckets.len() * 4
            + self.records.len() * size_of::<RecordData>()
            + self.owners.len() * size_of::<OwnerData>()
            + self.countries.len() * 2
            + self.strings.buf.len()
            + self.strings.offsets.len() * 4
    }
}
