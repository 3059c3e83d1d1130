//! Work shared between processes on one database: one rate budget per shop whoever sends, one
//! holder per pass, and the claims of a SIGKILLed daemon taken back at once by the next start.
//!
//! Every process here is the real `ordersync` binary; the simulator runs in the test.

mod common;

use chrono::Utc;
use common::{count, TestDir, TOKEN};
use ordersync::platforms::PushPayload;
use ordersync::sim::ymcart::YmSim;
use ordersync::sim::{Faults, Simulator};
use ordersync::store::NewEntry;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SHOP: &str = "ym";

fn ordersync(dir: &TestDir, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ordersync"));
    c.arg("--config").arg(&dir.config_path).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// One YMCart shop; `push` and `orders` are cron lines, `lease` is `lease_secs`.
fn write_config(dir: &TestDir, base_url: &str, rate: u32, push: &str, orders: &str, lease: u32) {
    let token = dir.secret("ym.token", TOKEN);
    std::fs::write(
        &dir.config_path,
        format!(
            r#"
[daemon]
database = "{database}"
timezone = "Asia/Shanghai"
drain_timeout_secs = 10

[push]
schedule = "{push}"
max_attempts = 10
lease_secs = {lease}
retry_base_ms = 10
retry_max_secs = 1

[http]
retries = 6
retry_initial_ms = 10
request_timeout_secs = 10

[[shops]]
id = "{SHOP}"
platform = "ymcart"
base_url = "{base_url}"
token_file = "{token}"
rate_limit_per_sec = {rate}
backfill_days = 30
[shops.schedule]
orders = "{orders}"
"#,
            database = dir.database_setting(),
        ),
    )
    .expect("config written");
}

fn ship_plan(sim: &YmSim, n: usize) -> Vec<NewEntry> {
    sim.order_nos_in_status(TOKEN, 200)
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, order_no)| NewEntry {
            shop_id: SHOP.into(),
            order_no,
            payload: PushPayload::Ship { carrier: "SF".into(), tracking: format!("HOLD{i:03}") },
        })
        .collect()
}

/// The most requests the simulator saw start within any one second.
fn worst_second(sim: &YmSim) -> (usize, usize, String) {
    let log = sim.requests();
    let start = log.first().map(|r| r.at);
    // The simulator stamps a request when its handler runs, in this busy test process: up to
    // 50 ms late, which could crowd four starts spaced over a second into 0.95 s. The product
    // spaces them 1.1 s apart; a missing shared budget puts nine into one second.
    let second = Duration::from_millis(950);
    let window = |t: Instant| log.iter().filter(move |u| u.at >= t && u.at.duration_since(t) < second);
    let worst = log.iter().max_by_key(|r| window(r.at).count());
    let shown = worst.map_or_else(String::new, |w| {
        let at = |u: &ordersync::sim::RequestLogEntry| start.map_or(0, |s| u.at.duration_since(s).as_millis());
        window(w.at).map(|u| format!("{} ms {}", at(u), u.endpoint)).collect::<Vec<_>>().join(", ")
    });
    (worst.map_or(0, |w| window(w.at).count()), log.len(), shown)
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_cli_sync_and_cli_flush_spend_one_budget() {
    let sim = YmSim::new(71);
    sim.add_shop(TOKEN, 900, 20);
    let server = sim.serve().await.unwrap();
    let dir = TestDir::new();
    // The daemon syncs orders every second and never flushes on its own; the admin runs a
    // shipments pass and a flush by hand at the same time.
    write_config(&dir, &server.base_url(), 3, "0 0 0 1 1 *", "* * * * * *", 30);
    let plan = ship_plan(&sim, 45);
    {
        let mut store = dir.store();
        for e in &plan {
            store.enqueue(e, Utc::now()).unwrap();
        }
    }
    let mut daemon = dir.spawn_daemon();
    // Let the daemon's first pass get going before the admin joins in.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.requests().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sync = ordersync(&dir, &["sync", "--shop", SHOP, "--stream", "shipments"]).spawn().unwrap();
    let flush = ordersync(&dir, &["flush"]).spawn().unwrap();
    let (sync, flush) = (sync.wait_with_output().unwrap(), flush.wait_with_output().unwrap());
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert!(sync.status.success(), "sync: {}", String::from_utf8_lossy(&sync.stderr));
    assert!(
        flush.status.success(),
        "flush: {}{}",
        String::from_utf8_lossy(&flush.stdout),
        String::from_utf8_lossy(&flush.stderr)
    );

    let store = dir.store();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox WHERE state = 'done'"), plan.len() as i64);
    assert!(count(&store, "SELECT COUNT(*) FROM sync_runs WHERE stream = 'orders'") >= 1, "the daemon synced");
    assert!(count(&store, "SELECT COUNT(*) FROM sync_runs WHERE stream = 'shipments' AND ok = 1") >= 1, "sync ran");
    let (worst, total, shown) = worst_second(&sim);
    assert!(total >= 12, "enough requests to test the budget: {total}");
    assert!(worst <= 3, "{worst} requests within one second at a shop limited to 3 ({total} requests): {shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_daemon_resends_a_sigkilled_daemons_pushes_without_waiting_for_their_lease() {
    let sim = YmSim::new(72);
    sim.add_shop(TOKEN, 200, 10);
    let server = sim.serve().await.unwrap();
    let dir = TestDir::new();
    // Leases of ten minutes: only taking back the dead daemon's claims can finish within the test.
    write_config(&dir, &server.base_url(), 20, "* * * * * *", "0 0 0 1 1 *", 600);
    // Every answer comes 3 s after the push was applied: the kill lands while sends are in flight.
    sim.set_faults(Faults { slow: 1.0, slow_ms: 3000, slow_after: true, ..Faults::default() });
    let plan = ship_plan(&sim, 30);
    {
        let mut store = dir.store();
        for e in &plan {
            store.enqueue(e, Utc::now()).unwrap();
        }
    }
    let mut first = dir.spawn_daemon();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Kill it once a push has landed at the vendor and before its (late) answer arrives.
    while sim.applied_pushes().is_empty() {
        assert!(Instant::now() < deadline, "the first daemon sent nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let in_flight = count(&dir.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'in_flight'");
    assert!(in_flight > 0, "the kill left claims in flight");
    sim.set_faults(Faults::default());

    let mut second = dir.spawn_daemon();
    let restarted = Instant::now();
    while count(&dir.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'done'") < plan.len() as i64 {
        // Far below the 600 s lease: the claims were taken back, not waited out.
        assert!(restarted.elapsed() < Duration::from_secs(60), "pushes of the dead daemon not resent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Command::new("kill").arg("-TERM").arg(second.id().to_string()).status().unwrap();
    assert_eq!(second.wait().unwrap().code(), Some(0));

    let store = dir.store();
    let read_back = count(&store, "SELECT COUNT(*) FROM outbox WHERE settled_by = 'read_back'");
    assert!(read_back > 0, "the dead daemon's sends that landed were read back, not resent");
    let mut applied: HashMap<String, usize> = HashMap::new();
    for p in sim.applied_pushes() {
        *applied.entry(p.order_no).or_default() += 1;
    }
    for e in &plan {
        assert_eq!(applied.get(&e.order_no), Some(&1), "{} applied once", e.order_no);
    }
    assert_eq!(applied.len(), plan.len(), "nothing applied that was not planned");
    // The dead daemon is forgotten, and the clean stop gave back what the second held.
    assert_eq!(count(&store, "SELECT COUNT(*) FROM holders"), 0, "no holder left behind");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM leases"), 0, "no lease left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_takes_over_the_passes_of_a_sigkilled_one_at_once() {
    let sim = YmSim::new(73);
    sim.add_shop(TOKEN, 300, 10);
    // Slow answers keep each pass (and its lease) open for several seconds.
    sim.set_faults(Faults { slow: 1.0, slow_ms: 1500, ..Faults::default() });
    let server = sim.serve().await.unwrap();
    let dir = TestDir::new();
    write_config(&dir, &server.base_url(), 20, "0 0 0 1 1 *", "* * * * * *", 600);
    let mut a = dir.spawn_daemon();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&dir.store(), "SELECT COUNT(*) FROM leases WHERE job = 'orders'") == 0 {
        assert!(Instant::now() < deadline, "the first daemon never held a pass");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut b = dir.spawn_daemon();
    // While A holds the pass, B skips it; kill A in the middle of it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let holder_pid = count(
        &dir.store(),
        "SELECT COALESCE(MAX(h.pid), 0) FROM leases l JOIN holders h ON h.id = l.holder WHERE l.job = 'orders'",
    );
    assert!([i64::from(a.id()), i64::from(b.id())].contains(&holder_pid), "one of the daemons holds the pass");
    // `status` names the holder of the pass.
    let out = ordersync(&dir, &["status", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json");
    let held_by = report["streams"][0]["held_by"].as_str().unwrap_or_default().to_string();
    assert!(held_by.starts_with(&format!("daemon pid {holder_pid} on ")), "status shows the holder: {held_by:?}");
    let processes = report["holders"].as_array().map_or(0, Vec::len);
    assert!(processes >= 2, "both daemons are listed: {processes}");
    let (victim, survivor) = if holder_pid == i64::from(a.id()) { (&mut a, &mut b) } else { (&mut b, &mut a) };
    victim.kill().unwrap();
    victim.wait().unwrap();
    let killed_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    sim.set_faults(Faults::default());

    let resumed = Instant::now();
    loop {
        let ok = count(
            &dir.store(),
            &format!(
                "SELECT COUNT(*) FROM sync_runs WHERE stream = 'orders' AND ok = 1 AND started_at > '{killed_at}'"
            ),
        );
        if ok >= 1 {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(60), "the survivor never resumed the pass (lease 600 s)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Command::new("kill").arg("-TERM").arg(survivor.id().to_string()).status().unwrap();
    assert_eq!(survivor.wait().unwrap().code(), Some(0));
    assert_eq!(count(&dir.store(), "SELECT COUNT(*) FROM orders"), 300);
}
