//! What an admin relies on: `status --check` exit codes, outbox retry and cancel, retention.

mod common;

use chrono::{Duration as ChronoDuration, Utc};
use common::{count, spawn_ymcart, TestEnv, SHOP, TOKEN};
use ordersync::platforms::PushPayload;
use ordersync::store::NewEntry;
use serde_json::Value;
use std::process::{Command, Output};
use std::time::Duration;

fn ordersync(env: &TestEnv, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ordersync")).arg("--config").arg(&env.config_path).args(args).output().unwrap()
}

fn status(env: &TestEnv) -> (Option<i32>, Value) {
    let out = ordersync(env, &["status", "--json", "--check"]);
    (out.status.code(), serde_json::from_slice(&out.stdout).expect("status --json is JSON"))
}

fn every_second(env: &TestEnv) {
    let text = std::fs::read_to_string(&env.config_path).unwrap().replace("*/2 * * * * *", "* * * * * *");
    std::fs::write(&env.config_path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn status_check_exit_codes_follow_lateness_credentials_and_dead_letters() {
    let env = spawn_ymcart(40, 5, 121).await;
    every_second(&env);
    assert!(ordersync(&env, &["sync"]).status.success());
    let (code, report) = status(&env);
    assert_eq!(code, Some(0), "healthy right after a pass: {report}");
    assert_eq!(report["streams"][0]["consecutive_failures"], 0);

    // Three periods of a one-second schedule without a success: late.
    std::thread::sleep(Duration::from_millis(4500));
    let (code, report) = status(&env);
    assert_eq!((code, report["late"].as_u64()), (Some(1), Some(2)), "{report}");
    assert!(ordersync(&env, &["sync"]).status.success());
    assert_eq!(status(&env).0, Some(0));

    // Refused credentials.
    std::fs::write(env.dir.join("ym.token"), "wrong").unwrap();
    assert!(!ordersync(&env, &["sync", "--stream", "orders"]).status.success());
    assert!(!ordersync(&env, &["sync", "--stream", "orders"]).status.success());
    let (code, report) = status(&env);
    assert_eq!((code, report["credentials_refused"].as_u64()), (Some(1), Some(1)), "{report}");
    let orders = report["streams"].as_array().unwrap().iter().find(|s| s["stream"] == "orders").unwrap().clone();
    assert_eq!(orders["consecutive_failures"], 2);
    std::fs::write(env.dir.join("ym.token"), TOKEN).unwrap();
    assert!(ordersync(&env, &["sync"]).status.success());
    assert_eq!(status(&env).0, Some(0));

    // A dead letter.
    assert!(ordersync(
        &env,
        &["push", "ship", "--shop", SHOP, "--order", "NOPE-1", "--carrier", "SF", "--tracking", "1"]
    )
    .status
    .success());
    ordersync(&env, &["flush"]);
    let (code, report) = status(&env);
    assert_eq!((code, report["dead_letters"].as_u64()), (Some(1), Some(1)), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivered_push_is_unconfirmed_until_a_sync_shows_it() {
    let env = spawn_ymcart(60, 5, 122).await;
    assert!(ordersync(&env, &["sync"]).status.success());
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    assert!(ordersync(
        &env,
        &["push", "ship", "--shop", SHOP, "--order", &paid[0], "--carrier", "SF", "--tracking", "U1"]
    )
    .status
    .success());
    assert!(ordersync(&env, &["flush"]).status.success());
    let (_, report) = status(&env);
    assert_eq!(report["shops"][0]["unconfirmed"], 1, "{report}");
    assert!(ordersync(&env, &["sync"]).status.success());
    let (_, report) = status(&env);
    assert_eq!(report["shops"][0]["unconfirmed"], 0, "the shipment and its tracking number were synced: {report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn outbox_retry_and_cancel() {
    let env = spawn_ymcart(30, 5, 123).await;
    let unpaid = env.sim.order_nos_in_status(TOKEN, 100);
    for (i, order) in unpaid.iter().take(3).enumerate() {
        let args =
            ["push", "ship", "--shop", SHOP, "--order", order, "--carrier", "SF", "--tracking", &format!("R{i}")];
        assert!(ordersync(&env, &args).status.success());
    }
    ordersync(&env, &["flush"]);
    assert_eq!(
        count(&env.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'failed'"),
        3,
        "unpaid orders cannot ship"
    );
    let listed =
        String::from_utf8_lossy(&ordersync(&env, &["outbox", "list", "--state", "failed"]).stdout).into_owned();
    assert_eq!(listed.lines().count(), 3);
    assert!(listed.contains("order_status_limit"));

    // The merchant marks one paid; the admin retries it and cancels another.
    env.sim.touch_order(TOKEN, &unpaid[0], 200);
    let id = |order: &str| -> i64 {
        env.store().connection().query_row("SELECT id FROM outbox WHERE order_no = ?1", [order], |r| r.get(0)).unwrap()
    };
    assert!(ordersync(&env, &["outbox", "retry", &id(&unpaid[0]).to_string()]).status.success());
    assert!(ordersync(&env, &["outbox", "cancel", &id(&unpaid[1]).to_string()]).status.success());
    let out = ordersync(&env, &["outbox", "retry", "999"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("#999"));
    assert!(ordersync(&env, &["flush"]).status.success());
    let store = env.store();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox WHERE state = 'done'"), 1);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox"), 2, "the cancelled entry is gone");
    assert!(ordersync(&env, &["outbox", "retry", "--all-failed"]).status.success());
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_prunes_old_delivered_pushes_and_runs_only() {
    let env = spawn_ymcart(30, 5, 124).await;
    assert!(ordersync(&env, &["sync"]).status.success());
    let mut store = env.store();
    let old = Utc::now() - ChronoDuration::days(40);
    for i in 0..1200 {
        let payload = PushPayload::Remark { text: format!("r{i}") };
        store.enqueue(&NewEntry { shop_id: SHOP.into(), order_no: format!("O{i}"), payload }, old).unwrap();
    }
    store.connection().execute("UPDATE outbox SET state = 'done', done_at = ?1", [old.to_rfc3339()]).unwrap();
    store.connection().execute("UPDATE sync_runs SET started_at = ?1", [old.to_rfc3339()]).unwrap();
    let recent = PushPayload::Remark { text: "recent".into() };
    store.enqueue(&NewEntry { shop_id: SHOP.into(), order_no: "keep".into(), payload: recent }, Utc::now()).unwrap();
    let (orders, changes) =
        (count(&store, "SELECT COUNT(*) FROM orders"), count(&store, "SELECT COUNT(*) FROM status_changes"));

    let pruned = store.prune(30, Utc::now()).unwrap();
    assert_eq!(pruned, 1200 + 2, "1,200 delivered pushes in batches, and the two old runs");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox"), 1, "pending entries stay");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM orders"), orders, "orders are never pruned");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM status_changes"), changes, "nor their history");
}
