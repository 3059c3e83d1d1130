//! Everything SQLite: opening and migrating the database, and the typed operations on it.
//!
//! Architecture invariant: no other module writes SQL. Each write that belongs together (a page
//! of rows and the cursor after it; a claim and its lease) is one transaction here.

mod links;
mod outbox;
mod records;
mod state;

pub use links::{LinkAlert, LinkFigures, Unmatched};
pub use outbox::{Claimed, Enqueued, NewEntry, OutboxRow, Settlement};
pub use records::BatchCounts;
pub use state::{RunEnd, ShopOutbox, StreamStatus};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema applied on open; its version lives in `PRAGMA user_version`.
pub const SCHEMA: &str = include_str!("../../schema.sql");
/// The version `SCHEMA` creates.
pub const SCHEMA_VERSION: i64 = 5;
/// The steps that bring a file of an older version up to date: (version it leads to, SQL).
/// Version 4 is left to another branch's migration; the loop skips what it does not hold.
const MIGRATIONS: &[(i64, &str)] = &[
    (2, include_str!("../../migrations/0002.sql")),
    (3, include_str!("../../migrations/0003.sql")),
    (5, include_str!("../../migrations/0005.sql")),
];
/// How long a write waits for another writer before giving up, unless the config says otherwise.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A database failure, naming the file.
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
    /// The file's schema is newer than this binary understands.
    #[error(
        "database {path}: schema version {found} is newer than this ordersync ({SCHEMA_VERSION}); upgrade ordersync"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found.
        found: i64,
    },
    /// A stored row cannot be read (edited by hand, or by another tool).
    #[error("database {path}: {what}")]
    BadRow {
        /// The database file.
        path: PathBuf,
        /// Which row and what is wrong.
        what: String,
    },
}

impl StoreError {
    /// True when another writer held the database past the busy timeout: worth a later retry.
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Sqlite { source, .. } if is_busy(source))
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

/// One connection to the database. Each task opens its own; WAL lets readers and a writer share.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The configured links, applied inside every commit of a shop they name.
    links: std::sync::Arc<Vec<crate::links::LinkPlan>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, BUSY_TIMEOUT)
    }

    /// [`Store::open`] with a busy timeout of its own (the daemon's `busy_timeout_ms`).
    pub fn open_with(path: &Path, busy_timeout: Duration) -> Result<Store, StoreError> {
        create_private(path);
        let opened = (|| {
            let flags =
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags)
                .map_err(|source| StoreError::Sqlite { path: path.to_path_buf(), source })?;
            let mut store = Store { conn, path: path.to_path_buf(), links: Default::default() };
            store.configure(busy_timeout)?;
            store.migrate()?;
            Ok(store)
        })();
        opened.map_err(|e| explain_open_failure(path, e))
    }

    fn configure(&mut self, busy_timeout: Duration) -> Result<(), StoreError> {
        self.conn.busy_timeout(busy_timeout).map_err(|e| self.err(e))?;
        self.conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;").map_err(|e| self.err(e))?;
        // Switching to WAL needs a moment alone with the file and SQLite does not wait for it
        // (no busy handler), so a first open racing another one retries here.
        let deadline = std::time::Instant::now() + busy_timeout;
        loop {
            let mode: rusqlite::Result<String> = self.conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0));
            match mode {
                Ok(_) => return Ok(()),
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite { path: path.clone(), source };
        // A migration may rebuild a table (SQLite's documented way to reorder columns); with
        // foreign keys on, dropping the old `orders` would cascade to every line. The pragma
        // has no effect inside a transaction, so it is set around it.
        self.conn.execute_batch("PRAGMA foreign_keys = OFF").map_err(e)?;
        let migrated = self.migrate_in_transaction();
        self.conn.execute_batch("PRAGMA foreign_keys = ON").map_err(e)?;
        migrated
    }

    fn migrate_in_transaction(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite { path: path.clone(), source };
        // IMMEDIATE: two first opens must not both read version 0 and then both apply the schema.
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(e)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(e)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path: self.path.clone(), found: version });
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
                    path: self.path.clone(),
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

    /// This store with `links` applied inside every commit of a shop they name.
    pub fn with_links(self, links: std::sync::Arc<Vec<crate::links::LinkPlan>>) -> Store {
        Store { links, ..self }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs SQLite's own consistency check; `ok` when the file is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// Read-only access for tests and reports that need ad-hoc queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.path.clone(), source }
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
        let v: i64 = store.connection().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    /// A version-3 file (before links) gets the link tables and version 5; version 4 belongs to
    /// another migration and its absence here is skipped.
    #[test]
    fn migrates_a_version_3_file_to_5_past_the_gap() {
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
                     PRAGMA user_version = 3;",
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
