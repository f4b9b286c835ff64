//! Errors at the crate's borders: bad input from a user, and an index file that cannot be used.

use std::path::PathBuf;

/// A value given by a user was not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The text is not an IPv4 or IPv6 address.
    #[error(
        "{input:?} is not an IP address (expected IPv4 like 192.0.2.1 or IPv6 like 2001:db8::1 or [2001:db8::1])"
    )]
    InvalidIp {
        /// The text as given, so the caller can show it back.
        input: String,
    },
}

/// An index file was refused at load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read index file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file does not start with the index magic bytes.
    #[error(
        "{path} is not an ipintel index (bad magic header); rebuild it with `leadsment ipdb build`"
    )]
    NotAnIndex {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a different format version.
    #[error(
        "{path} has index format version {found}, this build reads version {expected}; rebuild the index"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this code reads.
        expected: u32,
    },
    /// The file is shorter or longer than its header says.
    #[error(
        "{path} is truncated or has trailing bytes: header says {expected} bytes of data, found {found}; rebuild the index"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Payload length in the header.
        expected: u64,
        /// Payload length found.
        found: u64,
    },
    /// The checksum does not match the content.
    #[error(
        "{path} is corrupt: checksum mismatch (stored {stored:016x}, computed {computed:016x}); rebuild the index"
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Checksum in the header.
        stored: u64,
        /// Checksum of the content.
        computed: u64,
    },
    /// The checksum matched but the content breaks an invariant (a bug in the writer, or a forged file).
    #[error("{path} is corrupt: {reason}; rebuild the index")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Which invariant failed.
        reason: String,
    },
}
