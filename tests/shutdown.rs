//! SIGTERM while a sync or a flush is running: exit 0 within the drain timeout, committed work
//! stands, no entry is left in flight without a lease, and the next run finishes the job once.

mod common;

use chrono::Utc;
use common::{count, spawn_ymcart, TestEnv, SHOP, TOKEN};
use ordersync::platforms::PushPayload;
use ordersync::sim::{Faults, Simulator};
use ordersync::store::NewEntry;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM and returns the exit code and how long the drain took.
fn terminate(child: &mut Child) -> (Option<i32>, Duration) {
    let start = Instant::now();
    let ok = Command::new("sh").arg("-c").arg(format!("kill -TERM {}", child.id())).status().unwrap().success();
    assert!(ok);
    let status = child.wait().unwrap();
    (status.code(), start.elapsed())
}

fn db_exists(env: &TestEnv) -> bool {
    env.test_dir.database_exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_sync_exits_zero_within_the_drain_timeout() {
    let env = spawn_ymcart(2000, 30, 81).await;
    // Every answer takes 300 ms, so a pass of ~40 pages is running when the signal comes.
    env.sim.set_faults(Faults { slow: 1.0, slow_ms: 300, ..Faults::default() });
    let mut child = env.test_dir.spawn_daemon();
    wait_until("a pass in progress", Duration::from_secs(30), || {
        db_exists(&env) && count(&env.store(), "SELECT COUNT(*) FROM sync_runs WHERE finished_at IS NULL") > 0
    });
    std::thread::sleep(Duration::from_millis(700));
    let (code, took) = terminate(&mut child);
    assert_eq!(code, Some(0), "SIGTERM drains and exits 0");
    assert!(took < Duration::from_secs(10 + 3), "within drain_timeout_secs (10): {took:?}");
    let store = env.store();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM sync_runs WHERE finished_at IS NULL"),
        0,
        "the run was recorded as ended"
    );
    let error = common::text(&store, "SELECT error FROM sync_runs ORDER BY id DESC LIMIT 1");
    assert!(error.as_deref().is_none_or(|e| e.contains("shutdown")), "stopped for shutdown, not failed: {error:?}");

    // The committed pages stand; the next pass finishes the job.
    env.sim.set_faults(Faults::default());
    let out = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&env.config_path)
        .args(["sync"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders"), 2000);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_flush_leaves_no_entry_in_flight_without_a_lease() {
    let env = spawn_ymcart(1500, 10, 82).await;
    // No sync schedules: only the flush runs. Ship pushes go one request per second or so.
    env.write_config(1, "");
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    let config = config.replace("orders = \"*/2 * * * * *\"\nshipments = \"*/2 * * * * *\"\n", "");
    std::fs::write(&env.config_path, config).unwrap();
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let mut store = env.store();
    // 200 entries are 10 requests of 20 at one request a second: the signal lands mid-flush.
    assert!(paid.len() >= 200);
    for (i, order) in paid.iter().take(200).enumerate() {
        let payload = PushPayload::Ship { carrier: "SF".into(), tracking: format!("TERM{i}") };
        store.enqueue(&NewEntry { shop_id: SHOP.into(), order_no: order.clone(), payload }, Utc::now()).unwrap();
    }
    env.sim.set_faults(Faults { slow: 1.0, slow_ms: 400, ..Faults::default() });
    let mut child = env.test_dir.spawn_daemon();
    wait_until("pushes in flight", Duration::from_secs(30), || {
        count(&env.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'done'") > 0
    });
    let (code, took) = terminate(&mut child);
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(13), "{took:?}");
    let store = env.store();
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM outbox WHERE state = 'in_flight' AND lease_until IS NULL"),
        0,
        "every in-flight entry keeps its lease"
    );
    assert!(count(&store, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'") > 0, "the signal came mid-flush");

    // The next flush delivers the rest; nothing is applied twice.
    env.sim.set_faults(Faults::default());
    std::thread::sleep(Duration::from_millis(2100)); // any leases left behind expire
    let out = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&env.config_path)
        .arg("flush")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'done'"), 200);
    let mut applied = env.sim.applied_pushes().iter().map(|p| p.order_no.clone()).collect::<Vec<_>>();
    applied.sort();
    let before = applied.len();
    applied.dedup();
    assert_eq!((before, applied.len()), (200, 200), "each push applied exactly once");
}
