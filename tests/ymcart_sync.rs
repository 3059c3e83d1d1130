//! YMCart end to end: a full sync equals the simulator's ground truth, a second pass is a no-op,
//! and later changes at the simulator show up with their transitions.

mod common;

use std::collections::BTreeSet;

use common::{count, snapshot, spawn_ymcart, stored_order, stored_refunds, ymcart_expected_row, TestEnv, SHOP, TOKEN};
use ordersync::model::Stream;
use ordersync::sync::run_pass;
use tokio_util::sync::CancellationToken;

async fn pass(env: &TestEnv, stream: Stream) -> ordersync::store::BatchCounts {
    let rt = env.runtime();
    let shop = rt.shop(SHOP).expect("shop").clone();
    run_pass(&rt, &shop, stream, &CancellationToken::new()).await.expect("pass succeeds").counts
}

/// Every order and delivery of the simulator is stored as its truth says — whole rows: statuses,
/// payment, amounts, buyer, times, lines, shipments with carrier, tracking number and time — and
/// nothing else is stored (no refunds: YMCart has none).
fn assert_store_equals_truth(env: &TestEnv) {
    let store = env.store();
    let truth = env.sim.truth_orders(TOKEN);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM orders"), truth.len() as i64);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM rejected_records"), 0);
    for t in &truth {
        let stored = stored_order(&store, SHOP, &t.itemno).unwrap_or_else(|| panic!("order {} missing", t.itemno));
        assert_eq!(stored, ymcart_expected_row(t), "order {}", t.itemno);
    }

    common::assert_ymcart_deliveries(&store, &env.sim.truth_deliveries(TOKEN));
    assert!(stored_refunds(&store, SHOP).is_empty(), "YMCart has no refunds");
}

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_of_1000_orders_equals_ground_truth() {
    let env = spawn_ymcart(1000, 30, 7).await;
    pass(&env, Stream::Orders).await;
    pass(&env, Stream::Shipments).await;

    let truth = env.sim.truth_orders(TOKEN);
    assert_eq!(truth.len(), 1000);
    assert!(truth.iter().any(|o| o.act_time == 0), "the simulator must include untouched orders");
    // Every code of the page's order_status and payment_status lists is exercised, so a wrong
    // entry in any of the connector's tables shows up below.
    let codes: BTreeSet<u16> = truth.iter().map(|t| t.order_status).collect();
    assert_eq!(codes, BTreeSet::from([100, 101, 102, 200, 301, 600, 700]));
    let payments: BTreeSet<u16> = truth.iter().map(|t| t.payment_status).collect();
    assert_eq!(payments, BTreeSet::from([100, 101, 102, 200]));
    assert!(truth.iter().any(|t| t.lines.iter().any(|l| l.unit_price_fen % 100 != 0)), "prices with fen");
    assert!(env.sim.truth_deliveries(TOKEN).len() > 100);

    assert_store_equals_truth(&env);
    // Every order was seen once, so each has exactly one first-sight transition.
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM status_changes WHERE from_status IS NULL"), 1000);
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
    let moves = [(&paid[0], 301), (&unpaid[0], 600), (&shipped[0], 700)];
    let unified = |order: &str| {
        let truth = env.sim.truth_orders(TOKEN);
        truth.iter().find(|t| t.itemno == order).map(|t| t.unified_status).expect("known order")
    };
    let from: Vec<&str> = moves.iter().map(|(order, _)| unified(order)).collect();
    for (order, status) in moves {
        assert!(env.sim.touch_order(TOKEN, order, status));
    }
    let to: Vec<&str> = moves.iter().map(|(order, _)| unified(order)).collect();
    env.sim.add_orders(TOKEN, 3);

    let c = pass(&env, Stream::Orders).await;
    assert_eq!((c.inserted, c.updated), (3, 3), "{c:?}");
    pass(&env, Stream::Shipments).await;
    assert_store_equals_truth(&env);
    let store = env.store();
    for (((order, _), from), to) in moves.iter().zip(&from).zip(&to) {
        assert_ne!(from, to, "{order} really moved");
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
    let after = env.sim.truth_orders(TOKEN).into_iter().find(|t| t.itemno == done[0]).expect("known order");
    assert_eq!(stored_order(&env.store(), SHOP, &done[0]), Some(ymcart_expected_row(&after)));
    let n = count(
        &env.store(),
        &format!("SELECT COUNT(*) FROM status_changes WHERE entity_key = '{}' AND from_status = 'completed' AND to_status = 'awaiting_fulfillment' AND regression = 1", done[0]),
    );
    assert_eq!(n, 1);
}

/// The raw JSON stored for each order is its row exactly as the simulator sent it: byte for byte
/// the text of one element of a served orderList body's `data`, numeric PHP twins included. The
/// served bodies are split here with serde_json's own `RawValue`, not the connector's scanner.
#[tokio::test(flavor = "multi_thread")]
async fn raw_json_is_the_row_as_the_vendor_sent_it() {
    use ordersync::sim::Simulator;
    let env = spawn_ymcart(300, 30, 11).await;
    env.sim.core().cache_pages(true);
    pass(&env, Stream::Orders).await;
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        data: Vec<&'a serde_json::value::RawValue>,
    }
    let pages = env.sim.core().cached_pages();
    let mut served = BTreeSet::new();
    for page in &pages {
        let text = std::str::from_utf8(page).expect("UTF-8");
        if let Ok(body) = serde_json::from_str::<Body<'_>>(text) {
            served.extend(body.data.iter().map(|r| r.get().to_string()));
        }
    }
    assert!(!served.is_empty() && pages.len() > 2, "the simulator's answers were kept");
    let store = env.store();
    let stored: Vec<(String, String)> = store
        .query("SELECT order_no, raw_json FROM orders", &[])
        .unwrap()
        .into_iter()
        .map(|mut r| (r.text(0).unwrap(), r.text(1).unwrap()))
        .collect();
    assert_eq!(stored.len(), 300);
    for (order_no, raw) in &stored {
        assert!(served.contains(raw), "order {order_no}: raw JSON differs from every row the simulator sent");
        let value: serde_json::Value = serde_json::from_str(raw).unwrap();
        assert_eq!(value["0"], value["id"], "order {order_no}: the numeric twins are kept");
    }
}

/// Rows stored from the same bytes are skipped unread; rows whose stored raw hash is another
/// release's (or missing, as after the upgrade to schema v3) are read once more, rewritten only
/// where something changed, and get this release's hash so the next pass skips them again.
#[tokio::test(flavor = "multi_thread")]
async fn rows_with_another_releases_raw_hash_are_read_again_once() {
    let env = spawn_ymcart(200, 30, 13).await;
    pass(&env, Stream::Orders).await;
    let hashed = "SELECT COUNT(*) FROM orders WHERE raw_hash IS NOT NULL";
    assert_eq!(count(&env.store(), hashed), 200, "every stored order has its raw hash");
    // Everything but the raw hash: a row rewritten would change `synced_at` at least.
    let rows = |env: &common::TestEnv| {
        let store = env.store();
        let all = store
            .query("SELECT order_no, synced_at, fingerprint, status, raw_json FROM orders ORDER BY order_no", &[])
            .unwrap();
        all.into_iter().map(|mut r| (0..5).map(|i| r.text(i).unwrap()).collect::<Vec<_>>()).collect::<Vec<_>>()
    };
    let before = rows(&env);

    let store = env.store();
    let half = "(SELECT order_no FROM orders ORDER BY order_no LIMIT 100)";
    store.execute(&format!("UPDATE orders SET raw_hash = NULL WHERE order_no IN {half}"), &[]).unwrap();
    store.execute(&format!("UPDATE orders SET raw_hash = 7 WHERE order_no NOT IN {half}"), &[]).unwrap();
    // No cursor: the pass re-reads the whole backfill, every stored order.
    store.execute("DELETE FROM sync_state", &[]).unwrap();
    let again = pass(&env, Stream::Orders).await;
    assert_eq!((again.inserted, again.updated, again.rejected), (0, 0, 0), "{again:?}");
    assert!(again.seen >= 200, "{again:?}");
    assert_eq!(count(&env.store(), hashed), 200, "each hash written again");
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders WHERE raw_hash = 7"), 0, "each hash renewed");
    assert_eq!(rows(&env), before, "apart from the hash, nothing was written");

    // With this release's hash stored, a row is not read at all: a column changed behind the
    // daemon's back stays as it is (what makes a pass over unchanged orders cheap).
    let store = env.store();
    store
        .execute("UPDATE orders SET buyer_name = 'edited' WHERE order_no = (SELECT MIN(order_no) FROM orders)", &[])
        .unwrap();
    store.execute("DELETE FROM sync_state", &[]).unwrap();
    let third = pass(&env, Stream::Orders).await;
    assert_eq!((third.inserted, third.updated), (0, 0), "{third:?}");
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders WHERE buyer_name = 'edited'"), 1);
}
