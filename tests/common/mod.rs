//! Test helpers: a YMCart simulator on 127.0.0.1:0 plus a fresh config and database per test.
#![allow(dead_code)]

use ordersync::runtime::{load_config, Runtime};
use ordersync::sim::ymcart::YmSim;
use ordersync::sim::SimHandle;
use ordersync::store::Store;
use std::path::PathBuf;
use tempfile::TempDir;

/// The token every test shop uses.
pub const TOKEN: &str = "test-token-ym";
/// The shop id every test shop uses.
pub const SHOP: &str = "ym-test";

/// One test's world: a simulator, a folder with the config and database.
pub struct TestEnv {
    pub dir: TempDir,
    pub sim: YmSim,
    pub handle: SimHandle,
    pub config_path: PathBuf,
}

/// Starts a YMCart simulator with `orders` orders over the last `days` days and writes a config.
pub async fn spawn_ymcart(orders: usize, days: u32, seed: u64) -> TestEnv {
    let sim = YmSim::new(seed);
    sim.add_shop(TOKEN, orders, days);
    let handle = sim.serve().await.expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("ym.token"), format!("{TOKEN}\n")).expect("token file");
    let config_path = dir.path().join("ordersync.toml");
    let env = TestEnv {
        dir,
        sim,
        handle,
        config_path,
    };
    env.write_config(50, "");
    env
}

impl TestEnv {
    /// (Re)writes the config: one YMCart shop with `rate` requests/s; `extra` is appended to the shop.
    pub fn write_config(&self, rate: u32, extra: &str) {
        let text = format!(
            r#"
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

[http]
retries = 6
retry_initial_ms = 10
request_timeout_secs = 5

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
            token = self.dir.path().join("ym.token").display(),
        );
        std::fs::write(&self.config_path, text).expect("config written");
    }

    /// A runtime built from the current config file.
    pub fn runtime(&self) -> Runtime {
        let config = load_config(&self.config_path).expect("valid config");
        Runtime::new(config, None).expect("runtime")
    }

    /// A connection to the test database.
    pub fn store(&self) -> Store {
        Store::open(&self.dir.path().join("ordersync.db")).expect("database opens")
    }
}

/// Every row of `table` as text, ordered, for before/after comparisons.
pub fn snapshot(store: &Store, table: &str) -> Vec<String> {
    let sql = format!("SELECT * FROM {table} ORDER BY 1, 2, 3");
    let mut stmt = store.connection().prepare(&sql).expect("query");
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            let mut parts = Vec::new();
            for i in 0..n {
                let v: rusqlite::types::Value = r.get(i)?;
                parts.push(format!("{v:?}"));
            }
            Ok(parts.join("|"))
        })
        .expect("rows");
    rows.map(|r| r.expect("row")).collect()
}

/// A single integer from a query.
pub fn count(store: &Store, sql: &str) -> i64 {
    store
        .connection()
        .query_row(sql, [], |r| r.get(0))
        .expect("count query")
}
