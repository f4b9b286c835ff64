//! A site's score rules (`site_score_rules`): one row per site that changed them, the rules as
//! JSON. A site without a row, or with a row this version cannot read, scores by the defaults.

use crate::accounts::sites::SiteId;
use crate::leads::rules::ScoreRules;
use crate::store::{Db, StoreError, now_ms, sql};

/// Who last changed a site's rules, and when.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Changed {
    pub updated_by: Option<String>,
    pub updated_at: i64,
}

/// The site's rules: its own if saved, the defaults otherwise.
pub async fn rules(db: &Db, site: SiteId) -> Result<ScoreRules, StoreError> {
    let json: Option<String> = db
        .value_optional(
            sql("SELECT rules_json FROM site_score_rules WHERE site_id = $1").bind(site.0),
        )
        .await?;
    Ok(json
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default())
}

/// Who last saved the site's rules, if anyone did.
pub async fn changed(db: &Db, site: SiteId) -> Result<Option<Changed>, StoreError> {
    Ok(db
        .optional(
            sql(
                "SELECT u.email AS updated_by, r.updated_at FROM site_score_rules r \
                 LEFT JOIN users u ON u.id = r.updated_by WHERE r.site_id = $1",
            )
            .bind(site.0),
        )
        .await?)
}

/// Saves the site's rules in place of the ones it had.
pub async fn save(
    db: &Db,
    site: SiteId,
    rules: &ScoreRules,
    by: Option<i64>,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(rules).unwrap_or_default();
    db.write(
        sql(
            "INSERT INTO site_score_rules (site_id, rules_json, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (site_id) DO UPDATE SET \
             rules_json = excluded.rules_json, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at",
        )
        .bind(site.0)
        .bind(json)
        .bind(by)
        .bind(now_ms()),
    )
    .await?;
    Ok(())
}
