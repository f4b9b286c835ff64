//! Correctness on small generated files: edges, overlaps, bad input, the file format.

use std::net::IpAddr;
use std::path::PathBuf;

use ipintel::build::{BuildError, Builder, Source, SourceFormat};
use ipintel::{Class, Index, LoadError, Overrides, parse_ip};

fn dir(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("ipintel-generated")
        .join(test);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn build(sources: Vec<Source>) -> (Index, ipintel::build::BuildReport) {
    let mut b = Builder::new()
        .without_cloud_ranges()
        .data_date("2026-01-02");
    for s in sources {
        b = b.add(s);
    }
    b.build(&mut |_| {}).unwrap()
}

fn ip(s: &str) -> IpAddr {
    parse_ip(s).unwrap()
}

fn org(index: &Index, s: &str) -> Option<String> {
    index.lookup(ip(s)).and_then(|r| r.org().map(str::to_owned))
}

const ASN_V4: &str = "\
0.0.0.0,0.0.0.255,1,First Address Inc.
1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"
1.0.1.0,1.0.1.255,64500,Adjacent Widgets GmbH
255.255.255.0,255.255.255.255,64511,Last Address Ltd
";

const ASN_V6: &str = "\
::,::ff,2,First Six LLC
2001:db8::,2001:db8::ffff,64501,Example Six AG
ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,64502,Top Six BV
";

#[test]
fn first_and_last_addresses_and_range_edges() {
    let d = dir("edges");
    let (index, report) = build(vec![
        Source::from_path(write(&d, "a-ipv4.csv", ASN_V4)).unwrap(),
        Source::from_path(write(&d, "a-ipv6.csv", ASN_V6)).unwrap(),
    ]);
    assert_eq!(report.bad_lines(), 0);
    assert_eq!(
        org(&index, "0.0.0.0").as_deref(),
        Some("First Address Inc.")
    );
    assert_eq!(
        org(&index, "0.0.0.255").as_deref(),
        Some("First Address Inc.")
    );
    assert_eq!(org(&index, "0.0.1.0"), None);
    assert_eq!(org(&index, "0.255.255.255"), None);
    assert_eq!(
        org(&index, "1.0.0.255").as_deref(),
        Some("Cloudflare, Inc.")
    );
    assert_eq!(
        org(&index, "1.0.1.0").as_deref(),
        Some("Adjacent Widgets GmbH")
    );
    assert_eq!(
        org(&index, "1.0.1.255").as_deref(),
        Some("Adjacent Widgets GmbH")
    );
    assert_eq!(org(&index, "1.0.2.0"), None);
    assert_eq!(org(&index, "255.255.254.255"), None);
    assert_eq!(
        org(&index, "255.255.255.0").as_deref(),
        Some("Last Address Ltd")
    );
    assert_eq!(
        org(&index, "255.255.255.255").as_deref(),
        Some("Last Address Ltd")
    );
    assert_eq!(org(&index, "::").as_deref(), Some("First Six LLC"));
    assert_eq!(org(&index, "::ff").as_deref(), Some("First Six LLC"));
    assert_eq!(org(&index, "::100"), None);
    assert_eq!(
        org(&index, "2001:db8::ffff").as_deref(),
        Some("Example Six AG")
    );
    assert_eq!(org(&index, "2001:db8::1:0"), None);
    assert_eq!(
        org(&index, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").as_deref(),
        Some("Top Six BV")
    );
    // IPv4-mapped IPv6 is looked up as IPv4.
    assert_eq!(
        org(&index, "::ffff:1.0.0.1").as_deref(),
        Some("Cloudflare, Inc.")
    );

    let r = index.lookup(ip("1.0.0.7")).unwrap();
    assert_eq!(r.asn(), Some(13335));
    assert_eq!(r.name(), Some("Cloudflare"));
    assert_eq!(r.network().to_string(), "1.0.0.0/24");
    assert_eq!(r.range(), (ip("1.0.0.0"), ip("1.0.0.255")));
    assert_eq!(
        index
            .lookup(ip("255.255.255.255"))
            .unwrap()
            .network()
            .to_string(),
        "255.255.255.0/24"
    );
    assert_eq!(index.summary().ranges_v4, 4);
    assert_eq!(index.summary().ranges_v6, 3);
    assert_eq!(index.summary().data_date.as_deref(), Some("2026-01-02"));
}

#[test]
fn unsorted_input_gives_the_same_index() {
    let d = dir("unsorted");
    let mut lines: Vec<&str> = ASN_V4.lines().collect();
    lines.reverse();
    let (sorted, _) = build(vec![Source::from_path(write(&d, "s.csv", ASN_V4)).unwrap()]);
    let (unsorted, _) = build(vec![
        Source::from_path(write(&d, "u.csv", &(lines.join("\n") + "\n"))).unwrap(),
    ]);
    assert_eq!(sorted, unsorted);
}

#[test]
fn overlaps_later_line_wins_and_earlier_file_wins() {
    let d = dir("overlap");
    let wide_and_narrow = "\
10.0.0.0,10.255.255.255,64500,Wide Block Inc
10.1.0.0,10.1.0.255,64501,Narrow Block Inc
10.1.0.128,10.1.0.255,64502,Later Line Inc
";
    let second = "\
10.0.0.0,10.0.0.255,64503,Second File Inc
11.0.0.0,11.0.0.255,64504,Only In Second Inc
";
    let countries = "10.0.0.0,10.255.255.255,DE\n11.0.0.0,11.0.0.255,FR\n";
    let (index, _) = build(vec![
        Source::from_path(write(&d, "first.csv", wide_and_narrow)).unwrap(),
        Source::from_path(write(&d, "second.csv", second)).unwrap(),
        Source::from_path(write(&d, "country.csv", countries)).unwrap(),
    ]);
    assert_eq!(org(&index, "10.0.0.1").as_deref(), Some("Wide Block Inc"));
    assert_eq!(org(&index, "10.1.0.1").as_deref(), Some("Narrow Block Inc"));
    assert_eq!(org(&index, "10.1.0.200").as_deref(), Some("Later Line Inc"));
    assert_eq!(org(&index, "10.1.1.0").as_deref(), Some("Wide Block Inc"));
    assert_eq!(
        org(&index, "11.0.0.1").as_deref(),
        Some("Only In Second Inc")
    );
    // Country comes from the only source that has one, field by field.
    let r = index.lookup(ip("10.1.0.1")).unwrap();
    assert_eq!(r.country(), Some("DE"));
    assert!(r.consent_zone());
    assert_eq!(r.network().to_string(), "10.1.0.0/25");
    assert_eq!(index.lookup(ip("11.0.0.9")).unwrap().country(), Some("FR"));
    // The earlier file's country wins over a later one.
    let (index2, _) = build(vec![
        Source::from_path(write(&d, "c1.csv", "10.0.0.0,10.0.0.255,US\n")).unwrap(),
        Source::from_path(write(&d, "c2.csv", "10.0.0.0,10.0.1.255,GB\n")).unwrap(),
    ]);
    assert_eq!(index2.country(ip("10.0.0.1")), Some("US"));
    assert_eq!(index2.country(ip("10.0.1.1")), Some("GB"));
    let r = index2.lookup(ip("10.0.0.1")).unwrap();
    assert!(!r.consent_zone());
    assert_eq!(r.class(), Class::Unknown);
}

#[test]
fn bad_lines_are_reported_with_line_numbers_and_skipped() {
    let d = dir("bad");
    let text = "\
1.0.0.0,1.0.0.255,13335,Cloudflare Inc
1.0.1.0,1.0.1.255,notanumber,Bad Asn Inc
1.0.2.0,1.0.2.255,64500,Good Two Inc
1.0.9.0,1.0.3.0,64500,Backwards Inc
1.0.4.0,1.0.4.255,64500,Good Three Inc
1.0.5.0,2001:db8::1,64500,Mixed Inc
300.0.0.0,300.0.0.1,64500,Not An Address Inc
1.0.6.0,1.0.6.255,64500,Good Four Inc
1.0.7.0,1.0.7.255,64500,Good Five Inc
";
    let path = write(&d, "bad.csv", text);
    let (index, report) = build(vec![Source::from_path(&path).unwrap()]);
    let f = &report.files[0];
    assert_eq!((f.rows, f.bad), (5, 4));
    let lines: Vec<u64> = f.bad_lines.iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![2, 4, 6, 7]);
    let shown = f.bad_lines[0].to_string();
    assert!(
        shown.contains("bad.csv:2:") && shown.contains("notanumber"),
        "{shown}"
    );
    assert!(
        f.bad_lines[1].reason.contains("after"),
        "{}",
        f.bad_lines[1].reason
    );
    assert!(f.bad_lines[2].reason.contains("different address families"));
    assert_eq!(org(&index, "1.0.4.1").as_deref(), Some("Good Three Inc"));
    assert_eq!(org(&index, "1.0.1.1"), None);
}

#[test]
fn mostly_bad_file_is_refused() {
    let d = dir("mostly-bad");
    let text = "1.0.0.0,1.0.0.255,1,Ok Inc\nx,y,z,w\na,b,c,d\n1,2,three,four\n";
    let path = write(&d, "junk.csv", text);
    let err = Builder::new()
        .without_cloud_ranges()
        .add(Source::from_path(&path).unwrap())
        .build(&mut |_| {})
        .unwrap_err();
    match &err {
        BuildError::MostlyBad { bad, total, .. } => assert_eq!((*bad, *total), (3, 4)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("junk.csv"), "{err}");
    let empty = write(&d, "empty.csv", "");
    assert!(
        Source::from_path(&empty).is_err()
            || Builder::new()
                .add(Source::new(&empty, SourceFormat::IpLocationDbCountry))
                .build(&mut |_| {})
                .is_err()
    );
}

#[test]
fn numeric_files_and_mixed_families() {
    let d = dir("numeric");
    let v4 = "16777216,16777471,13335,\"Cloudflare, Inc.\"\n";
    let v6 = "42540766411282592856903984951653826560,42540766411282592875350729025363378175,64501,Doc Six\n";
    let mixed = "8.8.8.0,8.8.8.255,US\n2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,US\n";
    let (index, report) = build(vec![
        Source::from_path(write(&d, "asn-ipv4-num.csv", v4)).unwrap(),
        Source::from_path(write(&d, "asn-ipv6-num.csv", v6)).unwrap(),
        Source::from_path(write(&d, "geo-mixed.csv", mixed)).unwrap(),
    ]);
    assert_eq!(report.bad_lines(), 0);
    assert_eq!(org(&index, "1.0.0.1").as_deref(), Some("Cloudflare, Inc."));
    assert_eq!(org(&index, "2001:db8::1").as_deref(), Some("Doc Six"));
    assert_eq!(index.country(ip("8.8.8.8")), Some("US"));
    assert_eq!(index.country(ip("2001:4860::8888")), Some("US"));
}

#[test]
fn iptoasn_tsv() {
    let d = dir("iptoasn");
    let tsv = "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n\
1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n\
8.8.8.0\t8.8.8.255\t15169\tUS\t\"GOOGLE - Google LLC\"\n\
2a00::\t2a00::ffff\t64500\tDE\tEXAMPLE-AS Example GmbH\n";
    let path = write(&d, "ip2asn-combined.tsv", tsv);
    let source = Source::from_path(&path).unwrap();
    assert_eq!(source.format(), SourceFormat::Iptoasn);
    let (index, report) = build(vec![source]);
    assert_eq!(
        (
            report.files[0].rows,
            report.files[0].skipped,
            report.files[0].bad
        ),
        (3, 1, 0)
    );
    let r = index.lookup(ip("8.8.8.8")).unwrap();
    assert_eq!(r.org(), Some("GOOGLE - Google LLC"));
    assert_eq!(r.name(), Some("Google"));
    assert_eq!(r.country(), Some("US"));
    assert!(index.lookup(ip("1.0.2.0")).is_none());
    assert_eq!(index.country(ip("2a00::1")), Some("DE"));
    assert!(index.attribution().text().contains("iptoasn"));
}

#[test]
fn index_file_round_trips_and_refuses_damage() {
    let d = dir("format");
    let (index, _) = build(vec![
        Source::from_path(write(&d, "asn-ipv4.csv", ASN_V4)).unwrap(),
        Source::from_path(write(&d, "asn-ipv6.csv", ASN_V6)).unwrap(),
    ]);
    let file = d.join("index.ipintel");
    index.write_to(&file).unwrap();
    let loaded = Index::load(&file).unwrap();
    assert_eq!(loaded, index);
    assert!(loaded.attribution().text().contains("db-ip.com"));
    assert!(
        loaded
            .attribution()
            .html()
            .contains("<a href=\"https://db-ip.com\">")
    );

    let bytes = std::fs::read(&file).unwrap();
    let damaged = d.join("damaged.ipintel");
    // Truncated anywhere, including inside the header.
    for cut in [0, 4, 20, 31, 32, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&damaged, &bytes[..cut]).unwrap();
        let err = Index::load(&damaged).unwrap_err();
        assert!(
            matches!(
                err,
                LoadError::Truncated { .. } | LoadError::NotAnIndex { .. }
            ),
            "cut {cut}: {err}"
        );
        assert!(err.to_string().contains("damaged.ipintel"), "{err}");
    }
    // One flipped bit in the payload.
    let mut flipped = bytes.clone();
    let at = flipped.len() - 10;
    flipped[at] ^= 0x40;
    std::fs::write(&damaged, &flipped).unwrap();
    let err = Index::load(&damaged).unwrap_err();
    assert!(matches!(err, LoadError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");
    // Another file type.
    std::fs::write(&damaged, b"PK\x03\x04 not an index at all, just some bytes").unwrap();
    assert!(matches!(
        Index::load(&damaged).unwrap_err(),
        LoadError::NotAnIndex { .. }
    ));
    // A future version.
    let mut future = bytes.clone();
    future[8] = 99;
    std::fs::write(&damaged, &future).unwrap();
    assert!(matches!(
        Index::load(&damaged).unwrap_err(),
        LoadError::Version { found: 99, .. }
    ));
    assert!(matches!(
        Index::load(d.join("missing")).unwrap_err(),
        LoadError::Io { .. }
    ));
}

#[test]
fn lookup_json_has_exactly_the_contract_keys() {
    let d = dir("json");
    let (index, _) = build(vec![
        Source::from_path(write(&d, "asn-ipv4.csv", ASN_V4)).unwrap(),
        Source::from_path(write(&d, "geo-ipv4.csv", "1.0.0.0,1.0.0.255,AU\n")).unwrap(),
    ]);
    let none = Overrides::new();
    let v: serde_json::Value =
        serde_json::to_value(index.lookup_with(&none, ip("1.0.0.1"))).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "ip",
        "network",
        "asn",
        "org",
        "name",
        "domain",
        "country",
        "consent_zone",
        "class",
        "class_reason",
    ];
    let mut got = keys.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    assert_eq!(v["ip"], "1.0.0.1");
    assert_eq!(v["network"], "1.0.0.0/24");
    assert_eq!(v["asn"], 13335);
    assert_eq!(v["name"], "Cloudflare");
    assert_eq!(v["country"], "AU");
    assert_eq!(v["consent_zone"], false);
    assert_eq!(v["domain"], serde_json::Value::Null);
    assert_eq!(v["class"], "hosting");
    let unknown = serde_json::to_value(index.lookup_with(&none, ip("9.9.9.9"))).unwrap();
    assert_eq!(unknown["class"], "unknown");
    assert_eq!(unknown["consent_zone"], true);
    assert_eq!(unknown["org"], serde_json::Value::Null);

    let overrides = Overrides::from_toml_str(
        "[[override]]\nnetwork = \"1.0.0.0/28\"\nname = \"Our Office\"\ndomain = \"example.com\"\n",
    )
    .unwrap();
    let o = index.lookup_with(&overrides, ip("::ffff:1.0.0.2"));
    assert_eq!(o.name.as_deref(), Some("Our Office"));
    assert_eq!(o.class, Class::Business);
    assert_eq!(o.asn, Some(13335));
    assert_eq!(o.ip, "1.0.0.2");
}

#[test]
fn index_is_send_sync_and_lookup_borrows() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Index>();
}

/// Random overlapping ranges of every size, checked against the plain rule "the last line
/// that holds the address wins" at every range edge and at random addresses.
#[test]
fn random_ranges_match_a_naive_model() {
    let d = dir("random");
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for v6 in [false, true] {
        let bits: u32 = if v6 { 128 } else { 32 };
        let mut rows: Vec<(u128, u128, String)> = Vec::new();
        let mut text = String::new();
        for n in 0..400 {
            // Concentrate the ranges so that they overlap and split /16s and /24s.
            let prefix = 8 + (next() % u64::from(bits - 7)) as u32;
            let raw = (u128::from(next()) << 64 | u128::from(next())) >> (128 - bits);
            let base = raw & !((1u128 << (bits - 8)) - 1) | (raw & 0xFFFF);
            let base = if n % 3 == 0 {
                base & !((1u128 << (bits - 8)) - 1) | 0x0A0B_0000 >> (32 - bits.min(32))
            } else {
                base
            };
            let size = if prefix >= bits {
                1
            } else {
                1u128 << (bits - prefix)
            };
            let start = base & !(size - 1);
            let end = start + (size - 1);
            let name = format!("Org {n} Inc");
            let show = |k: u128| {
                if v6 {
                    std::net::Ipv6Addr::from(k).to_string()
                } else {
                    std::net::Ipv4Addr::from(k as u32).to_string()
                }
            };
            text.push_str(&format!(
                "{},{},{},{name}\n",
                show(start),
                show(end),
                64_512 + n
            ));
            rows.push((start, end, name));
        }
        let file = write(&d, if v6 { "r6.csv" } else { "r4.csv" }, &text);
        let (index, report) = build(vec![Source::from_path(&file).unwrap()]);
        assert_eq!(report.bad_lines(), 0);
        let naive = |k: u128| {
            rows.iter()
                .rev()
                .find(|(s, e, _)| *s <= k && k <= *e)
                .map(|r| r.2.clone())
        };
        let max = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        let mut probes: Vec<u128> = Vec::new();
        for (s, e, _) in &rows {
            probes.extend([*s, *e, s.saturating_sub(1), e.saturating_add(1).min(max)]);
        }
        for _ in 0..20_000 {
            let (s, e, _) = &rows[(next() % rows.len() as u64) as usize];
            probes.push(s + (u128::from(next()) % (e - s + 1)));
            probes.push((u128::from(next()) << 64 | u128::from(next())) >> (128 - bits));
        }
        for k in probes {
            let ip = if v6 {
                IpAddr::V6(std::net::Ipv6Addr::from(k))
            } else {
                IpAddr::V4(std::net::Ipv4Addr::from(k as u32))
            };
            let got = index.lookup(ip);
            assert_eq!(
                got.and_then(|r| r.org().map(str::to_owned)),
                naive(k),
                "{ip}"
            );
            if let Some(r) = got {
                // The reported network holds the address and only addresses of this org.
                let net = r.network();
                assert!(net.contains(&ip), "{net} lacks {ip}");
                let (lo, hi) = r.range();
                assert_eq!(
                    index.lookup(lo).and_then(|x| x.org().map(str::to_owned)),
                    naive(key(lo))
                );
                assert_eq!(
                    index.lookup(hi).and_then(|x| x.org().map(str::to_owned)),
                    naive(key(hi))
                );
            }
        }
    }
}

fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

#[test]
fn header_rows_gzip_and_mapped_addresses() {
    use std::io::Write;
    let d = dir("header-gz");
    let csv = "start,end,country\n1.0.0.0,1.0.0.255,AU\n::ffff:2.0.0.0,::ffff:2.0.0.255,FR\n";
    let tsv = "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n";
    let gz = d.join("ip2asn-combined.tsv.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(tsv.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let (index, report) = build(vec![
        Source::from_path(write(&d, "countries.csv", csv)).unwrap(),
        Source::from_path(&gz).unwrap(),
    ]);
    assert_eq!(
        (
            report.files[0].rows,
            report.files[0].skipped,
            report.files[0].bad
        ),
        (2, 1, 0)
    );
    assert_eq!(report.files[1].format, SourceFormat::Iptoasn);
    // The country file came first, so its country wins over iptoasn's.
    let r = index.lookup(ip("1.0.0.1")).unwrap();
    assert_eq!((r.country(), r.asn()), (Some("AU"), Some(13335)));
    // Mapped addresses in a file are IPv4 ranges.
    assert_eq!(index.country(ip("2.0.0.9")), Some("FR"));
}

/// A file whose checksum was recomputed after tampering (a forged or buggy writer) must be
/// refused or, if it still satisfies every invariant, answer lookups without panicking.
#[test]
fn tampered_payload_with_valid_checksum_never_panics() {
    let d = dir("tamper");
    let (index, _) = build(vec![
        Source::from_path(write(&d, "asn-ipv4.csv", ASN_V4)).unwrap(),
        Source::from_path(write(&d, "asn-ipv6.csv", ASN_V6)).unwrap(),
        Source::from_path(write(
            &d,
            "geo.csv",
            "1.0.0.0,1.0.0.255,AU\n2001:db8::,2001:db8::ff,DE\n",
        ))
        .unwrap(),
    ]);
    let file = d.join("index.ipintel");
    index.write_to(&file).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let forged = d.join("forged.ipintel");
    let probes: Vec<IpAddr> = [
        "0.0.0.0",
        "1.0.0.1",
        "1.0.1.9",
        "255.255.255.255",
        "::",
        "2001:db8::5",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
    .iter()
    .map(|s| ip(s))
    .collect();
    let (mut refused, mut accepted) = (0, 0);
    for pos in 32..bytes.len() {
        // One flip per byte keeps the test quick; alternating the pattern covers low and high bits.
        for flip in [if pos % 2 == 0 { 0x01u8 } else { 0xFF }] {
            let mut b = bytes.clone();
            b[pos] ^= flip;
            let sum = xxhash_rust::xxh3::xxh3_64(&b[32..]);
            b[24..32].copy_from_slice(&sum.to_le_bytes());
            std::fs::write(&forged, &b).unwrap();
            match Index::load(&forged) {
                Err(e) => {
                    refused += 1;
                    assert!(e.to_string().contains("forged.ipintel"), "{e}");
                }
                Ok(idx) => {
                    accepted += 1;
                    for p in &probes {
                        if let Some(r) = idx.lookup(*p) {
                            let _ = (
                                r.org(),
                                r.name(),
                                r.country(),
                                r.class(),
                                r.class_reason(),
                                r.network(),
                            );
                            let _ = r.to_lookup();
                        }
                    }
                    let _ = idx.summary();
                }
            }
        }
    }
    println!("tampered files: {refused} refused, {accepted} accepted (still consistent)");
    assert!(refused > 0);
}

/// Reasons and other strings live apart from the tables a lookup reads: an index whose
/// reviewed list gives every ASN a long reason looks addresses up through the very same
/// tables as one without, while one more range changes them.
#[test]
fn reasons_stay_out_of_the_lookup_tables() {
    let d = dir("reasons_stay_out_of_the_lookup_tables");
    let csv = write(&d, "asn-ipv4.csv", ASN_V4);
    let six = write(&d, "asn-ipv6.csv", ASN_V6);
    let plain = d.join("plain");
    let reviewed = d.join("reviewed");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::create_dir_all(&reviewed).unwrap();
    write(&plain, "asn-reviewed.txt", "");
    let long = "a reason long enough to move every table if reasons were stored in them";
    write(
        &reviewed,
        "asn-reviewed.txt",
        &[1, 13335, 64500, 64511, 2, 64501, 64502]
            .map(|asn| format!("{asn} business {long} ({asn})\n"))
            .concat(),
    );
    let with = |rules: &std::path::Path, extra: Option<&str>| {
        let mut b = Builder::new()
            .without_cloud_ranges()
            .rules_dir(rules)
            .add(Source::from_path(&csv).unwrap())
            .add(Source::from_path(&six).unwrap());
        if let Some(text) = extra {
            b = b.add(Source::from_path(write(&d, "more-ipv4.csv", text)).unwrap());
        }
        b.build(&mut |_| {}).unwrap().0
    };
    let (a, b) = (with(&plain, None), with(&reviewed, None));
    let reason = b.lookup(ip("1.0.1.7")).unwrap().class_reason().unwrap();
    assert!(reason.contains(long), "{reason}");
    assert!(b.summary().bytes > a.summary().bytes);
    assert_eq!(a.lookup_tables_digest(), b.lookup_tables_digest());
    let more = with(&plain, Some("1.0.2.0,1.0.2.127,64503,Half Widgets AG\n"));
    assert_ne!(a.lookup_tables_digest(), more.lookup_tables_digest());
}
