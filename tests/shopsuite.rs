//! ShopSuite end to end: orders with embedded logistics, returns, look-back and detail re-reads,
//! exact float amounts, and cancel/receive pushes.

mod common;

use chrono::{TimeZone, Utc};
use common::{count, snapshot, TestDir};
use ordersync::model::{OrderStatus, Stream};
use ordersync::platforms::shopsuite::map::{lookup, ORDER_STATE, RETURN_STATE};
use ordersync::platforms::PushPayload;
use ordersync::push::flush_all;
use ordersync::sim::shopsuite::SsSim;
use ordersync::sim::SimHandle;
use ordersync::sim::Simulator;
use ordersync::store::NewEntry;
use ordersync::sync::run_pass;
use std::process::Command;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "ss-token-1";
const SHOP: &str = "ss-test";

struct World {
    sim: SsSim,
    _handle: SimHandle,
    dir: TestDir,
}

async fn world(orders: usize, days: u32, seed: u64) -> World {
    let sim = SsSim::new(seed);
    sim.add_shop(TOKEN, orders, days);
    let handle = sim.serve().await.expect("simulator starts");
    let dir = TestDir::new();
    let token = dir.secret("ss.token", TOKEN);
    dir.write_config(&format!(
        r#"
[[shops]]
id = "{SHOP}"
platform = "shopsuite"
base_url = "{base}"
token_file = "{token}"
rate_limit_per_sec = 200
backfill_days = 30
lookback_days = 3
[shops.options]
cancel_reason = "ordered twice"
[shops.schedule]
orders = "0 */5 * * * *"
refunds = "0 */5 * * * *"
"#,
        base = handle.base_url()
    ));
    World { sim, _handle: handle, dir }
}

async fn pass(w: &World, stream: Stream) -> ordersync::store::BatchCounts {
    let rt = w.dir.runtime();
    let shop = rt.shop(SHOP).expect("shop").clone();
    run_pass(&rt, &shop, stream, &CancellationToken::new()).await.expect("pass succeeds").counts
}

async fn both(w: &World) {
    pass(w, Stream::Orders).await;
    pass(w, Stream::Refunds).await;
}

fn utc_ms(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

type Row = (String, i64, i64, Option<String>, Option<String>, Option<String>, String);

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_of_1000_orders_with_logistics_and_returns_equals_ground_truth() {
    let w = world(1000, 30, 51).await;
    both(&w).await;
    let store = w.dir.store();
    let conn = store.connection();
    let truth = w.sim.truth_orders(TOKEN);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM orders"), 1000);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM rejected_records"), 0);
    for t in &truth {
        let (status, total, shipping, name, phone, address, created): Row = conn
            .query_row(
                "SELECT status, total_minor, shipping_minor, buyer_name, buyer_phone, ship_address, created_at
                 FROM orders WHERE shop_id = ?1 AND order_no = ?2",
                [SHOP, &t.order_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .unwrap_or_else(|e| panic!("order {} missing: {e}", t.order_id));
        assert_eq!(status, lookup(ORDER_STATE, &t.state.to_string()).unwrap().as_str());
        assert_eq!((total, shipping), (t.total_fen, t.shipping_fen), "amounts of {}", t.order_id);
        assert_eq!((name.as_deref(), phone.as_deref()), (Some(t.buyer_name.as_str()), Some(t.buyer_phone.as_str())));
        let full = format!("{} {} {} {}", t.province, t.city, t.county, t.address);
        assert_eq!(address.as_deref(), Some(full.as_str()));
        assert_eq!(created, utc_ms(t.order_time_ms));
        let mut stmt = conn
            .prepare("SELECT sku, name, quantity, unit_price_minor FROM order_lines WHERE shop_id = ?1 AND order_no = ?2 ORDER BY line_no")
            .unwrap();
        let lines: Vec<(String, String, i64, i64)> = stmt
            .query_map([SHOP, &t.order_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected: Vec<_> =
            t.lines.iter().map(|l| (l.sku.clone(), l.name.clone(), l.quantity, l.price_fen)).collect();
        assert_eq!(lines, expected, "lines of {}", t.order_id);
        for l in &t.logistics {
            let tracking: String = conn
                .query_row(
                    "SELECT tracking_no FROM shipments WHERE shop_id = ?1 AND shipment_id = ?2 AND order_no = ?3",
                    [SHOP, &l.id.to_string(), &t.order_id],
                    |r| r.get(0),
                )
                .expect("logistics row stored with its order");
            assert_eq!(tracking, l.tracking);
        }
    }
    let logistics: usize = truth.iter().map(|t| t.logistics.len()).sum();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM shipments"), logistics as i64);
    // 2.675 and 1.005 yuan, sent as JSON floats, land as 268 and 101 fen.
    assert_eq!(truth[0].lines[0].price_fen, 268);
    assert_eq!(truth[1].shipping_fen, 101);
    assert!(count(&store, "SELECT COUNT(*) FROM order_lines WHERE unit_price_minor = 268") >= 1);
    assert!(count(&store, "SELECT COUNT(*) FROM orders WHERE shipping_minor = 101") >= 1);

    let returns = w.sim.truth_returns(TOKEN);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM refunds"), returns.len() as i64);
    for r in &returns {
        let (status, amount): (String, i64) = conn
            .query_row(
                "SELECT status, amount_minor FROM refunds WHERE shop_id = ?1 AND refund_id = ?2",
                [SHOP, &r.return_id],
                |x| Ok((x.get(0)?, x.get(1)?)),
            )
            .expect("return stored");
        assert_eq!(
            (status.as_str(), amount),
            (lookup(RETURN_STATE, &r.state.to_string()).unwrap().as_str(), r.amount_fen)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_order_moving_to_shipped_and_received_shows_every_transition() {
    let w = world(300, 30, 52).await;
    both(&w).await;
    let tables = ["orders", "order_lines", "shipments", "refunds", "status_changes"];
    let before: Vec<_> = tables.iter().map(|t| snapshot(&w.dir.store(), t)).collect();
    both(&w).await;
    let after: Vec<_> = tables.iter().map(|t| snapshot(&w.dir.store(), t)).collect();
    assert_eq!(before, after, "a second identical pass must change no row");

    // Created three weeks ago: outside the latest window and the look-back.
    let old = w
        .sim
        .truth_orders(TOKEN)
        .into_iter()
        .find(|t| t.state == 2030 && t.order_time_ms < (Utc::now().timestamp() - 20 * 86_400) * 1000)
        .expect("an old order awaiting shipment")
        .order_id;
    w.sim.set_order_state(TOKEN, &old, 2040);
    both(&w).await;
    w.sim.set_order_state(TOKEN, &old, 2060);
    both(&w).await;
    let store = w.dir.store();
    let transitions: Vec<(Option<String>, String)> = {
        let mut stmt = store
            .connection()
            .prepare("SELECT from_status, to_status FROM status_changes WHERE entity_key = ?1 ORDER BY id")
            .unwrap();
        stmt.query_map([&old], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    let expected = vec![
        (None, "processing".to_string()),
        (Some("processing".to_string()), "shipped".to_string()),
        (Some("shipped".to_string()), "completed".to_string()),
    ];
    assert_eq!(transitions, expected);
    assert!(
        count(&store, &format!("SELECT COUNT(*) FROM shipments WHERE order_no = '{old}'")) >= 1,
        "its new logistics row"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_and_receive_are_applied_once_and_receiving_a_cancelled_order_fails() {
    let w = world(200, 20, 53).await;
    both(&w).await;
    let awaiting = w.sim.order_ids_in_state(TOKEN, 2020);
    let shipped = w.sim.order_ids_in_state(TOKEN, 2040);
    let cancelled = w.sim.order_ids_in_state(TOKEN, 2070);
    let mut store = w.dir.store();
    let entry = |order: &str, status| NewEntry {
        shop_id: SHOP.into(),
        order_no: order.to_string(),
        payload: PushPayload::Status { status },
    };
    store.enqueue(&entry(&awaiting[0], OrderStatus::Cancelled), Utc::now()).unwrap();
    store.enqueue(&entry(&shipped[0], OrderStatus::Completed), Utc::now()).unwrap();
    store.enqueue(&entry(&cancelled[0], OrderStatus::Completed), Utc::now()).unwrap();
    flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();
    flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();

    let applied = w.sim.applied_pushes();
    assert_eq!(applied.len(), 2, "{applied:?}");
    let cancel = applied.iter().find(|p| p.order_no == awaiting[0]).expect("cancel applied");
    assert_eq!(cancel.entry["orderCancelReason"], "ordered twice", "the configured reason");
    let err: String = w
        .dir
        .store()
        .connection()
        .query_row("SELECT last_error FROM outbox WHERE order_no = ?1 AND state = 'failed'", [&cancelled[0]], |r| {
            r.get(0)
        })
        .expect("receive of a cancelled order failed");
    assert!(err.contains("订单已取消"), "the vendor's message is kept: {err}");
}

#[test]
fn check_refuses_a_shipments_schedule_saying_why() {
    let dir = TestDir::new();
    let token = dir.secret("t", "x");
    dir.write_config(&format!(
        "[[shops]]\nid = \"ss\"\nplatform = \"shopsuite\"\nbase_url = \"http://127.0.0.1:9\"\ntoken_file = \"{token}\"\n[shops.schedule]\nshipments = \"0 * * * * *\"\n"
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&dir.config_path)
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shops[0].schedule.shipments") && err.contains("shipments come with the orders stream"),
        "{err}"
    );
}
