//! `cargo bench --bench sync`: end-to-end figures for docs/benchmarks.md.
//!
//! Each scenario starts the built-in simulator in this process and runs the real `ordersync`
//! binary against it as a child process, so the daemon's time and peak memory (VmHWM) are its
//! own. Options: `--orders N` (default 100000), `--only NAME` (ymcart, guanmai, liangben,
//! shopsuite), `--soak-minutes M` (200 shops × 3 streams scheduled every minute for M minutes),
//! `--growth` (adds the 10k / 100k / 1M curve, which needs a few GiB for the simulator), `--peer`
//! (dlt side by side on the same pages: `benches/peer/run.sh`, which installs it into a throwaway
//! virtual environment on first use).

use ordersync::sim::guanmai::GmSim;
use ordersync::sim::liangben::LbSim;
use ordersync::sim::shopsuite::SsSim;
use ordersync::sim::ymcart::YmSim;
use ordersync::sim::{SimHandle, Simulator};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One line of the result table.
#[derive(Clone)]
struct Row {
    scenario: String,
    n: usize,
    seconds: f64,
    rate: String,
    peak_rss_mib: f64,
    /// Daemon CPU (user + system) per item, in µs.
    cpu_us: f64,
    requests: usize,
    note: String,
}

/// What one `ordersync` run took.
struct Run {
    wall: Duration,
    peak_rss_mib: f64,
    /// User + system CPU of the daemon process, in seconds.
    cpu: f64,
}

/// Runs `ordersync <args>` and measures it, failing loudly on errors.
fn run_ordersync(config: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    // ORDERSYNC_BENCH_WRAP="valgrind --tool=callgrind" runs the daemon under a tool (instruction
    // counts are repeatable where seconds on a shared machine are not); figures then are the tool's.
    let wrap = std::env::var("ORDERSYNC_BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(tool) => {
            let mut c = Command::new(tool);
            c.args(words).arg(env!("CARGO_BIN_EXE_ordersync"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_ordersync")),
    };
    let mut child = command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ordersync starts");
    let status_path = format!("/proc/{}/status", child.id());
    let stat_path = format!("/proc/{}/stat", child.id());
    let mut peak_kib = 0u64;
    let mut cpu_ticks = 0u64;
    loop {
        // The last reading before the process is gone stands.
        if let Some(ticks) = cpu_ticks_of(&stat_path) {
            cpu_ticks = ticks;
        }
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "ordersync {args:?} failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "  ordersync {}: {:.2}s wall, {:.2}s CPU",
        args.join(" "),
        start.elapsed().as_secs_f64(),
        cpu_ticks as f64 / 100.0
    );
    Run { wall: start.elapsed(), peak_rss_mib: peak_kib as f64 / 1024.0, cpu: cpu_ticks as f64 / 100.0 }
}

struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        Bench { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn config(&self, name: &str, shop: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        let text =
            format!("[daemon]\ndatabase = \"{name}.db\"\n[push]\nlease_secs = 600\n[http]\nretries = 2\n\n{shop}");
        std::fs::write(&path, text).expect("config");
        path
    }

    fn secret(&self, name: &str, value: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, value).expect("secret");
        path.display().to_string()
    }

    fn db(&self, name: &str) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join(format!("{name}.db"))).expect("db")
    }
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

fn shop_block(platform: &str, url: &str, creds: &str, streams: &[&str]) -> String {
    let schedule: String = streams.iter().map(|s| format!("{s} = \"0 0 * * * *\"\n")).collect();
    format!(
        "[[shops]]\nid = \"bench\"\nplatform = \"{platform}\"\nbase_url = \"{url}\"\n{creds}\nrate_limit_per_sec = 1000000\nbackfill_days = 30\nlookback_days = 30\n[shops.schedule]\n{schedule}"
    )
}

async fn ymcart_full(b: &Bench, n: usize, rows: &mut Vec<Row>) -> (YmSim, SimHandle, PathBuf) {
    let sim = YmSim::new(1);
    sim.add_shop("bench-ym", n, 30);
    let server = sim.serve().await.expect("sim");
    let creds = format!("token_file = \"{}\"", b.secret("ym.token", "bench-ym"));
    // Pages are rendered by a first pass into a throwaway database and then served from memory,
    // so the measured pass costs the simulator next to nothing: the figures are the daemon's.
    sim.core().cache_pages(true);
    let warm = b.config("ym-warm", &shop_block("ymcart", &server.base_url(), &creds, &["orders"]));
    run_ordersync(&warm, &["sync", "--stream", "orders"]);
    sim.clear_requests();
    let cfg = b.config("ym", &shop_block("ymcart", &server.base_url(), &creds, &["orders", "shipments"]));
    let run = run_ordersync(&cfg, &["sync", "--stream", "orders"]);
    let stored = count(&b.db("ym"), "SELECT COUNT(*) FROM orders") as usize;
    assert_eq!(stored, n, "every order stored");
    rows.push(Row {
        scenario: "ymcart full sync".into(),
        n,
        seconds: run.wall.as_secs_f64(),
        rate: format!("{:.0} orders/s", n as f64 / run.wall.as_secs_f64()),
        peak_rss_mib: run.peak_rss_mib,
        cpu_us: run.cpu * 1e6 / n as f64,
        requests: sim.requests().len(),
        note: "pre-rendered pages; lines, addresses, raw JSON".into(),
    });
    (sim, server, cfg)
}

/// Re-reads every order of the full sync (a resync over the whole backfill) when none changed.
async fn ymcart_no_change(b: &Bench, sim: &YmSim, cfg: &Path, n: usize, rows: &mut Vec<Row>) {
    let conn = b.db("ym");
    let mark: String = conn.query_row("SELECT MAX(synced_at) FROM orders", [], |r| r.get(0)).expect("mark");
    let transitions = count(&conn, "SELECT COUNT(*) FROM status_changes");
    let since = (chrono::Utc::now() - chrono::Duration::days(31)).format("%Y-%m-%d").to_string();
    run_ordersync(cfg, &["resync", "--shop", "bench", "--since", &since]);
    // The resync's pages differ from the first pass's only in the cursor's first window.
    let warm = b.dir.path().join("ym-warm.toml");
    run_ordersync(&warm, &["resync", "--shop", "bench", "--since", &since]);
    run_ordersync(&warm, &["sync", "--stream", "orders"]);
    sim.clear_requests();
    let run = run_ordersync(cfg, &["sync", "--stream", "orders"]);
    let conn = b.db("ym");
    let written: i64 =
        conn.query_row("SELECT COUNT(*) FROM orders WHERE synced_at > ?1", [&mark], |r| r.get(0)).expect("written");
    let new_transitions = count(&conn, "SELECT COUNT(*) FROM status_changes") - transitions;
    let read = sim.requests().len();
    rows.push(Row {
        scenario: "ymcart no-change pass (all orders re-read)".into(),
        n,
        seconds: run.wall.as_secs_f64(),
        rate: format!("{:.0} orders/s", n as f64 / run.wall.as_secs_f64()),
        peak_rss_mib: run.peak_rss_mib,
        cpu_us: run.cpu * 1e6 / n as f64,
        requests: read,
        note: format!("{written} order rows written, {new_transitions} new transitions"),
    });
}

/// The store's own limit: the rows the full sync stored (orders with raw JSON, lines) inserted
/// again into a fresh database of the same schema by a minimal loop of prepared statements, one
/// transaction per 100 orders as the daemon commits a page. Runs in this process, timed alone.
fn store_limit(b: &Bench, daemon: &Row, rows: &mut Vec<Row>) {
    let src = b.db("ym");
    let orders: Vec<Vec<rusqlite::types::Value>> = {
        let mut stmt = src
            .prepare(
                "SELECT shop_id, order_no, platform, platform_order_id, status, platform_status, payment_status,
                    refund_status, currency, total_minor, shipping_minor, buyer_name, buyer_phone, ship_address,
                    external_ref, created_at, updated_at, synced_at, raw_json, fingerprint FROM orders ORDER BY rowid",
            )
            .expect("select");
        let rows = stmt.query_map([], |r| (0..20).map(|i| r.get(i)).collect()).expect("orders");
        rows.map(|r| r.expect("order")).collect()
    };
    let lines: std::collections::HashMap<String, Vec<Vec<rusqlite::types::Value>>> = {
        let mut stmt = src
            .prepare(
                "SELECT order_no, shop_id, order_no, line_no, sku, name, quantity, unit_price_minor, quantity_exact,
                    spec, real_quantity, real_amount_minor FROM order_lines",
            )
            .expect("select");
        let mut by_order = std::collections::HashMap::<String, Vec<_>>::new();
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, (1..12).map(|i| r.get(i)).collect::<Result<Vec<_>, _>>()?)))
            .expect("lines");
        for row in rows {
            let (no, line) = row.expect("line");
            by_order.entry(no).or_default().push(line);
        }
        by_order
    };
    let path = b.dir.path().join("limit.db");
    drop(ordersync::store::Store::open(&path).expect("schema"));
    let mut conn = rusqlite::Connection::open(&path).expect("db");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL").expect("sync");
    let start = Instant::now();
    let cpu0 = process_cpu();
    for page in orders.chunks(100) {
        let tx = conn.transaction().expect("tx");
        {
            let mut order = tx.prepare_cached("INSERT INTO orders (shop_id, order_no, platform, platform_order_id, status, platform_status, payment_status,
                refund_status, currency, total_minor, shipping_minor, buyer_name, buyer_phone, ship_address, external_ref,
                created_at, updated_at, synced_at, raw_json, fingerprint) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)").expect("prepare");
            let mut line = tx.prepare_cached("INSERT INTO order_lines (shop_id, order_no, line_no, sku, name, quantity, unit_price_minor, quantity_exact,
                spec, real_quantity, real_amount_minor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)").expect("prepare");
            for o in page {
                order.execute(rusqlite::params_from_iter(o)).expect("order");
                let no = match &o[1] {
                    rusqlite::types::Value::Text(t) => t.as_str(),
                    _ => "",
                };
                for l in lines.get(no).into_iter().flatten() {
                    line.execute(rusqlite::params_from_iter(l)).expect("line");
                }
            }
        }
        tx.commit().expect("commit");
    }
    let (wall, cpu) = (start.elapsed().as_secs_f64(), process_cpu() - cpu0);
    let n = orders.len();
    let raw_bytes: usize = orders
        .iter()
        .map(|o| match &o[18] {
            rusqlite::types::Value::Text(t) => t.len(),
            _ => 0,
        })
        .sum();
    rows.push(Row {
        scenario: "store limit: prepared-statement loop".into(),
        n,
        seconds: wall,
        rate: format!("{:.0} orders/s", n as f64 / wall),
        peak_rss_mib: 0.0,
        cpu_us: cpu * 1e6 / n as f64,
        requests: 0,
        note: format!(
            "same rows ({} bytes of raw JSON per order), schema and transaction size; daemon/limit: {:.1}× CPU, {:.1}× time",
            raw_bytes / n.max(1),
            daemon.cpu_us / (cpu * 1e6 / n as f64),
            daemon.seconds / wall
        ),
    });
}

/// User + system CPU of this process so far, in seconds.
fn process_cpu() -> f64 {
    cpu_ticks_of("/proc/self/stat").unwrap_or(0) as f64 / 100.0
}

/// User + system CPU in clock ticks (1/100 s) from a `/proc/<pid>/stat` file; None when it cannot
/// be read (the process is gone).
fn cpu_ticks_of(stat_path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // utime and stime, fields 14 and 15, counted after the ")" that ends the command name.
    let f: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(field(11) + field(12))
}

/// dlt (`benches/peer/run.sh`) over the same simulator, its pages rendered before its clock
/// starts: the tool a data engineer would pick instead, side by side with the daemon's figures.
async fn peer(b: &Bench, sim: &YmSim, base_url: &str, daemon: &Row, rows: &mut Vec<Row>) {
    let client = reqwest::Client::new();
    let url = format!("{base_url}/api-erp-orderList.html");
    for page_no in 1.. {
        let params = [("token", "bench-ym".to_string()), ("page_size", "100".into()), ("page_no", page_no.to_string())];
        let body: serde_json::Value =
            client.post(&url).query(&params).send().await.expect("render").json().await.expect("json");
        if body["data"].as_array().is_none_or(Vec::is_empty) {
            break;
        }
    }
    sim.clear_requests();
    let db = b.dir.path().join("dlt.db");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peer/run.sh");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .args(["--base-url", base_url, "--token", "bench-ym", "--db"])
        .arg(&db)
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("peer runs");
    assert!(out.status.success(), "the peer failed");
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the peer prints one JSON line");
    let n = figures["orders"].as_u64().unwrap_or(0) as usize;
    let (seconds, cpu) = (figures["seconds"].as_f64().unwrap_or(0.0), figures["cpu_seconds"].as_f64().unwrap_or(0.0));
    let cpu_us = cpu * 1e6 / n.max(1) as f64;
    rows.push(Row {
        scenario: format!("peer: dlt {} rest_api → SQLite", figures["dlt_version"].as_str().unwrap_or("?")),
        n,
        seconds,
        rate: format!("{:.0} orders/s", n as f64 / seconds),
        peak_rss_mib: figures["peak_rss_mib"].as_f64().unwrap_or(0.0),
        cpu_us,
        requests: sim.requests().len(),
        note: format!(
            "{} lines; daemon/peer: {:.1}× the rate, {:.1}× less CPU per order",
            figures["lines"],
            (daemon.n as f64 / daemon.seconds) / (n as f64 / seconds),
            cpu_us / daemon.cpu_us
        ),
    });
}

async fn ymcart_flush(b: &Bench, sim: &YmSim, cfg: &Path, rows: &mut Vec<Row>) {
    let paid: Vec<String> = sim
        .order_nos_in_status("bench-ym", 200)
        .into_iter()
        .chain(sim.order_nos_in_status("bench-ym", 301))
        .take(10_000)
        .collect();
    let n = paid.len();
    {
        let mut store = ordersync::store::Store::open(&b.dir.path().join("ym.db")).expect("db");
        for (i, order) in paid.iter().enumerate() {
            let payload =
                ordersync::platforms::PushPayload::Ship { carrier: "SF".into(), tracking: format!("B{i:06}") };
            let entry = ordersync::store::NewEntry { shop_id: "bench".into(), order_no: order.clone(), payload };
            store.enqueue(&entry, chrono::Utc::now()).expect("enqueue");
        }
    }
    sim.core().cache_pages(false);
    sim.clear_requests();
    let run = run_ordersync(cfg, &["flush"]);
    let (t, rss) = (run.wall, run.peak_rss_mib);
    let conn = b.db("ym");
    let done = count(&conn, "SELECT COUNT(*) FROM outbox WHERE state = 'done'") as usize;
    let applied = sim.applied_pushes();
    let mut orders: Vec<&str> = applied.iter().map(|p| p.order_no.as_str()).collect();
    orders.sort_unstable();
    orders.dedup();
    rows.push(Row {
        scenario: "ymcart flush of ship pushes".into(),
        n,
        seconds: t.as_secs_f64(),
        rate: format!("{:.0} entries/s", n as f64 / t.as_secs_f64()),
        peak_rss_mib: rss,
        cpu_us: run.cpu * 1e6 / n as f64,
        requests: sim.requests().len(),
        note: format!("{done} done, {} applied, {} distinct orders", applied.len(), orders.len()),
    });
}

async fn other_platform(b: &Bench, platform: &str, n: usize, rows: &mut Vec<Row>) {
    let (server, requests, cfg, streams): (SimHandle, Box<dyn Fn() -> usize>, PathBuf, Vec<&str>);
    match platform {
        "guanmai" => {
            let sim = GmSim::new(2);
            sim.add_shop("bench-gm", "bench-secret", n, 30);
            server = sim.serve().await.expect("sim");
            let creds = format!(
                "access_id_file = \"{}\"\nsecret_file = \"{}\"",
                b.secret("gm.id", "bench-gm"),
                b.secret("gm.secret", "bench-secret")
            );
            streams = vec!["orders"];
            cfg = b.config(platform, &shop_block(platform, &server.base_url(), &creds, &streams));
            requests = Box::new(move || sim.requests().len());
        }
        "liangben" => {
            let sim = LbSim::new(3);
            sim.add_shop("bench-lb", n, 30);
            server = sim.serve().await.expect("sim");
            let creds = format!("token_file = \"{}\"", b.secret("lb.token", "bench-lb"));
            streams = vec!["orders", "shipments", "refunds"];
            cfg = b.config(platform, &shop_block(platform, &server.base_url(), &creds, &streams));
            requests = Box::new(move || sim.requests().len());
        }
        _ => {
            let sim = SsSim::new(4);
            sim.add_shop("bench-ss", n, 30);
            server = sim.serve().await.expect("sim");
            let creds = format!("token_file = \"{}\"", b.secret("ss.token", "bench-ss"));
            streams = vec!["orders", "refunds"];
            cfg = b.config(platform, &shop_block(platform, &server.base_url(), &creds, &streams));
            requests = Box::new(move || sim.requests().len());
        }
    }
    let mut total = Duration::ZERO;
    let mut peak: f64 = 0.0;
    let mut cpu = 0.0;
    for stream in &streams {
        let run = run_ordersync(&cfg, &["sync", "--stream", stream]);
        total += run.wall;
        peak = peak.max(run.peak_rss_mib);
        cpu += run.cpu;
    }
    let stored = count(&b.db(platform), "SELECT COUNT(*) FROM orders") as usize;
    assert_eq!(stored, n, "{platform}: every order stored");
    let shipments = count(&b.db(platform), "SELECT COUNT(*) FROM shipments");
    rows.push(Row {
        scenario: format!("{platform} full sync"),
        n,
        seconds: total.as_secs_f64(),
        rate: format!("{:.0} orders/s", n as f64 / total.as_secs_f64()),
        peak_rss_mib: peak,
        cpu_us: cpu * 1e6 / n as f64,
        requests: requests(),
        note: format!("streams {}; {shipments} shipments", streams.join("+")),
    });
    drop(server);
}

/// 200 shops × 3 streams on a one-minute schedule in one daemon for `minutes` minutes: counts the
/// passes of every shop × stream (no missed or doubled tick), the daemon's CPU share and its RSS.
async fn scheduler_soak(b: &Bench, minutes: u64, rows: &mut Vec<Row>) {
    let shops = 200;
    let sim = LbSim::new(5);
    let mut blocks = String::new();
    let server = {
        for i in 0..shops {
            sim.add_shop(&format!("soak-{i}"), 5, 3);
        }
        sim.serve().await.expect("sim")
    };
    for i in 0..shops {
        let token = b.secret(&format!("soak-{i}.token"), &format!("soak-{i}"));
        blocks.push_str(&format!(
            "[[shops]]\nid = \"s{i}\"\nplatform = \"liangben\"\nbase_url = \"{}\"\ntoken_file = \"{token}\"\n[shops.schedule]\norders = \"0 * * * * *\"\nshipments = \"0 * * * * *\"\nrefunds = \"0 * * * * *\"\n\n",
            server.base_url()
        ));
    }
    let cfg = b.config("soak", &blocks);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&cfg)
        .arg("run")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    let ticks = |pid: u32| cpu_ticks_of(&format!("/proc/{pid}/stat")).unwrap_or(0);
    let rss = |pid: u32| -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    // Let the first full minute pass before measuring, so start-up is not counted.
    tokio::time::sleep(Duration::from_secs(70)).await;
    let (t0, c0) = (Instant::now(), ticks(child.id()));
    let mut rss_by_minute = vec![rss(child.id())];
    for _ in 0..minutes {
        tokio::time::sleep(Duration::from_secs(60)).await;
        rss_by_minute.push(rss(child.id()));
    }
    let cpu = (ticks(child.id()) - c0) as f64 / 100.0 / t0.elapsed().as_secs_f64() * 100.0;
    Command::new("sh").arg("-c").arg(format!("kill -TERM {}", child.id())).status().ok();
    child.wait().ok();
    let conn = b.db("soak");
    let per_stream: Vec<i64> = {
        let mut stmt = conn.prepare("SELECT COUNT(*) FROM sync_runs GROUP BY shop_id, stream").expect("query");
        stmt.query_map([], |r| r.get(0)).expect("rows").map(|r| r.expect("row")).collect()
    };
    let (min, max) = (per_stream.iter().min().copied().unwrap_or(0), per_stream.iter().max().copied().unwrap_or(0));
    let doubled = count(&conn, "SELECT COUNT(*) FROM (SELECT shop_id, stream, substr(started_at, 1, 16) m, COUNT(*) n FROM sync_runs GROUP BY 1, 2, 3 HAVING n > 1)");
    rows.push(Row {
        scenario: format!("scheduler soak: {shops} shops × 3 streams, every minute"),
        n: per_stream.len(),
        seconds: t0.elapsed().as_secs_f64(),
        rate: format!("{cpu:.2} % CPU"),
        peak_rss_mib: rss_by_minute.iter().cloned().fold(0.0, f64::max),
        cpu_us: 0.0,
        requests: sim.requests().len(),
        note: format!(
            "passes per shop×stream {min}..{max}; {doubled} doubled minutes; RSS by minute {}",
            rss_by_minute.iter().map(|r| format!("{r:.1}")).collect::<Vec<_>>().join("/")
        ),
    });
}

fn print(rows: &[Row]) {
    println!();
    println!("| scenario | n | seconds | rate | CPU µs/item | peak RSS (MiB) | requests | note |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.2} | {} | {:.1} | {:.1} | {} | {} |",
            r.scenario, r.n, r.seconds, r.rate, r.cpu_us, r.peak_rss_mib, r.requests, r.note
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let n: usize = opt("--orders").and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let only = opt("--only");
    let wants = |name: &str| only.as_deref().is_none_or(|o| o == name);
    println!("machine: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    let mut rows = Vec::new();
    if wants("ymcart") {
        let b = Bench::new();
        let (sim, server, cfg) = ymcart_full(&b, n, &mut rows).await;
        let full = rows.len() - 1;
        store_limit(&b, &rows[full].clone(), &mut rows);
        if args.iter().any(|a| a == "--peer") {
            peer(&b, &sim, &server.base_url(), &rows[full].clone(), &mut rows).await;
        }
        ymcart_no_change(&b, &sim, &cfg, n, &mut rows).await;
        ymcart_flush(&b, &sim, &cfg, &mut rows).await;
        print(&rows);
    }
    for platform in ["guanmai", "liangben", "shopsuite"] {
        if wants(platform) {
            let b = Bench::new();
            other_platform(&b, platform, n, &mut rows).await;
            print(&rows);
        }
    }
    if let Some(minutes) = opt("--soak-minutes").and_then(|v| v.parse().ok()) {
        let b = Bench::new();
        scheduler_soak(&b, minutes, &mut rows).await;
        print(&rows);
    }
    if args.iter().any(|a| a == "--growth") {
        for size in [10_000, 100_000, 1_000_000] {
            let b = Bench::new();
            let mut curve = Vec::new();
            ymcart_full(&b, size, &mut curve).await;
            rows.push(Row { scenario: "growth: ymcart full sync".into(), ..curve.remove(0) });
            print(&rows);
        }
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
