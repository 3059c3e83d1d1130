//! One connection to either backend — an SQLite file or a PostgreSQL server — and the few
//! operations the store needs of it: statements with numbered parameters, rows of plain values,
//! transactions.
//!
//! Architecture invariant: store logic is written once, in SQL both backends read (`?1`
//! parameters, `ON CONFLICT`, `CAST`, `RETURNING`); the backends differ only in this file, in
//! opening and migrating a database (`store/mod.rs`), and in their schema files. Statements are written with SQLite's `?N` and rewritten to `$N` here.

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql as PgToSql, Type};
use postgres::GenericClient;
use rusqlite::types::{ToSqlOutput, ValueRef};
use std::cell::RefCell;
use std::collections::HashMap;

/// A failure of either backend, or a value of a type the store does not read.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite refused an operation.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused an operation (or the connection failed).
    #[error("{}", pg_text(.0))]
    Postgres(#[from] postgres::Error),
    /// A stored value is not what the store expects in that column.
    #[error("{0}")]
    Value(String),
    /// The lease a write was made under is no longer this process's; says which work.
    #[error("{0}")]
    LeaseLost(String),
}

/// PostgreSQL's own message, with its detail, rather than "db error".
pub(crate) fn pg_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => e.to_string(),
    }
}

impl DbError {
    /// True when another writer held the data past the wait: worth a later retry.
    pub fn is_busy(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            }
            DbError::Postgres(e) => pg_busy(e),
            _ => false,
        }
    }
}

/// True for PostgreSQL's "try again" failures: a lock not granted in time, a deadlock broken,
/// a serialization conflict.
pub(crate) fn pg_busy(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        [SqlState::T_R_SERIALIZATION_FAILURE, SqlState::T_R_DEADLOCK_DETECTED, SqlState::LOCK_NOT_AVAILABLE].contains(c)
    })
}

/// `url` without a password, for messages and `status`.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(name, _)| name);
            format!("{scheme}://{user}@{host}{}", &rest[authority_end..])
        }
        None => url.to_string(),
    }
}

/// Connects to PostgreSQL (without TLS: a server across an untrusted network belongs behind a
/// tunnel or a local socket).
pub(crate) fn connect_pg(config: &postgres::Config) -> Result<postgres::Client, DbError> {
    Ok(blocking(|| config.connect(postgres::NoTls))?)
}

/// A statement parameter, borrowed from the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'a> {
    /// SQL NULL.
    Null,
    /// An integer (booleans are 0 and 1 on both backends).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(&'a str),
}

/// What can be passed as a statement parameter.
pub trait ToParam {
    /// This value as a parameter.
    fn param(&self) -> Param<'_>;
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl ToParam for $t {
            fn param(&self) -> Param<'_> {
                Param::Int(*self as i64)
            }
        }
    )*};
}
int_param!(i64, i32, u32, u16, u8, usize, u64);

impl ToParam for bool {
    fn param(&self) -> Param<'_> {
        Param::Int(i64::from(*self))
    }
}
impl ToParam for f64 {
    fn param(&self) -> Param<'_> {
        Param::Real(*self)
    }
}
impl ToParam for str {
    fn param(&self) -> Param<'_> {
        Param::Text(self)
    }
}
impl ToParam for String {
    fn param(&self) -> Param<'_> {
        Param::Text(self)
    }
}
impl<T: ToParam + ?Sized> ToParam for &T {
    fn param(&self) -> Param<'_> {
        (**self).param()
    }
}
impl<T: ToParam> ToParam for Option<T> {
    fn param(&self) -> Param<'_> {
        self.as_ref().map_or(Param::Null, ToParam::param)
    }
}
impl ToParam for Param<'_> {
    fn param(&self) -> Param<'_> {
        *self
    }
}

/// `args![a, b, c]`: statement parameters from values of any [`ToParam`] type.
macro_rules! args {
    ($($x:expr),* $(,)?) => {
        &[$($crate::store::db::ToParam::param(&$x)),*][..]
    };
}
pub(crate) use args;

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Param::Null => ValueRef::Null,
            Param::Int(i) => ValueRef::Integer(i),
            Param::Real(f) => ValueRef::Real(f),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

impl PgToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = || format!("parameter {self:?} cannot be sent as PostgreSQL type {ty}");
        match *self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(i) if *ty == Type::INT8 => i.to_sql(ty, out),
            Param::Int(i) if *ty == Type::INT4 => i32::try_from(i).map_err(|_| mismatch())?.to_sql(ty, out),
            Param::Int(i) if *ty == Type::INT2 => i16::try_from(i).map_err(|_| mismatch())?.to_sql(ty, out),
            Param::Int(i) if *ty == Type::BOOL => (i != 0).to_sql(ty, out),
            Param::Int(i) if *ty == Type::FLOAT8 => (i as f64).to_sql(ty, out),
            Param::Real(f) if *ty == Type::FLOAT8 => f.to_sql(ty, out),
            Param::Text(s) if <&str as PgToSql>::accepts(ty) => s.to_sql(ty, out),
            _ => Err(mismatch().into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, which names the parameter and the type.
        true
    }

    postgres::types::to_sql_checked!();
}

/// A stored value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Val {
    /// SQL NULL.
    #[default]
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
}

/// One result row; each getter takes its column's value out (a row is read once).
#[derive(Debug, Clone, PartialEq)]
pub struct Row(Vec<Val>);

impl Row {
    fn take(&mut self, i: usize) -> Result<Val, DbError> {
        let n = self.0.len();
        self.0.get_mut(i).map(std::mem::take).ok_or_else(|| DbError::Value(format!("column {i} of {n} asked for")))
    }

    /// Column `i` as an integer.
    pub fn int(&mut self, i: usize) -> Result<i64, DbError> {
        self.opt_int(i)?.ok_or_else(|| DbError::Value(format!("column {i} is NULL, an integer was expected")))
    }

    /// Column `i` as an integer or NULL.
    pub fn opt_int(&mut self, i: usize) -> Result<Option<i64>, DbError> {
        match self.take(i)? {
            Val::Null => Ok(None),
            Val::Int(v) => Ok(Some(v)),
            other => Err(DbError::Value(format!("column {i} holds {other:?}, an integer was expected"))),
        }
    }

    /// Column `i` as a flag (an integer, non-zero for true).
    pub fn flag(&mut self, i: usize) -> Result<bool, DbError> {
        Ok(self.int(i)? != 0)
    }

    /// Column `i` as text.
    pub fn text(&mut self, i: usize) -> Result<String, DbError> {
        self.opt_text(i)?.ok_or_else(|| DbError::Value(format!("column {i} is NULL, text was expected")))
    }

    /// Column `i` as text or NULL.
    pub fn opt_text(&mut self, i: usize) -> Result<Option<String>, DbError> {
        match self.take(i)? {
            Val::Null => Ok(None),
            Val::Text(v) => Ok(Some(v)),
            other => Err(DbError::Value(format!("column {i} holds {other:?}, text was expected"))),
        }
    }

    /// Every column as it is stored.
    pub fn into_values(self) -> Vec<Val> {
        self.0
    }

    fn from_lite(r: &rusqlite::Row<'_>, columns: usize) -> rusqlite::Result<Row> {
        let mut out = Vec::with_capacity(columns);
        for i in 0..columns {
            out.push(match r.get_ref(i)? {
                ValueRef::Null => Val::Null,
                ValueRef::Integer(v) => Val::Int(v),
                ValueRef::Real(v) => Val::Real(v),
                ValueRef::Text(t) | ValueRef::Blob(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
            });
        }
        Ok(Row(out))
    }

    fn from_pg(r: &postgres::Row) -> Result<Row, DbError> {
        let mut out = Vec::with_capacity(r.len());
        for (i, column) in r.columns().iter().enumerate() {
            let ty = column.type_();
            let v = if *ty == Type::INT8 {
                r.try_get::<_, Option<i64>>(i)?.map(Val::Int)
            } else if *ty == Type::INT4 {
                r.try_get::<_, Option<i32>>(i)?.map(|v| Val::Int(v.into()))
            } else if *ty == Type::INT2 {
                r.try_get::<_, Option<i16>>(i)?.map(|v| Val::Int(v.into()))
            } else if *ty == Type::BOOL {
                r.try_get::<_, Option<bool>>(i)?.map(|v| Val::Int(v.into()))
            } else if *ty == Type::FLOAT8 {
                r.try_get::<_, Option<f64>>(i)?.map(Val::Real)
            } else if *ty == Type::FLOAT4 {
                r.try_get::<_, Option<f32>>(i)?.map(|v| Val::Real(v.into()))
            } else if <String as postgres::types::FromSql>::accepts(ty) {
                r.try_get::<_, Option<String>>(i)?.map(Val::Text)
            } else {
                return Err(DbError::Value(format!(
                    "column `{}` has PostgreSQL type {ty}, which the store does not read (cast it)",
                    column.name()
                )));
            };
            out.push(v.unwrap_or(Val::Null));
        }
        Ok(Row(out))
    }
}

/// SQLite's `?N` parameters as PostgreSQL's `$N`, outside quoted text.
fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

fn pg_params<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn PgToSql + Sync)> {
    params.iter().map(|p| p as &(dyn PgToSql + Sync)).collect()
}

/// Runs a blocking PostgreSQL call. The `postgres` client drives its own small runtime and
/// cannot block inside ours, so from async code the call leaves the runtime first.
fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        // A current-thread runtime cannot give its thread away; a scoped thread runs the call.
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
        Err(_) => f(),
    }
}

/// Statements a PostgreSQL connection has prepared, by their text: prepared once per connection
/// (they outlive transactions), so a statement costs one round trip rather than two.
pub type StmtCache = HashMap<String, postgres::Statement>;

/// Most statements kept per connection; past it the cache starts again (texts built with a
/// varying number of parameters must not grow it without end).
const STMT_CACHE_MAX: usize = 256;

fn pg_prepared(
    c: &mut (impl GenericClient + Send),
    cache: &mut StmtCache,
    sql: &str,
) -> Result<postgres::Statement, DbError> {
    let sql = pg_sql(sql);
    if let Some(stmt) = cache.get(&sql) {
        return Ok(stmt.clone());
    }
    let stmt = blocking(|| c.prepare(&sql))?;
    if cache.len() >= STMT_CACHE_MAX {
        cache.clear();
    }
    cache.insert(sql, stmt.clone());
    Ok(stmt)
}

fn pg_execute(
    c: &mut (impl GenericClient + Send),
    cache: &mut StmtCache,
    sql: &str,
    params: &[Param<'_>],
) -> Result<usize, DbError> {
    let stmt = pg_prepared(c, cache, sql)?;
    blocking(|| c.execute(&stmt, &pg_params(params))).map(|n| n as usize).map_err(DbError::from)
}

fn pg_query(
    c: &mut (impl GenericClient + Send),
    cache: &mut StmtCache,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<Row>, DbError> {
    let stmt = pg_prepared(c, cache, sql)?;
    let rows = blocking(|| c.query(&stmt, &pg_params(params)))?;
    rows.iter().map(Row::from_pg).collect()
}

fn lite_execute(c: &rusqlite::Connection, sql: &str, params: &[Param<'_>]) -> Result<usize, DbError> {
    Ok(c.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params))?)
}

fn lite_query(c: &rusqlite::Connection, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
    let mut stmt = c.prepare_cached(sql)?;
    let columns = stmt.column_count();
    let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| Row::from_lite(r, columns))?;
    Ok(rows.collect::<rusqlite::Result<Vec<Row>>>()?)
}

/// A `postgres` value whose drop blocks (a client closing, a transaction rolling back): it is
/// dropped outside the async runtime like every other call.
pub struct Blocking<T: Send>(Option<T>);

impl<T: Send> Blocking<T> {
    pub(crate) fn new(value: T) -> Self {
        Blocking(Some(value))
    }

    fn into_inner(mut self) -> Option<T> {
        self.0.take()
    }
}

impl<T: Send> std::ops::Deref for Blocking<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("present until dropped or taken")
    }
}

impl<T: Send> std::ops::DerefMut for Blocking<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("present until dropped or taken")
    }
}

impl<T: Send> Drop for Blocking<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            blocking(move || drop(value));
        }
    }
}

/// A connection to either backend.
// One per `Store`, never in a collection: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Conn {
    /// An SQLite file.
    Lite(rusqlite::Connection),
    /// A PostgreSQL server, and the statements prepared on it.
    Pg(Blocking<postgres::Client>, Box<StmtCache>),
}

/// The operations every connection and transaction offers.
pub trait Exec {
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<usize, DbError>;
    /// Runs a query; all its rows.
    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError>;

    /// The first row of a query, if any.
    fn query_opt(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first row of a query that always answers one (a count, an aggregate).
    fn query_one(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Row, DbError> {
        self.query_opt(sql, params)?.ok_or_else(|| DbError::Value(format!("no row from `{sql}`")))
    }
}

impl Exec for Conn {
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<usize, DbError> {
        match self {
            Conn::Lite(c) => lite_execute(c, sql, params),
            Conn::Pg(c, cache) => pg_execute(&mut **c, cache, sql, params),
        }
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        match self {
            Conn::Lite(c) => lite_query(c, sql, params),
            Conn::Pg(c, cache) => pg_query(&mut **c, cache, sql, params),
        }
    }
}

impl Conn {
    /// Starts a transaction that writes: on SQLite it takes the write lock at once (IMMEDIATE),
    /// so a transaction that reads before it writes waits for another writer instead of
    /// failing; on PostgreSQL rows are locked as they are written (READ COMMITTED).
    pub fn transaction(&mut self) -> Result<Tx<'_>, DbError> {
        match self {
            Conn::Lite(c) => Ok(Tx::Lite(c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)),
            Conn::Pg(c, cache) => {
                let c = &mut **c;
                Ok(Tx::Pg(RefCell::new(Blocking::new(blocking(|| c.transaction())?)), RefCell::new(&mut **cache)))
            }
        }
    }

    /// Runs statements without parameters (schema files).
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Lite(c) => Ok(c.execute_batch(sql)?),
            Conn::Pg(c, _) => {
                let c = &mut **c;
                Ok(blocking(|| c.batch_execute(sql))?)
            }
        }
    }

    /// The SQL expression reading text field `key` of the JSON in `column`.
    pub fn json_text(&self, column: &str, key: &str) -> String {
        match self {
            Conn::Lite(_) => format!("json_extract({column}, '$.{key}')"),
            Conn::Pg(..) => format!("(CAST({column} AS JSON) ->> '{key}')"),
        }
    }

    /// Which backend this is: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Conn::Lite(_) => "sqlite",
            Conn::Pg(..) => "postgres",
        }
    }
}

/// A transaction on either backend; dropped without [`Tx::commit`] it rolls back.
pub enum Tx<'c> {
    /// SQLite.
    Lite(rusqlite::Transaction<'c>),
    /// PostgreSQL, shared by the statements prepared in it, and its connection's statement cache.
    Pg(RefCell<Blocking<postgres::Transaction<'c>>>, RefCell<&'c mut StmtCache>),
}

impl Exec for Tx<'_> {
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<usize, DbError> {
        match self {
            Tx::Lite(t) => lite_execute(t, sql, params),
            Tx::Pg(t, cache) => pg_execute(&mut **t.get_mut(), cache.get_mut(), sql, params),
        }
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        match self {
            Tx::Lite(t) => lite_query(t, sql, params),
            Tx::Pg(t, cache) => pg_query(&mut **t.get_mut(), cache.get_mut(), sql, params),
        }
    }
}

impl<'c> Tx<'c> {
    /// Runs statements without parameters (schema files) inside the transaction.
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Tx::Lite(t) => Ok(t.execute_batch(sql)?),
            Tx::Pg(t, _) => {
                let t = &mut **t.get_mut();
                Ok(blocking(|| t.batch_execute(sql))?)
            }
        }
    }

    /// Makes the transaction durable.
    pub fn commit(self) -> Result<(), DbError> {
        match self {
            Tx::Lite(t) => Ok(t.commit()?),
            Tx::Pg(t, _) => match t.into_inner().into_inner() {
                Some(t) => Ok(blocking(|| t.commit())?),
                None => Ok(()),
            },
        }
    }

    /// Prepares a statement run many times in this transaction (once per row of a batch).
    pub fn prepare(&self, sql: &str) -> Result<Stmt<'_, 'c>, DbError> {
        match self {
            Tx::Lite(t) => Ok(Stmt::Lite(t.prepare_cached(sql)?)),
            Tx::Pg(t, cache) => {
                let stmt = pg_prepared(&mut **t.borrow_mut(), &mut cache.borrow_mut(), sql)?;
                Ok(Stmt::Pg(t, stmt))
            }
        }
    }

    /// Serializes the transactions that name `key` until this one ends. SQLite's write lock
    /// already serializes every writer; PostgreSQL takes a transaction advisory lock.
    pub fn serialize_on(&mut self, key: &str) -> Result<(), DbError> {
        match self {
            Tx::Lite(_) => Ok(()),
            Tx::Pg(..) => self.execute("SELECT pg_advisory_xact_lock(hashtext(?1))", &[Param::Text(key)]).map(drop),
        }
    }

    /// The clause that makes a `SELECT` lock the rows it reads until the transaction ends
    /// (PostgreSQL); SQLite's write lock already holds everything.
    pub fn for_share(&self) -> &'static str {
        match self {
            Tx::Lite(_) => "",
            Tx::Pg(..) => " FOR SHARE",
        }
    }

    /// The clause that makes a claiming `SELECT` skip rows another transaction has locked
    /// (PostgreSQL); SQLite's one writer needs none.
    pub fn skip_locked(&self) -> &'static str {
        match self {
            Tx::Lite(_) => "",
            Tx::Pg(..) => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// A statement prepared in a [`Tx`].
pub enum Stmt<'t, 'c> {
    /// SQLite.
    Lite(rusqlite::CachedStatement<'t>),
    /// PostgreSQL: the transaction it runs in and the prepared statement.
    Pg(&'t RefCell<Blocking<postgres::Transaction<'c>>>, postgres::Statement),
}

impl Stmt<'_, '_> {
    /// Runs it; the number of rows it changed.
    pub fn execute(&mut self, params: &[Param<'_>]) -> Result<usize, DbError> {
        match self {
            Stmt::Lite(s) => Ok(s.execute(rusqlite::params_from_iter(params))?),
            Stmt::Pg(t, s) => {
                let mut guard = t.borrow_mut();
                let (tx, s) = (&mut **guard, &*s);
                Ok(blocking(|| tx.execute(s, &pg_params(params)))? as usize)
            }
        }
    }

    /// Runs it as a query; its first row, if any.
    pub fn query_opt(&mut self, params: &[Param<'_>]) -> Result<Option<Row>, DbError> {
        match self {
            Stmt::Lite(s) => {
                let columns = s.column_count();
                let mut rows = s.query(rusqlite::params_from_iter(params))?;
                Ok(match rows.next()? {
                    Some(r) => Some(Row::from_lite(r, columns)?),
                    None => None,
                })
            }
            Stmt::Pg(t, s) => {
                let mut guard = t.borrow_mut();
                let (tx, s) = (&mut **guard, &*s);
                let rows = blocking(|| tx.query(s, &pg_params(params)))?;
                rows.first().map(Row::from_pg).transpose()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_outside_quotes_only() {
        assert_eq!(
            pg_sql("SELECT '?1', x FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b = $12"
        );
    }

    #[test]
    fn rows_read_back_what_was_written() {
        let mut c = Conn::Lite(rusqlite::Connection::open_in_memory().unwrap());
        c.batch("CREATE TABLE t (i INTEGER, s TEXT, r REAL)").unwrap();
        let maybe: Option<&str> = None;
        c.execute("INSERT INTO t VALUES (?1, ?2, ?3)", args![7i64, "x", 1.5f64]).unwrap();
        c.execute("INSERT INTO t VALUES (?1, ?2, NULL)", args![true, maybe]).unwrap();
        let mut rows = c.query("SELECT i, s, r FROM t ORDER BY i", &[]).unwrap();
        assert_eq!(rows[0].int(0).unwrap(), 1);
        assert_eq!(rows[0].opt_text(1).unwrap(), None);
        assert_eq!(rows[1].int(0).unwrap(), 7);
        assert_eq!(rows[1].text(1).unwrap(), "x");
        assert!(rows[1].int(1).is_err(), "a taken column is NULL now, not a value twice");
        assert!(rows[0].text(2).is_err(), "NULL where text is required is an error");
    }
}
