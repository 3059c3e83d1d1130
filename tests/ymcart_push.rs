//! YMCart pushes through the outbox: batches of at most 20, per-entry results, dedupe, leases,
//! read-back before a resend, and convergence under injected faults.

mod common;

use chrono::Utc;
use common::{count, spawn_ymcart, text, SHOP, TOKEN};
use ordersync::model::{OrderStatus, Stream};
use ordersync::platforms::{PushItem, PushPayload};
use ordersync::push::flush_all;
use ordersync::sim::Faults;
use ordersync::sim::Simulator;
use ordersync::store::{NewEntry, Param};
use ordersync::sync::run_pass;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn ship(order: &str, tracking: &str) -> NewEntry {
    NewEntry {
        shop_id: SHOP.into(),
        order_no: order.into(),
        payload: PushPayload::Ship { carrier: "SF".into(), tracking: tracking.into() },
    }
}

fn applied_per_order(env: &common::TestEnv) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for p in env.sim.applied_pushes() {
        *m.entry(p.order_no.clone()).or_insert(0) += 1;
    }
    m
}

/// Flushes until nothing is pending (bounded), as the push job would over several ticks.
async fn drain(env: &common::TestEnv) {
    let rt = env.runtime();
    for _ in 0..100 {
        flush_all(&rt, &CancellationToken::new()).await.expect("flush");
        if count(&env.store(), "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'in_flight')") == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("outbox did not drain");
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_five_ship_pushes_go_out_as_20_20_5_with_per_entry_results() {
    let env = spawn_ymcart(400, 30, 5).await;
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let unpaid = env.sim.order_nos_in_status(TOKEN, 100);
    assert!(paid.len() >= 40 && unpaid.len() >= 3, "seed gives enough orders");
    let mut store = env.store();
    let mut expected_done = Vec::new();
    for (i, order) in paid.iter().take(40).enumerate() {
        store.enqueue(&ship(order, &format!("SF{i:05}")), Utc::now()).unwrap();
        expected_done.push(order.clone());
    }
    for (i, order) in unpaid.iter().take(3).enumerate() {
        store.enqueue(&ship(order, &format!("UP{i}")), Utc::now()).unwrap();
    }
    store.enqueue(&ship("NO-SUCH-1", "X1"), Utc::now()).unwrap();
    store.enqueue(&ship("NO-SUCH-2", "X2"), Utc::now()).unwrap();
    // The same request twice gives one row.
    let again = store.enqueue(&ship(&paid[0], "SF00000"), Utc::now()).unwrap();
    assert!(!again.created);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox"), 45);

    env.sim.clear_requests();
    let report = flush_all(&env.runtime(), &CancellationToken::new()).await.unwrap();
    assert_eq!(report.requests, 3);
    assert_eq!((report.done, report.failed, report.read_back, report.retried), (40, 5, 0, 0));
    let sizes: Vec<usize> =
        env.sim.requests().iter().filter(|r| r.endpoint.contains("orderShip")).map(|r| r.items).collect();
    assert_eq!(sizes, vec![20, 20, 5]);

    let store = env.store();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox WHERE state = 'done'"), 40);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM outbox WHERE state = 'failed' AND last_error LIKE '%order_status_limit%'"),
        3
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM outbox WHERE state = 'failed' AND last_error LIKE '%order_404%'"),
        2
    );
    let applied = applied_per_order(&env);
    assert_eq!(applied.len(), 40);
    assert!(expected_done.iter().all(|o| applied.get(o) == Some(&1)), "each applied exactly once");

    // A second flush sends nothing: done is done.
    env.sim.clear_requests();
    flush_all(&env.runtime(), &CancellationToken::new()).await.unwrap();
    assert!(env.sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_and_push_converge_under_500s_and_429s() {
    let env = spawn_ymcart(1000, 30, 21).await;
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let mut store = env.store();
    for (i, order) in paid.iter().take(30).enumerate() {
        store.enqueue(&ship(order, &format!("FT{i:04}")), Utc::now()).unwrap();
    }
    let shipped = env.sim.order_nos_in_status(TOKEN, 301);
    for order in shipped.iter().take(10) {
        let e = NewEntry {
            shop_id: SHOP.into(),
            order_no: order.clone(),
            payload: PushPayload::Status { status: OrderStatus::Completed },
        };
        store.enqueue(&e, Utc::now()).unwrap();
    }
    env.sim.set_faults(Faults { http_500: 0.2, http_429: 0.1, retry_after_secs: 1, ..Faults::default() });

    let rt = env.runtime();
    let shop = rt.shop(SHOP).unwrap().clone();
    let cancel = CancellationToken::new();
    run_pass(&rt, &shop, Stream::Orders, &cancel).await.expect("orders converge despite faults");
    run_pass(&rt, &shop, Stream::Shipments, &cancel).await.expect("shipments converge despite faults");
    drain(&env).await;
    let faulted = env.sim.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(faulted > 0, "faults were injected ({faulted})");

    env.sim.set_faults(Faults::default());
    let store = env.store();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox WHERE state = 'done'"), 40);
    let applied = applied_per_order(&env);
    assert_eq!(applied.len(), 40);
    assert!(applied.values().all(|n| *n == 1), "every push applied exactly once: {applied:?}");
    // The synced data equals the truth the fault-free way would give.
    let truth = env.sim.truth_orders(TOKEN);
    run_pass(&rt, &shop, Stream::Orders, &cancel).await.unwrap();
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders"), truth.len() as i64);
    for t in truth.iter().take(300) {
        let total = count(&env.store(), &format!("SELECT total_minor FROM orders WHERE order_no = '{}'", t.itemno));
        assert_eq!(total, t.total_fen);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_claimed_by_a_dead_process_is_delivered_after_its_lease_once() {
    let env = spawn_ymcart(100, 10, 8).await;
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let rt = env.runtime();
    let mut store = env.store();
    store.enqueue(&ship(&paid[0], "DEAD-NOT-SENT"), Utc::now()).unwrap();
    store.enqueue(&ship(&paid[1], "DEAD-SENT"), Utc::now()).unwrap();

    // A process claims both, sends the second, and dies before settling anything.
    let claimed = store.claim_due(SHOP, Utc::now(), Duration::from_secs(2), 10).unwrap();
    assert_eq!(claimed.len(), 2);
    let sent = &claimed[1];
    let item = PushItem {
        id: sent.id,
        order_no: sent.order_no.clone(),
        payload: sent.payload.clone().unwrap(),
        shipment_ids: vec![],
    };
    rt.shop(SHOP).unwrap().connector.push(&[item]).await.unwrap();
    assert_eq!(env.sim.applied_pushes().len(), 1);

    // While the lease holds, nobody else takes them.
    let r = flush_all(&rt, &CancellationToken::new()).await.unwrap();
    assert_eq!(r.requests, 0);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = flush_all(&rt, &CancellationToken::new()).await.unwrap();
    assert_eq!((r.done, r.read_back), (1, 1), "{r:?}");
    let applied = applied_per_order(&env);
    assert_eq!(applied.get(&paid[0]), Some(&1));
    assert_eq!(applied.get(&paid[1]), Some(&1), "the sent one was read back, not resent");
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM outbox WHERE settled_by = 'read_back'"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_off_answer_is_read_back_instead_of_resent() {
    let env = spawn_ymcart(100, 10, 9).await;
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let mut store = env.store();
    for (i, order) in paid.iter().take(5).enumerate() {
        store.enqueue(&ship(order, &format!("CUT{i}")), Utc::now()).unwrap();
    }
    // Every push answer is cut in half: the pushes land, but we cannot see that they did.
    env.sim.set_faults(Faults { cut_body: 1.0, only_path: Some("orderShip".into()), ..Faults::default() });
    let rt = env.runtime();
    flush_all(&rt, &CancellationToken::new()).await.unwrap();
    assert_eq!(env.sim.applied_pushes().len(), 5);
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND needs_read_back = 1"), 5);
    env.sim.set_faults(Faults::default());
    drain(&env).await;
    assert_eq!(env.sim.applied_pushes().len(), 5, "nothing applied twice");
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'done' AND settled_by = 'read_back'"), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_outbox_row_fails_alone_with_a_clear_reason() {
    let env = spawn_ymcart(50, 10, 4).await;
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let mut store = env.store();
    store.enqueue(&ship(&paid[0], "GOOD"), Utc::now()).unwrap();
    // A warehouse system inserts a row by hand, with a payload that is not a ship push.
    store
        .execute(
            "INSERT INTO outbox (shop_id, kind, order_no, payload, dedupe_key) VALUES (?1, 'ship', ?2, '{\"carrier\": 5}', 'hand-1')",
            &[Param::Text(SHOP), Param::Text(&paid[1])],
        )
        .unwrap();
    flush_all(&env.runtime(), &CancellationToken::new()).await.unwrap();
    let store = env.store();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox WHERE state = 'done'"), 1);
    let err = text(&store, "SELECT last_error FROM outbox WHERE dedupe_key = 'hand-1'").unwrap_or_default();
    assert!(err.contains("payload") && err.contains("outbox row"), "{err}");
}

/// A push the platform refuses as a whole (a wrong token) stops the shop's flush: the other
/// batches are not sent into the same refusal, and go back to pending as they were.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_stops_the_flush_after_one_request() {
    let env = spawn_ymcart(200, 30, 6).await;
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let mut store = env.store();
    for (i, order) in paid.iter().take(45).enumerate() {
        store.enqueue(&ship(order, &format!("TK{i:03}")), Utc::now()).unwrap();
    }
    std::fs::write(env.dir.join("ym.token"), "wrong").unwrap();
    env.sim.clear_requests();
    let report = flush_all(&env.runtime(), &CancellationToken::new()).await.unwrap();
    assert_eq!(env.sim.requests().len(), 1, "one refused request, then the shop's flush stops");
    assert!(env.sim.applied_pushes().is_empty());
    assert_eq!((report.done, report.retried), (0, 20), "the first batch is put back for a later attempt");
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"), 45);
}
