//! What other capabilities add to the accounts' pages about a site, supplied where the server
//! is composed: the saved views listed under the site in the navigation, and sections of the
//! site's settings page (the lead score's rules). Accounts names none of those capabilities.

use async_trait::async_trait;

use super::chrome::NavView;
use super::context::WorkspaceCtx;
use super::sites::Site;
use crate::store::{Db, StoreError};
use crate::web::error::AppError;

/// One section of a site's settings page, rendered by the capability that owns it: a whole
/// `<section class="card" id=…>` whose forms post to that capability's routes.
#[derive(Debug, Clone)]
pub struct SettingsSection {
    /// The section's element id, which a link to `settings#id` opens.
    pub id: &'static str,
    /// The rendered HTML (escaped by the owner's template).
    pub html: String,
}

#[async_trait]
pub trait SiteParts: Send + Sync + 'static {
    /// The site's saved views, for the navigation under it.
    async fn views(&self, db: &Db, site: &Site) -> Result<Vec<NavView>, StoreError>;

    /// The sections the settings page shows after its own, in order, for an admin of the
    /// site's workspace.
    async fn settings_sections(
        &self,
        ctx: &WorkspaceCtx,
        site: &Site,
    ) -> Result<Vec<SettingsSection>, AppError>;

    /// The message for a `?done=` key the page itself does not know (after a section's form
    /// posted to its owner, which redirected back).
    fn settings_notice(&self, done: &str) -> Option<String>;
}
