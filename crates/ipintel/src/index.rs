//! The compiled, immutable index and its lookups.
//!
//! Layout: each family is a full partition of its address space into ranges, stored as a
//! sorted array of range starts (`u32` for IPv4, `u128` for IPv6) beside an array of record
//! ids; this is what the file holds. Lookups use radix tables derived from it at load time
//! ([`Dir4`], [`Dir6`]): 16 bits, then 8 bits per level, each level a few dependent reads with
//! no search. Records are deduplicated (organisation, country, class) triples; organisations
//! and their strings are stored once.

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

/// Packed lookup value: record id in bits 8..31, country id in bits 0..8. Bit 31 stays clear,
/// so [`Dir4`] can use it to mark pointers.
pub(crate) type Packed = u32;
/// Packed value of "no data".
pub(crate) const NO_DATA: Packed = 0x7FFF_FFFF;
/// Country id of "no country" in a packed value.
const CC_NONE: u32 = 0xFF;
/// Record ids must stay below this to pack.
pub(crate) const MAX_RECORDS: usize = (1 << 23) - 1;
/// Country ids must stay below this to pack.
pub(crate) const MAX_COUNTRIES: usize = 0xFF;

pub(crate) fn pack(records: &[RecordData], rec: u32) -> Packed {
    let Some(r) = records.get(rec as usize) else {
        return NO_DATA;
    };
    let cc = if usize::from(r.country) < MAX_COUNTRIES {
        u32::from(r.country)
    } else {
        CC_NONE
    };
    (rec << 8) | cc
}

/// One family's partition of the address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table<K> {
    /// Sorted, strictly increasing, `starts[0] == 0`.
    pub(crate) starts: Vec<K>,
    /// Record id per range, or [`NONE`].
    pub(crate) recs: Vec<u32>,
    /// `buckets[b]` = index of the first start whose top 16 bits are `>= b`; `BUCKETS + 1` entries.
    buckets: Vec<u32>,
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
    pub(crate) fn find(&self, key: K) -> Option<usize> {
        let b = key.bucket();
        let lo = *self.buckets.get(b)? as usize;
        let hi = *self.buckets.get(b + 1)? as usize;
        let slice = self.starts.get(lo..hi)?;
        // Branch-free binary search. Lookups go through the radix tables; this serves range
        // bounds, where a bucket's slice may be long but a few more steps cost little.
        let mut base = 0usize;
        let mut size = slice.len();
        if size == 0 {
            return lo.checked_sub(1);
        }
        while size > 1 {
            let half = size / 2;
            base = std::hint::select_unpredictable(slice[base + half] <= key, base + half, base);
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

    fn heap_bytes(&self) -> usize {
        self.starts.len() * std::mem::size_of::<K>() + (self.recs.len() + self.buckets.len()) * 4
    }
}

/// IPv4 lookups as a 16-8-8 radix table: one read for a /16 that holds one value, two or
/// three for finer ones, and no search. A finer level is a chunk of 256 slots (the /24s of a
/// /16, or the addresses of a /24). Flat 256-entry chunks would not fit the memory budget, so
/// each chunk stores only where a new value starts and the values in order, in one of two
/// forms sized to a 64-byte cache line:
///
/// - small (at most [`SMALL_RUNS`] values, most chunks): the run boundaries as bytes and the
///   values inline, so the slot is found by comparing 16 bytes at once and the whole chunk is
///   one cache line;
/// - big: a 256-bit map of where a new value starts plus running counts, with the values in a
///   separate array; a slot's value is found by counting set bits (as in poptrie), two lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Dir4 {
    /// Per /16: a packed value, or a pointer (see [`PTR`]) to a chunk in `l2`.
    l1: Vec<u32>,
    /// Chunks over the /24s of a split /16; a value may point to a chunk in `l3`.
    l2: Level,
    /// Chunks over the addresses of a split /24. Kept apart from `l2`, which most lookups
    /// touch, so that `l2` stays small and dense in the cache.
    l3: Level,
}

/// Values a small chunk holds inline.
const SMALL_RUNS: usize = 12;

/// A chunk of at most [`SMALL_RUNS`] values, in one cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
struct Small {
    /// `marks[i]` = first slot of value `i + 1`, minus one; unused marks are 255. So the value
    /// of slot `j` is `vals[number of marks < j]`.
    marks: [u8; 16],
    vals: [u32; SMALL_RUNS],
}

/// A chunk of more values: a bitmap of run starts, running counts, and an offset into the
/// level's value array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
struct Big {
    /// Bit i set = slot i starts a new value.
    bits: [u64; 4],
    /// Set bits in the words before word k.
    before: [u8; 4],
    /// Index in the level's `vals` of the chunk's first value.
    first: u32,
}

/// One level of 256-slot chunks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct Level {
    small: Vec<Small>,
    big: Vec<Big>,
    wide: Vec<Wide>,
    /// The big chunks' values, in order.
    vals: Vec<u32>,
}

/// Marks a pointer in a slot or top-level entry (packed values keep bit 31 clear).
const PTR: u32 = 0x8000_0000;
/// In a pointer: the chunk is a [`Big`] one.
const BIG: u32 = 0x4000_0000;
/// In a pointer: the chunk is a [`Wide`] one (only in [`Dir6`]).
const WIDE: u32 = 0x2000_0000;
/// In a pointer: the chunk's index.
const CHUNK_INDEX: u32 = WIDE - 1;

/// Values a wide chunk holds.
const WIDE_RUNS: usize = 9;

/// A chunk over 16 bits (65,536 slots) that holds at most [`WIDE_RUNS`] values, in one cache
/// line, used where it fits in place of two levels of [`Small`] or [`Big`] chunks. Its
/// pointers lead two levels down. Same scheme as [`Small`], with 16-bit marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
struct Wide {
    marks: [u16; 8],
    vals: [u32; WIDE_RUNS],
}

impl Level {
    /// Stores a chunk; returns the pointer to it.
    fn push_chunk(&mut self, slots: &[u32; 256]) -> u32 {
        let mut starts = Vec::new();
        for (j, v) in slots.iter().enumerate() {
            if j == 0 || slots[j - 1] != *v {
                starts.push(j);
            }
        }
        if starts.len() <= SMALL_RUNS {
            let mut c = Small {
                marks: [255; 16],
                vals: [0; SMALL_RUNS],
            };
            for (i, &j) in starts.iter().enumerate() {
                c.vals[i] = slots[j];
                if i > 0 {
                    c.marks[i - 1] = (j - 1) as u8;
                }
            }
            self.small.push(c);
            return PTR | (self.small.len() - 1) as u32;
        }
        let mut c = Big {
            bits: [0; 4],
            before: [0; 4],
            first: self.vals.len() as u32,
        };
        for &j in &starts {
            c.bits[j / 64] |= 1 << (j % 64);
            self.vals.push(slots[j]);
        }
        let mut before = 0u32;
        for k in 0..4 {
            c.before[k] = before as u8;
            before += c.bits[k].count_ones();
        }
        self.big.push(c);
        PTR | BIG | (self.big.len() - 1) as u32
    }

    #[inline(always)]
    fn slot(&self, ptr: u32, j: u32) -> u32 {
        let c = (ptr & CHUNK_INDEX) as usize;
        if ptr & BIG == 0 {
            let chunk = &self.small[c];
            // Counting the marks below j compiles to one 16-byte compare and a popcount.
            let j = j as u8;
            let n: u32 = chunk.marks.iter().map(|&m| u32::from(m < j)).sum();
            return chunk.vals[n as usize];
        }
        let chunk = &self.big[c];
        let k = (j >> 6) as usize;
        let word = chunk.bits[k] & (u64::MAX >> (63 - (j & 63)));
        // The set bits at or below slot j in its word, after those of the words before it
        // (bit 0 of a chunk is always set, so the index never underflows). A word with none
        // set continues the previous word's last value.
        self.vals[(chunk.first + u32::from(chunk.before[k]) + word.count_ones()) as usize - 1]
    }

    /// Stores a wide chunk from its run starts (`starts[0] == 0`) and values.
    fn push_wide(&mut self, starts: &[u32], vals: &[u32]) -> u32 {
        let mut c = Wide {
            marks: [u16::MAX; 8],
            vals: [0; WIDE_RUNS],
        };
        for (i, (&t, &v)) in starts.iter().zip(vals).enumerate() {
            c.vals[i] = v;
            if i > 0 {
                c.marks[i - 1] = (t - 1) as u16;
            }
        }
        self.wide.push(c);
        PTR | WIDE | (self.wide.len() - 1) as u32
    }

    #[inline(always)]
    fn wide_slot(&self, ptr: u32, j: u16) -> u32 {
        let chunk = &self.wide[(ptr & CHUNK_INDEX) as usize];
        let n: u32 = chunk.marks.iter().map(|&m| u32::from(m < j)).sum();
        chunk.vals[n as usize]
    }

    fn heap_bytes(&self) -> usize {
        self.wide.len() * std::mem::size_of::<Wide>()
            + self.small.len() * std::mem::size_of::<Small>()
            + self.big.len() * std::mem::size_of::<Big>()
            + self.vals.len() * 4
    }
}

/// Builds radix levels from a partition given as range starts aligned to the top of a `u128`
/// (an IPv4 start shifted left by 96), walking the address space in order.
struct RadixBuilder<'a> {
    starts: &'a [u128],
    vals: &'a [Packed],
    /// The range being walked: `starts[i] <= current address < starts[i + 1]`.
    i: usize,
    /// Whether to use [`Wide`] chunks where they fit.
    wide: bool,
}

impl RadixBuilder<'_> {
    /// The value at `a`, and whether another range starts in `a .. a + 2^bits`.
    fn at(&mut self, a: u128, bits: u32) -> (Packed, bool) {
        while self.starts.get(self.i + 1).is_some_and(|s| *s <= a) {
            self.i += 1;
        }
        // `a` is aligned to 2^bits, so the block's last address does not overflow.
        let last = a | ((1u128 << bits) - 1);
        let split = self.starts.get(self.i + 1).is_some_and(|s| *s <= last);
        (self.vals.get(self.i).copied().unwrap_or(NO_DATA), split)
    }

    /// The entry for the block `a .. a + 2^bits`: its value when one range holds all of it,
    /// else a pointer to a chunk in `levels[0]`, built recursively: a [`Wide`] one over its
    /// 65,536 sub-blocks where allowed and few enough values change, else one over its 256.
    fn entry(&mut self, a: u128, bits: u32, levels: &mut [Level]) -> u32 {
        let (v, split) = self.at(a, bits);
        if !split {
            return v;
        }
        if self.wide
            && levels.len() > 2
            && let Some(runs) = self.runs(a, bits, 16, WIDE_RUNS)
        {
            let (here, below) = levels.split_at_mut(2);
            let sub = bits - 16;
            let vals: Vec<u32> = runs
                .iter()
                .map(|&t| self.entry(a | (u128::from(t) << sub), sub, below))
                .collect();
            return here[0].push_wide(&runs, &vals);
        }
        // Levels reach down to single addresses, which are never split.
        let Some((level, deeper)) = levels.split_first_mut() else {
            return v;
        };
        let sub = bits - 8;
        let mut slots = [0u32; 256];
        // Only where a run starts can the entry change, so the others are copied.
        let runs = self
            .runs(a, bits, 8, 256)
            .unwrap_or_else(|| (0..256).collect());
        for (k, &t) in runs.iter().enumerate() {
            let e = self.entry(a | (u128::from(t) << sub), sub, deeper);
            let end = runs.get(k + 1).map_or(256, |n| *n as usize);
            slots[t as usize..end].fill(e);
        }
        level.push_chunk(&slots)
    }

    /// Where the entries may change among the `2^stride` sub-blocks of the block
    /// `a .. a + 2^bits`, if at most `max` times: a range starting on a sub-block's first
    /// address starts a run; one starting inside a sub-block makes that sub-block a run of its
    /// own. Between two run starts every sub-block lies in one range. Call right after
    /// `at(a, bits)`.
    fn runs(&self, a: u128, bits: u32, stride: u32, max: usize) -> Option<Vec<u32>> {
        let sub = bits.checked_sub(stride)?;
        let last = a | ((1u128 << bits) - 1);
        let inner = (1u128 << sub) - 1;
        let mut runs = vec![0u32];
        for &s in self
            .starts
            .get(self.i + 1..)?
            .iter()
            .take_while(|s| **s <= last)
        {
            let t = ((s - a) >> sub) as u32;
            let split = (s - a) & inner != 0;
            for r in [Some(t), split.then_some(t + 1)].into_iter().flatten() {
                if r < 1 << stride && runs.last().is_some_and(|l| *l < r) {
                    runs.push(r);
                }
            }
            if runs.len() > max {
                return None;
            }
        }
        Some(runs)
    }

    /// The top level over the first 16 bits, and `depth` levels of 8 bits below it.
    fn build(starts: &[u128], vals: &[Packed], depth: usize, wide: bool) -> (Vec<u32>, Vec<Level>) {
        let mut b = RadixBuilder {
            starts,
            vals,
            i: 0,
            wide,
        };
        let mut levels = vec![Level::default(); depth];
        let l1 = (0..BUCKETS as u128)
            .map(|top| b.entry(top << 112, 112, &mut levels))
            .collect();
        (l1, levels)
    }
}

impl Dir4 {
    pub(crate) fn new(starts: &[u32], vals: &[Packed]) -> Dir4 {
        let starts: Vec<u128> = starts.iter().map(|s| u128::from(*s) << 96).collect();
        let (l1, mut levels) = RadixBuilder::build(&starts, vals, 2, false);
        let l3 = levels.pop().unwrap_or_default();
        let l2 = levels.pop().unwrap_or_default();
        Dir4 { l1, l2, l3 }
    }

    #[inline(always)]
    pub(crate) fn get(&self, a: u32) -> Packed {
        let e = self.l1[(a >> 16) as usize];
        if e & PTR == 0 {
            return e;
        }
        let e = self.l2.slot(e, (a >> 8) & 0xFF);
        if e & PTR == 0 {
            return e;
        }
        self.l3.slot(e, a & 0xFF)
    }

    fn heap_bytes(&self) -> usize {
        self.l1.len() * 4 + self.l2.heap_bytes() + self.l3.heap_bytes()
    }
}

/// IPv6 lookups as a 16-8-8-...-8 radix table down to single addresses, built like
/// [`Dir4`]: most space is handed out in /32s to /64s, so a lookup is three to seven reads,
/// and only the rare finer ranges go deeper. Where a block's 16 bits below it hold at most
/// [`WIDE_RUNS`] values (a /32 cut into a few /48s, typically), one [`Wide`] chunk takes two
/// levels in one read. Each level has its own chunks, so the upper levels that every lookup
/// touches stay dense in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Dir6 {
    l1: Vec<u32>,
    /// `levels[d]` holds the chunks over bits `16 + 8d .. 24 + 8d`.
    levels: Vec<Level>,
}

impl Dir6 {
    pub(crate) fn new(starts: &[u128], vals: &[Packed]) -> Dir6 {
        let (l1, levels) = RadixBuilder::build(starts, vals, 14, true);
        Dir6 { l1, levels }
    }

    #[inline(always)]
    pub(crate) fn get(&self, key: u128) -> Packed {
        let mut e = self.l1[(key >> 112) as usize];
        if e & PTR == 0 {
            // Most of the space (all of it outside 2000::/3) ends here: return before
            // setting up the walk.
            return e;
        }
        let bytes = key.to_be_bytes();
        let mut d = 0;
        while e & PTR != 0 {
            let (Some(level), Some(&hi)) = (self.levels.get(d), bytes.get(2 + d)) else {
                break;
            };
            if e & WIDE != 0 {
                // Wide chunks are never on the last two levels, so this byte exists.
                let lo = bytes.get(3 + d).copied().unwrap_or(0);
                e = level.wide_slot(e, u16::from_be_bytes([hi, lo]));
                d += 2;
            } else {
                e = level.slot(e, u32::from(hi));
                d += 1;
            }
        }
        e
    }

    fn heap_bytes(&self) -> usize {
        self.l1.len() * 4 + self.levels.iter().map(Level::heap_bytes).sum::<usize>()
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

/// Everything an index is made from; lookup structures are derived.
pub(crate) struct IndexParts {
    pub(crate) starts4: Vec<u32>,
    pub(crate) recs4: Vec<u32>,
    pub(crate) starts6: Vec<u128>,
    pub(crate) recs6: Vec<u32>,
    pub(crate) records: Vec<RecordData>,
    pub(crate) owners: Vec<OwnerData>,
    pub(crate) countries: Vec<[u8; 2]>,
    pub(crate) strings: Strings,
    pub(crate) data_date: Option<String>,
    pub(crate) attribution: Attribution,
}

/// The compiled index. Immutable; share it in an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub(crate) v4: Table<u32>,
    pub(crate) dir4: Dir4,
    dir6: Dir6,
    pub(crate) v6: Table<u128>,
    pub(crate) records: Vec<RecordData>,
    pub(crate) owners: Vec<OwnerData>,
    pub(crate) countries: Vec<[u8; 2]>,
    /// `countries` as one string, two letters each, so a lookup slices it without a UTF-8 check.
    country_codes: String,
    pub(crate) strings: Strings,
    pub(crate) data_date: Option<String>,
    pub(crate) attribution: Attribution,
}

/// The result of a lookup, borrowing from the index. Cheap: no allocation, and fields are
/// read from the index only when asked for.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    index: &'a Index,
    family: Family,
    key: u128,
    val: Packed,
}

impl<'a> Record<'a> {
    fn data(&self) -> Option<&'a RecordData> {
        self.index.records.get((self.val >> 8) as usize)
    }

    fn owner(&self) -> Option<&'a OwnerData> {
        self.index.owners.get(self.data()?.owner as usize)
    }

    /// The address looked up (IPv4-mapped IPv6 reported as IPv4).
    pub fn ip(&self) -> IpAddr {
        addr_of(self.family, self.key)
    }

    /// First and last address of the range in the index that holds the address.
    pub fn range(&self) -> (IpAddr, IpAddr) {
        let (start, end) = self.bounds();
        (addr_of(self.family, start), addr_of(self.family, end))
    }

    fn bounds(&self) -> (u128, u128) {
        let found = match self.family {
            Family::V4 => {
                let t = &self.index.v4;
                t.find(self.key as u32)
                    .and_then(|i| Some((u128::from(*t.starts.get(i)?), t.end_of(i, self.family))))
            }
            Family::V6 => {
                let t = &self.index.v6;
                t.find(self.key)
                    .and_then(|i| Some((*t.starts.get(i)?, t.end_of(i, self.family))))
            }
        };
        found.unwrap_or((self.key, self.key))
    }

    /// The largest CIDR block that holds the address and lies wholly inside [`Record::range`].
    pub fn network(&self) -> ipnet::IpNet {
        let (start, end) = self.bounds();
        cidr_within(self.family, self.key, start, end)
    }

    /// Autonomous system number, when the data has one.
    pub fn asn(&self) -> Option<u32> {
        self.owner().map(|o| o.asn).filter(|a| *a != 0)
    }

    /// Organisation name as the data publishes it.
    pub fn org(&self) -> Option<&'a str> {
        self.owner().and_then(|o| self.index.string(o.org))
    }

    /// Normalised display name ("GOOGLE - Google LLC" becomes "Google").
    pub fn name(&self) -> Option<&'a str> {
        self.owner().and_then(|o| self.index.string(o.name))
    }

    /// Company domain, when a source has one (IPinfo Lite's `as_domain`).
    pub fn domain(&self) -> Option<&'a str> {
        self.owner().and_then(|o| self.index.string(o.domain))
    }

    /// ISO 3166-1 alpha-2 country code.
    #[inline]
    pub fn country(&self) -> Option<&'a str> {
        self.index.country_of(self.val)
    }

    /// Whether the address is in the EU/EEA/UK/CH consent zone; an unknown country counts as in it.
    pub fn consent_zone(&self) -> bool {
        self.country().is_none_or(in_consent_zone)
    }

    /// The class of the organisation behind the address.
    pub fn class(&self) -> Class {
        self.data().map_or(Class::Unknown, |d| d.class)
    }

    /// Why the class was given.
    pub fn class_reason(&self) -> Option<&'a str> {
        self.data().and_then(|d| self.index.string(d.reason))
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
    #[inline(always)]
    pub fn lookup(&self, ip: IpAddr) -> Option<Record<'_>> {
        let (family, key) = key_of(ip);
        let val = match family {
            Family::V4 => self.dir4.get(key as u32),
            Family::V6 => self.v6_value(key),
        };
        if val == NO_DATA {
            return None;
        }
        Some(Record {
            index: self,
            family,
            key,
            val,
        })
    }

    /// Only the country code.
    #[inline]
    pub fn country(&self, ip: IpAddr) -> Option<&str> {
        let (family, key) = key_of(ip);
        let val = match family {
            Family::V4 => self.dir4.get(key as u32),
            Family::V6 => self.v6_value(key),
        };
        self.country_of(val)
    }

    /// Kept out of line so the IPv4 path stays small enough to inline into callers.
    #[inline(never)]
    fn v6_value(&self, key: u128) -> Packed {
        self.dir6.get(key)
    }

    #[inline(always)]
    fn country_of(&self, val: Packed) -> Option<&str> {
        let i = (val & CC_NONE) as usize * 2;
        self.country_codes.get(i..i + 2)
    }

    /// Assembles an index from validated parts, building the lookup structures.
    pub(crate) fn from_parts(parts: IndexParts) -> Index {
        let v4 = Table::new(parts.starts4, parts.recs4);
        let vals4: Vec<Packed> = v4.recs.iter().map(|r| pack(&parts.records, *r)).collect();
        let dir4 = Dir4::new(&v4.starts, &vals4);
        let v6 = Table::new(parts.starts6, parts.recs6);
        let vals6: Vec<Packed> = v6.recs.iter().map(|r| pack(&parts.records, *r)).collect();
        let dir6 = Dir6::new(&v6.starts, &vals6);
        let country_codes: String = parts
            .countries
            .iter()
            .flat_map(|c| c.iter().map(|b| char::from(*b)))
            .collect();
        Index {
            country_codes,
            v4,
            dir4,
            dir6,
            v6,
            records: parts.records,
            owners: parts.owners,
            countries: parts.countries,
            strings: parts.strings,
            data_date: parts.data_date,
            attribution: parts.attribution,
        }
    }

    /// A digest of the tables a lookup reads (not the names, reasons or other strings), to
    /// show that two indexes look addresses up through the same tables: the benchmark prints
    /// it when it compares an index with a baseline.
    #[doc(hidden)]
    pub fn lookup_tables_digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&self.dir4, &self.dir6, &self.country_codes).hash(&mut h);
        h.finish()
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
        self.v4.heap_bytes()
            + self.dir4.heap_bytes()
            + self.dir6.heap_bytes()
            + self.v6.heap_bytes()
            + self.records.len() * size_of::<RecordData>()
            + self.owners.len() * size_of::<OwnerData>()
            + self.countries.len() * 2
            + self.strings.buf.len()
            + self.strings.offsets.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the range holding `k`, by binary search.
    fn naive(starts: &[u128], vals: &[Packed], k: u128) -> Packed {
        vals[starts.partition_point(|s| *s <= k) - 1]
    }

    /// Starts that put wide chunks and their edge cases in the table: /32s cut into a few
    /// /48s, a /48 split finer, runs in the last /48 of a /32 (whose next sub-block does not
    /// exist), a /32 with as many runs as a wide chunk holds and one with one more.
    fn v6_starts() -> Vec<u128> {
        let p32 = |hi: u128| hi << 96;
        let p48 = |hi: u128, n: u128| (hi << 96) | (n << 80);
        let mut s = vec![0, p32(0x2001_0db8)];
        s.extend([
            p48(0x2001_0db8, 1),
            p48(0x2001_0db8, 1) + 1,
            p48(0x2001_0db8, 1) + 2,
            p48(0x2001_0db8, 2),
            p48(0x2001_0db8, 0xFFFF),
            p48(0x2001_0db8, 0xFFFF) + 5,
            p32(0x2001_0db9),
        ]);
        // Nine runs from the /32's start, then ten.
        for n in 1..=8 {
            s.push(p48(0x2a00_0001, n * 7));
        }
        s.push(p32(0x2a00_0002));
        for n in 1..=9 {
            s.push(p48(0x2a00_0003, n * 7));
        }
        s.push(p32(0x2a00_0004));
        // Deep: a single address and a /120 under one /64.
        s.extend([
            p32(0x2a00_0005) | 0x1234,
            p32(0x2a00_0005) | 0x1235,
            p32(0x2a00_0005) | 0x1300,
            p32(0x2a00_0005) | 0x1400,
            p32(0x2a00_0006),
        ]);
        s.sort_unstable();
        s.dedup();
        s
    }

    #[test]
    fn dir6_matches_a_binary_search_at_every_range_edge() {
        let starts = v6_starts();
        let vals: Vec<Packed> = (0..starts.len() as u32).map(|i| i * 3 + 1).collect();
        let dir = Dir6::new(&starts, &vals);
        assert!(
            dir.levels.iter().any(|l| !l.wide.is_empty()),
            "the test should cover wide chunks"
        );
        let mut probes = vec![0, u128::MAX];
        for &s in &starts {
            probes.extend([s, s.wrapping_sub(1), s + 1, s | ((1 << 80) - 1)]);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15_u128;
        for _ in 0..10_000 {
            x = x.wrapping_mul(0x2545_F491_4F6C_DD1D_0000_0001) ^ (x >> 29);
            let &base = starts
                .get((x % starts.len() as u128) as usize)
                .unwrap_or(&0);
            probes.push(base.wrapping_add(x >> (x % 128) as u32));
        }
        for k in probes {
            assert_eq!(dir.get(k), naive(&starts, &vals, k), "{k:#x}");
        }
    }
}
