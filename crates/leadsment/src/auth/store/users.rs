//! Users: who signs in.

use crate::auth::errors::EmailTaken;
use crate::auth::users::{User, UserId, UserWithPassword};
use crate::store::{Db, StoreError, Tx, is_unique_violation, now_ms, sql};

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub email_verified: bool,
    pub is_platform_admin: bool,
}

#[derive(sqlx::FromRow)]
pub struct UserRow {
    id: i64,
    email: String,
    name: String,
    password_hash: Option<String>,
    email_verified: bool,
    is_platform_admin: bool,
    created_at: i64,
}

const USER_COLUMNS: &str =
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

/// Inserts a user; a taken email is [`EmailTaken`].
pub async fn insert_user(tx: &mut Tx, user: &NewUser) -> Result<User, EmailTaken> {
    let row: UserRow = tx
        .one(
            sql(format!(
                "INSERT INTO users (email, name, password_hash, email_verified, \
                 is_platform_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING {USER_COLUMNS}"
            ))
            .bind(&user.email)
            .bind(&user.name)
            .bind(&user.password_hash)
            .bind(user.email_verified)
            .bind(user.is_platform_admin)
            .bind(now_ms()),
        )
        .await
        .map_err(email_taken_or)?;
    Ok(row.into_user().user)
}

fn email_taken_or(e: sqlx::Error) -> EmailTaken {
    if is_unique_violation(&e) {
        EmailTaken::Taken
    } else {
        EmailTaken::Store(e.into())
    }
}

/// Creates a user; a taken email is [`EmailTaken`].
pub async fn create_user(db: &Db, user: &NewUser) -> Result<User, EmailTaken> {
    let mut tx = db.begin().await?;
    let created = insert_user(&mut tx, user).await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn user(db: &Db, id: UserId) -> Result<Option<User>, StoreError> {
    Ok(user_with_password(db, id).await?.map(|u| u.user))
}

pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<UserWithPassword>, StoreError> {
    let row: Option<UserRow> = db
        .optional(sql(format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1")).bind(email))
        .await?;
    Ok(row.map(UserRow::into_user))
}

pub async fn user_with_password(
    db: &Db,
    id: UserId,
) -> Result<Option<UserWithPassword>, StoreError> {
    let row: Option<UserRow> = db
        .optional(sql(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")).bind(id.0))
        .await?;
    Ok(row.map(UserRow::into_user))
}

pub async fn set_password(db: &Db, id: UserId, hash: &str) -> Result<(), StoreError> {
    set_text(db, id, "password_hash", hash).await
}

pub async fn set_user_name(db: &Db, id: UserId, name: &str) -> Result<(), StoreError> {
    set_text(db, id, "name", name).await
}

/// Sets one text column of a user (`column` is one of ours, never input).
async fn set_text(db: &Db, id: UserId, column: &str, value: &str) -> Result<(), StoreError> {
    let statement = format!("UPDATE users SET {column} = $1 WHERE id = $2");
    db.write(sql(statement).bind(value).bind(id.0)).await?;
    Ok(())
}

pub async fn set_email_verified(db: &Db, id: UserId) -> Result<(), StoreError> {
    db.write(sql("UPDATE users SET email_verified = TRUE WHERE id = $1").bind(id.0))
        .await?;
    Ok(())
}

/// Moves the account to `email` (verified); a taken address is [`EmailTaken`].
pub async fn change_email(db: &Db, id: UserId, email: &str) -> Result<(), EmailTaken> {
    db.write(
        sql("UPDATE users SET email = $1, email_verified = TRUE WHERE id = $2")
            .bind(email)
            .bind(id.0),
    )
    .await
    .map_err(email_taken_or)?;
    Ok(())
}

pub async fn count_platform_admins(db: &Db) -> Result<i64, StoreError> {
    Ok(db
        .value(sql(
            "SELECT COUNT(*) FROM users WHERE is_platform_admin = TRUE",
        ))
        .await?)
}

/// Every user, newest first (for platform administrators).
pub async fn list_users(db: &Db) -> Result<Vec<User>, StoreError> {
    let rows: Vec<UserRow> = db
        .all(sql(format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY created_at DESC, id DESC"
        )))
        .await?;
    Ok(rows.into_iter().map(|r| r.into_user().user).collect())
}
