//! IP address to organisation, fast.
//!
//! `ipintel` imports open IP data (ip-location-db CSV, iptoasn TSV, MaxMind-format MMDB),
//! compiles it into one compact immutable [`Index`], and answers lookups with the network,
//! ASN, organisation (as published and normalised), country, consent zone and a class
//! (business, ISP, mobile, hosting, education, government) with the reason for it.
//!
//! ```no_run
//! use ipintel::build::{Builder, Source};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (index, report) = Builder::new()
//!     .add(Source::from_path("asn-ipv4.csv")?)
//!     .add(Source::from_path("geo-whois-asn-country-ipv4.csv")?)
//!     .build(&mut |_progress| {})?;
//! index.write_to("ipintel.idx")?;
//! let index = ipintel::Index::load("ipintel.idx")?;
//! let ip = ipintel::parse_ip("1.1.1.1")?;
//! if let Some(record) = index.lookup(ip) {
//!     println!("{} {:?} {:?}", record.org().unwrap_or("-"), record.country(), record.class());
//! }
//! # let _ = report;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod build;
mod classify;
mod consent;
mod error;
mod format;
mod index;
mod ip;
mod normalize;
mod open_data;
mod overrides;
pub mod rdns;

pub use classify::{Class, ClassInput, Classifier, RuleFile, RuleFiles, RulesError, classify};
pub use consent::in_consent_zone;
pub use error::{Error, LoadError};
pub use index::{Attribution, Credit, Index, Lookup, Record, Summary};
pub use ip::{Family, parse_ip};
pub use normalize::{display_name, display_name_from_domain};
pub use open_data::{OPEN_DATA_FILES, OPEN_DATA_PACKAGES, OpenDataRole, version_date};
pub use overrides::{Override, Overrides, OverridesError};
