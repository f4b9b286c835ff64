//! Integration tests: the real application, on SQLite and on PostgreSQL.
//! One test binary keeps link times down; each file is one capability.

mod support;

mod accounts;
mod api_v1;
mod browser;
mod chromium;
mod client;
mod dns_server;
mod mail_sink;
mod screenshots;

mod audit;
mod cli;
mod compact;
mod consent;
mod consent_admin;
mod consent_browser;
mod consent_tags;
mod demo;
mod exclusions;
mod faults;
mod http;
mod leads;
mod leads_browser;
mod leads_figures;
mod leads_hostile;
mod legal;
mod live;
mod locked_sign_in;
mod mail_limits;
mod nodes;
mod outbound;
mod ownership;
mod password_limits;
mod public_pages;
mod rdns;
mod recovery;
mod retention;
mod rollups;
mod route_walk;
mod saved_feeds;
mod score_rules;
mod site_gone;
mod site_settings;
mod store;
mod tracking;
mod tracking_limits;
mod writer_plans;
