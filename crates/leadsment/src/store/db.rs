//! One handle on either database, and statements written once for both.
//!
//! Most statements are the same text in SQLite and PostgreSQL (sqlx binds `$1`, `$2`…
//! positionally in SQLite as well), so a capability writes each once as a [`Sql`] (its text
//! and typed arguments) and runs it on a [`Db`] (reads) or a [`Tx`] (writes), which dispatch to
//! the backend they hold. Rows decode into any `sqlx::FromRow` type that both backends can
//! decode ([`Record`]); single values into any type both can decode ([`Column`]).
//!
//! Why this and not `sqlx::Any` or generic functions: `Any` connects from a URL alone, so
//! SQLite's per-connection settings (read-only readers, `busy_timeout`, the `synchronous`
//! level) could not be set the way they are, and it converts every value through its own
//! types; generic functions over `sqlx::Database` need the same dozen trait bounds repeated on
//! every function (sqlx issue 1458). Arguments here are owned values of four kinds, bound
//! with their SQL type, so a `NULL` text is a text on PostgreSQL too.
//!
//! SQLite writes: [`Db::begin`] starts `BEGIN IMMEDIATE` on the single writer connection. A
//! deferred transaction that reads and then writes fails with `SQLITE_BUSY_SNAPSHOT` when
//! another connection wrote in between, without waiting; an immediate one takes the write
//! lock first and waits for it (`busy_timeout`).

use std::borrow::Cow;

use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::sqlite::{SqliteArguments, SqlitePool, SqliteRow};
use sqlx::{Arguments, FromRow, Postgres, Sqlite, Transaction};

use super::settings::Backend;
use super::sqlite::SqliteDb;

/// A row type both backends decode.
pub trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// A single value both backends decode.
pub trait Column:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + Send
    + Unpin
{
}
impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + Send
        + Unpin
{
}

/// An argument of a statement, with its SQL type.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
    Bytes(Option<Vec<u8>>),
}

macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr;)*) => {
        $(impl From<$t> for Arg {
            fn from($v: $t) -> Arg {
                $e
            }
        })*
    };
}

arg_from! {
    i64 => |v| Arg::Int(Some(v));
    Option<i64> => |v| Arg::Int(v);
    bool => |v| Arg::Bool(v);
    &str => |v| Arg::Text(Some(v.to_owned()));
    String => |v| Arg::Text(Some(v));
    &String => |v| Arg::Text(Some(v.clone()));
    Option<&str> => |v| Arg::Text(v.map(str::to_owned));
    Option<String> => |v| Arg::Text(v);
    &Option<String> => |v| Arg::Text(v.clone());
    &[u8] => |v| Arg::Bytes(Some(v.to_vec()));
    Vec<u8> => |v| Arg::Bytes(Some(v));
    &Vec<u8> => |v| Arg::Bytes(Some(v.clone()));
}

/// A statement: its text (`$1`, `$2`… for arguments) and its arguments.
#[derive(Debug, Clone)]
#[must_use]
pub struct Sql {
    text: Cow<'static, str>,
    args: Vec<Arg>,
}

/// A statement with this text.
pub fn sql(text: impl Into<Cow<'static, str>>) -> Sql {
    Sql {
        text: text.into(),
        args: Vec::new(),
    }
}

impl Sql {
    /// Adds the next argument.
    pub fn bind(mut self, value: impl Into<Arg>) -> Sql {
        self.args.push(value.into());
        self
    }

    fn sqlite_args(&self) -> Result<SqliteArguments<'static>, sqlx::Error> {
        let mut args = SqliteArguments::default();
        for a in &self.args {
            match a {
                Arg::Int(v) => args.add(*v),
                Arg::Text(v) => args.add(v.clone()),
                Arg::Bool(v) => args.add(*v),
                Arg::Bytes(v) => args.add(v.clone()),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(args)
    }

    fn pg_args(&self) -> Result<PgArguments, sqlx::Error> {
        let mut args = PgArguments::default();
        for a in &self.args {
            match a {
                Arg::Int(v) => args.add(*v),
                Arg::Text(v) => args.add(v.clone()),
                Arg::Bool(v) => args.add(*v),
                Arg::Bytes(v) => args.add(v.clone()),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(args)
    }
}

/// The database: SQLite's writer and readers, or PostgreSQL's pool. Cheap to clone.
#[derive(Clone)]
pub enum Db {
    Sqlite(SqliteDb),
    Postgres(PgPool),
}

/// A write transaction; rolled back when dropped without [`Tx::commit`].
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Where a statement runs: a pool or a transaction's connection of either backend.
enum Target<'a> {
    SqlitePool(&'a SqlitePool),
    PgPool(&'a PgPool),
    Sqlite(&'a mut sqlx::SqliteConnection),
    Postgres(&'a mut sqlx::PgConnection),
}

impl Target<'_> {
    async fn rows<T: Record>(self, q: &Sql) -> Result<Vec<T>, sqlx::Error> {
        let text = q.text.as_ref();
        match self {
            Target::SqlitePool(p) => {
                sqlx::query_as_with(text, q.sqlite_args()?)
                    .fetch_all(p)
                    .await
            }
            Target::Sqlite(c) => {
                sqlx::query_as_with(text, q.sqlite_args()?)
                    .fetch_all(c)
                    .await
            }
            Target::PgPool(p) => sqlx::query_as_with(text, q.pg_args()?).fetch_all(p).await,
            Target::Postgres(c) => sqlx::query_as_with(text, q.pg_args()?).fetch_all(c).await,
        }
    }

    async fn execute(self, q: &Sql) -> Result<u64, sqlx::Error> {
        let text = q.text.as_ref();
        Ok(match self {
            Target::SqlitePool(p) => sqlx::query_with(text, q.sqlite_args()?)
                .execute(p)
                .await?
                .rows_affected(),
            Target::Sqlite(c) => sqlx::query_with(text, q.sqlite_args()?)
                .execute(c)
                .await?
                .rows_affected(),
            Target::PgPool(p) => sqlx::query_with(text, q.pg_args()?)
                .execute(p)
                .await?
                .rows_affected(),
            Target::Postgres(c) => sqlx::query_with(text, q.pg_args()?)
                .execute(c)
                .await?
                .rows_affected(),
        })
    }
}

/// The reads shared by [`Db`] (`&self`) and [`Tx`] (`&mut self`): every row, at most one,
/// exactly one, and the same for single values. (The receiver's `self` comes from the call,
/// so that the bodies may use it.)
macro_rules! reads {
    (&mut $s:ident) => { reads!(@ [&mut $s] $s); };
    (& $s:ident) => { reads!(@ [& $s] $s); };
    (@ [$($recv:tt)+] $s:ident) => {
        /// Every row.
        pub async fn all<T: Record>($($recv)+, q: Sql) -> Result<Vec<T>, sqlx::Error> {
            $s.target().rows(&q).await
        }

        /// The first row, if any.
        pub async fn optional<T: Record>($($recv)+, q: Sql) -> Result<Option<T>, sqlx::Error> {
            Ok($s.target().rows(&q).await?.into_iter().next())
        }

        /// The first row; none is [`sqlx::Error::RowNotFound`].
        pub async fn one<T: Record>($($recv)+, q: Sql) -> Result<T, sqlx::Error> {
            $s.optional(q).await?.ok_or(sqlx::Error::RowNotFound)
        }

        /// The first column of every row.
        pub async fn values<T: Column>($($recv)+, q: Sql) -> Result<Vec<T>, sqlx::Error> {
            let rows: Vec<(T,)> = $s.target().rows(&q).await?;
            Ok(rows.into_iter().map(|(v,)| v).collect())
        }

        /// The first column of the first row, if any.
        pub async fn value_optional<T: Column>(
            $($recv)+,
            q: Sql,
        ) -> Result<Option<T>, sqlx::Error> {
            let rows: Vec<(T,)> = $s.target().rows(&q).await?;
            Ok(rows.into_iter().next().map(|(v,)| v))
        }

        /// The first column of the first row; none is [`sqlx::Error::RowNotFound`].
        pub async fn value<T: Column>($($recv)+, q: Sql) -> Result<T, sqlx::Error> {
            $s.value_optional(q).await?.ok_or(sqlx::Error::RowNotFound)
        }
    };
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Reads go to SQLite's read-only readers, or PostgreSQL's pool.
    fn target(&self) -> Target<'_> {
        match self {
            Db::Sqlite(db) => Target::SqlitePool(db.readers()),
            Db::Postgres(pool) => Target::PgPool(pool),
        }
    }

    reads!(&self);

    /// A write transaction: `BEGIN IMMEDIATE` on SQLite's writer connection.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(db) => Tx::Sqlite(db.begin_immediate().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Runs one write statement in a transaction of its own; returns the rows it changed.
    pub async fn write(&self, q: Sql) -> Result<u64, sqlx::Error> {
        let mut tx = self.begin().await?;
        let n = tx.execute(q).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// A cheap round trip, for `/healthz`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.value::<i64>(sql("SELECT CAST(1 AS BIGINT)"))
            .await
            .map(drop)
    }
}

impl Tx {
    fn target(&mut self) -> Target<'_> {
        match self {
            Tx::Sqlite(tx) => Target::Sqlite(&mut *tx),
            Tx::Postgres(tx) => Target::Postgres(&mut *tx),
        }
    }

    reads!(&mut self);

    /// Runs a statement; returns the rows it changed.
    pub async fn execute(&mut self, q: Sql) -> Result<u64, sqlx::Error> {
        self.target().execute(&q).await
    }

    /// Holds the row `id` of `table` (a parent: a workspace, a site) until the transaction
    /// ends, so that concurrent check-then-insert steps under the same parent (a cap on its
    /// children) run one after the other. PostgreSQL's `READ COMMITTED` would let two of them
    /// count the same rows: `SELECT … FOR NO KEY UPDATE` (which leaves foreign-key checks on
    /// the row free). SQLite's write transactions already hold the database's write lock
    /// from `BEGIN IMMEDIATE`.
    pub async fn lock_row(&mut self, table: &'static str, id: i64) -> Result<(), sqlx::Error> {
        if let Tx::Postgres(_) = self {
            self.execute(
                sql(format!(
                    "SELECT id FROM {table} WHERE id = $1 FOR NO KEY UPDATE"
                ))
                .bind(id),
            )
            .await?;
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// Whether `error` is a unique-constraint violation (a taken email, a claimed host).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}
