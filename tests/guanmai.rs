//! Guanmai end to end: 7-day windows, details, token expiry, look-back, status pushes.

mod common;

use chrono::{TimeZone, Utc};
use common::{count, TestDir};
use ordersync::model::{OrderStatus, Stream};
use ordersync::platforms::guanmai::map::status_of;
use ordersync::platforms::PushPayload;
use ordersync::push::flush_all;
use ordersync::sim::guanmai::GmSim;
use ordersync::sim::SimHandle;
use ordersync::sim::Simulator;
use ordersync::store::NewEntry;
use ordersync::sync::run_pass;
use std::process::Command;
use tokio_util::sync::CancellationToken;

const ACCESS_ID: &str = "gm-station-1";
const SECRET: &str = "gm-secret-1";
const SHOP: &str = "gm-test";

struct World {
    sim: GmSim,
    _handle: SimHandle,
    dir: TestDir,
}

async fn world(orders: usize, days: u32, seed: u64) -> World {
    let sim = GmSim::new(seed);
    sim.add_shop(ACCESS_ID, SECRET, orders, days);
    let handle = sim.serve().await.expect("simulator starts");
    let dir = TestDir::new();
    let id_file = dir.secret("gm.id", ACCESS_ID);
    let secret_file = dir.secret("gm.secret", SECRET);
    dir.write_config(&format!(
        r#"
[[shops]]
id = "{SHOP}"
platform = "guanmai"
base_url = "{base}"
access_id_file = "{id_file}"
secret_file = "{secret_file}"
rate_limit_per_sec = 200
backfill_days = 30
lookback_days = 3
[shops.schedule]
orders = "0 */5 * * * *"
"#,
        base = handle.base_url()
    ));
    World { sim, _handle: handle, dir }
}

async fn pass(w: &World) -> ordersync::store::BatchCounts {
    let rt = w.dir.runtime();
    let shop = rt.shop(SHOP).expect("shop").clone();
    run_pass(&rt, &shop, Stream::Orders, &CancellationToken::new()).await.expect("pass succeeds").counts
}

fn detail_calls(w: &World) -> usize {
    w.sim.requests().iter().filter(|r| r.endpoint == "/openapi/order/get").count()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_of_1000_orders_with_details_equals_ground_truth() {
    let w = world(1000, 30, 31).await;
    pass(&w).await;
    let truth = w.sim.truth_orders(ACCESS_ID);
    assert_eq!(truth.len(), 1000);
    let store = w.dir.store();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM orders"), 1000);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM rejected_records"), 0);
    // The simulator refuses any span over 7 days, so a successful pass proves none was sent.
    assert_eq!(detail_calls(&w), 1000, "one detail call per new order");
    let conn = store.connection();
    for t in &truth {
        let (status, code, total, freight, buyer, phone, address, created): (String, String, i64, i64, String, String, String, String) = conn
            .query_row(
                "SELECT status, platform_status, total_minor, shipping_minor, buyer_name, buyer_phone, ship_address, created_at
                 FROM orders WHERE shop_id = ?1 AND order_no = ?2",
                [SHOP, &t.order_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
            )
            .unwrap_or_else(|e| panic!("order {} missing: {e}", t.order_id));
        assert_eq!(status, status_of(&t.status.to_string()).unwrap().as_str());
        assert_eq!(code, t.status.to_string());
        assert_eq!((total, freight), (t.total_pay_fen, t.freight_fen), "amounts of {}", t.order_id);
        assert_eq!((buyer, phone, address), (t.resname.clone(), t.receiver_phone.clone(), t.address.clone()));
        let date = Utc.timestamp_opt(t.order_date, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(created, date, "created_at of {} in UTC", t.order_id);
        let mut stmt = conn
            .prepare("SELECT sku, name, quantity, unit_price_minor FROM order_lines WHERE shop_id = ?1 AND order_no = ?2 ORDER BY line_no")
            .unwrap();
        let lines: Vec<(String, String, i64, i64)> = stmt
            .query_map([SHOP, &t.order_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected: Vec<_> =
            t.lines.iter().map(|l| (l.sku_id.clone(), l.name.clone(), l.quantity, l.sale_price_fen)).collect();
        assert_eq!(lines, expected, "lines of {}", t.order_id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_expiring_every_7_calls_costs_one_refresh_per_expiry() {
    let w = world(300, 20, 32).await;
    w.sim.set_token_lifetime_calls(Some(7));
    pass(&w).await;
    assert_eq!(count(&w.dir.store(), "SELECT COUNT(*) FROM orders"), 300);
    let api_calls = w.sim.requests().iter().filter(|r| r.endpoint != "/openapi/auth/access_token").count();
    let refreshes = w.sim.token_requests(ACCESS_ID);
    // 300 detail calls alone need 43 tokens of 7 calls each: expiry was exercised.
    assert!(refreshes >= 300 / 7, "{refreshes} tokens for {api_calls} calls");
    // Every expiry costs at least one refused call; with one refresh per expiry, each token but
    // the last served exactly 7 calls. A refresh per refused call (concurrent detail calls all
    // hitting one expiry) would need far more tokens than this bound.
    let served = api_calls - (refreshes - 1);
    assert!(refreshes <= served.div_ceil(7) + 1, "one refresh per expiry: {refreshes} tokens for {api_calls} calls");
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_inside_the_lookback_are_picked_up_and_unchanged_orders_cost_no_detail_call() {
    let w = world(200, 10, 33).await;
    pass(&w).await;
    let before = detail_calls(&w);
    let again = pass(&w).await;
    assert_eq!((again.inserted, again.updated), (0, 0));
    assert_eq!(detail_calls(&w), before, "an unchanged list row needs no detail call");

    // An order placed two days ago (outside the one-day overlap, inside lookback_days = 3) moves on.
    let two_days_ago = Utc::now().timestamp() - 2 * 86_400;
    let truth = w.sim.truth_orders(ACCESS_ID);
    let old = truth
        .iter()
        .filter(|t| t.status == 1 && (t.order_date - two_days_ago).abs() < 12 * 3600)
        .map(|t| t.order_id.clone())
        .next()
        .expect("an order in status 1 from two days ago");
    w.sim.set_status(ACCESS_ID, &old, 10);
    let c = pass(&w).await;
    assert_eq!(c.updated, 1, "{c:?}");
    let n = count(
        &w.dir.store(),
        &format!("SELECT COUNT(*) FROM status_changes WHERE entity_key = '{old}' AND from_status = 'awaiting_fulfillment' AND to_status = 'shipped'"),
    );
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_pushes_follow_the_allowed_moves() {
    let w = world(120, 5, 34).await;
    pass(&w).await;
    let waiting = w.sim.order_ids_in_status(ACCESS_ID, 1);
    let delivering = w.sim.order_ids_in_status(ACCESS_ID, 10);
    let cfg = &w.dir.config_path;
    let push = |order: &str, status: &str| {
        Command::new(env!("CARGO_BIN_EXE_ordersync"))
            .arg("--config")
            .arg(cfg)
            .args(["push", "status", "--shop", SHOP, "--order", order, "--status", status])
            .output()
            .unwrap()
    };
    let refused = push(&delivering[0], "processing");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot move an order from `shipped` to `processing`"));
    assert!(push(&waiting[0], "processing").status.success());
    flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();
    pass(&w).await;
    // 5 -> 10 on the same order, now that the database knows it is sorting.
    assert!(push(&waiting[0], "shipped").status.success());
    let mut store = w.dir.store();
    let e = NewEntry {
        shop_id: SHOP.into(),
        order_no: waiting[1].clone(),
        payload: PushPayload::Status { status: OrderStatus::Shipped },
    };
    store.enqueue(&e, Utc::now()).unwrap();
    flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();

    let truth = w.sim.truth_orders(ACCESS_ID);
    let status = |id: &str| truth.iter().find(|t| t.order_id == id).map(|t| t.status);
    assert_eq!(status(&waiting[0]), Some(10));
    assert_eq!(status(&waiting[1]), Some(10));
    assert_eq!(w.sim.applied_pushes().len(), 3, "1->5, 5->10, 1->10 each applied once");
    assert_eq!(count(&w.dir.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'done'"), 3);
}
