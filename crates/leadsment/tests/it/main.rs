//! Integration tests: the real application, on SQLite and on PostgreSQL.
//! One test binary keeps link times down; each file is one capability.

mod support;

mod browser;
mod cli;
mod http;
mod store;
mod tracking;
