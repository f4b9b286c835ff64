//! Tests on the real open data (see `common` for how it is obtained; never skipped).

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ipintel::build::{Builder, Source};
use ipintel::{Class, Index};

fn real_index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let data = common::open_data();
        let mut b = Builder::new();
        for f in data.import_files() {
            b = b.add(Source::from_path(&f).unwrap());
        }
        let (index, report) = b.build(&mut |_| {}).unwrap();
        for f in &report.files {
            println!("{}: rows={} bad={}", f.path.display(), f.rows, f.bad);
            assert_eq!(f.bad, 0, "{:?}", f.bad_lines.first());
        }
        index
    })
}

#[derive(serde::Deserialize)]
struct CountryCode<'a> {
    country_code: Option<&'a str>,
}

#[test]
fn summary_is_plausible_and_small() {
    let s = real_index().summary();
    println!("{s:?}");
    assert!(s.ranges_v4 > 300_000 && s.ranges_v6 > 100_000, "{s:?}");
    assert!(s.asns > 50_000 && s.organisations > 50_000, "{s:?}");
    assert!((200..=260).contains(&s.countries), "{s:?}");
    assert!(s.bytes < 32 << 20, "index uses {} bytes", s.bytes);
    assert_eq!(s.data_date.as_deref(), Some("2026-06-17"));
    let credits = real_index().attribution().text();
    for who in ["db-ip.com", "routeviews.org", "nro.net", "CC BY 4.0"] {
        assert!(credits.contains(who), "attribution lacks {who}: {credits}");
    }
}

#[test]
fn countries_agree_with_maxminddb_on_the_same_data() {
    let data = common::open_data();
    let index = real_index();
    let reader = maxminddb::Reader::open_readfile(data.country_mmdb()).unwrap();
    let v4 = common::csv_ranges(&data.file(
        "@ip-location-db/geo-whois-asn-country",
        "package/geo-whois-asn-country-ipv4.csv",
    ));
    let v6 = common::csv_ranges(&data.file(
        "@ip-location-db/geo-whois-asn-country",
        "package/geo-whois-asn-country-ipv6.csv",
    ));
    let mut samples = Vec::new();
    samples.extend(common::addresses(false, None, 50_000, 1));
    samples.extend(common::addresses(false, Some(&v4), 50_000, 2));
    samples.extend(common::addresses(true, Some(&v6), 50_000, 3));
    samples.extend(common::addresses(true, None, 5_000, 4));
    let mut mismatches = Vec::new();
    let mut found = 0;
    for ip in &samples {
        let ours = index.lookup(*ip).and_then(|r| r.country());
        let theirs = reader
            .lookup(*ip)
            .unwrap()
            .decode::<CountryCode<'_>>()
            .unwrap()
            .and_then(|c| c.country_code);
        if theirs.is_some() {
            found += 1;
        }
        if ours != theirs {
            mismatches.push((*ip, ours.map(str::to_owned), theirs.map(str::to_owned)));
        }
    }
    println!(
        "{} samples, {found} with a country in the MMDB, {} mismatches",
        samples.len(),
        mismatches.len()
    );
    for m in mismatches.iter().take(20) {
        println!("  {m:?}");
    }
    assert!(found > 100_000, "too few samples with data: {found}");
    assert!(
        mismatches.is_empty(),
        "{} of {} lookups disagree",
        mismatches.len(),
        samples.len()
    );
}

#[test]
fn mmdb_importer_reads_the_same_countries_as_the_csv() {
    let data = common::open_data();
    let (from_mmdb, report) = Builder::new()
        .without_cloud_ranges()
        .add(Source::from_path(data.country_mmdb()).unwrap())
        .build(&mut |_| {})
        .unwrap();
    assert_eq!(report.files[0].bad, 0);
    assert!(from_mmdb.summary().data_date.is_some());
    let csv = real_index();
    let mut samples = common::addresses(false, None, 50_000, 5);
    samples.extend(common::addresses(
        true,
        Some(&common::csv_ranges(&data.file(
            "@ip-location-db/geo-whois-asn-country",
            "package/geo-whois-asn-country-ipv6.csv",
        ))),
        50_000,
        6,
    ));
    let differ = samples
        .iter()
        .filter(|ip| from_mmdb.country(**ip) != csv.country(**ip))
        .count();
    assert_eq!(
        differ,
        0,
        "{differ} of {} lookups differ between MMDB and CSV import",
        samples.len()
    );
    // Mapped IPv4 in the IPv6 tree is read as IPv4.
    assert_eq!(
        from_mmdb.country("8.8.8.8".parse().unwrap()),
        csv.country("8.8.8.8".parse().unwrap())
    );
}

#[test]
fn well_known_networks_are_classified() {
    let index = real_index();
    let none = ipintel::Overrides::new();
    for (ip, class) in [
        ("8.8.8.8", Class::Hosting),
        ("52.94.76.1", Class::Hosting),
        ("1.1.1.1", Class::Hosting),
        ("17.253.144.10", Class::Business),
        ("2a00:1450:4001:81c::200e", Class::Hosting),
    ] {
        let l = index.lookup_with(&none, ip.parse().unwrap());
        println!("{}", serde_json::to_string(&l).unwrap());
        assert_eq!(l.class, class, "{ip}: {l:?}");
    }
    let l = index.lookup_with(&none, "8.8.8.8".parse().unwrap());
    assert_eq!(l.name.as_deref(), Some("Google"));
    assert_eq!(l.asn, Some(15169));
}

#[test]
fn class_shares_over_real_address_space() {
    // Not a pass/fail measure of precision (the labelled sample is), but a guard against a rule
    // change that suddenly turns most of the Internet into "business".
    let index = real_index();
    let data = common::open_data();
    let v4 = common::csv_ranges(&data.file("@ip-location-db/asn", "package/asn-ipv4.csv"));
    let mut counts: BTreeMap<Class, u32> = BTreeMap::new();
    let samples = common::addresses(false, Some(&v4), 20_000, 7);
    for ip in &samples {
        let c = index.lookup(*ip).map_or(Class::Unknown, |r| r.class());
        *counts.entry(c).or_default() += 1;
    }
    println!("{counts:?}");
    let business =
        f64::from(counts.get(&Class::Business).copied().unwrap_or(0)) / samples.len() as f64;
    assert!(business < 0.5, "business share {business:.2}");
}

#[test]
fn real_index_round_trips_through_a_file() {
    let index = real_index();
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("real.ipintel");
    index.write_to(&path).unwrap();
    let loaded = Index::load(&path).unwrap();
    assert!(&loaded == index);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len < 32 << 20, "file is {len} bytes");
}

#[test]
fn ipv6_addresses_get_the_reviewed_class_of_their_asn() {
    // Point 4 of the identification issue: the same ASNs, the same classes, on IPv6. For every
    // reviewed ASN with IPv6 ranges, an address inside one of them is looked up, and so is an
    // IPv4 address of the same ASN; outside the published cloud ranges both give the reviewed
    // class and reason.
    let index = real_index();
    let data = common::open_data();
    let reviewed: BTreeMap<u32, Class> = include_str!("../data/asn-reviewed.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split_whitespace();
            let asn = cols.next().unwrap().parse().unwrap();
            let class = match cols.next().unwrap() {
                "mixed" => Class::Mobile,
                c => Class::from_name(c).unwrap(),
            };
            (asn, class)
        })
        .collect();
    let first_ip = |file: &str| -> BTreeMap<u32, std::net::IpAddr> {
        let text = std::fs::read_to_string(data.file("@ip-location-db/asn", file)).unwrap();
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let mut cols = line.splitn(4, ',');
            let (Some(start), _, Some(asn)) = (cols.next(), cols.next(), cols.next()) else {
                continue;
            };
            if let Ok(asn) = asn.parse::<u32>() {
                out.entry(asn).or_insert_with(|| start.parse().unwrap());
            }
        }
        out
    };
    let v4 = first_ip("package/asn-ipv4.csv");
    let v6 = first_ip("package/asn-ipv6.csv");
    let (mut checked, mut cloud) = (0, 0);
    for (asn, class) in &reviewed {
        let Some(ip6) = v6.get(asn) else { continue };
        let r6 = index
            .lookup(*ip6)
            .unwrap_or_else(|| panic!("AS{asn}: {ip6} not found"));
        assert!(ip6.is_ipv6());
        if r6.asn() != Some(*asn) {
            continue; // a later row of another ASN covers the first address
        }
        if r6.class_reason().unwrap_or("").starts_with("cloud:") {
            cloud += 1;
            continue;
        }
        assert_eq!(
            r6.class(),
            *class,
            "AS{asn} on IPv6: {}",
            r6.class_reason().unwrap_or("")
        );
        assert!(
            r6.class_reason().unwrap_or("").starts_with("reviewed: "),
            "AS{asn}: {}",
            r6.class_reason().unwrap_or("")
        );
        let r4 = v4.get(asn).and_then(|ip| index.lookup(*ip));
        if let Some(r4) = r4.filter(|r| r.asn() == Some(*asn)) {
            let reason4 = r4.class_reason().unwrap_or("");
            if !reason4.starts_with("cloud:") {
                assert_eq!(reason4, r6.class_reason().unwrap_or(""), "AS{asn}");
            }
        }
        checked += 1;
    }
    println!("{checked} reviewed ASNs checked on IPv6 ({cloud} first addresses in a cloud range)");
    assert!(
        checked > 2_500,
        "only {checked} reviewed ASNs with IPv6 checked"
    );
}

#[test]
fn a_bad_line_in_an_operators_rule_files_fails_the_build_named() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bad-rules");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("asn-reviewed.txt"),
        "# mine\n64512 business Example: our office\n64513 compnay Typo Ltd\n",
    )
    .unwrap();
    let data = common::open_data();
    let first = data.import_files().into_iter().next().unwrap();
    let err = Builder::new()
        .add(Source::from_path(&first).unwrap())
        .rules_dir(&dir)
        .build(&mut |_| {})
        .unwrap_err()
        .to_string();
    let want = format!(
        "classification rules: {}:3: unknown class \"compnay\"",
        dir.join("asn-reviewed.txt").display()
    );
    assert_eq!(err, want);
    // A good file of the operator's own wins over the shipped list.
    std::fs::write(
        dir.join("asn-reviewed.txt"),
        "15169 business Example: reviewed by us\n",
    )
    .unwrap();
    let (index, _) = Builder::new()
        .add(Source::from_path(&first).unwrap())
        .rules_dir(&dir)
        .without_cloud_ranges()
        .build(&mut |_| {})
        .unwrap();
    let r = index.lookup("8.8.8.8".parse().unwrap()).unwrap();
    assert_eq!(r.class(), Class::Business);
    assert_eq!(r.class_reason(), Some("reviewed: Example: reviewed by us"));
}
