//! Vendor misbehaviour against the YMCart simulator: each is a clear error (or absorbed), nothing
//! stored is lost, and the next run after the vendor recovers starts clean.

mod common;

use axum::routing::any;
use common::{count, spawn_ymcart, TestEnv, SHOP, TOKEN};
use ordersync::model::Stream;
use ordersync::sim::ymcart::PagingQuirk;
use ordersync::sim::{Faults, Hostile, Simulator};
use ordersync::store::{Row, Store};
use ordersync::sync::{run_pass, PassError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The first row of `sql`, or why there is none.
fn first_row(store: &Store, sql: &str) -> Result<Row, String> {
    let rows = store.query(sql, &[]).map_err(|e| e.to_string())?;
    rows.into_iter().next().ok_or_else(|| "no rows returned".to_string())
}

async fn pass(env: &TestEnv, stream: Stream) -> Result<ordersync::store::BatchCounts, PassError> {
    let rt = env.runtime();
    let shop = rt.shop(SHOP).expect("shop").clone();
    run_pass(&rt, &shop, stream, &CancellationToken::new()).await.map(|r| r.counts)
}

/// Syncs once cleanly, turns `hostile` on, checks the failing pass's error, then recovers.
async fn fails_clearly_then_recovers(env: &TestEnv, hostile: Hostile, expect: &[&str]) {
    pass(env, Stream::Orders).await.expect("a clean first pass");
    let stored = count(&env.store(), "SELECT COUNT(*) FROM orders");
    env.sim.add_orders(TOKEN, 5);
    env.sim.set_faults(Faults { hostile: Some(hostile), ..Faults::default() });
    let err = pass(env, Stream::Orders).await.expect_err("a hostile answer fails the pass").to_string();
    for part in expect {
        assert!(err.contains(part), "error {err:?} should mention {part:?}");
    }
    assert!(err.contains(SHOP) && !err.contains(TOKEN), "names the shop, never the token: {err}");
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders"), stored, "nothing stored is lost");
    let last_error: Option<String> =
        first_row(&env.store(), "SELECT last_error FROM sync_state WHERE stream = 'orders'")
            .unwrap()
            .opt_text(0)
            .unwrap();
    assert!(last_error.is_some(), "status shows the failure");

    env.sim.set_faults(Faults::default());
    pass(env, Stream::Orders).await.expect("the next run after recovery succeeds");
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders"), stored + 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_error_page_with_http_200() {
    let env = spawn_ymcart(60, 5, 61).await;
    fails_clearly_then_recovers(&env, Hostile::HtmlPage, &["not valid JSON", "<html>"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_not_utf8() {
    let env = spawn_ymcart(60, 5, 62).await;
    fails_clearly_then_recovers(&env, Hostile::NotUtf8, &["not valid JSON"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_cap_is_refused_not_buffered() {
    let env = spawn_ymcart(60, 5, 63).await;
    env.write_config_with("[http]\nmax_body_bytes = 1048576\nretries = 3\nretry_initial_ms = 10\n", 50, "");
    fails_clearly_then_recovers(&env, Hostile::Huge(64 << 20), &["exceeds the 1048576-byte cap"]).await;
    // Refused at once (a body too large will not shrink on a retry), and read only up to the cap:
    // of 64 MiB offered, the server could hand over little more than the cap plus socket buffers.
    env.sim.set_faults(Faults { hostile: Some(Hostile::Huge(64 << 20)), ..Faults::default() });
    env.sim.clear_requests();
    let before = env.sim.core().streamed_bytes();
    pass(&env, Stream::Orders).await.expect_err("refused again");
    assert_eq!(env.sim.requests().len(), 1, "not retried");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let streamed = env.sim.core().streamed_bytes() - before;
    assert!(streamed < 16 << 20, "the client stopped reading: {streamed} bytes left the server");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_drip_hits_the_timeout() {
    let env = spawn_ymcart(60, 5, 64).await;
    env.write_config_with("[http]\nrequest_timeout_secs = 1\nretries = 1\nretry_initial_ms = 10\n", 50, "");
    fails_clearly_then_recovers(&env, Hostile::Drip(200), &["timed out"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_host_is_never_followed() {
    let env = spawn_ymcart(60, 5, 65).await;
    // The "other host": it counts every request that reaches it.
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let other = axum::Router::new().fallback(any(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "{}" }
    }));
    let other = ordersync::sim::serve(other).await.unwrap();
    let target = format!("{}/steal-credentials", other.base_url());
    fails_clearly_then_recovers(
        &env,
        Hostile::RedirectTo(target),
        &["refused to follow a redirect", "steal-credentials"],
    )
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing, and so no token, reached the other host");
}

/// A redirect whose target carries an access token in its query: the token reaches neither the
/// error, the log, nor the database (the binary runs the pass, so its log is what an admin sees).
#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_with_a_token_in_its_query_leaks_it_nowhere() {
    const LEAK: &str = "tok-LEAKED-9f8e7d";
    let env = spawn_ymcart(20, 5, 66).await;
    let target = format!("https://elsewhere.example/login?access_token={LEAK}&next=%2F#frag-{LEAK}");
    env.sim.set_faults(Faults { hostile: Some(Hostile::RedirectTo(target)), ..Faults::default() });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&env.config_path)
        .args(["sync", "--stream", "orders"])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the pass fails on the redirect");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(log.contains("refused to follow a redirect") && log.contains("elsewhere.example/login"), "{log}");
    assert!(!log.contains(LEAK), "the token is in the log: {log}");
    let store = env.store();
    for (table, column) in [("sync_state", "last_error"), ("sync_runs", "error")] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} LIKE '%{LEAK}%'");
        assert_eq!(count(&store, &sql), 0, "{table}.{column} holds the token");
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} LIKE '%refused to follow a redirect%'");
        assert!(count(&store, &sql) >= 1, "{table}.{column} records the refusal");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_that_repeat_a_row_or_whose_count_grows_still_give_the_truth() {
    for (seed, quirk) in [(66, PagingQuirk::RepeatRow), (67, PagingQuirk::CountGrows)] {
        let env = spawn_ymcart(450, 10, seed).await;
        env.sim.set_paging_quirk(TOKEN, Some(quirk));
        pass(&env, Stream::Orders).await.unwrap_or_else(|e| panic!("{quirk:?}: {e}"));
        let truth = env.sim.truth_orders(TOKEN);
        assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders"), truth.len() as i64, "{quirk:?}");
        // A repeated row is absorbed by the upsert: one first-sight transition per order.
        assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM status_changes"), truth.len() as i64, "{quirk:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundreds_on_every_retry_end_the_run_and_the_next_starts_clean() {
    let env = spawn_ymcart(60, 5, 68).await;
    env.write_config_with("[http]\nretries = 3\nretry_initial_ms = 10\n", 50, "");
    env.sim.set_faults(Faults { http_500: 1.0, ..Faults::default() });
    env.sim.clear_requests();
    let err = pass(&env, Stream::Orders).await.expect_err("500 on every try").to_string();
    assert!(err.contains("HTTP 500"), "{err}");
    assert_eq!(env.sim.requests().len(), 4, "the first try and 3 retries, then a clear error");
    env.sim.set_faults(Faults::default());
    env.sim.clear_requests();
    pass(&env, Stream::Orders).await.expect("the next run starts clean");
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders"), 60);
    let status: Option<String> = first_row(&env.store(), "SELECT last_error FROM sync_state WHERE stream = 'orders'")
        .unwrap()
        .opt_text(0)
        .unwrap();
    assert_eq!(status, None, "a successful pass clears the error");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_meeting_500s_until_max_attempts_ends_failed_and_the_next_starts_clean() {
    let env = spawn_ymcart(60, 5, 69).await;
    let text = std::fs::read_to_string(&env.config_path).unwrap().replace("max_attempts = 10", "max_attempts = 3");
    std::fs::write(&env.config_path, text).unwrap();
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let mut store = env.store();
    let ship = |order: &str, tracking: &str| ordersync::store::NewEntry {
        shop_id: SHOP.into(),
        order_no: order.into(),
        payload: ordersync::platforms::PushPayload::Ship { carrier: "SF".into(), tracking: tracking.into() },
    };
    store.enqueue(&ship(&paid[0], "M1"), chrono::Utc::now()).unwrap();
    env.sim.set_faults(Faults { http_500: 1.0, ..Faults::default() });
    let rt = env.runtime();
    for _ in 0..20 {
        ordersync::push::flush_all(&rt, &CancellationToken::new()).await.unwrap();
        if count(&env.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'failed'") == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut row = first_row(&env.store(), "SELECT attempts, last_error FROM outbox WHERE state = 'failed'")
        .expect("the entry ended failed");
    let (attempts, error): (i64, String) = (row.int(0).unwrap(), row.text(1).unwrap());
    assert_eq!(attempts, 3);
    assert!(error.contains("gave up after 3 attempts") && error.contains("HTTP 500"), "{error}");
    assert!(env.sim.applied_pushes().is_empty());

    // The vendor recovers: a new push goes out at once, nothing of the old backoff lingers.
    env.sim.set_faults(Faults::default());
    env.store().enqueue(&ship(&paid[1], "M2"), chrono::Utc::now()).unwrap();
    let report = ordersync::push::flush_all(&rt, &CancellationToken::new()).await.unwrap();
    assert_eq!((report.done, report.requests), (1, 1));
}

/// A row no reader can take is kept raw in `rejected_records` with the reason, and every other
/// row of its page is stored as usual.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_row_is_kept_raw_and_the_rest_of_its_page_syncs() {
    let env = spawn_ymcart(150, 10, 67).await;
    let truth = env.sim.truth_orders(TOKEN);
    let bad = truth[40].itemno.clone();
    assert!(env.sim.corrupt_order(TOKEN, &bad));
    pass(&env, Stream::Orders).await.expect("the pass succeeds");
    let store = env.store();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM orders"), 149, "every other order is stored");
    let mut row = first_row(&store, "SELECT vendor_key, error, raw_json FROM rejected_records WHERE stream = 'orders'")
        .expect("the bad row is kept raw");
    let (key, error, raw): (String, String, String) =
        (row.text(0).unwrap(), row.text(1).unwrap(), row.text(2).unwrap());
    assert_eq!(key, bad);
    assert!(error.contains("create_time") && error.contains("yesterday-ish"), "{error}");
    assert!(raw.contains(&bad) && raw.contains("yesterday-ish"), "kept as received");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM orders WHERE order_no = '{bad}'".replace("{bad}", &bad).as_str()),
        0
    );
}

/// A 429 carrying `Retry-After: 2` is waited out: at the simulator, the next request of that
/// shop arrives at least 2 s later, although the configured backoff is 10 ms.
#[tokio::test(flavor = "multi_thread")]
async fn retry_after_wins_over_the_backoff() {
    let env = spawn_ymcart(30, 5, 68).await;
    env.sim.set_faults(Faults { http_429: 0.5, retry_after_secs: 2, ..Faults::default() });
    pass(&env, Stream::Orders).await.expect("the pass gets through");
    let log = env.sim.requests();
    let limited: Vec<usize> = (0..log.len()).filter(|&i| log[i].fault == Some("http_429")).collect();
    assert!(!limited.is_empty(), "the seed gives at least one 429");
    for i in limited {
        let next = log.get(i + 1).expect("the 429 was retried");
        let gap = next.at - log[i].at;
        assert!(gap >= std::time::Duration::from_millis(1990), "retried after {gap:?}, not after Retry-After: 2");
    }
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders"), 30);
}
