//! Invitations: an emailed, single-use, expiring link that makes its holder a member.

use serde::Serialize;

use super::WorkspaceId;
use super::roles::Role;
use crate::auth::users::UserId;

/// How long an invitation link works.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invitation {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<UserId>,
    pub created_at: i64,
    pub expires_at: i64,
}
