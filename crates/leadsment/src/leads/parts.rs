//! The dashboard's parts of the accounts' pages about a site ([`SiteParts`]): the site's saved
//! feeds under it in the navigation, and the "Lead score" section of its settings page.

use async_trait::async_trait;

use crate::accounts::chrome::NavView;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::parts::{SettingsSection, SiteParts};
use crate::accounts::sites::Site;
use crate::store::{Db, StoreError};
use crate::web::error::AppError;

pub struct LeadsParts;

#[async_trait]
impl SiteParts for LeadsParts {
    async fn views(&self, db: &Db, site: &Site) -> Result<Vec<NavView>, StoreError> {
        let (ws, id) = (site.workspace_id.0, site.id.0);
        Ok(super::store::saved::saved_feeds(db, site.id)
            .await?
            .into_iter()
            .map(|f| NavView {
                id: f.id,
                href: super::pages::saved_href(ws, id, &f.query),
                name: f.name,
                current: false,
            })
            .collect())
    }

    async fn settings_sections(
        &self,
        ctx: &WorkspaceCtx,
        site: &Site,
    ) -> Result<Vec<SettingsSection>, AppError> {
        Ok(vec![super::pages::score_section(ctx, site).await?])
    }

    fn settings_notice(&self, done: &str) -> Option<String> {
        super::pages::score_notice(done)
    }
}
