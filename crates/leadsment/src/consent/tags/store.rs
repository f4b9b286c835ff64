//! The tags' queries. Every change writes its audit row (who, when, the tag before and
//! after) in the same transaction: a change the log does not show never happens.

use serde_json::{Value, json};

use super::{Tag, TagKey, TagSpec};
use crate::registry::{Category, TagKind};
use crate::store::{Db, StoreError, Tx, sql};

/// Who made a change: their user id and their address as it was then.
#[derive(Debug, Clone)]
pub struct Who {
    pub user_id: i64,
    pub email: String,
}

/// One row of the audit log. `before` is `None` when the tag was created.
#[derive(Debug, Clone, PartialEq)]
pub struct TagChange {
    pub id: i64,
    pub tag_id: i64,
    pub user_id: Option<i64>,
    pub who: String,
    pub at: i64,
    pub before: Option<Value>,
    pub after: Value,
}

#[derive(sqlx::FromRow)]
struct TagRow {
    id: i64,
    kind: String,
    label: String,
    target: String,
    hosts: String,
    category: String,
    enabled: bool,
    storage_keys: String,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str =
    "id, kind, label, target, hosts, category, enabled, storage_keys, created_at, updated_at";

impl TagRow {
    fn into_tag(self) -> Result<Tag, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("consent tag {}: {what}", self.id));
        let kind = TagKind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?;
        let category = Category::parse(&self.category).ok_or_else(|| corrupt("category"))?;
        let keys: Vec<TagKey> =
            serde_json::from_str(&self.storage_keys).map_err(|_| corrupt("keys"))?;
        Ok(Tag {
            id: self.id,
            spec: TagSpec {
                kind,
                label: self.label,
                target: self.target,
                hosts: self.hosts.lines().map(str::to_owned).collect(),
                category,
                keys,
            },
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The tag as the audit log keeps it.
pub fn snapshot(spec: &TagSpec, enabled: bool) -> Value {
    json!({
        "kind": spec.kind.as_str(),
        "label": spec.label,
        "target": spec.target,
        "hosts": spec.hosts,
        "category": spec.category.as_str(),
        "enabled": enabled,
        "keys": spec.keys,
    })
}

fn keys_json(spec: &TagSpec) -> String {
    serde_json::to_string(&spec.keys).unwrap_or_else(|_| "[]".to_owned())
}

/// Every tag, oldest first.
pub async fn list(db: &Db) -> Result<Vec<Tag>, StoreError> {
    let rows: Vec<TagRow> = db
        .all(sql(format!(
            "SELECT {COLUMNS} FROM consent_tags ORDER BY id"
        )))
        .await?;
    rows.into_iter().map(TagRow::into_tag).collect()
}

/// The switched-on tags, oldest first.
pub async fn enabled(db: &Db) -> Result<Vec<Tag>, StoreError> {
    Ok(list(db).await?.into_iter().filter(|t| t.enabled).collect())
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Tag>, StoreError> {
    let row: Option<TagRow> = db
        .optional(sql(format!("SELECT {COLUMNS} FROM consent_tags WHERE id = $1")).bind(id))
        .await?;
    row.map(TagRow::into_tag).transpose()
}

async fn get_in(tx: &mut Tx, id: i64) -> Result<Option<Tag>, StoreError> {
    let row: Option<TagRow> = tx
        .optional(sql(format!("SELECT {COLUMNS} FROM consent_tags WHERE id = $1")).bind(id))
        .await?;
    row.map(TagRow::into_tag).transpose()
}

async fn log(
    tx: &mut Tx,
    tag_id: i64,
    who: &Who,
    at: i64,
    before: Option<&Value>,
    after: &Value,
) -> Result<(), StoreError> {
    tx.execute(
        sql(
            "INSERT INTO consent_tag_changes (tag_id, user_id, who, changed_at, before_json, \
             after_json) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tag_id)
        .bind(who.user_id)
        .bind(who.email.as_str())
        .bind(at)
        .bind(before.map(Value::to_string))
        .bind(after.to_string()),
    )
    .await?;
    Ok(())
}

/// Stores a new tag, switched off.
pub async fn create(db: &Db, spec: &TagSpec, who: &Who, now: i64) -> Result<Tag, StoreError> {
    let mut tx = db.begin().await?;
    let id: i64 = tx
        .value(
            sql(
                "INSERT INTO consent_tags (kind, label, target, hosts, category, enabled, \
                 storage_keys, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(spec.kind.as_str())
            .bind(spec.label.as_str())
            .bind(spec.target.as_str())
            .bind(spec.hosts.join("\n"))
            .bind(spec.category.as_str())
            .bind(false)
            .bind(keys_json(spec))
            .bind(now)
            .bind(now),
        )
        .await?;
    log(&mut tx, id, who, now, None, &snapshot(spec, false)).await?;
    tx.commit().await?;
    Ok(Tag {
        id,
        spec: spec.clone(),
        enabled: false,
        created_at: now,
        updated_at: now,
    })
}

/// Replaces a tag's fields (its switch stays as it is); `None` if there is no such tag. A
/// save that changes nothing writes nothing.
pub async fn update(
    db: &Db,
    id: i64,
    spec: &TagSpec,
    who: &Who,
    now: i64,
) -> Result<Option<Tag>, StoreError> {
    let mut tx = db.begin().await?;
    let Some(old) = get_in(&mut tx, id).await? else {
        return Ok(None);
    };
    if old.spec == *spec {
        return Ok(Some(old));
    }
    tx.execute(
        sql(
            "UPDATE consent_tags SET kind = $1, label = $2, target = $3, hosts = $4, \
             category = $5, storage_keys = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(spec.kind.as_str())
        .bind(spec.label.as_str())
        .bind(spec.target.as_str())
        .bind(spec.hosts.join("\n"))
        .bind(spec.category.as_str())
        .bind(keys_json(spec))
        .bind(now)
        .bind(id),
    )
    .await?;
    let before = snapshot(&old.spec, old.enabled);
    let after = snapshot(spec, old.enabled);
    log(&mut tx, id, who, now, Some(&before), &after).await?;
    tx.commit().await?;
    Ok(Some(Tag {
        spec: spec.clone(),
        updated_at: now,
        ..old
    }))
}

/// Switches a tag on or off; `None` if there is no such tag. Switching it to what it already
/// is writes nothing.
pub async fn set_enabled(
    db: &Db,
    id: i64,
    enabled: bool,
    who: &Who,
    now: i64,
) -> Result<Option<Tag>, StoreError> {
    let mut tx = db.begin().await?;
    let Some(old) = get_in(&mut tx, id).await? else {
        return Ok(None);
    };
    if old.enabled == enabled {
        return Ok(Some(old));
    }
    tx.execute(
        sql("UPDATE consent_tags SET enabled = $1, updated_at = $2 WHERE id = $3")
            .bind(enabled)
            .bind(now)
            .bind(id),
    )
    .await?;
    let before = snapshot(&old.spec, old.enabled);
    let after = snapshot(&old.spec, enabled);
    log(&mut tx, id, who, now, Some(&before), &after).await?;
    tx.commit().await?;
    Ok(Some(Tag {
        enabled,
        updated_at: now,
        ..old
    }))
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: i64,
    tag_id: i64,
    user_id: Option<i64>,
    who: String,
    changed_at: i64,
    before_json: Option<String>,
    after_json: String,
}

/// The newest `limit` changes, newest first.
pub async fn changes(db: &Db, limit: i64) -> Result<Vec<TagChange>, StoreError> {
    let rows: Vec<ChangeRow> = db
        .all(
            sql(
                "SELECT id, tag_id, user_id, who, changed_at, before_json, after_json \
                 FROM consent_tag_changes ORDER BY id DESC LIMIT $1",
            )
            .bind(limit),
        )
        .await?;
    rows.into_iter()
        .map(|r| -> Result<TagChange, StoreError> {
            let parse = |s: &str| {
                serde_json::from_str::<Value>(s)
                    .map_err(|_| StoreError::Corrupt(format!("consent tag change {}", r.id)))
            };
            Ok(TagChange {
                id: r.id,
                tag_id: r.tag_id,
                user_id: r.user_id,
                who: r.who.clone(),
                at: r.changed_at,
                before: r.before_json.as_deref().map(parse).transpose()?,
                after: parse(&r.after_json)?,
            })
        })
        .collect()
}

/// The id of the newest change (0 before the first): every stored change of a tag writes one
/// row, so a node that sees a new id knows its policy is out of date.
pub async fn latest_change(db: &Db) -> Result<i64, StoreError> {
    Ok(db
        .value(sql("SELECT COALESCE(MAX(id), 0) FROM consent_tag_changes"))
        .await?)
}
