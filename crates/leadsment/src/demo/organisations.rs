//! The demo's organisations, drawn from the real IP index: mostly businesses, some access
//! providers and hosting, a few universities and public bodies, the larger ones and those in
//! the site's markets likelier. Each is kept as the lookup of
//! one of its addresses through [`IpDb::lookup`] (overrides included), which is what the
//! ingest path turns into a company, so demo visits create the rows real visits from those
//! networks would.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use ipintel::{Class, Lookup};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ipdb::IpDb;

/// The share of each class among the organisations drawn. What a class lacks in the data goes
/// to the others, businesses first, in this order.
pub const MIX: &[(Class, f64)] = &[
    (Class::Business, 0.70),
    (Class::Isp, 0.12),
    (Class::Hosting, 0.08),
    (Class::Education, 0.04),
    (Class::Mobile, 0.03),
    (Class::Government, 0.03),
];

/// Where the demo site (a German B2B product) finds its visitors: organisations in these
/// countries are likelier to be drawn, those elsewhere less likely (but still drawn).
const MARKETS: &[(&str, f64)] = &[
    ("DE", 8.0),
    ("AT", 4.0),
    ("CH", 4.0),
    ("NL", 2.5),
    ("GB", 2.5),
    ("US", 2.5),
    ("FR", 2.0),
    ("PL", 1.5),
    ("SE", 1.5),
    ("DK", 1.5),
    ("BE", 1.5),
    ("IT", 1.5),
    ("ES", 1.5),
    ("IE", 1.5),
    ("CZ", 1.5),
    ("FI", 1.5),
    ("NO", 1.5),
    ("CA", 1.5),
];
const ELSEWHERE: f64 = 0.3;

/// What makes two networks one organisation: the same key as the ingest path's company
/// (`domain:…`, else ASN and name), borrowed from the index.
#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    Domain(&'a str),
    Asn(u32, &'a str),
    Name(&'a str),
}

/// An organisation of the index: one of its addresses, and how many it holds.
struct Candidate<'a> {
    addr: Ipv4Addr,
    class: Class,
    country: Option<&'a str>,
    addresses: u64,
}

impl Candidate<'_> {
    /// How likely it is drawn, and how many visits it sends: larger organisations (by their
    /// address space) and those in the site's markets more.
    fn weight(&self) -> f64 {
        let market = MARKETS
            .iter()
            .find(|(cc, _)| Some(*cc) == self.country)
            .map_or(ELSEWHERE, |(_, w)| *w);
        (self.addresses as f64).sqrt() * market
    }
}

/// Every organisation the IPv4 data names, in address order. The walk jumps from range to
/// range (the end of each found range is known); where the data has nothing it steps a /24 at
/// a time, so ranges smaller than that inside a gap may be missed, which a sample can afford.
fn candidates(index: &ipintel::Index) -> Vec<Candidate<'_>> {
    // 1.0.0.0 up to the multicast and reserved space.
    const FIRST: u64 = 1 << 24;
    const END: u64 = 224 << 24;
    let mut seen: HashMap<Key<'_>, usize> = HashMap::new();
    let mut found: Vec<Candidate<'_>> = Vec::new();
    let mut at = FIRST;
    while at < END {
        let addr = Ipv4Addr::from(at as u32);
        let Some(record) = index.lookup(IpAddr::V4(addr)) else {
            at = (at | 0xff) + 1;
            continue;
        };
        let last = match record.range().1 {
            IpAddr::V4(last) => u64::from(u32::from(last)).max(at),
            IpAddr::V6(_) => at | 0xff,
        };
        if let Some(name) = record.name()
            && record.class() != Class::Unknown
        {
            let key = match (record.domain(), record.asn()) {
                (Some(domain), _) => Key::Domain(domain),
                (None, Some(asn)) => Key::Asn(asn, name),
                (None, None) => Key::Name(name),
            };
            let i = *seen.entry(key).or_insert_with(|| {
                found.push(Candidate {
                    addr,
                    class: record.class(),
                    country: record.country(),
                    addresses: 0,
                });
                found.len() - 1
            });
            found[i].addresses += last - at + 1;
        }
        at = last + 1;
    }
    found
}

/// Draws `count` organisations (fewer when the index names fewer) in the shares of [`MIX`],
/// the same ones for the same seed and index, largest first (by [`Candidate::weight`]), which
/// is how the generator ranks them. `None` when no index is loaded.
pub fn draw(ipdb: &IpDb, count: usize, seed: u64) -> Option<Vec<Lookup>> {
    let index = ipdb.index()?;
    let found = candidates(&index);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6f72_6773);
    // A weighted sample without replacement (Efraimidis and Spirakis): each candidate's key is
    // u^(1/weight), and the largest keys of each class are taken.
    let mut by_class: HashMap<Class, Vec<(f64, usize)>> = HashMap::new();
    for (i, c) in found.iter().enumerate() {
        let key = rng.random::<f64>().max(f64::MIN_POSITIVE).ln() / c.weight().max(1e-9);
        by_class.entry(c.class).or_default().push((key, i));
    }
    for list in by_class.values_mut() {
        list.sort_by(|a, b| b.0.total_cmp(&a.0));
    }
    // Each class's quota, the remainder to businesses; then what a class lacks is filled from
    // the others in the order of MIX.
    let mut quotas: Vec<usize> = MIX
        .iter()
        .map(|(_, share)| (count as f64 * share).floor() as usize)
        .collect();
    quotas[0] += count - quotas.iter().sum::<usize>().min(count);
    let mut chosen: Vec<usize> = Vec::with_capacity(count);
    for ((class, _), quota) in MIX.iter().zip(&quotas) {
        let list = by_class.entry(*class).or_default();
        let take = (*quota).min(list.len());
        chosen.extend(list.drain(..take).map(|(_, i)| i));
    }
    for (class, _) in MIX {
        let missing = count - chosen.len();
        let list = by_class.entry(*class).or_default();
        let take = missing.min(list.len());
        chosen.extend(list.drain(..take).map(|(_, i)| i));
    }
    chosen.sort_by(|a, b| found[*b].weight().total_cmp(&found[*a].weight()));
    Some(
        chosen
            .into_iter()
            .map(|i| ipdb.lookup(IpAddr::V4(found[i].addr)))
            .filter(|l| l.name.is_some() && l.class != Class::Unknown)
            .collect(),
    )
}
