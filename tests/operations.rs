//! What an admin relies on: `status --check` exit codes, outbox retry and cancel, retention.

mod common;

use chrono::{Duration as ChronoDuration, Utc};
use common::{count, spawn_ymcart, TestEnv, SHOP, TOKEN};
use ordersync::platforms::PushPayload;
use ordersync::store::{NewEntry, Param};
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
        let rows = env.store().query("SELECT id FROM outbox WHERE order_no = ?1", &[Param::Text(order)]).unwrap();
        rows.into_iter().next().expect("an outbox row").int(0).unwrap()
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
    store.execute("UPDATE outbox SET state = 'done', done_at = ?1", &[Param::Text(&old.to_rfc3339())]).unwrap();
    store.execute("UPDATE sync_runs SET started_at = ?1", &[Param::Text(&old.to_rfc3339())]).unwrap();
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

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_endpoint_serves_prometheus_text() {
    let env = spawn_ymcart(80, 5, 125).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = std::fs::read_to_string(&env.config_path)
        .unwrap()
        .replace("[daemon]", &format!("[daemon]\nmetrics_listen = \"127.0.0.1:{port}\""));
    std::fs::write(&env.config_path, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&env.config_path)
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut body = String::new();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Ok(r) = reqwest::get(&url).await {
            body = r.text().await.unwrap_or_default();
            let orders_done = body.lines().any(|l| {
                l.starts_with("ordersync_rows_written_total")
                    && l.contains("kind=\"new\"")
                    && l.contains("stream=\"orders\"")
                    && l.ends_with(" 80")
            });
            if orders_done && body.contains("ordersync_stream_lag_seconds") {
                break;
            }
        }
    }
    Command::new("sh").arg("-c").arg(format!("kill -TERM {}", child.id())).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));

    // Parse the exposition format: comments, or `name{labels} value`.
    let mut samples: Vec<(String, f64)> = Vec::new();
    for line in body.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample line: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number in: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "bad name in: {line}");
        samples.push((series.to_string(), value));
    }
    let value = |prefix: &str, needle: &str| -> f64 {
        samples.iter().filter(|(s, _)| s.starts_with(prefix) && s.contains(needle)).map(|(_, v)| v).sum()
    };
    assert!(value("ordersync_http_requests_total", "outcome=\"ok\"") > 0.0, "{body}");
    assert!(value("ordersync_http_requests_total", "endpoint=\"/api-erp-orderList.html\"") > 0.0);
    assert_eq!(
        value("ordersync_rows_written_total", "stream=\"orders\""),
        80.0,
        "80 new orders, then nothing changed: {body}"
    );
    assert!(value("ordersync_sync_pass_seconds_count", "stream=\"orders\"") >= 1.0);
    assert!(samples.iter().any(|(s, v)| s.starts_with("ordersync_stream_lag_seconds") && *v >= 0.0));
}
