//! The leads dashboard: which companies visited a site, what they read, how hot they are.
//! The overview, the company feed with its filters and CSV, the company page, the lead score,
//! the live view, saved feeds and the workspace's exclusions. It reads `tracking`'s tables and
//! `accounts`' sites and writes only its own saved feeds and exclusions; neither of them
//! imports it ([leads.md](../../../../docs/leads.md)).

pub mod api;
pub mod cache;
pub mod company;
pub mod exclusions;
pub mod feed;
pub mod filters;
pub mod live;
pub mod openapi;
pub mod overview;
pub mod pages;
pub mod parts;
pub mod pattern;
pub mod period;
pub mod pieces;
pub mod rules;
pub mod saved;
pub mod score;
pub mod span;
pub mod store;
pub mod warm;

use std::sync::Arc;

use axum::extract::FromRef;

use crate::accounts::AccountsState;
use crate::ipdb::IpDb;

/// What the dashboard's pages need: the accounts' state (database, sign-in, the frame) and
/// the IP index, for its attribution and for saying when there is none.
#[derive(Clone)]
pub struct LeadsState {
    pub accounts: AccountsState,
    pub ipdb: Arc<IpDb>,
    /// What the pages keep of the site's days ([`cache`]).
    pub cache: Arc<cache::DayCache>,
}

impl FromRef<LeadsState> for AccountsState {
    fn from_ref(state: &LeadsState) -> AccountsState {
        state.accounts.clone()
    }
}

/// One data provider to credit, with its links.
#[derive(Debug, Clone)]
pub struct Credit {
    pub text: String,
    pub url: String,
    pub licence: String,
    pub licence_url: String,
}

impl LeadsState {
    /// The credits the loaded IP index carries (the DB-IP, RouteViews and NRO data are
    /// CC BY 4.0); none without an index.
    pub fn credits(&self) -> Vec<Credit> {
        self.ipdb
            .index()
            .map(|index| {
                index
                    .attribution()
                    .credits
                    .iter()
                    .map(|c| Credit {
                        text: c.text.clone(),
                        url: c.url.clone(),
                        licence: c.licence.clone(),
                        licence_url: c.licence_url.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The credits as one line of plain text, for the CSV.
    pub fn credit_line(&self) -> String {
        self.ipdb
            .index()
            .map(|index| index.attribution().text().replace('\n', "; "))
            .unwrap_or_default()
    }
}
