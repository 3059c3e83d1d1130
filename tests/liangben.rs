//! Liangben end to end: orders with outbound records and refunds, re-polling open orders,
//! cancel and receipt pushes, and a wrong token.

mod common;

use chrono::{TimeZone, Utc};
use common::{count, snapshot, TestDir};
use ordersync::model::{OrderStatus, Stream};
use ordersync::platforms::liangben::map::{order_status, refund_status};
use ordersync::platforms::PushPayload;
use ordersync::push::flush_all;
use ordersync::sim::liangben::LbSim;
use ordersync::sim::SimHandle;
use ordersync::sim::Simulator;
use ordersync::store::NewEntry;
use ordersync::sync::run_pass;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "lb-token-1";
const SHOP: &str = "lb-test";

struct World {
    sim: LbSim,
    handle: SimHandle,
    dir: TestDir,
}

fn shop_block(id: &str, base: &str, token_file: &str) -> String {
    format!(
        r#"
[[shops]]
id = "{id}"
platform = "liangben"
base_url = "{base}"
token_file = "{token_file}"
rate_limit_per_sec = 200
backfill_days = 30
[shops.schedule]
orders = "0 */5 * * * *"
shipments = "0 */5 * * * *"
refunds = "0 */5 * * * *"
"#
    )
}

async fn world(orders: usize, days: u32, seed: u64) -> World {
    let sim = LbSim::new(seed);
    sim.add_shop(TOKEN, orders, days);
    let handle = sim.serve().await.expect("simulator starts");
    let dir = TestDir::new();
    let token = dir.secret("lb.token", TOKEN);
    dir.write_config(&shop_block(SHOP, &handle.base_url(), &token));
    World { sim, handle, dir }
}

async fn pass(w: &World, stream: Stream) -> ordersync::store::BatchCounts {
    let rt = w.dir.runtime();
    let shop = rt.shop(SHOP).expect("shop").clone();
    run_pass(&rt, &shop, stream, &CancellationToken::new()).await.expect("pass succeeds").counts
}

async fn all_streams(w: &World) {
    for stream in [Stream::Orders, Stream::Shipments, Stream::Refunds] {
        pass(w, stream).await;
    }
}

fn utc(secs: i64) -> String {
    Utc.timestamp_opt(secs, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

type Row = (String, String, i64, i64, Option<String>, Option<String>, Option<String>, String, Option<String>);

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_of_1000_orders_with_outbound_records_and_refunds_equals_ground_truth() {
    let w = world(1000, 30, 41).await;
    all_streams(&w).await;
    let store = w.dir.store();
    let conn = store.connection();
    let truth = w.sim.truth_orders(TOKEN);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM orders"), 1000);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM rejected_records"), 0);
    assert!(count(&store, "SELECT COUNT(*) FROM orders WHERE status = 'partially_shipped'") > 0);
    for t in &truth {
        let (status, platform, total, freight, name, phone, address, created, ext): Row = conn
            .query_row(
                "SELECT status, platform_status, total_minor, shipping_minor, buyer_name, buyer_phone, ship_address,
                        created_at, external_ref FROM orders WHERE shop_id = ?1 AND order_no = ?2",
                [SHOP, &t.order_sn],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                },
            )
            .unwrap_or_else(|e| panic!("order {} missing: {e}", t.order_sn));
        let expected = order_status(&t.order_status.to_string(), &t.shipment_status.to_string()).unwrap();
        assert_eq!(status, expected.as_str(), "{}", t.order_sn);
        if t.order_status == 4 && t.shipment_status == 2 {
            assert_eq!(status, "partially_shipped");
        }
        assert_eq!(platform, format!("{}/{}", t.order_status, t.shipment_status));
        assert_eq!((total, freight), (t.amount_fen, t.freight_fen), "amounts of {}", t.order_sn);
        assert_eq!((name.as_deref(), phone.as_deref()), (Some(t.consignee.as_str()), Some(t.mobile.as_str())));
        let full = format!("{} {} {} {}", t.province, t.city, t.district, t.address);
        assert_eq!(address.as_deref(), Some(full.as_str()));
        assert_eq!(created, utc(t.create_time), "created_at in UTC");
        assert_eq!(ext, t.external_order_sn.clone().filter(|s| !s.is_empty()));
        let mut stmt = conn
            .prepare("SELECT sku, name, quantity, unit_price_minor FROM order_lines WHERE shop_id = ?1 AND order_no = ?2 ORDER BY line_no")
            .unwrap();
        let lines: Vec<(String, String, i64, i64)> = stmt
            .query_map([SHOP, &t.order_sn], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected: Vec<_> = t.lines.iter().map(|l| (l.sku_id.clone(), l.name.clone(), l.num, l.price_fen)).collect();
        assert_eq!(lines, expected, "lines of {}", t.order_sn);
    }
    let outbound = w.sim.truth_outbound(TOKEN);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM shipments"), outbound.len() as i64);
    for o in &outbound {
        let (order_no, tracking, shipped): (String, String, String) = conn
            .query_row(
                "SELECT order_no, tracking_no, shipped_at FROM shipments WHERE shop_id = ?1 AND shipment_id = ?2",
                [SHOP, &o.purchase_sn],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("outbound record stored");
        assert_eq!((order_no, tracking, shipped), (o.order_sn.clone(), o.express_sn.clone(), utc(o.out_time)));
    }
    let refunds = w.sim.truth_refunds(TOKEN);
    assert!(refunds.len() >= 12);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM refunds"), refunds.len() as i64);
    for r in &refunds {
        let (status, amount, order): (String, i64, String) = conn
            .query_row(
                "SELECT status, amount_minor, order_no FROM refunds WHERE shop_id = ?1 AND refund_id = ?2",
                [SHOP, &r.refund_sn],
                |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?)),
            )
            .expect("refund stored");
        let expected = refund_status(&r.refund_status.to_string(), &r.examine_status.to_string()).unwrap();
        assert_eq!((status.as_str(), amount, order.as_str()), (expected.as_str(), r.amount_fen, r.order_sn.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_to_old_orders_and_refunds_are_picked_up_and_a_second_pass_changes_nothing() {
    let w = world(300, 30, 42).await;
    all_streams(&w).await;
    let tables = ["orders", "order_lines", "shipments", "refunds", "status_changes"];
    let before: Vec<_> = tables.iter().map(|t| snapshot(&w.dir.store(), t)).collect();
    w.sim.clear_requests();
    all_streams(&w).await;
    let after: Vec<_> = tables.iter().map(|t| snapshot(&w.dir.store(), t)).collect();
    assert_eq!(before, after, "a second identical pass must change no row");
    // The second pass re-polled every open order by number, never more than 20 per request.
    let named: Vec<usize> = w.sim.requests().iter().map(|r| r.items).filter(|n| *n > 0).collect();
    assert!(named.contains(&20), "open orders were re-polled in full batches: {named:?}");
    assert!(named.iter().all(|n| *n <= 20), "a request named more than 20 order numbers: {named:?}");

    // Orders placed weeks ago, far outside the last creation window, move on at the supplier.
    let truth = w.sim.truth_orders(TOKEN);
    let old = |status: u8, shipment: u8| {
        truth
            .iter()
            .filter(|t| {
                t.order_status == status
                    && t.shipment_status == shipment
                    && t.create_time < Utc::now().timestamp() - 20 * 86_400
            })
            .map(|t| t.order_sn.clone())
            .next()
            .expect("an old order in that state")
    };
    let waiting = old(4, 1);
    let receiving = old(5, 3);
    w.sim.set_order_status(TOKEN, &waiting, 4, 2);
    w.sim.set_order_status(TOKEN, &receiving, 6, 3);
    let refund = w
        .sim
        .truth_refunds(TOKEN)
        .into_iter()
        .find(|r| r.refund_status == 0 && r.examine_status == 0)
        .expect("a fresh refund");
    w.sim.set_refund(TOKEN, &refund.refund_sn, 0, 1);
    all_streams(&w).await;

    let store = w.dir.store();
    let changed = |key: &str, from: &str, to: &str| {
        count(
            &store,
            &format!("SELECT COUNT(*) FROM status_changes WHERE entity_key = '{key}' AND from_status = '{from}' AND to_status = '{to}'"),
        )
    };
    assert_eq!(changed(&waiting, "awaiting_fulfillment", "partially_shipped"), 1);
    assert_eq!(changed(&receiving, "shipped", "completed"), 1);
    assert_eq!(changed(&refund.refund_sn, "requested", "approved"), 1);
    assert!(
        count(&store, &format!("SELECT COUNT(*) FROM shipments WHERE order_no = '{waiting}'")) >= 1,
        "its outbound record"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_and_receipt_are_applied_once_and_a_shipped_order_cannot_be_cancelled() {
    let w = world(200, 20, 43).await;
    all_streams(&w).await;
    let pending = w.sim.order_sns_where(TOKEN, 1, None);
    let receiving = w.sim.order_sns_where(TOKEN, 5, Some(3));
    let mut store = w.dir.store();
    let status = |order: &str, status| NewEntry {
        shop_id: SHOP.into(),
        order_no: order.to_string(),
        payload: PushPayload::Status { status },
    };
    store.enqueue(&status(&pending[0], OrderStatus::Cancelled), Utc::now()).unwrap();
    store.enqueue(&status(&receiving[0], OrderStatus::Completed), Utc::now()).unwrap();
    store.enqueue(&status(&receiving[1], OrderStatus::Cancelled), Utc::now()).unwrap();
    // A cut-off answer must not lead to a second cancel.
    w.sim.set_faults(ordersync::sim::Faults { cut_body: 1.0, ..Default::default() });
    flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();
    w.sim.set_faults(ordersync::sim::Faults::default());
    for _ in 0..20 {
        flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();
        if count(&w.dir.store(), "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'in_flight')") == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let applied = w.sim.applied_pushes();
    assert_eq!(applied.len(), 2, "cancel and receipt each applied exactly once: {applied:?}");
    let receipt = applied.iter().find(|p| p.order_no == receiving[0]).expect("receipt applied");
    let stored_purchase: String = w
        .dir
        .store()
        .connection()
        .query_row(
            "SELECT shipment_id FROM shipments WHERE order_no = ?1 ORDER BY shipped_at LIMIT 1",
            [&receiving[0]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(receipt.entry["purchase_sn"], stored_purchase.as_str(), "the receipt names the stored outbound record");
    let err: String = w
        .dir
        .store()
        .connection()
        .query_row("SELECT last_error FROM outbox WHERE order_no = ?1 AND state = 'failed'", [&receiving[1]], |r| {
            r.get(0)
        })
        .expect("the cancel of a shipped order failed");
    assert!(err.contains("无法取消"), "the vendor's message is kept: {err}");
    let done = count(&w.dir.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'done'");
    assert_eq!(done, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_one_clear_error_and_other_shops_keep_syncing() {
    let w = world(100, 10, 44).await;
    let good = w.dir.secret("lb.token", TOKEN);
    let bad = w.dir.secret("bad.token", "not-the-token");
    let base = w.handle.base_url();
    w.dir.write_config(&format!("{}{}", shop_block(SHOP, &base, &good), shop_block("lb-bad", &base, &bad)));
    let rt = w.dir.runtime();
    let cancel = CancellationToken::new();
    let err = run_pass(&rt, rt.shop("lb-bad").unwrap(), Stream::Orders, &cancel).await.unwrap_err().to_string();
    assert!(err.contains("lb-bad") && err.contains("credentials refused") && err.contains("401"), "{err}");
    assert!(!err.contains("not-the-token"));
    let tries = w.sim.requests().iter().filter(|r| r.shop == "not-the-token").count();
    assert_eq!(tries, 1, "no retry storm on a refused token");
    run_pass(&rt, rt.shop(SHOP).unwrap(), Stream::Orders, &cancel).await.expect("the good shop syncs");
    assert_eq!(count(&w.dir.store(), "SELECT COUNT(*) FROM orders WHERE shop_id = 'lb-test'"), 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partly_shipped_order_completed_between_passes_gets_its_last_outbound_record() {
    let w = world(200, 10, 45).await;
    all_streams(&w).await;
    let partial = w.sim.order_sns_where(TOKEN, 4, Some(2));
    let order = partial.first().expect("a partly shipped order").clone();
    let stored = |w: &World| {
        count(
            &w.dir.store(),
            &format!("SELECT COUNT(*) FROM shipments WHERE shop_id = '{SHOP}' AND order_no = '{order}'"),
        )
    };
    assert_eq!(stored(&w), 1, "its first outbound record");
    // The supplier ships the rest and we confirm receipt elsewhere, all before our next pass:
    // the order is terminal (6) by the time we see it again.
    w.sim.set_order_status(TOKEN, &order, 6, 3);
    all_streams(&w).await;
    let truth = w.sim.truth_outbound(TOKEN).iter().filter(|o| o.order_sn == order).count();
    assert!(truth >= 2);
    assert_eq!(stored(&w), truth as i64, "every outbound record of the completed order");
    // And the next pass asks for it no more.
    w.sim.clear_requests();
    pass(&w, Stream::Shipments).await;
    let asked = w.sim.requests().iter().filter(|r| r.endpoint.ends_with("out_info")).count();
    assert_eq!(asked, w.sim.order_sns_where(TOKEN, 4, Some(2)).len(), "only the still partly shipped orders");
}
