//! The live view's read: the visits with an event in the last minutes, newest first.

use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError, sql};

/// A visit active since the cut-off, with its organisation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveVisit {
    pub id: i64,
    pub visitor_hash: i64,
    pub last_seen_at: i64,
    /// The visit's latest page.
    pub exit_path: String,
    pub company_id: Option<i64>,
    /// The company's class if there is a company, otherwise the visit's.
    pub class: String,
    pub name: Option<String>,
    pub class_reason: Option<String>,
}

/// The visits to `site` with an event at or after `since`, the most recently seen first, at
/// most `limit`. The events of the last minutes are found through `events_site_time`, their
/// visits by site and id.
pub async fn live_visits(
    db: &Db,
    site: SiteId,
    since: i64,
    limit: i64,
) -> Result<Vec<LiveVisit>, StoreError> {
    Ok(db
        .all(
            sql("SELECT v.id, v.visitor_hash, v.last_seen_at, \
                 (SELECT path FROM paths WHERE id = v.exit_path_id) AS exit_path, v.company_id, \
                 COALESCE(c.class, t.class) AS class, c.name, c.class_reason \
                 FROM visits v JOIN visit_traits t ON t.id = v.traits_id \
                 LEFT JOIN companies c ON c.id = v.company_id \
                 WHERE v.site_id = $1 \
                 AND v.id IN (SELECT visit_id FROM events WHERE site_id = $1 AND ts >= $2) \
                 ORDER BY v.last_seen_at DESC, v.id DESC LIMIT $3")
            .bind(site.0)
            .bind(since)
            .bind(limit),
        )
        .await?)
}
