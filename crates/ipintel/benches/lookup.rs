//! Lookup throughput on the real data, ipintel against the `maxminddb` crate on the same data
//! in MMDB form, in the same process.
//!
//! `cargo bench -p ipintel --bench lookup` (set `IPINTEL_DATA_DIR` to reuse fetched tarballs).
//!
//! Method: build the index from the pinned ip-location-db CSVs and open the same release's
//! `geo-whois-asn-country.mmdb` (read into memory). Generate 2^20 addresses per set before
//! timing, with a seeded generator: IPv4 and IPv6, uniformly at random and drawn from the
//! real ranges (a random row of asn-ipv4.csv / asn-ipv6.csv, then a random address in it).
//! Each timed pass looks up every address of a set on one thread and decodes the country
//! code: ipintel through `Index::lookup(..).country()`, maxminddb through
//! `Reader::lookup(..).decode::<{ country_code: &str }>()`. Passes alternate between the
//! implementations; each is repeated `ROUNDS` times and the median rate is reported.
//!
//! Each round also times two ceilings over the same addresses (see `main`): the loop with one
//! cached table read per address, and with one uncached read, so the report shows what ratio
//! to maxminddb is reachable at all. `IPINTEL_BENCH_ONLY=IPv6` runs only the sets whose name
//! holds that text; `IPINTEL_BENCH_DIAG=1` adds country-only and sorted-address rates.
//!
//! Comparing rules: `IPINTEL_BENCH_RULES=DIR` builds the index with the rule files in `DIR`
//! (see `Builder::rules_dir`), and `IPINTEL_BENCH_BASELINE_RULES=DIR` builds a second index,
//! the baseline, with those in another. Each round then times both indexes (in alternating
//! order) next to maxminddb, and the report adds the median of the per-round ratios new /
//! baseline and whether the two indexes look addresses up through identical tables. Two
//! processes place the tables at different addresses, which alone moves lookup rates by
//! several percent; in one process that difference is shared by both indexes.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use ipintel::build::{Builder, Source};

const ROUNDS: usize = 11;
const COUNT: usize = 1 << 20;

#[derive(serde::Deserialize)]
struct CountryCode<'a> {
    country_code: Option<&'a str>,
}

fn rate(addrs: &[IpAddr], mut f: impl FnMut(IpAddr) -> usize) -> f64 {
    let t = Instant::now();
    let mut sum = 0usize;
    for ip in addrs {
        sum = sum.wrapping_add(f(*ip));
    }
    black_box(sum);
    addrs.len() as f64 / t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo test --benches` asks benches to list their tests; this one has none.
        return;
    }
    let data = common::open_data();
    // Build three times; report the median build time and keep the last index.
    let build = |rules: Option<std::ffi::OsString>| {
        let mut builder = Builder::new();
        for f in data.import_files() {
            builder = builder.add(Source::from_path(&f).unwrap());
        }
        if let Some(dir) = rules {
            builder = builder.rules_dir(dir);
        }
        let t = Instant::now();
        let (index, _) = builder.build(&mut |_| {}).unwrap();
        (index, t.elapsed().as_secs_f64())
    };
    let mut builds = Vec::new();
    let mut built = None;
    for _ in 0..3 {
        let (index, secs) = build(std::env::var_os("IPINTEL_BENCH_RULES"));
        builds.push(secs);
        built = Some(index);
    }
    let index = built.unwrap();
    let baseline = std::env::var_os("IPINTEL_BENCH_BASELINE_RULES").map(|dir| build(Some(dir)).0);
    let build_time = std::time::Duration::from_secs_f64(median(builds));
    // Load time: read, check and decode the file, and derive the lookup tables.
    let file = std::env::temp_dir().join(format!("ipintel-bench-{}.idx", std::process::id()));
    index.write_to(&file).unwrap();
    let file_bytes = std::fs::metadata(&file).unwrap().len();
    let loads: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            black_box(ipintel::Index::load(&file).unwrap());
            t.elapsed().as_secs_f64()
        })
        .collect();
    std::fs::remove_file(&file).unwrap();
    let load_time = std::time::Duration::from_secs_f64(median(loads));
    let summary = index.summary();
    let mmdb_bytes = std::fs::read(data.country_mmdb()).unwrap();
    let reader = maxminddb::Reader::from_source(mmdb_bytes).unwrap();

    let v4 = common::csv_ranges(&data.file("@ip-location-db/asn", "package/asn-ipv4.csv"));
    let v6 = common::csv_ranges(&data.file("@ip-location-db/asn", "package/asn-ipv6.csv"));
    let sets: Vec<(&str, Vec<IpAddr>)> = vec![
        ("IPv4 uniform", common::addresses(false, None, COUNT, 11)),
        (
            "IPv4 from real ranges",
            common::addresses(false, Some(&v4), COUNT, 12),
        ),
        ("IPv6 uniform", common::addresses(true, None, COUNT, 13)),
        (
            "IPv6 from real ranges",
            common::addresses(true, Some(&v6), COUNT, 14),
        ),
    ];

    println!(
        "index: built in {:.2?} (median of 3), {} IPv4 + {} IPv6 ranges, {:.1} MiB in memory ({} bytes), \
         {:.1} MB on disk, loaded in {:.0?} (median of 3), data {}",
        build_time,
        summary.ranges_v4,
        summary.ranges_v6,
        summary.bytes as f64 / (1 << 20) as f64,
        summary.bytes,
        file_bytes as f64 / 1e6,
        load_time,
        summary.data_date.as_deref().unwrap_or("?")
    );
    if let Some(base) = &baseline {
        let same = index.lookup_tables_digest() == base.lookup_tables_digest();
        println!(
            "baseline index: {} bytes in memory; lookup tables {} the new index's",
            base.summary().bytes,
            if same { "identical to" } else { "differ from" }
        );
    }
    println!("{COUNT} addresses per set, {ROUNDS} rounds, median lookups per second (min-max)\n");
    println!(
        "| set | ipintel lookup + country | maxminddb lookup + country | ratio of medians | median of per-round ratios |\n|---|---|---|---|---|"
    );
    // Ceilings: the same loop over the same addresses doing almost no work, to show what
    // ratio to maxminddb any implementation could reach on this machine. `small`: one read of
    // a 256 KiB table by the top 16 bits, which stays in the cache. `miss`: one read of a
    // 16 MiB table at a hash of the top 64 bits (the whole IPv4 address), so about one cache
    // miss per address: the price of a single dependent read into an index too big to cache.
    let small: Vec<u32> = (0..1u32 << 16)
        .map(|i| i.wrapping_mul(0x9E37_79B9))
        .collect();
    let miss: Vec<u32> = (0..1u32 << 22)
        .map(|i| i.wrapping_mul(0x9E37_79B9))
        .collect();
    let top64 = |ip: IpAddr| match ip {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => (u128::from(a) >> 64) as u64,
    };
    let mut ceilings = Vec::new();
    let only = std::env::var("IPINTEL_BENCH_ONLY").unwrap_or_default();
    for (name, addrs) in sets.iter().filter(|(n, _)| n.contains(only.as_str())) {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let mut base_rates = Vec::new();
        let mut ceil_small = Vec::new();
        let mut ceil_miss = Vec::new();
        let mut sorted = addrs.clone();
        sorted.sort();
        if std::env::var_os("IPINTEL_BENCH_DIAG").is_some() {
            let mut only = Vec::new();
            let mut seq = Vec::new();
            for _ in 0..ROUNDS {
                only.push(rate(addrs, |ip| {
                    index
                        .country(ip)
                        .map_or(0, |c| usize::from(c.as_bytes()[0]))
                }));
                seq.push(rate(&sorted, |ip| {
                    index
                        .country(ip)
                        .map_or(0, |c| usize::from(c.as_bytes()[0]))
                }));
            }
            println!(
                "diag {name}: country only {:.1} M/s, sorted addresses {:.1} M/s",
                median(only) / 1e6,
                median(seq) / 1e6
            );
        }
        let lookups = |index: &ipintel::Index| {
            rate(addrs, |ip| {
                index
                    .lookup(ip)
                    .and_then(|r| r.country())
                    .map_or(0, |c| usize::from(c.as_bytes()[0]))
            })
        };
        for round in 0..ROUNDS {
            match &baseline {
                Some(base) if round % 2 == 1 => {
                    base_rates.push(lookups(base));
                    ours.push(lookups(&index));
                }
                Some(base) => {
                    ours.push(lookups(&index));
                    base_rates.push(lookups(base));
                }
                None => ours.push(lookups(&index)),
            }
            theirs.push(rate(addrs, |ip| {
                reader
                    .lookup(ip)
                    .ok()
                    .and_then(|r| r.decode::<CountryCode<'_>>().ok().flatten())
                    .and_then(|c| c.country_code)
                    .map_or(0, |c| usize::from(c.as_bytes()[0]))
            }));
            ceil_small.push(rate(addrs, |ip| {
                let top = match ip {
                    IpAddr::V4(a) => u32::from(a) >> 16,
                    IpAddr::V6(a) => (u128::from(a) >> 112) as u32,
                };
                small[top as usize] as usize
            }));
            ceil_miss.push(rate(addrs, |ip| {
                let h = top64(ip).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 42;
                miss[h as usize] as usize
            }));
        }
        let fmt = |v: &[f64]| {
            let lo = v.iter().copied().fold(f64::MAX, f64::min);
            let hi = v.iter().copied().fold(0.0, f64::max);
            format!(
                "{:.1} M/s ({:.1}-{:.1})",
                median(v.to_vec()) / 1e6,
                lo / 1e6,
                hi / 1e6
            )
        };
        // Each round times both sides back to back, so its ratio is robust to load that drifts.
        let per_round: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a / b).collect();
        println!(
            "| {name} | {} | {} | {:.1}x | {:.1}x |",
            fmt(&ours),
            fmt(&theirs),
            median(ours.clone()) / median(theirs.clone()),
            median(per_round)
        );
        let ratio = |c: &[f64]| {
            let r: Vec<f64> = c.iter().zip(&theirs).map(|(a, b)| a / b).collect();
            median(r)
        };
        if !base_rates.is_empty() {
            let new_over_base: Vec<f64> =
                ours.iter().zip(&base_rates).map(|(a, b)| a / b).collect();
            println!(
                "| {name}, baseline index | {} | (the same rounds) | | {:.1}x; new / baseline {:.3} |",
                fmt(&base_rates),
                ratio(&base_rates),
                median(new_over_base)
            );
        }
        ceilings.push(format!(
            "| {name} | {} | {:.1}x | {} | {:.1}x |",
            fmt(&ceil_small),
            ratio(&ceil_small),
            fmt(&ceil_miss),
            ratio(&ceil_miss)
        ));
    }
    println!(
        "\nCeilings, same rounds (ratio = median of per-round ratios to maxminddb)\n\n\
         | set | 1 read, 256 KiB table | ratio | 1 read, 16 MiB table (a miss) | ratio |\n\
         |---|---|---|---|---|"
    );
    for line in ceilings {
        println!("{line}");
    }
}
