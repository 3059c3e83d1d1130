//! YMCart end to end: a full sync equals the simulator's ground truth, a second pass is a no-op,
//! and later changes at the simulator show up with their transitions.

mod common;

use chrono::{TimeZone, Utc};
use common::{count, snapshot, spawn_ymcart, SHOP, TOKEN};
use ordersync::model::Stream;
use ordersync::platforms::ymcart::map::{lookup, ORDER_STATUS};
use ordersync::sync::run_pass;
use tokio_util::sync::CancellationToken;

async fn pass(env: &common::TestEnv, stream: Stream) -> ordersync::store::BatchCounts {
    let rt = env.runtime();
    let shop = rt.shop(SHOP).expect("shop").clone();
    run_pass(&rt, &shop, stream, &CancellationToken::new()).await.expect("pass succeeds").counts
}

/// status, platform_status, total, shipping, created_at, updated_at, external_ref, buyer_name
type OrderRow = (String, String, i64, i64, String, Option<String>, Option<String>, Option<String>);

fn utc(secs: i64) -> String {
    Utc.timestamp_opt(secs, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_of_1000_orders_equals_ground_truth() {
    let env = spawn_ymcart(1000, 30, 7).await;
    pass(&env, Stream::Orders).await;
    pass(&env, Stream::Shipments).await;

    let store = env.store();
    let truth = env.sim.truth_orders(TOKEN);
    assert_eq!(truth.len(), 1000);
    assert!(truth.iter().any(|o| o.act_time == 0), "the simulator must include untouched orders");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM orders"), 1000);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM rejected_records"), 0);

    let conn = store.connection();
    for t in &truth {
        let (status, platform_status, total, shipping, created, updated, ext, name): OrderRow = conn
            .query_row(
                "SELECT status, platform_status, total_minor, shipping_minor, created_at, updated_at, external_ref, buyer_name
                 FROM orders WHERE shop_id = ?1 AND order_no = ?2",
                [SHOP, &t.itemno],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
            )
            .unwrap_or_else(|e| panic!("order {} missing: {e}", t.itemno));
        let expected = lookup(ORDER_STATUS, &t.order_status.to_string()).expect("known code");
        assert_eq!(status, expected.as_str(), "{}", t.itemno);
        assert_eq!(platform_status, t.order_status.to_string());
        assert_eq!(total, t.total_fen, "total of {}", t.itemno);
        assert_eq!(shipping, t.shipping_fen, "shipping of {}", t.itemno);
        assert_eq!(created, utc(t.create_time), "created_at of {} (UTC)", t.itemno);
        assert_eq!(updated, (t.act_time != 0).then(|| utc(t.act_time)));
        assert_eq!(ext, t.outer_itemno);
        assert_eq!(name, t.ship_name);
        let mut stmt = conn.prepare("SELECT sku, name, quantity, unit_price_minor FROM order_lines WHERE shop_id = ?1 AND order_no = ?2 ORDER BY line_no").unwrap();
        let lines: Vec<(String, String, i64, i64)> = stmt
            .query_map([SHOP, &t.itemno], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected: Vec<_> =
            t.lines.iter().map(|l| (l.sku.clone(), l.name.clone(), l.quantity, l.unit_price_fen)).collect();
        assert_eq!(lines, expected, "lines of {}", t.itemno);
    }

    let deliveries = env.sim.truth_deliveries(TOKEN);
    assert!(!deliveries.is_empty());
    assert_eq!(count(&store, "SELECT COUNT(*) FROM shipments"), deliveries.len() as i64);
    for d in &deliveries {
        let (order_no, tracking, carrier): (Option<String>, Option<String>, Option<String>) = conn
            .query_row(
                "SELECT order_no, tracking_no, carrier FROM shipments WHERE shop_id = ?1 AND shipment_id = ?2",
                [SHOP, &d.id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("shipment stored");
        assert_eq!(order_no.as_deref(), Some(d.itemno.as_str()), "delivery {} links to its order by internal id", d.id);
        assert_eq!(tracking.as_deref(), Some(d.delivery_no.as_str()));
        assert_eq!(carrier.as_deref(), Some(d.corp_name.as_str()));
    }
    // Every order was seen once, so each has exactly one first-sight transition.
    assert_eq!(count(&store, "SELECT COUNT(*) FROM status_changes WHERE from_status IS NULL"), 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn second_pass_changes_nothing_and_later_changes_are_recorded() {
    let env = spawn_ymcart(300, 30, 11).await;
    pass(&env, Stream::Orders).await;
    pass(&env, Stream::Shipments).await;
    let tables = ["orders", "order_lines", "shipments", "status_changes", "rejected_records"];
    let before: Vec<_> = tables.iter().map(|t| snapshot(&env.store(), t)).collect();

    let again = pass(&env, Stream::Orders).await;
    assert!(again.seen > 0);
    assert_eq!((again.inserted, again.updated, again.rejected), (0, 0, 0), "{again:?}");
    let ships = pass(&env, Stream::Shipments).await;
    assert_eq!(ships.changed(), 0);
    let after: Vec<_> = tables.iter().map(|t| snapshot(&env.store(), t)).collect();
    assert_eq!(before, after, "a second identical pass must change no row");

    // The merchant works on a few old orders: pay, ship, void, complete.
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let unpaid = env.sim.order_nos_in_status(TOKEN, 100);
    let shipped = env.sim.order_nos_in_status(TOKEN, 301);
    env.sim.touch_order(TOKEN, &paid[0], 301);
    env.sim.touch_order(TOKEN, &unpaid[0], 600);
    env.sim.touch_order(TOKEN, &shipped[0], 700);
    env.sim.add_orders(TOKEN, 3);

    let c = pass(&env, Stream::Orders).await;
    assert_eq!((c.inserted, c.updated), (3, 3), "{c:?}");
    pass(&env, Stream::Shipments).await;
    let store = env.store();
    for (order, from, to) in [
        (&paid[0], "awaiting_fulfillment", "shipped"),
        (&unpaid[0], "pending", "cancelled"),
        (&shipped[0], "shipped", "completed"),
    ] {
        let n = count(
            &store,
            &format!("SELECT COUNT(*) FROM status_changes WHERE entity = 'order' AND entity_key = '{order}' AND from_status = '{from}' AND to_status = '{to}' AND regression = 0"),
        );
        assert_eq!(n, 1, "transition {from} -> {to} of {order}");
    }
    let tracking = count(&store, &format!("SELECT COUNT(*) FROM shipments WHERE order_no = '{}'", paid[0]));
    assert_eq!(tracking, 1, "the new delivery of the shipped order is stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backwards_move_is_recorded_as_a_regression() {
    let env = spawn_ymcart(50, 10, 3).await;
    pass(&env, Stream::Orders).await;
    let done = env.sim.order_nos_in_status(TOKEN, 700);
    // A merchant reopens a completed order (rare, but platforms allow it).
    env.sim.touch_order(TOKEN, &done[0], 200);
    pass(&env, Stream::Orders).await;
    let n = count(
        &env.store(),
        &format!("SELECT COUNT(*) FROM status_changes WHERE entity_key = '{}' AND from_status = 'completed' AND to_status = 'awaiting_fulfillment' AND regression = 1", done[0]),
    );
    assert_eq!(n, 1);
}
