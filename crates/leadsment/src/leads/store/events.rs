//! The API's list of a site's events: newest first, from a place in that order.

use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError, sql};

/// An event as the API lists it: nothing of the visitor (no address, no hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SiteEvent {
    pub id: i64,
    pub ts: i64,
    pub name: String,
    pub path: String,
    pub source: Option<String>,
    pub company_id: Option<i64>,
    pub company_name: Option<String>,
    pub visit_id: i64,
}

/// At most `limit` events of `site` that come after `(ts, id)` newest first (pass
/// `(i64::MAX, i64::MAX)` for the newest), through the site's time index (`ts <= $2` is the
/// index's range; the id breaks ties within one millisecond).
pub async fn site_events(
    db: &Db,
    site: SiteId,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<SiteEvent>, StoreError> {
    Ok(db
        .all(
            sql(
                "SELECT e.id, e.ts, e.name, (SELECT path FROM paths WHERE id = e.path_id) AS path, \
                 t.source, e.company_id, \
                 c.name AS company_name, e.visit_id \
                 FROM events e JOIN visits v ON v.site_id = e.site_id AND v.id = e.visit_id \
                 JOIN visit_traits t ON t.id = v.traits_id \
                 LEFT JOIN companies c ON c.id = e.company_id \
                 WHERE e.site_id = $1 AND e.ts <= $2 AND (e.ts < $2 OR e.id < $3) \
                 ORDER BY e.ts DESC, e.id DESC LIMIT $4",
            )
            .bind(site.0)
            .bind(after.0)
            .bind(after.1)
            .bind(limit),
        )
        .await?)
}
