//! The overview's figures (totals, breakdowns, pages) as the pages show them; the pieces they
//! are summed from are read in [`crate::leads::pieces::site`].

use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError, sql};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Totals {
    pub visits: i64,
    /// Distinct visitor hashes: a person counts once per UTC day.
    pub visitors: i64,
    /// Visits from organisations classed as businesses.
    pub business_visits: i64,
    #[sqlx(default)]
    pub pageviews: i64,
}

/// One row of a breakdown: a value and its counts.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Share {
    pub value: Option<String>,
    /// A second value where the breakdown has one (a source's channel).
    pub detail: Option<String>,
    pub visits: i64,
}

/// What the overview breaks visits down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Source,
    Channel,
    Country,
    Device,
    Browser,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PageShare {
    pub path: String,
    pub pageviews: i64,
}

/// Whether the site has any visit at all.
pub async fn has_visits(db: &Db, site: SiteId) -> Result<bool, StoreError> {
    let any: Option<i64> = db
        .value_optional(sql("SELECT id FROM visits WHERE site_id = $1 LIMIT 1").bind(site.0))
        .await?;
    Ok(any.is_some())
}
