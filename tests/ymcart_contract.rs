//! YMCart against each reading of its page (issue 10): deliveries served newest-first or
//! oldest-first, a server that caps its pages, a `count` the pages never reach, times in every
//! form, billing-only addresses, and a status push whose order already went further.

mod common;

use chrono::Utc;
use common::{count, spawn_ymcart, stored_order, ymcart_expected_row, TestEnv, SHOP, TOKEN};
use ordersync::model::Stream;
use ordersync::platforms::PushPayload;
use ordersync::push::flush_all;
use ordersync::sim::ymcart::DeliveryOrder;
use ordersync::sim::{Simulator, TimeForm};
use ordersync::store::{BatchCounts, NewEntry, Param};
use ordersync::sync::{run_pass, PassError};
use std::process::Command;
use tokio_util::sync::CancellationToken;

async fn try_pass(env: &TestEnv, stream: Stream) -> Result<BatchCounts, PassError> {
    let rt = env.runtime();
    let shop = rt.shop(SHOP).expect("shop").clone();
    run_pass(&rt, &shop, stream, &CancellationToken::new()).await.map(|r| r.counts)
}

async fn pass(env: &TestEnv, stream: Stream) -> BatchCounts {
    try_pass(env, stream).await.unwrap_or_else(|e| panic!("pass fails: {e}"))
}

fn cursor(env: &TestEnv, stream: &str) -> Option<String> {
    let sql = "SELECT cursor FROM sync_state WHERE shop_id = ?1 AND stream = ?2";
    let rows = env.store().query(sql, &[Param::Text(SHOP), Param::Text(stream)]).unwrap();
    rows.into_iter().next().and_then(|mut r| r.opt_text(0).unwrap())
}

/// Every delivery of the simulator is stored once, as its truth says.
fn assert_deliveries_match(env: &TestEnv) {
    let store = env.store();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM rejected_records"), 0);
    common::assert_ymcart_deliveries(&store, &env.sim.truth_deliveries(TOKEN));
}

/// Every order of the simulator is stored, whole, as its truth says, and no other order is.
fn assert_orders_match(env: &TestEnv, context: &str) {
    let store = env.store();
    let truth = env.sim.truth_orders(TOKEN);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM orders"), truth.len() as i64, "{context}");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM rejected_records"), 0, "{context}");
    for t in &truth {
        let stored = stored_order(&store, SHOP, &t.itemno);
        assert_eq!(stored, Some(ymcart_expected_row(t)), "{context}: order {}", t.itemno);
    }
}

/// Moves `n` paid orders to shipped at the simulator, which adds a delivery for each.
fn ship_some(env: &TestEnv, n: usize) -> usize {
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    assert!(paid.len() >= n, "seed gives enough paid orders");
    for no in paid.iter().take(n) {
        assert!(env.sim.touch_order(TOKEN, no, 301));
    }
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn every_delivery_is_synced_once_whichever_way_the_shop_lists_them() {
    for (order, prefix) in [(DeliveryOrder::Ascending, "asc:"), (DeliveryOrder::NewestFirst, "desc:")] {
        let env = spawn_ymcart(1500, 30, 41).await;
        env.sim.set_delivery_order(TOKEN, order);
        pass(&env, Stream::Orders).await;
        let total = env.sim.truth_deliveries(TOKEN).len();
        assert!(total > 250, "more than two pages of deliveries ({total})");
        let first = pass(&env, Stream::Shipments).await;
        assert_eq!(first.inserted, total as u64, "{order:?}: every delivery inserted once");
        assert_deliveries_match(&env);
        let mark = cursor(&env, "shipments").expect("cursor saved");
        assert!(mark.starts_with(prefix), "{order:?}: the reading is remembered ({mark})");

        // Deliveries added between passes: only they are new, none is read as changed.
        let added = ship_some(&env, 130);
        env.sim.clear_requests();
        let second = pass(&env, Stream::Shipments).await;
        assert_eq!((second.inserted, second.updated), (added as u64, 0), "{order:?}");
        assert_deliveries_match(&env);
        let requests = env.sim.requests().iter().filter(|r| r.endpoint.contains("deliveryList")).count();
        assert!(requests <= 3, "{order:?}: 130 new deliveries read in {requests} requests, not the whole list again");

        // Nothing new: nothing written.
        let third = pass(&env, Stream::Shipments).await;
        assert_eq!((third.inserted, third.updated), (0, 0), "{order:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shop_that_fits_neither_reading_fails_the_pass_and_keeps_its_cursor() {
    let env = spawn_ymcart(1500, 30, 42).await;
    env.sim.set_delivery_order(TOKEN, DeliveryOrder::NewestFirstLowerBound);
    let err = try_pass(&env, Stream::Shipments).await.expect_err("refused, not half read");
    let text = err.to_string();
    assert!(text.contains("deliveryList") && text.contains("neither"), "{text}");
    assert_eq!(cursor(&env, "shipments"), None, "no cursor move");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_caps_its_pages_at_50_loses_nothing() {
    let env = spawn_ymcart(1000, 30, 43).await;
    env.sim.set_page_cap(TOKEN, Some(50));
    pass(&env, Stream::Orders).await;
    assert_orders_match(&env, "pages capped at 50");
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM sync_state WHERE incomplete IS NOT NULL"), 0);
    // Deliveries page through the same cap.
    pass(&env, Stream::Shipments).await;
    assert_deliveries_match(&env);

    // A server that caps its pages and reports no total (`count` "0"): paged until empty.
    let env = spawn_ymcart(450, 30, 47).await;
    env.sim.set_page_cap(TOKEN, Some(50));
    env.sim.set_count_zero(TOKEN, true);
    pass(&env, Stream::Orders).await;
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders"), 450);
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM sync_state WHERE incomplete IS NOT NULL"), 0);
}

fn status_check(env: &TestEnv) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&env.config_path)
        .args(["status", "--json", "--check"])
        .output()
        .unwrap();
    (out.status.code(), serde_json::from_slice(&out.stdout).expect("status --json is JSON"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_short_of_its_count_is_read_again_then_reported_and_holds_the_cursor() {
    let env = spawn_ymcart(300, 20, 44).await;
    // Short once: the re-read completes it.
    env.sim.set_count_inflation(TOKEN, 7, 1);
    env.sim.clear_requests();
    pass(&env, Stream::Orders).await;
    let lists = env.sim.requests().iter().filter(|r| r.endpoint.contains("orderList")).count();
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders"), 300);
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM sync_state WHERE incomplete IS NOT NULL"), 0);
    let saved = cursor(&env, "orders").expect("cursor");

    // The same pass without the inflation, for the number of requests a whole pass takes.
    env.sim.clear_requests();
    pass(&env, Stream::Orders).await;
    let plain = env.sim.requests().iter().filter(|r| r.endpoint.contains("orderList")).count();
    assert!(lists > plain, "the short query was read again ({lists} requests against {plain})");

    // Short every time: recorded with both numbers, the cursor stays, status --check fails.
    let held = (Utc::now() - chrono::Duration::days(10)).format("%Y-%m-%d").to_string();
    env.store().set_cursor(SHOP, Stream::Orders, Some(&held)).unwrap();
    env.sim.set_count_inflation(TOKEN, 7, usize::MAX);
    pass(&env, Stream::Orders).await;
    assert_eq!(cursor(&env, "orders"), Some(held), "the cursor does not move past the window");
    let mut row = env
        .store()
        .query(
            "SELECT s.incomplete, (SELECT shortfall FROM sync_runs r WHERE r.shop_id = s.shop_id AND r.stream = s.stream ORDER BY id DESC LIMIT 1)
             FROM sync_state s WHERE shop_id = ?1 AND stream = 'orders'",
            &[Param::Text(SHOP)],
        )
        .unwrap()
        .into_iter()
        .next()
        .expect("a sync_state row");
    let (incomplete, shortfall): (Option<String>, Option<String>) =
        (row.opt_text(0).unwrap(), row.opt_text(1).unwrap());
    let incomplete = incomplete.expect("recorded as incomplete");
    assert_eq!(shortfall.as_deref(), Some(incomplete.as_str()));
    assert!(incomplete.contains("orderList") && incomplete.contains("reported"), "{incomplete}");
    let (code, report) = status_check(&env);
    assert_eq!((code, report["incomplete"].as_u64()), (Some(1), Some(1)), "{report}");

    // Whole again: the next pass clears it and moves on.
    env.sim.set_count_inflation(TOKEN, 0, 0);
    pass(&env, Stream::Orders).await;
    assert_eq!(cursor(&env, "orders"), Some(saved));
    assert_eq!(status_check(&env).1["incomplete"].as_u64(), Some(0));
    assert_orders_match(&env, "after a shortfall");
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_read_the_same_in_every_time_form_and_billing_only_addresses_name_the_buyer() {
    for form in [TimeForm::UnixSecondsText, TimeForm::UnixMillis, TimeForm::Rfc3339Z, TimeForm::CstText] {
        let env = spawn_ymcart(200, 20, 45).await;
        env.sim.set_time_form(TOKEN, form);
        pass(&env, Stream::Orders).await;
        pass(&env, Stream::Shipments).await;
        assert_orders_match(&env, &format!("{form:?}"));
        assert_deliveries_match(&env);
        let truth = env.sim.truth_orders(TOKEN);
        assert!(truth.iter().all(|t| t.ship_name.is_some()), "every generated order has an address");
        let billing_only =
            count(&env.store(), "SELECT COUNT(*) FROM orders WHERE raw_json NOT LIKE '%\"address_type\":\"0\"%'");
        assert!(billing_only > 0, "{form:?}: some orders have only a billing address");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_push_whose_order_already_went_further_ends_done_without_a_request() {
    let env = spawn_ymcart(200, 20, 46).await;
    let shipped = env.sim.order_nos_in_status(TOKEN, 301);
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let mut store = env.store();
    // Pushed `awaiting_fulfillment` (200) to an order now shipped (301), and to a paid one.
    let push = |order: &str| NewEntry {
        shop_id: SHOP.into(),
        order_no: order.into(),
        payload: PushPayload::Status { status: ordersync::model::OrderStatus::AwaitingFulfillment },
    };
    store.enqueue(&push(&shipped[0]), Utc::now()).unwrap();
    store.enqueue(&push(&paid[0]), Utc::now()).unwrap();
    env.sim.clear_requests();
    let report = flush_all(&env.runtime(), &CancellationToken::new()).await.expect("flush");
    assert_eq!((report.read_back, report.done), (2, 0), "both settled by read-back");
    let pushes = env.sim.requests().iter().filter(|r| r.endpoint.contains("orderStatus")).count();
    assert_eq!(pushes, 0, "no orderStatus request: both orders are at or past 200");
    assert!(env.sim.applied_pushes().is_empty());
    let states: Vec<(String, String)> = store
        .query("SELECT state, settled_by FROM outbox ORDER BY id", &[])
        .unwrap()
        .into_iter()
        .map(|mut r| (r.text(0).unwrap(), r.text(1).unwrap()))
        .collect();
    assert_eq!(states, vec![("done".into(), "read_back".into()); 2]);
    assert_eq!(env.sim.order_nos_in_status(TOKEN, 301).first(), shipped.first(), "never moved backwards");
}
