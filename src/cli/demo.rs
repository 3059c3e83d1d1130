//! `ordersync demo`: the built-in simulators plus the daemon, with no credentials.
//!
//! It writes a throw-away config and database under the system temp folder, starts a simulator
//! per platform on 127.0.0.1, runs the real daemon on it with fast schedules, enqueues pushes as
//! a warehouse would, prints progress, and on Ctrl-C (or after `--seconds`) a summary.

use crate::daemon;
use crate::model::OrderStatus;
use crate::platforms::PushPayload;
use crate::runtime::{load_config, Runtime};
use crate::sim::ymcart::YmSim;
use crate::store::{NewEntry, Store};
use anyhow::Context;
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Demo options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Orders each simulated shop starts with.
    #[arg(long, default_value_t = 500)]
    pub orders: usize,
}

const YM_TOKEN: &str = "demo-ymcart-token";
const YM_SHOP: &str = "ym-demo";

/// Runs the demo until Ctrl-C or `--seconds`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("ordersync-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ym = YmSim::new(2026);
    ym.add_shop(YM_TOKEN, args.orders, 30);
    let ym_server = ym.serve().await.context("cannot start the YMCart simulator")?;
    let activity = ym.spawn_activity(YM_TOKEN, Duration::from_secs(2));
    let config_path = write_config(&dir, &ym_server.base_url())?;
    println!("ordersync demo: YMCart simulator on {}, config {}", ym_server.base_url(), config_path.display());
    println!("  (Ctrl-C to stop; the daemon logs go to stderr)");

    let stop = CancellationToken::new();
    let daemon = tokio::spawn({
        let (path, stop) = (config_path.clone(), stop.clone());
        async move { daemon::run(&path, stop).await }
    });
    let rt = Runtime::new(load_config(&config_path)?, None).map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let deadline = args.seconds.map(Duration::from_secs);
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    let mut pushed = 0usize;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let mut store = Store::open(&rt.config.daemon.database)?;
        pushed += enqueue_warehouse_pushes(&rt, &mut store)?;
        progress(&store, started.elapsed())?;
    }
    stop.cancel();
    daemon.await.context("daemon task panicked")??;
    activity.abort();

    let store = Store::open(&rt.config.daemon.database)?;
    let (orders, shipments, _, changes) = store.shop_counts(YM_SHOP)?;
    let truth = ym.truth_orders(YM_TOKEN).len();
    let applied = ym.applied_pushes().len();
    println!();
    println!("summary after {}s", started.elapsed().as_secs());
    println!("  ymcart  {YM_SHOP}: {orders} orders in the database (simulator has {truth}), {shipments} shipments, {changes} status transitions");
    for o in store.outbox_depths()? {
        println!(
            "  outbox  {}: {} pushes enqueued, {} done, {} failed, {} waiting; simulator applied {applied}",
            o.shop_id,
            pushed,
            o.done,
            o.failed,
            o.pending + o.in_flight
        );
    }
    println!("  database: {}", rt.config.daemon.database.display());
    Ok(ExitCode::SUCCESS)
}

fn write_config(dir: &Path, ym_url: &str) -> anyhow::Result<PathBuf> {
    let token_file = dir.join("ymcart.token");
    std::fs::write(&token_file, YM_TOKEN)?;
    let config = format!(
        r#"# Written by `ordersync demo`; every shop talks to a simulator on 127.0.0.1.
[daemon]
database = "demo.db"
timezone = "Asia/Shanghai"
drain_timeout_secs = 5

[push]
schedule = "*/3 * * * * *"
retry_base_ms = 1000

[[shops]]
id = "{YM_SHOP}"
platform = "ymcart"
base_url = "{ym_url}"
token_file = "{token}"
rate_limit_per_sec = 20
backfill_days = 30
[shops.schedule]
orders = "*/5 * * * * *"
shipments = "*/5 * * * * *"
"#,
        token = token_file.display()
    );
    let path = dir.join("ordersync.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// Plays the warehouse: ships a few paid orders, completes a few shipped ones.
fn enqueue_warehouse_pushes(rt: &Runtime, store: &mut Store) -> anyhow::Result<usize> {
    let mut n = 0;
    for shop in &rt.shops {
        let id = &shop.config.id;
        let mut wanted: Vec<(String, PushPayload)> = Vec::new();
        for order in store.orders_in_status(id, OrderStatus::AwaitingFulfillment, 7)? {
            let tracking = format!("DEMO{}", order.chars().filter(char::is_ascii_digit).collect::<String>());
            wanted.push((order, PushPayload::Ship { carrier: "SF Express".into(), tracking }));
        }
        for order in store.orders_in_status(id, OrderStatus::Shipped, 3)? {
            wanted.push((order, PushPayload::Status { status: OrderStatus::Completed }));
        }
        for (order_no, payload) in wanted {
            let current = store.order_status(id, &order_no)?;
            let caps = shop.connector.capabilities();
            if caps.check(&payload).is_err() || shop.connector.check_move(&payload, current).is_err() {
                continue;
            }
            let e = store.enqueue(&NewEntry { shop_id: id.clone(), order_no, payload }, Utc::now())?;
            n += usize::from(e.created);
        }
    }
    Ok(n)
}

fn progress(store: &Store, elapsed: Duration) -> anyhow::Result<()> {
    let outbox = store.outbox_depths()?;
    for s in store.stream_statuses()? {
        let (orders, shipments, refunds, changes) = store.shop_counts(&s.shop_id)?;
        if s.stream != "orders" {
            continue;
        }
        let o = outbox.iter().find(|o| o.shop_id == s.shop_id).cloned().unwrap_or_default();
        println!(
            "[{:>4}s] {:<10} {orders} orders, {shipments} shipments, {refunds} refunds, {changes} transitions | outbox {} done, {} failed, {} waiting",
            elapsed.as_secs(),
            s.shop_id,
            o.done,
            o.failed,
            o.pending + o.in_flight
        );
    }
    Ok(())
}
