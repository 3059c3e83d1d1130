//! `ordersync demo`: the built-in simulators plus the daemon, with no credentials.
//!
//! It writes a throw-away config and database under the system temp folder, starts one simulated
//! shop per platform on 127.0.0.1, runs the real daemon on them with fast schedules, plays a
//! warehouse and a buyer that enqueue pushes, prints progress, and on Ctrl-C (or after
//! `--seconds`) a summary comparing the database with the simulators.

use crate::daemon;
use crate::model::OrderStatus;
use crate::platforms::PushPayload;
use crate::runtime::{load_config, Runtime};
use crate::sim::{guanmai::GmSim, liangben::LbSim, shopsuite::SsSim, ymcart::YmSim, AppliedPush, SimHandle, Simulator};
use crate::store::{NewEntry, OutboxRow, Store};
use anyhow::Context;
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
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
    /// At the end, stop the simulated activity, run one more pass of every stream and a flush,
    /// and exit 1 unless the database agrees with the simulators (orders, shipments, refunds,
    /// each delivered push applied once).
    #[arg(long)]
    pub check: bool,
}

/// What a simulator holds for one shop: the figures the database must reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Truth {
    orders: usize,
    shipments: usize,
    refunds: usize,
}

/// One simulated shop: its config block, its server, and how to read its ground truth.
struct DemoShop {
    id: &'static str,
    config: String,
    truth: Box<dyn Fn() -> Truth>,
    applied_pushes: Box<dyn Fn() -> Vec<AppliedPush>>,
    _server: SimHandle,
    activity: JoinHandle<()>,
}

const TICK: Duration = Duration::from_secs(2);

async fn start_shops(dir: &Path, orders: usize) -> anyhow::Result<Vec<DemoShop>> {
    let secret = |name: &str, value: &str| -> anyhow::Result<String> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        std::io::Write::write_all(&mut file, value.as_bytes())?;
        Ok(path.display().to_string())
    };
    let block = |id: &str, platform: &str, url: &str, creds: String, streams: &[&str]| {
        let schedule: String = streams.iter().map(|s| format!("{s} = \"*/5 * * * * *\"\n")).collect();
        format!(
            "[[shops]]\nid = \"{id}\"\nplatform = \"{platform}\"\nbase_url = \"{url}\"\n{creds}\nrate_limit_per_sec = 20\nbackfill_days = 30\n[shops.schedule]\n{schedule}\n"
        )
    };
    let mut shops = Vec::new();

    let ym = YmSim::new(2026);
    ym.add_shop("demo-ym", orders, 30);
    let server = ym.serve().await.context("cannot start the YMCart simulator")?;
    shops.push(DemoShop {
        id: "ym-demo",
        config: block(
            "ym-demo",
            "ymcart",
            &server.base_url(),
            format!("token_file = \"{}\"", secret("ym.token", "demo-ym")?),
            &["orders", "shipments"],
        ),
        activity: ym.spawn_activity("demo-ym", TICK),
        truth: Box::new({
            let s = ym.clone();
            move || Truth {
                orders: s.truth_orders("demo-ym").len(),
                shipments: s.truth_deliveries("demo-ym").len(),
                refunds: 0,
            }
        }),
        applied_pushes: Box::new({
            let ym = ym.clone();
            move || ym.applied_pushes()
        }),
        _server: server,
    });
    let ym_for_links = ym;

    let gm = GmSim::new(2027);
    gm.add_shop("demo-gm", "demo-gm-secret", orders, 30);
    let server = gm.serve().await.context("cannot start the Guanmai simulator")?;
    let creds = format!(
        "access_id_file = \"{}\"\nsecret_file = \"{}\"",
        secret("gm.id", "demo-gm")?,
        secret("gm.secret", "demo-gm-secret")?
    );
    shops.push(DemoShop {
        id: "gm-demo",
        config: block("gm-demo", "guanmai", &server.base_url(), creds, &["orders"]),
        activity: gm.spawn_activity("demo-gm", TICK),
        truth: Box::new({
            let s = gm.clone();
            move || Truth { orders: s.truth_orders("demo-gm").len(), shipments: 0, refunds: 0 }
        }),
        applied_pushes: Box::new(move || gm.applied_pushes()),
        _server: server,
    });

    let lb = LbSim::new(2028);
    lb.add_shop("demo-lb", orders, 30);
    // The supplier orders that carry a buyer's number carry a storefront order's: the merchant
    // bought them for those YMCart orders (the others are stock for the warehouse).
    // Only open storefront orders (unpaid or paid, not shipped) are still waiting for goods.
    let storefront: Vec<_> =
        ym_for_links.truth_orders("demo-ym").into_iter().filter(|o| matches!(o.order_status, 100 | 200)).collect();
    let numbered = lb.truth_orders("demo-lb").into_iter().filter(|o| o.external_order_sn.is_some());
    let mut bought = std::collections::HashSet::new();
    for (supplier, sold) in numbered.zip(&storefront) {
        lb.set_external_order_sn("demo-lb", &supplier.order_sn, Some(&sold.itemno));
        bought.insert(sold.itemno.clone());
    }
    let server = lb.serve().await.context("cannot start the Liangben simulator")?;
    let dropship = dropship(&ym_for_links, &lb, bought);
    shops.push(DemoShop {
        id: "lb-demo",
        config: block(
            "lb-demo",
            "liangben",
            &server.base_url(),
            format!("token_file = \"{}\"", secret("lb.token", "demo-lb")?),
            &["orders", "shipments", "refunds"],
        ),
        activity: {
            let supplier = lb.spawn_activity("demo-lb", TICK);
            // One handle stops both the supplier's own moves and the merchant's purchases.
            tokio::spawn(async move {
                let _stop_both = (AbortOnDrop(supplier), AbortOnDrop(dropship));
                std::future::pending::<()>().await
            })
        },
        truth: Box::new({
            let s = lb.clone();
            move || Truth {
                orders: s.truth_orders("demo-lb").len(),
                shipments: s.truth_outbound("demo-lb").len(),
                refunds: s.truth_refunds("demo-lb").len(),
            }
        }),
        applied_pushes: Box::new(move || lb.applied_pushes()),
        _server: server,
    });

    let ss = SsSim::new(2029);
    ss.add_shop("demo-ss", orders, 30);
    let server = ss.serve().await.context("cannot start the ShopSuite simulator")?;
    shops.push(DemoShop {
        id: "ss-demo",
        config: block(
            "ss-demo",
            "shopsuite",
            &server.base_url(),
            format!("token_file = \"{}\"", secret("ss.token", "demo-ss")?),
            &["orders", "refunds"],
        ),
        activity: ss.spawn_activity("demo-ss", TICK),
        truth: Box::new({
            let s = ss.clone();
            move || Truth {
                orders: s.truth_orders("demo-ss").len(),
                shipments: s.truth_orders("demo-ss").iter().map(|o| o.logistics.len()).sum(),
                refunds: s.truth_returns("demo-ss").len(),
            }
        }),
        applied_pushes: Box::new(move || ss.applied_pushes()),
        _server: server,
    });
    Ok(shops)
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The merchant's dropshipping: every tick, the newest paid storefront orders not bought yet are
/// bought from the Liangben supplier under the storefront's order number (`external_order_sn`),
/// so the link forwards the supplier's shipments to them.
/// `bought`: storefront orders already bought from the supplier.
fn dropship(ym: &YmSim, lb: &LbSim, mut bought: std::collections::HashSet<String>) -> JoinHandle<()> {
    let (ym, lb) = (ym.clone(), lb.clone());
    crate::sim::every(TICK, move || {
        let paid = ym.order_nos_in_status("demo-ym", 200);
        for no in paid.iter().rev().filter(|no| !bought.contains(*no)).take(2).cloned().collect::<Vec<_>>() {
            lb.add_order_for("demo-lb", Some(&no));
            bought.insert(no);
        }
    })
}

fn write_config(dir: &Path, shops: &[DemoShop]) -> anyhow::Result<PathBuf> {
    let mut text = String::from(
        "# Written by `ordersync demo`; every shop talks to a simulator on 127.0.0.1.\n\
         [daemon]\ndatabase = \"demo.db\"\ntimezone = \"Asia/Shanghai\"\ndrain_timeout_secs = 5\n\n\
         [push]\nschedule = \"*/3 * * * * *\"\nretry_base_ms = 1000\n\n",
    );
    for shop in shops {
        text.push_str(&shop.config);
    }
    // The Liangben supplier's shipments reach the YMCart storefront orders they fulfil.
    text.push_str("[[links]]\nfrom = \"lb-demo\"\nto = \"ym-demo\"\n");
    let path = dir.join("ordersync.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Runs the demo until Ctrl-C or `--seconds`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Unpredictable and 0700, made in one step: the folder holds the demo's secret files. It is
    // kept after the demo so its database can be looked at.
    let dir = tempfile::Builder::new()
        .prefix("ordersync-demo-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .context("cannot create the demo's folder under the temp folder")?
        .keep();
    let shops = start_shops(&dir, args.orders).await?;
    let config_path = write_config(&dir, &shops)?;
    println!("ordersync demo: {} simulated shops on 127.0.0.1, config {}", shops.len(), config_path.display());
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
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let mut store = rt.store()?;
        enqueue_pushes(&rt, &mut store)?;
        progress(&store, started.elapsed())?;
    }
    stop.cancel();
    daemon.await.context("daemon task panicked")??;
    for shop in &shops {
        shop.activity.abort();
    }
    if args.check {
        settle(&rt).await?;
    }
    let agrees = summary(&rt, &shops, started.elapsed())?;
    if args.check && !agrees {
        eprintln!("demo --check: the database disagrees with the simulators (see the summary)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// With the simulators quiet: one pass of every stream of every shop, a flush, and one more
/// round of passes so the pushes' effects are read back too.
async fn settle(rt: &Runtime) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let cancel = &cancel;
    for round in 0..2 {
        // Shops side by side (each under its own rate limit), each shop's streams in turn.
        let passes = rt.shops.iter().map(|shop| async move {
            for stream in shop.config.schedule.keys() {
                crate::sync::run_pass(rt, shop, *stream, cancel).await?;
            }
            Ok::<(), crate::sync::PassError>(())
        });
        for result in futures_util::future::join_all(passes).await {
            result?;
        }
        if round == 0 {
            crate::push::flush_all(rt, cancel).await?;
        }
    }
    Ok(())
}

/// What a warehouse or buyer asks of an order in each state; each platform takes what it can.
fn wanted(status: OrderStatus, order_no: &str) -> Vec<PushPayload> {
    let tracking = format!("DEMO{}", order_no.chars().filter(char::is_ascii_digit).collect::<String>());
    match status {
        OrderStatus::Pending => vec![PushPayload::Status { status: OrderStatus::Cancelled }],
        OrderStatus::AwaitingFulfillment => vec![
            PushPayload::Ship { carrier: "SF Express".into(), tracking },
            PushPayload::Status { status: OrderStatus::Processing },
        ],
        OrderStatus::Processing => vec![PushPayload::Status { status: OrderStatus::Shipped }],
        OrderStatus::Shipped => vec![PushPayload::Status { status: OrderStatus::Completed }],
        _ => vec![],
    }
}

/// Enqueues a few pushes per shop and state, as many as the platform accepts.
fn enqueue_pushes(rt: &Runtime, store: &mut Store) -> anyhow::Result<()> {
    for shop in &rt.shops {
        let id = &shop.config.id;
        // A storefront order whose supplier shipment is on its way to it is left alone until it
        // lands (completing it first would make the platform refuse the tracking number).
        let awaited = store.orders_awaiting_forwards(id)?;
        for state in
            [OrderStatus::Pending, OrderStatus::AwaitingFulfillment, OrderStatus::Processing, OrderStatus::Shipped]
        {
            // Cancel rarely; move the rest along briskly.
            let n = if state == OrderStatus::Pending { 1 } else { 3 };
            for order_no in store.orders_in_status(id, state, n)?.into_iter().filter(|o| !awaited.contains(o)) {
                for payload in wanted(state, &order_no) {
                    let ok = shop.connector.capabilities().check(&payload).is_ok()
                        && shop.connector.check_move(&payload, Some(state)).is_ok();
                    if ok {
                        store.enqueue(
                            &NewEntry { shop_id: id.clone(), order_no: order_no.clone(), payload },
                            Utc::now(),
                        )?;
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

fn progress(store: &Store, elapsed: Duration) -> anyhow::Result<()> {
    let outbox = store.outbox_depths()?;
    let mut line = format!("[{:>4}s]", elapsed.as_secs());
    for s in store.stream_statuses()?.iter().filter(|s| s.stream == "orders") {
        let (orders, shipments, refunds, _) = store.shop_counts(&s.shop_id)?;
        let done = outbox.iter().find(|o| o.shop_id == s.shop_id).map_or(0, |o| o.done);
        line.push_str(&format!("  {} {orders}o/{shipments}s/{refunds}r/{done}p", s.shop_id));
    }
    println!("{line}   (orders/shipments/refunds/pushes done)");
    Ok(())
}

/// Prints the summary; true when every shop's figures agree with its simulator.
fn summary(rt: &Runtime, shops: &[DemoShop], elapsed: Duration) -> anyhow::Result<bool> {
    let store = rt.store()?;
    let outbox = store.outbox_depths()?;
    let rows = store.outbox_list(None)?;
    println!();
    println!("summary after {}s", elapsed.as_secs());
    println!(
        "  {:<9} {:<10} {:>7} {:>9} {:>9} {:>8} {:>11} {:>12} {:>8} {:>10}  CHECK",
        "SHOP",
        "PLATFORM",
        "ORDERS",
        "SIM HAS",
        "SHIPMENTS",
        "REFUNDS",
        "TRANSITIONS",
        "PUSHES DONE",
        "FAILED",
        "SIM APPLIED"
    );
    let mut agrees = true;
    for shop in shops {
        let (orders, shipments, refunds, changes) = store.shop_counts(shop.id)?;
        let platform = rt.shop(shop.id).map_or("?", |s| s.config.platform.as_str());
        let o = outbox.iter().find(|o| o.shop_id == shop.id).cloned().unwrap_or_default();
        let truth = (shop.truth)();
        let applied = (shop.applied_pushes)();
        let mine: Vec<&OutboxRow> = rows.iter().filter(|r| r.shop_id == shop.id).collect();
        let problems = disagreements(truth, (orders, shipments, refunds), &mine, &applied);
        agrees &= problems.is_empty();
        println!(
            "  {:<9} {:<10} {:>7} {:>9} {:>9} {:>8} {:>11} {:>12} {:>8} {:>10}  {}",
            shop.id,
            platform,
            orders,
            truth.orders,
            shipments,
            refunds,
            changes,
            o.done,
            o.failed,
            applied.len(),
            if problems.is_empty() { "ok".to_string() } else { problems.join("; ") }
        );
    }
    for link in rt.links.iter() {
        let f = store.link_figures(&link.from, &link.to)?;
        println!(
            "  link {} → {}: {} supplier orders matched ({} unmatched), {} shipments forwarded, {} waiting, {} failed, {} alerts",
            f.from,
            f.to,
            f.matched,
            f.unmatched.len(),
            f.forwarded,
            f.waiting,
            f.failed,
            f.alerts
        );
    }
    println!("  database: {}", rt.config.daemon.database);
    Ok(agrees)
}

/// What differs between a shop's rows and its simulator: counts of orders, shipments and
/// refunds, and pushes — each delivered entry applied once at most (once exactly when it was
/// sent; one settled by read-back may have been applied by an earlier attempt or not at all),
/// and nothing applied that no entry asked for.
fn disagreements(
    truth: Truth,
    (orders, shipments, refunds): (i64, i64, i64),
    outbox: &[&OutboxRow],
    applied: &[AppliedPush],
) -> Vec<String> {
    let mut out = Vec::new();
    for (what, stored, sim) in [
        ("orders", orders, truth.orders),
        ("shipments", shipments, truth.shipments),
        ("refunds", refunds, truth.refunds),
    ] {
        if stored != sim as i64 {
            out.push(format!("{what}: {stored} stored, simulator has {sim}"));
        }
    }
    let mut per_order: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for p in applied {
        *per_order.entry(p.order_no.as_str()).or_default() += 1;
    }
    for (order, n) in &per_order {
        let entries = outbox.iter().filter(|r| r.order_no == *order && r.state == "done").count();
        if *n > entries {
            out.push(format!("order {order}: applied {n} times for {entries} delivered push(es)"));
        }
    }
    for r in outbox.iter().filter(|r| r.state == "done" && r.settled_by.as_deref() == Some("sent")) {
        if !per_order.contains_key(r.order_no.as_str()) {
            out.push(format!("push #{} ({}) is done but the simulator never applied it", r.id, r.order_no));
        }
    }
    out
}
