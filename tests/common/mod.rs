//! Test helpers: a simulator on 127.0.0.1:0 plus a fresh config and database per test.
#![allow(dead_code)]

use ordersync::config::Database;
use ordersync::runtime::{load_config, Runtime};
use ordersync::sim::ymcart::YmSim;
use ordersync::sim::SimHandle;
use ordersync::store::{Param, Store};

pub mod pg;
use std::path::PathBuf;
use tempfile::TempDir;

/// The token every YMCart test shop uses.
pub const TOKEN: &str = "test-token-ym";
/// The shop id every YMCart test shop uses.
pub const SHOP: &str = "ym-test";

/// The daemon-wide part of every test config: fast retries, short leases.
const HEADER: &str = r#"
[daemon]
database = "ordersync.db"
timezone = "Asia/Shanghai"
drain_timeout_secs = 10

[push]
schedule = "* * * * * *"
max_attempts = 10
lease_secs = 2
retry_base_ms = 10
retry_max_secs = 1

"#;

/// The `[http]` section of test configs unless a test gives its own.
pub const HTTP: &str = "[http]\nretries = 6\nretry_initial_ms = 10\nrequest_timeout_secs = 5\n";

/// A test's folder: the config file, secret files and, on SQLite, the database.
pub struct TestDir {
    pub dir: TempDir,
    pub config_path: PathBuf,
    /// The test's database: `ordersync.db` in the folder, or under
    /// `ORDERSYNC_TEST_BACKEND=postgres` a fresh database on the throwaway cluster.
    pub database: Database,
    /// One connection kept for reading ([`TestDir::reader`]): on PostgreSQL each new connection
    /// costs a server process, too slow to open once per row a test compares.
    reader: std::cell::OnceCell<Store>,
}

/// The backend tests run on: `postgres` when `ORDERSYNC_TEST_BACKEND=postgres`, else `sqlite`.
pub fn backend() -> &'static str {
    match std::env::var("ORDERSYNC_TEST_BACKEND").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

impl TestDir {
    /// An empty folder.
    pub fn new() -> TestDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("ordersync.toml");
        let database = match backend() {
            "postgres" => {
                if let Some(why) = pg::unavailable() {
                    panic!("ORDERSYNC_TEST_BACKEND=postgres but PostgreSQL cannot run here: {why}");
                }
                let url = pg::fresh_database().expect("a fresh PostgreSQL database");
                Database::Postgres { url, password: None }
            }
            _ => Database::Sqlite(dir.path().join("ordersync.db")),
        };
        TestDir { dir, config_path, database, reader: std::cell::OnceCell::new() }
    }

    /// The `database = ...` value for the config file.
    pub fn database_setting(&self) -> String {
        match &self.database {
            Database::Sqlite(_) => "ordersync.db".to_string(),
            Database::Postgres { url, .. } => url.clone(),
        }
    }

    /// Whether the test's database exists yet (on PostgreSQL it always does).
    pub fn database_exists(&self) -> bool {
        match &self.database {
            Database::Sqlite(path) => path.exists(),
            Database::Postgres { .. } => true,
        }
    }

    /// Writes a secret file (readable by its owner only) and returns its path.
    pub fn secret(&self, name: &str, value: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{value}\n")).expect("secret file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path.display().to_string()
    }

    /// Writes the config: the common header followed by `shops` (TOML `[[shops]]` blocks).
    pub fn write_config(&self, shops: &str) {
        self.write_config_with(HTTP, shops);
    }

    /// Writes the config with its own `[http]` section.
    pub fn write_config_with(&self, http: &str, shops: &str) {
        let header = HEADER.replace("\"ordersync.db\"", &format!("\"{}\"", self.database_setting()));
        std::fs::write(&self.config_path, format!("{header}\n{http}\n{shops}")).expect("config written");
    }

    /// A runtime built from the current config file.
    pub fn runtime(&self) -> Runtime {
        let config = load_config(&self.config_path).expect("valid config");
        Runtime::new(config, None).expect("runtime")
    }

    /// A connection to the test database.
    pub fn store(&self) -> Store {
        Store::connect(&self.database, std::time::Duration::from_secs(10)).expect("database opens")
    }

    /// `ordersync run` on this folder's config, its output discarded.
    pub fn spawn_daemon(&self) -> std::process::Child {
        std::process::Command::new(env!("CARGO_BIN_EXE_ordersync"))
            .arg("--config")
            .arg(&self.config_path)
            .arg("run")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("daemon starts")
    }

    /// A connection kept open for the test's reads (each query sees every commit before it).
    pub fn reader(&self) -> &Store {
        self.reader.get_or_init(|| self.store())
    }
}

/// A YMCart test world: a simulator and one shop configured against it.
pub struct TestEnv {
    pub sim: YmSim,
    pub handle: SimHandle,
    pub test_dir: TestDir,
    pub dir: PathBuf,
    pub config_path: PathBuf,
}

/// Starts a YMCart simulator with `orders` orders over the last `days` days and writes a config.
pub async fn spawn_ymcart(orders: usize, days: u32, seed: u64) -> TestEnv {
    let sim = YmSim::new(seed);
    sim.add_shop(TOKEN, orders, days);
    let handle = sim.serve().await.expect("simulator starts");
    let test_dir = TestDir::new();
    let env = TestEnv {
        sim,
        handle,
        dir: test_dir.dir.path().to_path_buf(),
        config_path: test_dir.config_path.clone(),
        test_dir,
    };
    env.write_config(50, "");
    env
}

impl TestEnv {
    /// (Re)writes the config: one YMCart shop with `rate` requests/s; `extra` is appended to the shop.
    pub fn write_config(&self, rate: u32, extra: &str) {
        self.write_config_with(HTTP, rate, extra);
    }

    /// (Re)writes the config with its own `[http]` section.
    pub fn write_config_with(&self, http: &str, rate: u32, extra: &str) {
        let token = self.test_dir.secret("ym.token", TOKEN);
        self.test_dir.write_config_with(
            http,
            &format!(
                r#"
[[shops]]
id = "{SHOP}"
platform = "ymcart"
base_url = "{base}"
token_file = "{token}"
rate_limit_per_sec = {rate}
backfill_days = 30
{extra}
[shops.schedule]
orders = "*/2 * * * * *"
shipments = "*/2 * * * * *"
"#,
                base = self.handle.base_url(),
            ),
        );
    }

    /// A runtime built from the current config file.
    pub fn runtime(&self) -> Runtime {
        self.test_dir.runtime()
    }

    /// A connection to the test database.
    pub fn store(&self) -> Store {
        self.test_dir.store()
    }
}

/// Every row of `table` as text, ordered, for before/after comparisons.
pub fn snapshot(store: &Store, table: &str) -> Vec<String> {
    let sql = format!("SELECT * FROM {table} ORDER BY 1, 2, 3");
    let rows = store.query(&sql, &[]).expect("query");
    rows.into_iter().map(|r| r.into_values().iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join("|")).collect()
}

/// A single integer from a query.
pub fn count(store: &Store, sql: &str) -> i64 {
    let mut rows = store.query(sql, &[]).expect("count query");
    rows.first_mut().expect("a row").int(0).expect("an integer")
}

/// The text in the first column of a query's first row (None for NULL or no row).
pub fn text(store: &Store, sql: &str) -> Option<String> {
    let mut rows = store.query(sql, &[]).expect("text query");
    rows.first_mut().and_then(|r| r.opt_text(0).expect("text or NULL"))
}

/// True (and says so) when the test is about SQLite itself (`what`) and the run is on
/// PostgreSQL, where it has no meaning: the caller returns. Not a skip for lack of a tool.
pub fn sqlite_only(what: &str) -> bool {
    let other = backend() != "sqlite";
    if other {
        eprintln!("not run on {}: this test is about {what}", backend());
    }
    other
}

/// Says a test cannot run on this machine and why. Under `ORDERSYNC_REQUIRE_ALL_TESTS=1` (set by
/// `.ci/run`) that is a failure naming what was missing, so CI can never pass on a skipped test.
pub fn skip(lacking: &str) {
    if std::env::var("ORDERSYNC_REQUIRE_ALL_TESTS").is_ok_and(|v| v == "1") {
        panic!("ORDERSYNC_REQUIRE_ALL_TESTS=1 but this test cannot run: {lacking}");
    }
    eprintln!("SKIPPED: {lacking}");
}

/// An order as stored, every column a test compares with a simulator's truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrderRow {
    pub status: String,
    pub platform_status: String,
    pub payment_status: Option<String>,
    pub total_minor: i64,
    pub shipping_minor: i64,
    pub buyer_name: Option<String>,
    pub buyer_phone: Option<String>,
    pub external_ref: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// (sku, name, quantity_exact, unit_price_minor), in line order.
    pub lines: Vec<(String, String, String, i64)>,
}

/// The stored order `order_no` of `shop`, with its lines; None when it is not stored.
pub fn stored_order(store: &Store, shop: &str, order_no: &str) -> Option<StoredOrderRow> {
    let args = [Param::Text(shop), Param::Text(order_no)];
    let mut r = store
        .query(
            "SELECT status, platform_status, payment_status, total_minor, shipping_minor, buyer_name, buyer_phone,
                external_ref, created_at, updated_at FROM orders WHERE shop_id = ?1 AND order_no = ?2",
            &args,
        )
        .expect("order query")
        .into_iter()
        .next()?;
    let mut row = StoredOrderRow {
        status: r.text(0).unwrap(),
        platform_status: r.text(1).unwrap(),
        payment_status: r.opt_text(2).unwrap(),
        total_minor: r.int(3).unwrap(),
        shipping_minor: r.int(4).unwrap(),
        buyer_name: r.opt_text(5).unwrap(),
        buyer_phone: r.opt_text(6).unwrap(),
        external_ref: r.opt_text(7).unwrap(),
        created_at: r.text(8).unwrap(),
        updated_at: r.opt_text(9).unwrap(),
        lines: Vec::new(),
    };
    row.lines = store
        .query(
            "SELECT sku, name, COALESCE(quantity_exact, CAST(quantity AS TEXT)), unit_price_minor FROM order_lines
             WHERE shop_id = ?1 AND order_no = ?2 ORDER BY line_no",
            &args,
        )
        .expect("lines")
        .into_iter()
        .map(|mut l| (l.text(0).unwrap(), l.text(1).unwrap(), l.text(2).unwrap(), l.int(3).unwrap()))
        .collect();
    Some(row)
}

/// A stored shipment: (order_no, carrier, tracking_no).
pub type ShipmentRow = (Option<String>, Option<String>, Option<String>);

/// Every stored shipment of `shop`: id → (order_no, carrier, tracking_no).
pub fn stored_shipments(store: &Store, shop: &str) -> std::collections::BTreeMap<String, ShipmentRow> {
    store
        .query(
            "SELECT shipment_id, order_no, carrier, tracking_no FROM shipments WHERE shop_id = ?1",
            &[Param::Text(shop)],
        )
        .expect("shipments")
        .into_iter()
        .map(|mut r| (r.text(0).unwrap(), (r.opt_text(1).unwrap(), r.opt_text(2).unwrap(), r.opt_text(3).unwrap())))
        .collect()
}

/// Every stored refund of `shop`: id → (order_no, status, amount_minor).
pub fn stored_refunds(store: &Store, shop: &str) -> std::collections::BTreeMap<String, (String, String, i64)> {
    store
        .query("SELECT refund_id, order_no, status, amount_minor FROM refunds WHERE shop_id = ?1", &[Param::Text(shop)])
        .expect("refunds")
        .into_iter()
        .map(|mut r| (r.text(0).unwrap(), (r.text(1).unwrap(), r.text(2).unwrap(), r.int(3).unwrap())))
        .collect()
}

/// RFC 3339 UTC, whole seconds: how the database writes a vendor time given in unix seconds.
pub fn utc(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).expect("in range").to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The row the database must hold for a YMCart order, from the simulator's truth alone (its own
/// status tables, its own amounts in fen): nothing here comes from the connector.
pub fn ymcart_expected_row(t: &ordersync::sim::ymcart::TruthOrder) -> StoredOrderRow {
    StoredOrderRow {
        status: t.unified_status.to_string(),
        platform_status: t.order_status.to_string(),
        payment_status: t.unified_payment.map(str::to_string),
        total_minor: t.total_fen,
        shipping_minor: t.shipping_fen,
        buyer_name: t.ship_name.clone(),
        buyer_phone: t.ship_phone.clone(),
        external_ref: t.outer_itemno.clone(),
        created_at: utc(t.create_time),
        updated_at: (t.act_time != 0).then(|| utc(t.act_time)),
        lines: t
            .lines
            .iter()
            .map(|l| (l.sku.clone(), l.name.clone(), l.quantity.to_string(), l.unit_price_fen))
            .collect(),
    }
}

/// The stored shipments of the YMCart test shop are exactly `truth`: (order, carrier, tracking)
/// by id, and `shipped_at` in UTC (the simulator stamps a delivery when it is created).
pub fn assert_ymcart_deliveries(store: &Store, truth: &[ordersync::sim::ymcart::TruthDelivery]) {
    use std::collections::BTreeMap;
    let expected: BTreeMap<_, _> = truth
        .iter()
        .map(|d| (d.id.to_string(), (Some(d.itemno.clone()), Some(d.corp_name.clone()), Some(d.delivery_no.clone()))))
        .collect();
    assert_eq!(stored_shipments(store, SHOP), expected, "shipments: (order_no, carrier, tracking_no) by id");
    let shipped_at: BTreeMap<String, Option<String>> = store
        .query("SELECT shipment_id, shipped_at FROM shipments WHERE shop_id = ?1", &[Param::Text(SHOP)])
        .unwrap()
        .into_iter()
        .map(|mut r| (r.text(0).unwrap(), r.opt_text(1).unwrap()))
        .collect();
    let expected: BTreeMap<String, Option<String>> =
        truth.iter().map(|d| (d.id.to_string(), Some(utc(d.create_time)))).collect();
    assert_eq!(shipped_at, expected, "shipped_at (UTC)");
}
