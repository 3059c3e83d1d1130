//! Everything the database holds: opening and migrating it (an SQLite file or a PostgreSQL
//! server), and the typed operations on it.
//!
//! Architecture invariant: no other module writes SQL. Each write that belongs together (a page
//! of rows and the cursor after it; a claim and its lease) is one transaction here. Every
//! operation is written once for both backends (see [`db`]).

mod claims;
pub mod db;
mod links;
mod outbox;
mod records;
mod state;

pub use claims::{HolderRow, Lease, LeaseRow, TakenBack};
pub use db::{DbError, Param, Row, Val};
pub use links::{LinkAlert, LinkFigures, Unmatched};
pub use outbox::{Claimed, Enqueued, NewEntry, OutboxRow, Settlement};
pub use records::BatchCounts;
pub use state::{RunEnd, ShopOutbox, StreamStatus};

use crate::config::Database;
use chrono::{DateTime, SecondsFormat, Utc};
use db::{Conn, Exec};
use rusqlite::{Connection, OpenFlags};
use std::cell::{Ref, RefCell};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The SQLite schema applied on open; its version lives in `PRAGMA user_version`.
pub const SCHEMA: &str = include_str!("../../schema.sql");
/// The PostgreSQL schema: the same tables and columns; its version lives in `ordersync_schema`.
pub const PG_SCHEMA: &str = include_str!("../../schema.pg.sql");
/// The version `SCHEMA` and `PG_SCHEMA` create.
pub const SCHEMA_VERSION: i64 = 5;
/// The steps that bring a file of an older version up to date: (version it leads to, SQL).
const MIGRATIONS: &[(i64, &str)] = &[
    (2, include_str!("../../migrations/0002.sql")),
    (3, include_str!("../../migrations/0003.sql")),
    (4, include_str!("../../migrations/0004.sql")),
    (5, include_str!("../../migrations/0005.sql")),
];
/// The same for PostgreSQL, whose first version is 4 (migrations/pg/).
const PG_MIGRATIONS: &[(i64, &str)] = &[(5, include_str!("../../migrations/pg/0005.sql"))];
/// How long a write waits for another writer before giving up, unless the config says otherwise.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Serializes schema creation and migration among instances starting at once (PostgreSQL).
const MIGRATION_LOCK: &str = "ordersync schema migration";

/// A database failure, naming the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// PostgreSQL refused an operation, or the connection failed.
    #[error("database {path}: {source}")]
    Postgres {
        /// The database URL, without any password.
        path: PathBuf,
        /// The server's (or the connection's) error.
        source: PgError,
    },
    /// The file could not be opened for writing; `cause` is what the file system said.
    #[error("database {path}: {source} ({cause})")]
    Unwritable {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
        /// The operating system's reason (read-only file system, permission denied, …).
        cause: String,
    },
    /// The database's schema is newer than this binary understands.
    #[error(
        "database {path}: schema version {found} is newer than this ordersync ({SCHEMA_VERSION}); upgrade ordersync"
    )]
    TooNew {
        /// The database.
        path: PathBuf,
        /// The version found.
        found: i64,
    },
    /// The lease a write was made under is no longer this process's (it stalled past it).
    #[error("database {path}: {what}")]
    LeaseLost {
        /// The database.
        path: PathBuf,
        /// Which work, and that nothing was written.
        what: String,
    },
    /// A stored row cannot be read (edited by hand, or by another tool).
    #[error("database {path}: {what}")]
    BadRow {
        /// The database.
        path: PathBuf,
        /// Which row and what is wrong.
        what: String,
    },
}

/// PostgreSQL's error, shown as the server's own message with its detail.
#[derive(Debug)]
pub struct PgError(pub postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&db::pg_text(&self.0))
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl StoreError {
    /// True when another writer held the data past the wait: worth a later retry.
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Sqlite { source, .. } => is_busy(source),
            StoreError::Postgres { source, .. } => db::pg_busy(&source.0),
            _ => false,
        }
    }
}
/// SQLite says only "unable to open database file"; the file system usually knows why.
fn explain_open_failure(path: &Path, e: StoreError) -> StoreError {
    let StoreError::Sqlite { source, .. } = e else { return e };
    if is_busy(&source) {
        return StoreError::Sqlite { path: path.to_path_buf(), source };
    }
    let probe = if path.exists() {
        std::fs::OpenOptions::new().append(true).open(path).map(drop)
    } else {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        tempfile_probe(dir)
    };
    match probe {
        Err(io) => StoreError::Unwritable { path: path.to_path_buf(), source, cause: io.to_string() },
        Ok(()) => StoreError::Sqlite { path: path.to_path_buf(), source },
    }
}

/// Creates the database file 0600 when it does not exist yet, whatever the caller's umask: the
/// file holds buyers' names, phones and addresses. SQLite gives its `-wal` and `-shm` files the
/// main file's mode, so they follow. Any failure is left for SQLite's open to report.
fn create_private(path: &Path) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if !path.exists() {
        if let Ok(file) = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            // The umask may have taken bits off 0600 too (0277 would leave it unwritable).
            let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
        }
    }
}

/// Whether a file can be created in `dir` (created and removed at once).
fn tempfile_probe(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".ordersync-probe-{}", std::process::id()));
    std::fs::File::create(&probe)?;
    std::fs::remove_file(&probe)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// One connection to the database. Each task opens its own; on SQLite, WAL lets readers and a
/// writer share the file, and on PostgreSQL every instance has its own connections.
pub struct Store {
    conn: RefCell<Conn>,
    path: PathBuf,
    /// The configured links, applied inside every commit of a shop they name.
    links: std::sync::Arc<Vec<crate::links::LinkPlan>>,
}

impl Store {
    /// Opens (creating if needed) the SQLite file at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, BUSY_TIMEOUT)
    }

    /// Opens the configured database with a busy timeout of its own (`busy_timeout_ms`).
    pub fn connect(database: &Database, busy_timeout: Duration) -> Result<Store, StoreError> {
        match database {
            Database::Sqlite(path) => Store::open_with(path, busy_timeout),
            Database::Postgres { url, password } => {
                Store::connect_pg(url, password.as_ref().map(|p| p.expose()), busy_timeout)
            }
        }
    }

    /// [`Store::open`] with a busy timeout of its own (the daemon's `busy_timeout_ms`).
    pub fn open_with(path: &Path, busy_timeout: Duration) -> Result<Store, StoreError> {
        create_private(path);
        let opened = (|| {
            let flags =
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags)
                .map_err(|source| StoreError::Sqlite { path: path.to_path_buf(), source })?;
            let mut store =
                Store { conn: RefCell::new(Conn::Lite(conn)), path: path.to_path_buf(), links: Default::default() };
            store.configure(busy_timeout)?;
            store.migrate()?;
            Ok(store)
        })();
        opened.map_err(|e| explain_open_failure(path, e))
    }

    /// Connects to the PostgreSQL server at `url` and brings its schema up to date.
    fn connect_pg(url: &str, password: Option<&str>, busy_timeout: Duration) -> Result<Store, StoreError> {
        let shown = PathBuf::from(db::redacted(url));
        let fail = |e: DbError| Store::error_at(&shown, e);
        let mut config: postgres::Config = url.parse().map_err(|e| fail(DbError::Postgres(e)))?;
        if let Some(password) = password {
            config.password(password);
        }
        config.application_name("ordersync").connect_timeout(busy_timeout.max(Duration::from_secs(1)));
        // Waiting on a row lock longer than a write waits on SQLite is a failure, retried later.
        config.options(&format!("-c lock_timeout={}", busy_timeout.as_millis().max(1)));
        let client = db::connect_pg(&config).map_err(fail)?;
        let mut store = Store {
            conn: RefCell::new(Conn::Pg(db::Blocking::new(client), Box::default())),
            path: shown,
            links: Default::default(),
        };
        store.migrate_pg()?;
        Ok(store)
    }

    fn configure(&mut self, busy_timeout: Duration) -> Result<(), StoreError> {
        let path = self.path.clone();
        let conn = self.lite_mut();
        let e = |source| StoreError::Sqlite { path: path.clone(), source };
        conn.busy_timeout(busy_timeout).map_err(e)?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;").map_err(e)?;
        // Switching to WAL needs a moment alone with the file and SQLite does not wait for it
        // (no busy handler), so a first open racing another one retries here.
        let deadline = std::time::Instant::now() + busy_timeout;
        loop {
            let mode: rusqlite::Result<String> = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0));
            match mode {
                Ok(_) => return Ok(()),
                Err(err) if is_busy(&err) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(err) => return Err(e(err)),
            }
        }
    }

    fn lite_mut(&mut self) -> &mut Connection {
        match self.conn.get_mut() {
            Conn::Lite(c) => c,
            Conn::Pg(..) => unreachable!("SQLite set-up runs on SQLite connections only"),
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite { path: path.clone(), source };
        // A migration may rebuild a table (SQLite's documented way to reorder columns); with
        // foreign keys on, dropping the old `orders` would cascade to every line. The pragma
        // has no effect inside a transaction, so it is set around it.
        self.lite_mut().execute_batch("PRAGMA foreign_keys = OFF").map_err(e)?;
        let migrated = self.migrate_in_transaction();
        self.lite_mut().execute_batch("PRAGMA foreign_keys = ON").map_err(e)?;
        migrated
    }

    fn migrate_in_transaction(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite { path: path.clone(), source };
        // IMMEDIATE: two first opens must not both read version 0 and then both apply the schema.
        let tx = self.lite_mut().transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(e)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(e)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path, found: version });
        }
        if version == 0 {
            tx.execute_batch(SCHEMA).map_err(e)?;
        } else {
            // A table rebuild drops what others built on the table (an ERP's own index or
            // trigger): keep their definitions and build them again on the new table.
            let theirs: Vec<String> = tx
                .prepare(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'orders' AND type IN ('index', 'trigger')
                     AND sql IS NOT NULL AND name NOT IN ('orders_by_platform_id', 'orders_by_status', 'orders_by_raw_hash')",
                )
                .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
                .map_err(e)?;
            // Views naming `orders` must not stop the rename that ends a rebuild (SQLite checks
            // every view against the schema while the old table is gone).
            tx.execute_batch("PRAGMA legacy_alter_table = ON").map_err(e)?;
            for (_, sql) in MIGRATIONS.iter().filter(|(to, _)| *to > version) {
                tx.execute_batch(sql).map_err(e)?;
            }
            tx.execute_batch("PRAGMA legacy_alter_table = OFF").map_err(e)?;
            if version < 3 {
                for sql in &theirs {
                    tx.execute_batch(sql).map_err(e)?;
                }
            }
        }
        if version < SCHEMA_VERSION {
            // A rebuild must leave every reference whole before it commits.
            let broken: i64 =
                tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).map_err(e)?;
            if broken > 0 {
                return Err(StoreError::Sqlite {
                    path,
                    source: rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                        Some(format!("migration to version {SCHEMA_VERSION} left {broken} rows without their parent; nothing was changed")),
                    ),
                });
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    /// Creates or migrates the PostgreSQL schema, one starting instance at a time.
    fn migrate_pg(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let fail = |e: DbError| Store::error_at(&path, e);
        let mut conn = self.conn.borrow_mut();
        let mut tx = conn.transaction().map_err(fail)?;
        tx.serialize_on(MIGRATION_LOCK).map_err(fail)?;
        let exists = tx
            .query_one("SELECT CASE WHEN to_regclass('ordersync_schema') IS NULL THEN 0 ELSE 1 END", &[])
            .and_then(|mut r| r.flag(0))
            .map_err(fail)?;
        let version = if exists {
            tx.query_opt("SELECT version FROM ordersync_schema", &[])
                .and_then(|r| r.map(|mut r| r.int(0)).transpose())
                .map_err(fail)?
                .unwrap_or(0)
        } else {
            0
        };
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path, found: version });
        }
        if version == 0 {
            tx.batch(PG_SCHEMA).map_err(fail)?;
        } else {
            for (_, sql) in PG_MIGRATIONS.iter().filter(|(to, _)| *to > version) {
                tx.batch(sql).map_err(fail)?;
            }
        }
        if version < SCHEMA_VERSION {
            tx.execute("DELETE FROM ordersync_schema", &[]).map_err(fail)?;
            tx.execute("INSERT INTO ordersync_schema (version) VALUES (?1)", db::args![SCHEMA_VERSION])
                .map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    /// This store with `links` applied inside every commit of a shop they name.
    pub fn with_links(self, links: std::sync::Arc<Vec<crate::links::LinkPlan>>) -> Store {
        Store { links, ..self }
    }

    /// The database: the SQLite file, or the PostgreSQL URL without its password.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// False once the connection is known broken (a PostgreSQL server that closed it): not
    /// worth keeping for reuse.
    pub fn is_usable(&self) -> bool {
        match &*self.conn.borrow() {
            Conn::Lite(_) => true,
            Conn::Pg(client, _) => !client.is_closed(),
        }
    }

    /// Which backend this is: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.conn.borrow().backend()
    }

    /// Checks the data is sound: SQLite's own consistency check (`ok` when the file is sound);
    /// PostgreSQL keeps its own, and `ok` means the server answers.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        match &mut *self.conn.borrow_mut() {
            Conn::Lite(c) => c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| self.err(e.into())),
            c @ Conn::Pg(..) => c.query_one("SELECT 'ok'", &[]).and_then(|mut r| r.text(0)).map_err(|e| self.err(e)),
        }
    }

    /// The SQLite connection, for tests and reports that need ad-hoc SQLite queries. Panics on
    /// PostgreSQL: use [`Store::query`], which runs on both.
    pub fn connection(&self) -> Ref<'_, Connection> {
        Ref::map(self.conn.borrow(), |c| match c {
            Conn::Lite(c) => c,
            Conn::Pg(..) => panic!("Store::connection is SQLite only; use Store::query"),
        })
    }

    /// Runs an ad-hoc read query (`?1` parameters) on either backend: for tests and reports.
    pub fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, StoreError> {
        self.conn.borrow_mut().query(sql, params).map_err(|e| self.err(e))
    }

    /// Runs one statement (`?1` parameters) outside a transaction on either backend; the rows it
    /// changed. Also for tests and admin tools.
    pub fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<usize, StoreError> {
        self.conn.borrow_mut().execute(sql, params).map_err(|e| self.err(e))
    }

    /// Every row of a query, each turned into a `T` by `read`.
    fn rows<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        read: impl FnMut(Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.query(sql, params)?;
        rows.into_iter().map(read).collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The first row of a query, if any, turned into a `T` by `read`.
    fn row<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        read: impl FnOnce(Row) -> Result<T, DbError>,
    ) -> Result<Option<T>, StoreError> {
        let row = self.conn.borrow_mut().query_opt(sql, params).map_err(|e| self.err(e))?;
        row.map(read).transpose().map_err(|e| self.err(e))
    }

    /// Runs `work` in one write transaction and commits it (rolled back when `work` fails).
    fn write<T>(&self, work: impl FnOnce(&mut db::Tx<'_>) -> Result<T, DbError>) -> Result<T, StoreError> {
        let mut conn = self.conn.borrow_mut();
        let done = (|| {
            let mut tx = conn.transaction()?;
            let out = work(&mut tx)?;
            tx.commit()?;
            Ok(out)
        })();
        done.map_err(|e| self.err(e))
    }

    /// The SQL expression reading text field `key` of the JSON in `column`.
    fn json_field(&self, column: &str, key: &str) -> String {
        self.conn.borrow().json_text(column, key)
    }

    /// The error of a failed operation on this database.
    fn err(&self, e: DbError) -> StoreError {
        Store::error_at(&self.path, e)
    }

    fn error_at(path: &Path, e: DbError) -> StoreError {
        let path = path.to_path_buf();
        match e {
            DbError::Sqlite(source) => StoreError::Sqlite { path, source },
            DbError::Postgres(source) => StoreError::Postgres { path, source: PgError(source) },
            DbError::Value(what) => StoreError::BadRow { path, what },
            DbError::LeaseLost(what) => StoreError::LeaseLost { path, what },
        }
    }
}

/// The text form of a time in the database: RFC 3339, UTC, milliseconds (sorts as text).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The text form of a vendor time: RFC 3339, UTC, whole seconds.
pub fn vendor_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stable 64-bit hash of `parts`, as hex (see [`Fingerprint`]).
pub fn fingerprint(parts: &[&str]) -> String {
    let mut f = Fingerprint::default();
    for part in parts {
        f.add(part);
    }
    f.finish()
}

/// The hash of a row's raw JSON exactly as received, salted with this build's version: equal
/// only when the vendor sent the same bytes and the same readers would read them, so a row whose
/// hash is stored needs no reading at all (a new release reads every row once more).
pub fn raw_hash(raw_json: &str) -> i64 {
    let mut f = Fingerprint::default();
    // Stored as SQLite's INTEGER (a signed 64-bit): the same bits, compared faster than text.
    f.add(env!("CARGO_PKG_VERSION")).add(raw_json).value() as i64
}

/// Builds a row's fingerprint, the hash that tells an unchanged row from a changed one.
/// XXH3: specified and stable across builds and machines (unlike std's hasher, which a stored
/// value must never depend on), and fast enough to hash every raw row a pass reads.
pub struct Fingerprint(twox_hash::XxHash3_64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(twox_hash::XxHash3_64::with_seed(0))
    }
}

impl Fingerprint {
    /// Adds one part; parts are separated, so ("ab", "c") and ("a", "bc") differ.
    pub fn add(&mut self, part: &str) -> &mut Self {
        use std::hash::Hasher;
        self.0.write(part.as_bytes());
        self.0.write(&[0x1f]);
        self
    }

    /// The hash.
    pub fn value(&self) -> u64 {
        use std::hash::Hasher;
        self.0.finish()
    }

    /// The hash as 16 hex digits.
    pub fn finish(&self) -> String {
        format!("{:016x}", self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_twice_and_reports_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        Store::open(&path).unwrap();
        let store = Store::open(&path).unwrap();
        let v: i64 = store.connection().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String = store.connection().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }

    /// A version-1 file (the schema before exact quantities) is brought up to date in place,
    /// keeping its rows: the orders table is rebuilt (version 3) and its lines are not cascaded.
    #[test]
    fn migrates_a_version_1_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE orders (shop_id TEXT NOT NULL, order_no TEXT NOT NULL, platform TEXT NOT NULL,
                    platform_order_id TEXT, status TEXT NOT NULL, platform_status TEXT NOT NULL, payment_status TEXT,
                    refund_status TEXT, currency TEXT NOT NULL, total_minor INTEGER NOT NULL,
                    shipping_minor INTEGER NOT NULL, buyer_name TEXT, buyer_phone TEXT, ship_address TEXT,
                    external_ref TEXT, created_at TEXT NOT NULL, updated_at TEXT, synced_at TEXT NOT NULL,
                    raw_json TEXT NOT NULL, fingerprint TEXT NOT NULL, PRIMARY KEY (shop_id, order_no));
                 INSERT INTO orders VALUES ('s', 'o', 'ymcart', '7', 'shipped', '301', NULL, NULL, 'CNY', 100, 0,
                    NULL, NULL, NULL, NULL, '2024-01-01T00:00:00Z', NULL, '2024-01-01T00:00:00Z', '{}', 'fp');
                 CREATE TABLE order_lines (shop_id TEXT NOT NULL, order_no TEXT NOT NULL, line_no INTEGER NOT NULL,
                    sku TEXT NOT NULL, name TEXT NOT NULL, quantity INTEGER NOT NULL, unit_price_minor INTEGER NOT NULL,
                    PRIMARY KEY (shop_id, order_no, line_no),
                    FOREIGN KEY (shop_id, order_no) REFERENCES orders (shop_id, order_no) ON DELETE CASCADE);
                 CREATE TABLE sync_state (shop_id TEXT NOT NULL, stream TEXT NOT NULL, cursor TEXT,
                    last_started_at TEXT, last_finished_at TEXT, last_success_at TEXT, last_error TEXT,
                    PRIMARY KEY (shop_id, stream));
                 CREATE TABLE sync_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, shop_id TEXT NOT NULL,
                    stream TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, ok INTEGER,
                    rows_seen INTEGER NOT NULL DEFAULT 0, rows_changed INTEGER NOT NULL DEFAULT 0, error TEXT);
                 CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, shop_id TEXT NOT NULL,
                    kind TEXT NOT NULL, order_no TEXT NOT NULL, payload TEXT NOT NULL, dedupe_key TEXT NOT NULL UNIQUE,
                    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at TEXT NOT NULL, lease_until TEXT, needs_read_back INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT, created_at TEXT NOT NULL, done_at TEXT, settled_by TEXT);
                 INSERT INTO outbox (shop_id, kind, order_no, payload, dedupe_key, state, next_attempt_at, lease_until, created_at)
                    VALUES ('s', 'remark', 'o', '{}', 'k', 'in_flight', '2024-01-01', '2024-01-01', '2024-01-01');
                 INSERT INTO order_lines VALUES ('s', 'o', 1, 'k', 'n', 3, 100);
                 CREATE INDEX erp_orders_by_total ON orders (total_minor);
                 CREATE VIEW erp_open_orders AS SELECT order_no FROM orders WHERE status != 'completed';
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let (q, exact): (i64, Option<String>) = store
            .connection()
            .query_row("SELECT quantity, quantity_exact FROM order_lines", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((q, exact), (3, None), "the line survived the rebuild of its order's table");
        let (status, fp, raw): (String, String, String) = store
            .connection()
            .query_row("SELECT status, fingerprint, raw_json FROM orders", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((status.as_str(), fp.as_str(), raw.as_str()), ("shipped", "fp", "{}"));
        let columns: Vec<String> = store
            .connection()
            .prepare("SELECT name FROM pragma_table_info('orders')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(columns.last().map(String::as_str), Some("raw_json"), "raw JSON is the last column");
        let open: String =
            store.connection().query_row("SELECT order_no FROM erp_open_orders", [], |r| r.get(0)).unwrap();
        assert_eq!(open, "o", "a view others made on orders still reads it");
        let theirs: i64 = store
            .connection()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'erp_orders_by_total' AND tbl_name = 'orders'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(theirs, 1, "an index others made on orders is built again");
        let fk: i64 = store.connection().query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
        assert_eq!(fk, 1, "foreign keys are on again after the migration");
        store.connection().prepare("SELECT incomplete FROM sync_state").unwrap();
        store.connection().prepare("SELECT shortfall FROM sync_runs").unwrap();
        let (state, holder): (String, Option<String>) = store
            .connection()
            .query_row("SELECT state, holder FROM outbox", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((state.as_str(), holder), ("in_flight", None), "an entry in flight keeps its lease, no holder");
        for table in ["holders", "leases", "rate_slots", "order_links", "link_orders", "link_forwards", "link_alerts"] {
            store.connection().prepare(&format!("SELECT * FROM {table}")).unwrap();
        }
        let v: i64 = store.connection().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    /// A version-4 file (before links) gets the link tables and version 5, keeping its rows.
    #[test]
    fn migrates_a_version_4_file_to_5() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let store = Store::open(&path).unwrap();
            store
                .connection()
                .execute_batch(
                    "DROP TABLE order_links; DROP TABLE link_orders; DROP TABLE link_forwards; DROP TABLE link_alerts;
                     INSERT INTO orders (shop_id, order_no, platform, status, platform_status, currency, total_minor,
                        shipping_minor, created_at, synced_at, fingerprint, raw_json)
                     VALUES ('s', 'o', 'ymcart', 'pending', '100', 'CNY', 1, 0, 't', 't', 'f', '{}');
                     PRAGMA user_version = 4;",
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let v: i64 = store.connection().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, 5);
        for table in ["order_links", "link_orders", "link_forwards", "link_alerts"] {
            store.connection().prepare(&format!("SELECT * FROM {table}")).unwrap();
        }
        let orders: i64 = store.connection().query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0)).unwrap();
        assert_eq!(orders, 1, "rows are kept");
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = Store::open(&path).err().unwrap().to_string();
        assert!(err.contains("db.sqlite") && err.contains("99"), "{err}");
    }
}
