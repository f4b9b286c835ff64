//! Workspaces and who belongs to them.

use super::parse_role;
use crate::accounts::errors::AccountError;
use crate::accounts::roles::Role;
use crate::accounts::{DEFAULT_WORKSPACE_NAME, Member, Membership, Workspace, WorkspaceId};
use crate::auth::store::{NewUser, UserRow, insert_user};
use crate::auth::users::{User, UserId};
use crate::store::{Db, StoreError, Tx, now_ms, sql};

#[derive(sqlx::FromRow)]
pub(super) struct WorkspaceRow {
    id: i64,
    name: String,
    created_at: i64,
}

impl From<WorkspaceRow> for Workspace {
    fn from(r: WorkspaceRow) -> Self {
        Workspace {
            id: WorkspaceId(r.id),
            name: r.name,
            created_at: r.created_at,
        }
    }
}

const SELECT_DEFAULT: &str = "SELECT id, name, created_at FROM workspaces WHERE is_default = TRUE";

/// The workspace that command-line sites belong to, created on first use.
pub async fn default_workspace(db: &Db) -> Result<Workspace, StoreError> {
    ensure_singleton(
        db,
        SELECT_DEFAULT,
        "INSERT INTO workspaces (name, is_default, created_at) \
         VALUES ($1, TRUE, $2) ON CONFLICT DO NOTHING RETURNING id, name, created_at",
        DEFAULT_WORKSPACE_NAME,
    )
    .await
}

/// The one workspace `select` finds (by a flag with a unique index: the default workspace,
/// the platform workspace), made by `insert` with `name` if there is none yet. Two nodes
/// asking at once get the same one: the index turns the later insert into a no-op, and that
/// node reads the winner's row.
pub(super) async fn ensure_singleton(
    db: &Db,
    select: &'static str,
    insert: &'static str,
    name: &str,
) -> Result<Workspace, StoreError> {
    if let Some(row) = db.optional::<WorkspaceRow>(sql(select)).await? {
        return Ok(row.into());
    }
    let mut tx = db.begin().await?;
    let inserted: Option<WorkspaceRow> = tx.optional(sql(insert).bind(name).bind(now_ms())).await?;
    let row = match inserted {
        Some(row) => row,
        None => tx.one(sql(select)).await?,
    };
    tx.commit().await?;
    Ok(row.into())
}

/// Inserts a workspace with `owner` as its owner.
pub async fn insert_workspace(
    tx: &mut Tx,
    name: &str,
    owner: UserId,
) -> Result<Workspace, StoreError> {
    let now = now_ms();
    let row: WorkspaceRow = tx
        .one(
            sql("INSERT INTO workspaces (name, created_at) VALUES ($1, $2) \
                 RETURNING id, name, created_at")
            .bind(name)
            .bind(now),
        )
        .await?;
    tx.execute(
        sql(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at) \
             VALUES ($1, $2, 'owner', $3)",
        )
        .bind(row.id)
        .bind(owner.0)
        .bind(now),
    )
    .await?;
    Ok(row.into())
}

pub async fn create_workspace(db: &Db, name: &str, owner: UserId) -> Result<Workspace, StoreError> {
    let mut tx = db.begin().await?;
    let ws = insert_workspace(&mut tx, name, owner).await?;
    tx.commit().await?;
    Ok(ws)
}

/// Creates the user, a workspace named `workspace`, and makes the user its owner.
pub async fn create_user_with_workspace(
    db: &Db,
    user: &NewUser,
    workspace: &str,
) -> Result<(User, Workspace), AccountError> {
    create_owner(db, user, workspace, false).await
}

/// Creates the first platform administrator with a workspace of their own, and makes them an
/// owner of the default workspace too when it exists (sites added from the command line
/// before set-up are there), all in one transaction.
pub async fn create_first_administrator(
    db: &Db,
    user: &NewUser,
    workspace: &str,
) -> Result<(User, Workspace), AccountError> {
    create_owner(db, user, workspace, true).await
}

async fn create_owner(
    db: &Db,
    user: &NewUser,
    workspace: &str,
    and_default: bool,
) -> Result<(User, Workspace), AccountError> {
    let mut tx = db.begin().await?;
    let created = insert_user(&mut tx, user).await?;
    let ws = insert_workspace(&mut tx, workspace, created.id).await?;
    if and_default {
        tx.execute(
            sql(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at) \
                 SELECT id, $1, 'owner', $2 FROM workspaces WHERE is_default = TRUE",
            )
            .bind(created.id.0)
            .bind(now_ms()),
        )
        .await?;
    }
    tx.commit().await?;
    Ok((created, ws))
}

/// Every workspace, oldest first (for the command line, which acts for the operator).
pub async fn all_workspaces(db: &Db) -> Result<Vec<Workspace>, StoreError> {
    let rows: Vec<WorkspaceRow> = db
        .all(sql(
            "SELECT id, name, created_at FROM workspaces ORDER BY id",
        ))
        .await?;
    Ok(rows.into_iter().map(Workspace::from).collect())
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    id: i64,
    name: String,
    created_at: i64,
    role: String,
}

impl MembershipRow {
    fn into_membership(self) -> Result<Membership, StoreError> {
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

/// The workspaces of a user, by name.
pub async fn memberships(db: &Db, user: UserId) -> Result<Vec<Membership>, StoreError> {
    let rows: Vec<MembershipRow> = db
        .all(
            sql(
                "SELECT w.id, w.name, w.created_at, m.role FROM memberships m \
                 JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 \
                 ORDER BY w.name, w.id",
            )
            .bind(user.0),
        )
        .await?;
    rows.into_iter()
        .map(MembershipRow::into_membership)
        .collect()
}

pub async fn membership(
    db: &Db,
    workspace: WorkspaceId,
    user: UserId,
) -> Result<Option<Membership>, StoreError> {
    let row: Option<MembershipRow> = db
        .optional(
            sql(
                "SELECT w.id, w.name, w.created_at, m.role FROM memberships m \
                 JOIN workspaces w ON w.id = m.workspace_id \
                 WHERE m.workspace_id = $1 AND m.user_id = $2",
            )
            .bind(workspace.0)
            .bind(user.0),
        )
        .await?;
    row.map(MembershipRow::into_membership).transpose()
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    #[sqlx(flatten)]
    user: UserRow,
    role: String,
    since: i64,
}

/// The members of a workspace, oldest first.
pub async fn members(db: &Db, workspace: WorkspaceId) -> Result<Vec<Member>, StoreError> {
    let rows: Vec<MemberRow> = db
        .all(
            sql(
                "SELECT u.id, u.email, u.name, u.password_hash, u.email_verified, \
                 u.is_platform_admin, u.created_at, m.role, m.created_at AS since \
                 FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.workspace_id = $1 ORDER BY m.created_at, u.id",
            )
            .bind(workspace.0),
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Member {
                role: parse_role(&r.role)?,
                user: r.user.into_user().user,
                since: r.since,
            })
        })
        .collect()
}

/// Sets a member's role; false when the user is not a member.
pub async fn set_role(
    tx: &mut Tx,
    workspace: WorkspaceId,
    user: UserId,
    role: Role,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            sql("UPDATE memberships SET role = $1 WHERE workspace_id = $2 AND user_id = $3")
                .bind(role.as_str())
                .bind(workspace.0)
                .bind(user.0),
        )
        .await?;
    Ok(n > 0)
}

/// Removes a member; false when the user was not one.
pub async fn remove_member(
    tx: &mut Tx,
    workspace: WorkspaceId,
    user: UserId,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            sql("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
                .bind(workspace.0)
                .bind(user.0),
        )
        .await?;
    Ok(n > 0)
}

/// Locks the rows of `workspaces` until the transaction ends (in id order, so that two
/// transactions locking several never wait on each other in a circle); on SQLite it takes
/// the database's write lock.
pub async fn lock_workspaces(tx: &mut Tx, workspaces: &[WorkspaceId]) -> Result<(), StoreError> {
    let mut ids: Vec<i64> = workspaces.iter().map(|w| w.0).collect();
    ids.sort_unstable();
    for id in ids {
        // A write that changes nothing: PostgreSQL's row lock, SQLite's write lock (the id is
        // an identity column PostgreSQL will not let be written, even to itself).
        tx.execute(sql("UPDATE workspaces SET name = name WHERE id = $1").bind(id))
            .await?;
    }
    Ok(())
}

/// The workspaces the user owns.
pub async fn owned_workspaces(tx: &mut Tx, user: UserId) -> Result<Vec<WorkspaceId>, StoreError> {
    let ids: Vec<i64> = tx
        .values(
            sql("SELECT workspace_id FROM memberships WHERE user_id = $1 AND role = 'owner'")
                .bind(user.0),
        )
        .await?;
    Ok(ids.into_iter().map(WorkspaceId).collect())
}

/// How many owners the workspace has.
pub async fn count_owners(tx: &mut Tx, workspace: WorkspaceId) -> Result<i64, StoreError> {
    Ok(tx
        .value(
            sql("SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'")
                .bind(workspace.0),
        )
        .await?)
}

/// Adds a member, or raises the role of one who has less.
pub async fn add_or_raise_member(
    tx: &mut Tx,
    workspace: WorkspaceId,
    user: UserId,
    role: Role,
) -> Result<(), StoreError> {
    let existing: Option<String> = tx
        .value_optional(
            sql("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2")
                .bind(workspace.0)
                .bind(user.0),
        )
        .await?;
    match existing {
        None => {
            tx.execute(
                sql(
                    "INSERT INTO memberships (workspace_id, user_id, role, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(workspace.0)
                .bind(user.0)
                .bind(role.as_str())
                .bind(now_ms()),
            )
            .await?;
        }
        Some(had) if parse_role(&had)? < role => {
            set_role(tx, workspace, user, role).await?;
        }
        Some(_) => {}
    }
    Ok(())
}

pub async fn delete_workspace(db: &Db, workspace: WorkspaceId) -> Result<bool, StoreError> {
    let n = db
        .write(sql("DELETE FROM workspaces WHERE id = $1").bind(workspace.0))
        .await?;
    Ok(n > 0)
}

pub async fn workspace(db: &Db, id: WorkspaceId) -> Result<Option<Workspace>, StoreError> {
    let row: Option<WorkspaceRow> = db
        .optional(sql("SELECT id, name, created_at FROM workspaces WHERE id = $1").bind(id.0))
        .await?;
    Ok(row.map(Into::into))
}
