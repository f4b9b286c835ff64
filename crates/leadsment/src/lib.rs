//! Leadsment: privacy-first B2B visitor identification in one binary.
//!
//! The modules follow the product's capabilities; each owns its routes, its domain logic and
//! its queries. `docs/architecture.md` has the map.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod accounts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod consent;
pub mod csv_out;
pub mod demo;
pub mod ipdb;
pub mod leads;
pub mod legal;
pub mod nodes;
pub mod outbound;
pub mod registry;
pub mod retention;
pub mod server;
pub mod settings;
pub mod site;
pub mod store;
pub mod tracking;
pub mod web;
