//! The platform workspace as the rest of the application sees it: created at start-up with
//! the site of the instance's own public pages, and open to every platform administrator
//! (as an admin of it) whether or not they are a member.

use super::roles::Role;
use super::sites::{Hostname, NewSite, Site};
use super::{Membership, Workspace, WorkspaceId, store};
use crate::accounts::errors::AccountError;
use crate::auth::users::User;
use crate::store::{Db, StoreError};

/// The role a platform administrator who is not a member has in the platform workspace.
pub const ADMINS_ROLE: Role = Role::Admin;

/// Where the instance's own pages are counted, after [`ensure_site`].
#[derive(Debug, Clone)]
pub struct PlatformSite {
    pub workspace: Workspace,
    /// The site that claims the host: the platform workspace's own, or a customer's site that
    /// claimed the host first (the pages are counted there then).
    pub site: Site,
}

/// Makes sure the platform workspace exists and a site claims `host`, adding one to the
/// platform workspace if none does. Idempotent, and safe with several nodes starting at
/// once: the second insert of a site finds the host taken and reads the winner's site. A
/// host that changed since the last start gets its own site; the old one stays.
pub async fn ensure_site(db: &Db, host: &Hostname) -> Result<PlatformSite, AccountError> {
    let workspace = store::ensure_platform_workspace(db).await?;
    if let Some(site) = store::site_by_host(db, host).await? {
        return Ok(PlatformSite { workspace, site });
    }
    let mut new = NewSite::new(workspace.id, host.as_str(), &[]).map_err(|e| {
        AccountError::Store(StoreError::Corrupt(format!("the public URL's host: {e}")))
    })?;
    // The instance's own site: the operator owns the machine.
    new.verified = true;
    match store::create_site(db, &new).await {
        Ok(site) => Ok(PlatformSite { workspace, site }),
        Err(AccountError::HostTaken { .. } | AccountError::SiteExists { .. }) => {
            let site = store::site_by_host(db, host).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("the site of {host} vanished while created"))
            })?;
            Ok(PlatformSite { workspace, site })
        }
        Err(e) => Err(e),
    }
}

/// The user's workspaces: their memberships, and for a platform administrator the platform
/// workspace too (as an admin) when they are not a member of it.
pub async fn memberships_of(db: &Db, user: &User) -> Result<Vec<Membership>, StoreError> {
    let mut all = store::memberships(db, user.id).await?;
    if user.is_platform_admin
        && let Some(ws) = store::platform_workspace(db).await?
        && !all.iter().any(|m| m.workspace.id == ws.id)
    {
        all.push(Membership {
            workspace: ws,
            role: ADMINS_ROLE,
        });
    }
    Ok(all)
}

/// The user's membership of `workspace`, with the platform workspace open to platform
/// administrators as [`memberships_of`] lists it.
pub async fn membership_of(
    db: &Db,
    workspace: WorkspaceId,
    user: &User,
) -> Result<Option<Membership>, StoreError> {
    if let Some(m) = store::membership(db, workspace, user.id).await? {
        return Ok(Some(m));
    }
    if !user.is_platform_admin || !store::is_platform_workspace(db, workspace).await? {
        return Ok(None);
    }
    Ok(store::workspace(db, workspace).await?.map(|ws| Membership {
        workspace: ws,
        role: ADMINS_ROLE,
    }))
}
