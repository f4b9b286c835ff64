//! Storage for accounts and sign-in: users, memberships, sessions and refresh tokens, emailed
//! links, invitations, API keys and the login throttle. One trait per capability (as lldap
//! does), with SQL shared by both backends through `impl_account_store!`.

use async_trait::async_trait;

use super::StoreError;
use crate::accounts::api_keys::{ApiKey, Scope};
use crate::accounts::invitations::Invitation;
use crate::accounts::sites::Site;
use crate::accounts::users::{Role, User, UserId, UserWithPassword};
use crate::accounts::{Member, Membership, Workspace, WorkspaceId};
use crate::auth::model::{LinkPurpose, LinkToken, RefreshOutcome, Session, SessionId, SessionTtl};

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub email_verified: bool,
    pub is_platform_admin: bool,
}

/// A session to open, with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: UserId,
    pub persistent: bool,
    pub user_agent: String,
    pub refresh_hash: Vec<u8>,
    pub expires_at: i64,
}

/// A refresh token as presented, and the digest of the child that replaces it.
#[derive(Debug, Clone)]
pub struct PresentedRefresh {
    pub hash: Vec<u8>,
    pub child_hash: Vec<u8>,
    /// A used token whose child is still current returns that child within this window.
    pub grace_ms: i64,
    pub ttl: SessionTtl,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    // --- users -------------------------------------------------------------------------
    /// A taken email is a [`StoreError::Conflict`].
    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError>;
    /// Creates the user, a workspace named `workspace`, and makes the user its owner.
    async fn create_user_with_workspace(
        &self,
        user: &NewUser,
        workspace: &str,
    ) -> Result<(User, Workspace), StoreError>;
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserWithPassword>, StoreError>;
    async fn user_with_password(&self, id: UserId) -> Result<Option<UserWithPassword>, StoreError>;
    async fn set_password(&self, id: UserId, hash: &str) -> Result<(), StoreError>;
    async fn set_user_name(&self, id: UserId, name: &str) -> Result<(), StoreError>;
    async fn set_email_verified(&self, id: UserId) -> Result<(), StoreError>;
    /// Moves the account to `email` (verified). A taken address is a conflict.
    async fn change_email(&self, id: UserId, email: &str) -> Result<(), StoreError>;
    async fn count_platform_admins(&self) -> Result<i64, StoreError>;
    /// Every user, newest first (for platform administrators).
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Deletes the user, their sessions, and the workspaces where they were the only member.
    /// Refused (conflict) while they are the only owner of a workspace that has other members.
    async fn delete_user(&self, id: UserId) -> Result<(), StoreError>;

    // --- workspaces and memberships ----------------------------------------------------
    async fn create_workspace(&self, name: &str, owner: UserId) -> Result<Workspace, StoreError>;
    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, StoreError>;
    async fn membership(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Membership>, StoreError>;
    async fn members(&self, workspace: WorkspaceId) -> Result<Vec<Member>, StoreError>;
    /// Refused (conflict) when it would leave the workspace without an owner.
    async fn set_role(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: Role,
    ) -> Result<bool, StoreError>;
    /// Refused (conflict) when it would leave the workspace without an owner.
    async fn remove_member(&self, workspace: WorkspaceId, user: UserId)
    -> Result<bool, StoreError>;
    async fn delete_workspace(&self, workspace: WorkspaceId) -> Result<bool, StoreError>;
    async fn workspace_sites(&self, workspace: WorkspaceId) -> Result<Vec<Site>, StoreError>;

    // --- sessions and refresh tokens ----------------------------------------------------
    async fn create_session(&self, new: &NewSession) -> Result<Session, StoreError>;
    /// The session and its user, while the session is neither revoked nor expired.
    async fn active_session(&self, id: SessionId) -> Result<Option<(Session, User)>, StoreError>;
    /// Rotates a refresh token, with reuse detection (see [`RefreshOutcome`]).
    async fn refresh(&self, presented: &PresentedRefresh) -> Result<RefreshOutcome, StoreError>;
    /// The session a refresh token belongs to, used or not (for signing out).
    async fn session_of_refresh(&self, hash: &[u8]) -> Result<Option<SessionId>, StoreError>;
    async fn sessions(&self, user: UserId) -> Result<Vec<Session>, StoreError>;
    /// Revokes one of the user's sessions; false when there is no such active session.
    async fn revoke_session(&self, user: UserId, id: SessionId) -> Result<bool, StoreError>;
    /// Revokes every session of the user but `except`; returns how many.
    async fn revoke_sessions(
        &self,
        user: UserId,
        except: Option<SessionId>,
    ) -> Result<u64, StoreError>;

    // --- single-use links -------------------------------------------------------------
    /// Stores a link; earlier unused links of the same purpose for the same user (or, for
    /// setup, any earlier setup link) stop working.
    async fn create_link(
        &self,
        hash: &[u8],
        purpose: LinkPurpose,
        user: Option<UserId>,
        email: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// The link's payload while it is unused and unexpired, without using it.
    async fn peek_link(
        &self,
        hash: &[u8],
        purpose: LinkPurpose,
    ) -> Result<Option<LinkToken>, StoreError>;
    /// Uses the link: it works once.
    async fn consume_link(
        &self,
        hash: &[u8],
        purpose: LinkPurpose,
    ) -> Result<Option<LinkToken>, StoreError>;

    // --- invitations ------------------------------------------------------------------
    async fn create_invitation(
        &self,
        workspace: WorkspaceId,
        email: &str,
        role: Role,
        hash: &[u8],
        invited_by: UserId,
        expires_at: i64,
    ) -> Result<Invitation, StoreError>;
    /// Pending (unused, unexpired) invitations.
    async fn invitations(&self, workspace: WorkspaceId) -> Result<Vec<Invitation>, StoreError>;
    async fn revoke_invitation(&self, workspace: WorkspaceId, id: i64) -> Result<bool, StoreError>;
    async fn invitation_by_token(
        &self,
        hash: &[u8],
    ) -> Result<Option<(Invitation, Workspace)>, StoreError>;
    /// Uses the invitation and makes `user` a member (keeping a higher role they had).
    async fn accept_invitation(
        &self,
        hash: &[u8],
        user: UserId,
    ) -> Result<Option<WorkspaceId>, StoreError>;

    // --- API keys ---------------------------------------------------------------------
    async fn create_api_key(
        &self,
        workspace: WorkspaceId,
        name: &str,
        prefix: &str,
        hash: &[u8],
        scope: Scope,
        created_by: UserId,
    ) -> Result<ApiKey, StoreError>;
    /// Keys not revoked, newest first.
    async fn api_keys(&self, workspace: WorkspaceId) -> Result<Vec<ApiKey>, StoreError>;
    async fn revoke_api_key(&self, workspace: WorkspaceId, id: i64) -> Result<bool, StoreError>;
    /// The key with this digest, unless revoked; records the time of use (at most once a
    /// minute per key, so reads stay cheap).
    async fn use_api_key(&self, hash: &[u8]) -> Result<Option<ApiKey>, StoreError>;

    // --- login throttle ---------------------------------------------------------------
    /// Until when sign-in for this account key is blocked (ms), if it is.
    async fn login_blocked_until(&self, key: &[u8]) -> Result<Option<i64>, StoreError>;
    /// Counts a failure; `backoff(failures)` gives the wait in ms. Returns the new
    /// blocked-until time.
    async fn record_login_failure(
        &self,
        key: &[u8],
        backoff: fn(i64) -> i64,
    ) -> Result<i64, StoreError>;
    async fn clear_login_failures(&self, key: &[u8]) -> Result<(), StoreError>;
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub email_verified: bool,
    pub is_platform_admin: bool,
    pub created_at: i64,
}

pub(super) const USER_COLUMNS: &str =
    "id, email, name, password_hash, email_verified, is_platform_admin, created_at";

impl UserRow {
    pub fn into_user(self) -> UserWithPassword {
        UserWithPassword {
            user: User {
                id: UserId(self.id),
                email: self.email,
                name: self.name,
                email_verified: self.email_verified,
                is_platform_admin: self.is_platform_admin,
                has_password: self.password_hash.is_some(),
                created_at: self.created_at,
            },
            password_hash: self.password_hash,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub persistent: bool,
    pub user_agent: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

pub(super) const SESSION_COLUMNS: &str =
    "id, user_id, persistent, user_agent, created_at, last_seen_at, expires_at";

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Session {
        Session {
            id: SessionId(r.id),
            user_id: UserId(r.user_id),
            persistent: r.persistent,
            user_agent: r.user_agent,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MembershipRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub role: String,
}

pub(super) fn parse_role(s: &str) -> Result<Role, StoreError> {
    Role::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown role `{s}`")))
}

impl MembershipRow {
    pub fn into_membership(self) -> Result<Membership, StoreError> {
        Ok(Membership {
            role: parse_role(&self.role)?,
            workspace: Workspace {
                id: WorkspaceId(self.id),
                name: self.name,
                created_at: self.created_at,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct InvitationRow {
    pub id: i64,
    pub workspace_id: i64,
    pub email: String,
    pub role: String,
    pub invited_by: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub(super) const INVITATION_COLUMNS: &str =
    "id, workspace_id, email, role, invited_by, created_at, expires_at";

impl InvitationRow {
    pub fn into_invitation(self) -> Result<Invitation, StoreError> {
        Ok(Invitation {
            id: self.id,
            workspace_id: WorkspaceId(self.workspace_id),
            email: self.email,
            role: parse_role(&self.role)?,
            invited_by: self.invited_by.map(UserId),
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ApiKeyRow {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub prefix: String,
    pub scope: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub(super) const API_KEY_COLUMNS: &str =
    "id, workspace_id, name, prefix, scope, created_at, last_used_at";

impl ApiKeyRow {
    pub fn into_key(self) -> Result<ApiKey, StoreError> {
        Ok(ApiKey {
            id: self.id,
            workspace_id: WorkspaceId(self.workspace_id),
            name: self.name,
            prefix: self.prefix,
            scope: Scope::parse(&self.scope)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown scope `{}`", self.scope)))?,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct RefreshRow {
    pub id: i64,
    pub session_id: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct LinkRow {
    pub user_id: Option<i64>,
    pub email: Option<String>,
    pub expires_at: i64,
}

impl From<LinkRow> for LinkToken {
    fn from(r: LinkRow) -> LinkToken {
        LinkToken {
            user_id: r.user_id.map(UserId),
            email: r.email,
            expires_at: r.expires_at,
        }
    }
}

/// Fails with a conflict (and so rolls the transaction back) when `workspace` has no owner.
macro_rules! ensure_an_owner {
    ($tx:expr, $workspace:expr) => {{
        let owners: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'",
        )
        .bind($workspace)
        .fetch_one(&mut *$tx)
        .await?;
        if owners == 0 {
            return Err(crate::store::StoreError::Conflict(
                "A workspace needs at least one owner: make someone else an owner first."
                    .to_owned(),
            ));
        }
    }};
}
pub(super) use ensure_an_owner;

macro_rules! impl_account_store {
    ($store:ty, $db:ty) => {
        /// Inserts a user; a taken email is a conflict.
        async fn insert_user(
            tx: &mut sqlx::Transaction<'static, $db>,
            user: &crate::store::accounts::NewUser,
        ) -> Result<crate::accounts::users::User, crate::store::StoreError> {
            use crate::store::accounts::{USER_COLUMNS, UserRow};
            let row = sqlx::query_as::<_, UserRow>(&format!(
                "INSERT INTO users (email, name, password_hash, email_verified, \
                 is_platform_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING {USER_COLUMNS}"
            ))
            .bind(&user.email)
            .bind(&user.name)
            .bind(&user.password_hash)
            .bind(user.email_verified)
            .bind(user.is_platform_admin)
            .bind(crate::store::now_ms())
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| {
                crate::store::conflict_or(e, || "An account with this email exists.".to_owned())
            })?;
            Ok(row.into_user().user)
        }

        /// Inserts a workspace with `owner` as its owner.
        async fn insert_workspace(
            tx: &mut sqlx::Transaction<'static, $db>,
            name: &str,
            owner: i64,
        ) -> Result<crate::accounts::Workspace, crate::store::StoreError> {
            use crate::store::common::WorkspaceRow;
            let now = crate::store::now_ms();
            let row = sqlx::query_as::<_, WorkspaceRow>(
                "INSERT INTO workspaces (name, created_at) VALUES ($1, $2) \
                 RETURNING id, name, created_at",
            )
            .bind(name)
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at) \
                 VALUES ($1, $2, 'owner', $3)",
            )
            .bind(row.id)
            .bind(owner)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(row.into())
        }

        #[async_trait::async_trait]
        impl crate::store::AccountStore for $store {
            async fn create_user(
                &self,
                user: &crate::store::accounts::NewUser,
            ) -> Result<crate::accounts::users::User, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let created = insert_user(&mut tx, user).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn create_user_with_workspace(
                &self,
                user: &crate::store::accounts::NewUser,
                workspace: &str,
            ) -> Result<
                (crate::accounts::users::User, crate::accounts::Workspace),
                crate::store::StoreError,
            > {
                let mut tx = self.begin_write().await?;
                let created = insert_user(&mut tx, user).await?;
                let ws = insert_workspace(&mut tx, workspace, created.id.0).await?;
                tx.commit().await?;
                Ok((created, ws))
            }

            async fn user(
                &self,
                id: crate::accounts::users::UserId,
            ) -> Result<Option<crate::accounts::users::User>, crate::store::StoreError> {
                Ok(self.user_with_password(id).await?.map(|u| u.user))
            }

            async fn user_by_email(
                &self,
                email: &str,
            ) -> Result<Option<crate::accounts::users::UserWithPassword>, crate::store::StoreError>
            {
                use crate::store::accounts::{USER_COLUMNS, UserRow};
                let row = sqlx::query_as::<_, UserRow>(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
                ))
                .bind(email)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(UserRow::into_user))
            }

            async fn user_with_password(
                &self,
                id: crate::accounts::users::UserId,
            ) -> Result<Option<crate::accounts::users::UserWithPassword>, crate::store::StoreError>
            {
                use crate::store::accounts::{USER_COLUMNS, UserRow};
                let row = sqlx::query_as::<_, UserRow>(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
                ))
                .bind(id.0)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(UserRow::into_user))
            }

            async fn set_password(
                &self,
                id: crate::accounts::users::UserId,
                hash: &str,
            ) -> Result<(), crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(hash)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_user_name(
                &self,
                id: crate::accounts::users::UserId,
                name: &str,
            ) -> Result<(), crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE users SET name = $1 WHERE id = $2")
                    .bind(name)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_email_verified(
                &self,
                id: crate::accounts::users::UserId,
            ) -> Result<(), crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE users SET email_verified = TRUE WHERE id = $1")
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn change_email(
                &self,
                id: crate::accounts::users::UserId,
                email: &str,
            ) -> Result<(), crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("UPDATE users SET email = $1, email_verified = TRUE WHERE id = $2")
                    .bind(email)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        crate::store::conflict_or(e, || {
                            "Another account already uses this email address.".to_owned()
                        })
                    })?;
                tx.commit().await?;
                Ok(())
            }

            async fn count_platform_admins(&self) -> Result<i64, crate::store::StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_platform_admin = TRUE")
                        .fetch_one(self.reader())
                        .await?,
                )
            }

            async fn list_users(
                &self,
            ) -> Result<Vec<crate::accounts::users::User>, crate::store::StoreError> {
                use crate::store::accounts::{USER_COLUMNS, UserRow};
                Ok(sqlx::query_as::<_, UserRow>(&format!(
                    "SELECT {USER_COLUMNS} FROM users ORDER BY created_at DESC, id DESC"
                ))
                .fetch_all(self.reader())
                .await?
                .into_iter()
                .map(|r| r.into_user().user)
                .collect())
            }

            async fn delete_user(
                &self,
                id: crate::accounts::users::UserId,
            ) -> Result<(), crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                // Workspaces where the user is the only owner and others remain: refuse.
                let stuck: Option<String> = sqlx::query_scalar(
                    "SELECT w.name FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
                     WHERE m.user_id = $1 AND m.role = 'owner' \
                     AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.workspace_id = m.workspace_id \
                                     AND o.user_id <> $1 AND o.role = 'owner') \
                     AND EXISTS (SELECT 1 FROM memberships o WHERE o.workspace_id = m.workspace_id \
                                 AND o.user_id <> $1) \
                     LIMIT 1",
                )
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(name) = stuck {
                    return Err(crate::store::StoreError::Conflict(format!(
                        "You are the only owner of the workspace “{name}”, which has other \
                         members: make one of them an owner, or delete the workspace, first."
                    )));
                }
                // Workspaces where the user is the only member go with the account.
                sqlx::query(
                    "DELETE FROM workspaces WHERE is_default = FALSE AND id IN ( \
                       SELECT m.workspace_id FROM memberships m WHERE m.user_id = $1 \
                       AND NOT EXISTS (SELECT 1 FROM memberships o \
                                       WHERE o.workspace_id = m.workspace_id AND o.user_id <> $1))",
                )
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_workspace(
                &self,
                name: &str,
                owner: crate::accounts::users::UserId,
            ) -> Result<crate::accounts::Workspace, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let ws = insert_workspace(&mut tx, name, owner.0).await?;
                tx.commit().await?;
                Ok(ws)
            }

            async fn memberships(
                &self,
                user: crate::accounts::users::UserId,
            ) -> Result<Vec<crate::accounts::Membership>, crate::store::StoreError> {
                use crate::store::accounts::MembershipRow;
                sqlx::query_as::<_, MembershipRow>(
                    "SELECT w.id, w.name, w.created_at, m.role FROM memberships m \
                     JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 \
                     ORDER BY w.name, w.id",
                )
                .bind(user.0)
                .fetch_all(self.reader())
                .await?
                .into_iter()
                .map(MembershipRow::into_membership)
                .collect()
            }

            async fn membership(
                &self,
                workspace: crate::accounts::WorkspaceId,
                user: crate::accounts::users::UserId,
            ) -> Result<Option<crate::accounts::Membership>, crate::store::StoreError> {
                use crate::store::accounts::MembershipRow;
                sqlx::query_as::<_, MembershipRow>(
                    "SELECT w.id, w.name, w.created_at, m.role FROM memberships m \
                     JOIN workspaces w ON w.id = m.workspace_id \
                     WHERE m.workspace_id = $1 AND m.user_id = $2",
                )
                .bind(workspace.0)
                .bind(user.0)
                .fetch_optional(self.reader())
                .await?
                .map(MembershipRow::into_membership)
                .transpose()
            }

            async fn members(
                &self,
                workspace: crate::accounts::WorkspaceId,
            ) -> Result<Vec<crate::accounts::Member>, crate::store::StoreError> {
                use crate::store::accounts::{UserRow, parse_role};
                #[derive(sqlx::FromRow)]
                struct Row {
                    #[sqlx(flatten)]
                    user: UserRow,
                    role: String,
                    since: i64,
                }
                let rows = sqlx::query_as::<_, Row>(
                    "SELECT u.id, u.email, u.name, u.password_hash, u.email_verified, \
                     u.is_platform_admin, u.created_at, m.role, m.created_at AS since \
                     FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.workspace_id = $1 ORDER BY m.created_at, u.id",
                )
                .bind(workspace.0)
                .fetch_all(self.reader())
                .await?;
                rows.into_iter()
                    .map(|r| {
                        Ok(crate::accounts::Member {
                            role: parse_role(&r.role)?,
                            user: r.user.into_user().user,
                            since: r.since,
                        })
                    })
                    .collect()
            }

            async fn set_role(
                &self,
                workspace: crate::accounts::WorkspaceId,
                user: crate::accounts::users::UserId,
                role: crate::accounts::users::Role,
            ) -> Result<bool, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query(
                    "UPDATE memberships SET role = $1 WHERE workspace_id = $2 AND user_id = $3",
                )
                .bind(role.as_str())
                .bind(workspace.0)
                .bind(user.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                crate::store::accounts::ensure_an_owner!(tx, workspace.0);
                tx.commit().await?;
                Ok(changed > 0)
            }

            async fn remove_member(
                &self,
                workspace: crate::accounts::WorkspaceId,
                user: crate::accounts::users::UserId,
            ) -> Result<bool, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let removed =
                    sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
                        .bind(workspace.0)
                        .bind(user.0)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                crate::store::accounts::ensure_an_owner!(tx, workspace.0);
                tx.commit().await?;
                Ok(removed > 0)
            }

            async fn delete_workspace(
                &self,
                workspace: crate::accounts::WorkspaceId,
            ) -> Result<bool, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("DELETE FROM workspaces WHERE id = $1")
                    .bind(workspace.0)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn workspace_sites(
                &self,
                workspace: crate::accounts::WorkspaceId,
            ) -> Result<Vec<crate::accounts::sites::Site>, crate::store::StoreError> {
                use crate::store::common::{AliasRow, SITE_COLUMNS, SiteRow, assemble_sites};
                let sites = sqlx::query_as::<_, SiteRow>(&format!(
                    "SELECT {SITE_COLUMNS} FROM sites WHERE workspace_id = $1 ORDER BY domain"
                ))
                .bind(workspace.0)
                .fetch_all(self.reader())
                .await?;
                let aliases = sqlx::query_as::<_, AliasRow>(
                    "SELECT h.site_id, h.alias FROM site_hosts h JOIN sites s ON s.id = h.site_id \
                     WHERE s.workspace_id = $1 AND h.is_alias = TRUE ORDER BY h.alias",
                )
                .bind(workspace.0)
                .fetch_all(self.reader())
                .await?;
                Ok(assemble_sites(sites, aliases))
            }

            async fn create_session(
                &self,
                new: &crate::store::accounts::NewSession,
            ) -> Result<crate::auth::model::Session, crate::store::StoreError> {
                use crate::store::accounts::{SESSION_COLUMNS, SessionRow};
                let now = crate::store::now_ms();
                let mut tx = self.begin_write().await?;
                let row = sqlx::query_as::<_, SessionRow>(&format!(
                    "INSERT INTO sessions (user_id, persistent, user_agent, created_at, \
                     last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5) \
                     RETURNING {SESSION_COLUMNS}"
                ))
                .bind(new.user_id.0)
                .bind(new.persistent)
                .bind(&new.user_agent)
                .bind(now)
                .bind(new.expires_at)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO refresh_tokens (session_id, token_hash, created_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(row.id)
                .bind(&new.refresh_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn active_session(
                &self,
                id: crate::auth::model::SessionId,
            ) -> Result<
                Option<(crate::auth::model::Session, crate::accounts::users::User)>,
                crate::store::StoreError,
            > {
                use crate::store::accounts::{SESSION_COLUMNS, SessionRow};
                let row = sqlx::query_as::<_, SessionRow>(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions \
                     WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2"
                ))
                .bind(id.0)
                .bind(crate::store::now_ms())
                .fetch_optional(self.reader())
                .await?;
                let Some(row) = row else { return Ok(None) };
                let session: crate::auth::model::Session = row.into();
                Ok(self.user(session.user_id).await?.map(|u| (session, u)))
            }

            async fn refresh(
                &self,
                p: &crate::store::accounts::PresentedRefresh,
            ) -> Result<crate::auth::model::RefreshOutcome, crate::store::StoreError> {
                use crate::auth::model::{RefreshOutcome, SessionId};
                use crate::store::accounts::{RefreshRow, SESSION_COLUMNS, SessionRow};
                let now = crate::store::now_ms();
                let mut tx = self.begin_write().await?;
                let row = sqlx::query_as::<_, RefreshRow>(
                    "SELECT t.id, t.session_id, t.used_at, s.revoked_at, s.expires_at \
                     FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
                     WHERE t.token_hash = $1",
                )
                .bind(&p.hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(RefreshOutcome::Invalid);
                };
                if row.revoked_at.is_some() || row.expires_at <= now {
                    return Ok(RefreshOutcome::Invalid);
                }
                // Claim the token; a concurrent claim (another tab, another node) makes this
                // update match nothing, and the token counts as used.
                let claimed = if row.used_at.is_none() {
                    sqlx::query(
                        "UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
                    )
                    .bind(now)
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1
                } else {
                    false
                };
                let load = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
                if claimed {
                    sqlx::query(
                        "INSERT INTO refresh_tokens (session_id, token_hash, parent_id, created_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(row.session_id)
                    .bind(&p.child_hash)
                    .bind(row.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let persistent: bool =
                        sqlx::query_scalar("SELECT persistent FROM sessions WHERE id = $1")
                            .bind(row.session_id)
                            .fetch_one(&mut *tx)
                            .await?;
                    sqlx::query(
                        "UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3",
                    )
                    .bind(now)
                    .bind(now + p.ttl.for_session(persistent))
                    .bind(row.session_id)
                    .execute(&mut *tx)
                    .await?;
                    let session: crate::auth::model::Session =
                        sqlx::query_as::<_, SessionRow>(&load)
                            .bind(row.session_id)
                            .fetch_one(&mut *tx)
                            .await?
                            .into();
                    tx.commit().await?;
                    return Ok(match self.user(session.user_id).await? {
                        Some(user) => RefreshOutcome::Rotated { session, user },
                        None => RefreshOutcome::Invalid,
                    });
                }
                // Used before. Moments ago, by the parent of the current token: racing tabs.
                let used_at: Option<i64> =
                    sqlx::query_scalar("SELECT used_at FROM refresh_tokens WHERE id = $1")
                        .bind(row.id)
                        .fetch_one(&mut *tx)
                        .await?;
                let child: Option<(Vec<u8>, Option<i64>)> = sqlx::query_as(
                    "SELECT token_hash, used_at FROM refresh_tokens WHERE parent_id = $1",
                )
                .bind(row.id)
                .fetch_optional(&mut *tx)
                .await?;
                let recent = used_at.is_some_and(|t| now - t <= p.grace_ms);
                let child_is_current = child
                    .as_ref()
                    .is_some_and(|(hash, used)| used.is_none() && *hash == p.child_hash);
                if recent && child_is_current {
                    let session: crate::auth::model::Session =
                        sqlx::query_as::<_, SessionRow>(&load)
                            .bind(row.session_id)
                            .fetch_one(&mut *tx)
                            .await?
                            .into();
                    tx.commit().await?;
                    return Ok(match self.user(session.user_id).await? {
                        Some(user) => RefreshOutcome::Replayed { session, user },
                        None => RefreshOutcome::Invalid,
                    });
                }
                // Reuse of an old token: someone else may hold the family. Revoke it all.
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoked_why = 'refresh token reuse' \
                     WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(row.session_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(RefreshOutcome::ReuseDetected {
                    session_id: SessionId(row.session_id),
                })
            }

            async fn session_of_refresh(
                &self,
                hash: &[u8],
            ) -> Result<Option<crate::auth::model::SessionId>, crate::store::StoreError> {
                let id: Option<i64> =
                    sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
                        .bind(hash)
                        .fetch_optional(self.reader())
                        .await?;
                Ok(id.map(crate::auth::model::SessionId))
            }

            async fn sessions(
                &self,
                user: crate::accounts::users::UserId,
            ) -> Result<Vec<crate::auth::model::Session>, crate::store::StoreError> {
                use crate::store::accounts::{SESSION_COLUMNS, SessionRow};
                Ok(sqlx::query_as::<_, SessionRow>(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 \
                     AND revoked_at IS NULL AND expires_at > $2 ORDER BY last_seen_at DESC, id DESC"
                ))
                .bind(user.0)
                .bind(crate::store::now_ms())
                .fetch_all(self.reader())
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
            }

            async fn revoke_session(
                &self,
                user: crate::accounts::users::UserId,
                id: crate::auth::model::SessionId,
            ) -> Result<bool, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoked_why = 'signed out' \
                     WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
                )
                .bind(crate::store::now_ms())
                .bind(id.0)
                .bind(user.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn revoke_sessions(
                &self,
                user: crate::accounts::users::UserId,
                except: Option<crate::auth::model::SessionId>,
            ) -> Result<u64, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoked_why = 'signed out everywhere' \
                     WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3",
                )
                .bind(crate::store::now_ms())
                .bind(user.0)
                .bind(except.map_or(-1, |s| s.0))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn create_link(
                &self,
                hash: &[u8],
                purpose: crate::auth::model::LinkPurpose,
                user: Option<crate::accounts::users::UserId>,
                email: Option<&str>,
                expires_at: i64,
            ) -> Result<(), crate::store::StoreError> {
                let now = crate::store::now_ms();
                let mut tx = self.begin_write().await?;
                // Older links for the same thing stop working; expired ones are swept.
                sqlx::query(
                    "DELETE FROM email_tokens WHERE expires_at < $1 \
                     OR (purpose = $2 AND used_at IS NULL \
                         AND (user_id = $3 OR (user_id IS NULL AND $3 IS NULL)))",
                )
                .bind(now)
                .bind(purpose.as_str())
                .bind(user.map(|u| u.0))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO email_tokens (token_hash, purpose, user_id, email, created_at, \
                     expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(hash)
                .bind(purpose.as_str())
                .bind(user.map(|u| u.0))
                .bind(email)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn peek_link(
                &self,
                hash: &[u8],
                purpose: crate::auth::model::LinkPurpose,
            ) -> Result<Option<crate::auth::model::LinkToken>, crate::store::StoreError> {
                use crate::store::accounts::LinkRow;
                Ok(sqlx::query_as::<_, LinkRow>(
                    "SELECT user_id, email, expires_at FROM email_tokens \
                     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
                )
                .bind(hash)
                .bind(purpose.as_str())
                .bind(crate::store::now_ms())
                .fetch_optional(self.reader())
                .await?
                .map(Into::into))
            }

            async fn consume_link(
                &self,
                hash: &[u8],
                purpose: crate::auth::model::LinkPurpose,
            ) -> Result<Option<crate::auth::model::LinkToken>, crate::store::StoreError> {
                use crate::store::accounts::LinkRow;
                let now = crate::store::now_ms();
                let mut tx = self.begin_write().await?;
                let row = sqlx::query_as::<_, LinkRow>(
                    "UPDATE email_tokens SET used_at = $1 \
                     WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
                     RETURNING user_id, email, expires_at",
                )
                .bind(now)
                .bind(hash)
                .bind(purpose.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.map(Into::into))
            }

            async fn create_invitation(
                &self,
                workspace: crate::accounts::WorkspaceId,
                email: &str,
                role: crate::accounts::users::Role,
                hash: &[u8],
                invited_by: crate::accounts::users::UserId,
                expires_at: i64,
            ) -> Result<crate::accounts::invitations::Invitation, crate::store::StoreError> {
                use crate::store::accounts::{INVITATION_COLUMNS, InvitationRow};
                let mut tx = self.begin_write().await?;
                // A new invitation for the same address replaces a pending one.
                sqlx::query(
                    "DELETE FROM invitations WHERE workspace_id = $1 AND email = $2 \
                     AND accepted_at IS NULL",
                )
                .bind(workspace.0)
                .bind(email)
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query_as::<_, InvitationRow>(&format!(
                    "INSERT INTO invitations (workspace_id, email, role, token_hash, invited_by, \
                     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     RETURNING {INVITATION_COLUMNS}"
                ))
                .bind(workspace.0)
                .bind(email)
                .bind(role.as_str())
                .bind(hash)
                .bind(invited_by.0)
                .bind(crate::store::now_ms())
                .bind(expires_at)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                row.into_invitation()
            }

            async fn invitations(
                &self,
                workspace: crate::accounts::WorkspaceId,
            ) -> Result<Vec<crate::accounts::invitations::Invitation>, crate::store::StoreError>
            {
                use crate::store::accounts::{INVITATION_COLUMNS, InvitationRow};
                sqlx::query_as::<_, InvitationRow>(&format!(
                    "SELECT {INVITATION_COLUMNS} FROM invitations WHERE workspace_id = $1 \
                     AND accepted_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id DESC"
                ))
                .bind(workspace.0)
                .bind(crate::store::now_ms())
                .fetch_all(self.reader())
                .await?
                .into_iter()
                .map(InvitationRow::into_invitation)
                .collect()
            }

            async fn revoke_invitation(
                &self,
                workspace: crate::accounts::WorkspaceId,
                id: i64,
            ) -> Result<bool, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "DELETE FROM invitations WHERE workspace_id = $1 AND id = $2 \
                     AND accepted_at IS NULL",
                )
                .bind(workspace.0)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn invitation_by_token(
                &self,
                hash: &[u8],
            ) -> Result<
                Option<(crate::accounts::invitations::Invitation, crate::accounts::Workspace)>,
                crate::store::StoreError,
            > {
                use crate::store::accounts::{INVITATION_COLUMNS, InvitationRow};
                use crate::store::common::WorkspaceRow;
                let row = sqlx::query_as::<_, InvitationRow>(&format!(
                    "SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1 \
                     AND accepted_at IS NULL AND expires_at > $2"
                ))
                .bind(hash)
                .bind(crate::store::now_ms())
                .fetch_optional(self.reader())
                .await?;
                let Some(row) = row else { return Ok(None) };
                let inv = row.into_invitation()?;
                let ws = sqlx::query_as::<_, WorkspaceRow>(
                    "SELECT id, name, created_at FROM workspaces WHERE id = $1",
                )
                .bind(inv.workspace_id.0)
                .fetch_optional(self.reader())
                .await?;
                Ok(ws.map(|w| (inv, w.into())))
            }

            async fn accept_invitation(
                &self,
                hash: &[u8],
                user: crate::accounts::users::UserId,
            ) -> Result<Option<crate::accounts::WorkspaceId>, crate::store::StoreError> {
                use crate::store::accounts::parse_role;
                let now = crate::store::now_ms();
                let mut tx = self.begin_write().await?;
                let inv: Option<(i64, String)> = sqlx::query_as(
                    "UPDATE invitations SET accepted_at = $1 WHERE token_hash = $2 \
                     AND accepted_at IS NULL AND expires_at > $1 RETURNING workspace_id, role",
                )
                .bind(now)
                .bind(hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((workspace_id, role)) = inv else {
                    return Ok(None);
                };
                let role = parse_role(&role)?;
                let existing: Option<String> = sqlx::query_scalar(
                    "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                )
                .bind(workspace_id)
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await?;
                match existing {
                    None => {
                        sqlx::query(
                            "INSERT INTO memberships (workspace_id, user_id, role, created_at) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(workspace_id)
                        .bind(user.0)
                        .bind(role.as_str())
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Some(had) if parse_role(&had)? < role => {
                        sqlx::query(
                            "UPDATE memberships SET role = $1 WHERE workspace_id = $2 AND user_id = $3",
                        )
                        .bind(role.as_str())
                        .bind(workspace_id)
                        .bind(user.0)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Some(_) => {}
                }
                tx.commit().await?;
                Ok(Some(crate::accounts::WorkspaceId(workspace_id)))
            }

            async fn create_api_key(
                &self,
                workspace: crate::accounts::WorkspaceId,
                name: &str,
                prefix: &str,
                hash: &[u8],
                scope: crate::accounts::api_keys::Scope,
                created_by: crate::accounts::users::UserId,
            ) -> Result<crate::accounts::api_keys::ApiKey, crate::store::StoreError> {
                use crate::store::accounts::{API_KEY_COLUMNS, ApiKeyRow};
                let mut tx = self.begin_write().await?;
                let row = sqlx::query_as::<_, ApiKeyRow>(&format!(
                    "INSERT INTO api_keys (workspace_id, name, prefix, key_hash, scope, \
                     created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     RETURNING {API_KEY_COLUMNS}"
                ))
                .bind(workspace.0)
                .bind(name)
                .bind(prefix)
                .bind(hash)
                .bind(scope.as_str())
                .bind(created_by.0)
                .bind(crate::store::now_ms())
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                row.into_key()
            }

            async fn api_keys(
                &self,
                workspace: crate::accounts::WorkspaceId,
            ) -> Result<Vec<crate::accounts::api_keys::ApiKey>, crate::store::StoreError> {
                use crate::store::accounts::{API_KEY_COLUMNS, ApiKeyRow};
                sqlx::query_as::<_, ApiKeyRow>(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE workspace_id = $1 \
                     AND revoked_at IS NULL ORDER BY created_at DESC, id DESC"
                ))
                .bind(workspace.0)
                .fetch_all(self.reader())
                .await?
                .into_iter()
                .map(ApiKeyRow::into_key)
                .collect()
            }

            async fn revoke_api_key(
                &self,
                workspace: crate::accounts::WorkspaceId,
                id: i64,
            ) -> Result<bool, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 WHERE workspace_id = $2 AND id = $3 \
                     AND revoked_at IS NULL",
                )
                .bind(crate::store::now_ms())
                .bind(workspace.0)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn use_api_key(
                &self,
                hash: &[u8],
            ) -> Result<Option<crate::accounts::api_keys::ApiKey>, crate::store::StoreError> {
                use crate::store::accounts::{API_KEY_COLUMNS, ApiKeyRow};
                let row = sqlx::query_as::<_, ApiKeyRow>(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
                ))
                .bind(hash)
                .fetch_optional(self.reader())
                .await?;
                let Some(row) = row else { return Ok(None) };
                let now = crate::store::now_ms();
                let mut key = row.into_key()?;
                if key.last_used_at.is_none_or(|t| now - t >= 60_000) {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(key.id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    key.last_used_at = Some(now);
                }
                Ok(Some(key))
            }

            async fn login_blocked_until(
                &self,
                key: &[u8],
            ) -> Result<Option<i64>, crate::store::StoreError> {
                let until: Option<i64> = sqlx::query_scalar(
                    "SELECT blocked_until FROM login_throttle WHERE account_key = $1",
                )
                .bind(key)
                .fetch_optional(self.reader())
                .await?;
                Ok(until.filter(|t| *t > crate::store::now_ms()))
            }

            async fn record_login_failure(
                &self,
                key: &[u8],
                backoff: fn(i64) -> i64,
            ) -> Result<i64, crate::store::StoreError> {
                let now = crate::store::now_ms();
                let mut tx = self.begin_write().await?;
                let failures: Option<(i64, i64)> = sqlx::query_as(
                    "SELECT failures, last_failure_at FROM login_throttle WHERE account_key = $1",
                )
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
                // A day without failures starts the count afresh.
                let failures = match failures {
                    Some((n, last)) if now - last < 24 * 3600 * 1000 => n + 1,
                    _ => 1,
                };
                let until = now + backoff(failures);
                sqlx::query(
                    "INSERT INTO login_throttle (account_key, failures, blocked_until, last_failure_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (account_key) DO UPDATE SET \
                     failures = excluded.failures, blocked_until = excluded.blocked_until, \
                     last_failure_at = excluded.last_failure_at",
                )
                .bind(key)
                .bind(failures)
                .bind(until)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(until)
            }

            async fn clear_login_failures(&self, key: &[u8]) -> Result<(), crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM login_throttle WHERE account_key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
pub(super) use impl_account_store;
