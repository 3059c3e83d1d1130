//! ShopSuite end to end: a full sync equals the simulator's truth with times in each form a
//! vendor may write them, orders with embedded logistics, returns read by creation window and
//! re-read only while open, the completeness check against `records`, look-back and detail
//! re-reads, exact float amounts, and cancel/receive pushes.

mod common;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use common::{count, snapshot, stored_order, stored_refunds, stored_shipments, utc, StoredOrderRow, TestDir};
use ordersync::model::{OrderStatus, Stream};
use ordersync::platforms::PushPayload;
use ordersync::push::flush_all;
use ordersync::sim::shopsuite::{SsQuery, SsSim, SsTimeForm};
use ordersync::sim::SimHandle;
use ordersync::sim::Simulator;
use ordersync::store::{NewEntry, Param, Val};
use ordersync::sync::run_pass;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::Command;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "ss-token-1";
const SHOP: &str = "ss-test";
const ORDERS: &str = "/front/trade/order/list";
const RETURNS: &str = "/front/trade/orderReturn/list";
const RETURN_GET: &str = "/front/trade/orderReturn/get";

struct World {
    sim: SsSim,
    _handle: SimHandle,
    dir: TestDir,
}

async fn world(orders: usize, days: u32, seed: u64) -> World {
    world_in(SsTimeForm::default(), orders, days, seed).await
}

async fn world_in(form: SsTimeForm, orders: usize, days: u32, seed: u64) -> World {
    let sim = SsSim::new(seed);
    sim.set_time_form(form);
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

/// A vendor time as the store keeps it: RFC 3339 UTC, whole seconds (every simulated time is one).
fn utc_ms(ms: i64) -> String {
    assert_eq!(ms.rem_euclid(1000), 0, "a simulated time on a whole second");
    utc(ms.div_euclid(1000))
}

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// The CST calendar day of a unix-ms instant.
fn cst_day(ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ms).unwrap().with_timezone(&cst()).date_naive()
}

fn text_rows(w: &World, sql: &str, key: &str) -> Vec<Vec<Option<String>>> {
    let store = w.dir.reader();
    let rows = store.query(sql, &[Param::Text(SHOP), Param::Text(key)]).unwrap();
    rows.into_iter()
        .map(|r| {
            (r.into_values().into_iter())
                .map(|v| match v {
                    Val::Null => None,
                    Val::Int(i) => Some(i.to_string()),
                    Val::Text(t) => Some(t),
                    other => Some(format!("{other:?}")),
                })
                .collect()
        })
        .collect()
}

/// The member `key` of the JSON object `raw` as text, as SQLite's `json_extract` gives it: a
/// number or string as itself, `null` or a missing member as None, true/false as 1/0, an array or
/// object as its JSON text.
fn json_member(raw: &str, key: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(raw).expect("raw_json is JSON");
    match value.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(t) => Some(t.clone()),
        serde_json::Value::Bool(b) => Some(i64::from(*b).to_string()),
        other => Some(other.to_string()),
    }
}

fn s(v: impl ToString) -> Option<String> {
    Some(v.to_string())
}

/// The stored refunds the simulator's truth says a client must hold: id → (order, unified status, fen).
fn truth_refunds(w: &World) -> BTreeMap<String, (String, String, i64)> {
    let truth = w.sim.truth_returns(TOKEN);
    truth.into_iter().map(|r| (r.return_id, (r.order_id, r.unified_status.to_string(), r.amount_fen))).collect()
}

/// The stored orders, lines, shipments and returns equal the simulator's truth field by field;
/// every expected value, statuses included, comes from the simulator, none from the connector.
fn assert_store_equals_truth(w: &World) {
    let store = w.dir.reader();
    let truth = w.sim.truth_orders(TOKEN);
    assert_eq!(count(store, "SELECT COUNT(*) FROM orders"), truth.len() as i64);
    assert_eq!(count(store, "SELECT COUNT(*) FROM rejected_records"), 0);
    for t in &truth {
        let want = StoredOrderRow {
            status: t.unified_status.to_string(),
            platform_status: t.state.to_string(),
            // PLATFORMS.md §4 defines no payment codes: none is stored, the code stays raw.
            payment_status: None,
            total_minor: t.total_fen,
            shipping_minor: t.shipping_fen,
            buyer_name: Some(t.buyer_name.clone()),
            buyer_phone: Some(t.buyer_phone.clone()),
            external_ref: None,
            created_at: utc_ms(t.order_time_ms),
            updated_at: Some(utc_ms(t.last_state_ms)),
            lines: t
                .lines
                .iter()
                .map(|l| (l.sku.clone(), l.name.clone(), l.quantity.to_string(), l.price_fen))
                .collect(),
        };
        assert_eq!(stored_order(store, SHOP, &t.order_id), Some(want), "order {}", t.order_id);
        // Beyond the shared row: the address, the refund summary and the two raw codes.
        let got: Vec<Vec<Option<String>>> = text_rows(
            w,
            "SELECT refund_status, ship_address, raw_json FROM orders WHERE shop_id = ?1 AND order_no = ?2",
            &t.order_id,
        )
        .into_iter()
        .map(|mut r| {
            let raw = r.pop().flatten().expect("raw_json");
            r.extend([json_member(&raw, "order_is_paid"), json_member(&raw, "order_refund_status")]);
            r
        })
        .collect();
        let full = format!("{} {} {} {}", t.province, t.city, t.county, t.address);
        assert_eq!(got, vec![vec![None, s(full), s(t.paid_code), s(t.refund_code)]], "order {}", t.order_id);
        let specs = text_rows(
            w,
            "SELECT spec, quantity FROM order_lines WHERE shop_id = ?1 AND order_no = ?2 ORDER BY line_no",
            &t.order_id,
        );
        let want: Vec<_> = t.lines.iter().map(|l| vec![l.spec.clone(), s(l.quantity)]).collect();
        assert_eq!(specs, want, "specs of {}", t.order_id);
    }
    let want: BTreeMap<String, _> = truth
        .iter()
        .flat_map(|t| t.logistics.iter().map(move |l| (t, l)))
        .map(|(t, l)| (l.id.to_string(), (Some(t.order_id.clone()), Some(l.express.clone()), Some(l.tracking.clone()))))
        .collect();
    let logistics: usize = truth.iter().map(|t| t.logistics.len()).sum();
    assert_eq!(want.len(), logistics, "logistics ids are unique in the simulator");
    assert_eq!(stored_shipments(store, SHOP), want, "shipments: carrier and tracking number");
    for t in &truth {
        let shipped = text_rows(
            w,
            "SELECT shipment_id, shipped_at FROM shipments WHERE shop_id = ?1 AND order_no = ?2
             ORDER BY CAST(shipment_id AS BIGINT)",
            &t.order_id,
        );
        let want: Vec<_> = t.logistics.iter().map(|l| vec![s(l.id), s(utc_ms(l.time_ms))]).collect();
        assert_eq!(shipped, want, "logistics times of {}", t.order_id);
    }
    // Every mix of line names reached the store: a name from item_name, from product_name, from
    // the spec alone, and lines without a spec.
    assert!(count(store, "SELECT COUNT(*) FROM order_lines WHERE spec IS NULL") > 0);
    assert!(count(store, "SELECT COUNT(*) FROM order_lines WHERE name = spec") > 0);
    assert!(count(store, "SELECT COUNT(*) FROM order_lines WHERE name <> spec AND name LIKE '%' || spec") > 0);
    // 2.675 and 1.005 yuan, sent as JSON floats, land as 268 and 101 fen.
    assert_eq!(truth[0].lines[0].price_fen, 268);
    assert_eq!(truth[1].shipping_fen, 101);
    assert!(count(store, "SELECT COUNT(*) FROM order_lines WHERE unit_price_minor = 268") >= 1);
    assert!(count(store, "SELECT COUNT(*) FROM orders WHERE shipping_minor = 101") >= 1);
    // Every order state the contract names was synced: each entry of the status table was walked.
    let states: BTreeSet<u16> = truth.iter().map(|t| t.state).collect();
    assert_eq!(states.len(), 7, "{states:?}");

    let returns = w.sim.truth_returns(TOKEN);
    assert!(!returns.is_empty());
    assert_eq!(stored_refunds(store, SHOP), truth_refunds(w), "refunds: order, status, amount");
    for r in &returns {
        let got = text_rows(
            w,
            "SELECT platform_status, reason, created_at, updated_at FROM refunds WHERE shop_id = ?1 AND refund_id = ?2",
            &r.return_id,
        );
        let latest = [Some(r.add_time_ms), r.store_time_ms, r.finish_time_ms].into_iter().flatten().max();
        let want = vec![s(r.state), s(&r.reason), s(utc_ms(r.add_time_ms)), latest.map(utc_ms)];
        assert_eq!(got, vec![want], "return {}", r.return_id);
    }
}

async fn full_sync_equals_truth(form: SsTimeForm, orders: usize, seed: u64) {
    let w = world_in(form, orders, 30, seed).await;
    both(&w).await;
    assert_store_equals_truth(&w);
}

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_equals_truth_with_rfc3339_times_as_the_page_writes_them() {
    full_sync_equals_truth(SsTimeForm::Rfc3339, 1000, 51).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_equals_truth_with_millisecond_times() {
    full_sync_equals_truth(SsTimeForm::Millis, 400, 57).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_equals_truth_with_cst_text_times() {
    full_sync_equals_truth(SsTimeForm::CstText, 400, 58).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_order_moving_to_shipped_and_received_shows_every_transition() {
    let w = world(300, 30, 52).await;
    both(&w).await;
    let tables = ["orders", "order_lines", "shipments", "refunds", "status_changes"];
    let before: Vec<_> = tables.iter().map(|t| snapshot(w.dir.reader(), t)).collect();
    both(&w).await;
    let after: Vec<_> = tables.iter().map(|t| snapshot(w.dir.reader(), t)).collect();
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
    let store = w.dir.reader();
    let transitions: Vec<(Option<String>, String)> = store
        .query(
            "SELECT from_status, to_status FROM status_changes WHERE entity_key = ?1 ORDER BY id",
            &[Param::Text(&old)],
        )
        .unwrap()
        .into_iter()
        .map(|mut r| (r.opt_text(0).unwrap(), r.text(1).unwrap()))
        .collect();
    let expected = vec![
        (None, "processing".to_string()),
        (Some("processing".to_string()), "shipped".to_string()),
        (Some("shipped".to_string()), "completed".to_string()),
    ];
    assert_eq!(transitions, expected);
    assert!(
        count(store, &format!("SELECT COUNT(*) FROM shipments WHERE order_no = '{old}'")) >= 1,
        "its new logistics row"
    );
    assert_store_equals_truth(&w);
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
        .query("SELECT last_error FROM outbox WHERE order_no = ?1 AND state = 'failed'", &[Param::Text(&cancelled[0])])
        .unwrap()
        .into_iter()
        .next()
        .expect("receive of a cancelled order failed")
        .text(0)
        .unwrap();
    assert!(err.contains("订单已取消"), "the vendor's message is kept: {err}");
    // The next pass reads the two applied pushes back: the store equals the truth again.
    both(&w).await;
    assert_store_equals_truth(&w);
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

/// The returns queries of the log, with what they answered.
fn return_queries(log: &[SsQuery]) -> Vec<&SsQuery> {
    log.iter().filter(|q| q.path == RETURNS || q.path == RETURN_GET).collect()
}

fn stored_refund_status(w: &World, id: &str) -> Option<String> {
    text_rows(w, "SELECT status FROM refunds WHERE shop_id = ?1 AND refund_id = ?2", id)
        .first()
        .and_then(|r| r[0].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn returns_are_listed_by_creation_window_and_only_open_ones_are_read_again() {
    let w = world(1000, 30, 54).await;
    both(&w).await;
    let truth = w.sim.truth_returns(TOKEN);
    let closed: HashSet<String> = truth.iter().filter(|r| r.state == 3125).map(|r| r.return_id.clone()).collect();
    let open = truth.len() - closed.len();
    assert!(open > 5, "more open returns than open states: the state lists are used ({open})");

    // A pass where nothing changed.
    w.sim.clear_queries();
    let counts = pass(&w, Stream::Refunds).await;
    assert_eq!((counts.inserted, counts.updated), (0, 0));
    let log = w.sim.queries();
    let queries = return_queries(&log);
    let window_start: i64 = queries
        .iter()
        .filter_map(|q| q.params.get("createTimeStart").and_then(|v| v.parse().ok()))
        .min()
        .expect("a creation window was listed");
    // Only the overlap day and today are listed by creation: no whole-list read.
    assert!(queries.iter().all(|q| q.path == RETURN_GET
        || q.params.contains_key("createTimeStart")
        || q.params.contains_key("returnStateId")));
    assert!(
        queries.iter().all(|q| q.params.get("returnStateId").is_none_or(|s| s != "3125")),
        "no list of closed returns"
    );
    let served: HashSet<&String> = queries.iter().flat_map(|q| q.keys.iter()).collect();
    let old_closed: Vec<&String> =
        truth.iter().filter(|r| r.state == 3125 && r.add_time_ms < window_start).map(|r| &r.return_id).collect();
    assert!(!old_closed.is_empty(), "the test needs closed returns created before the window");
    for id in &old_closed {
        assert!(!served.contains(id), "closed return {id} was read again");
    }
    // Closed returns reach the pass only through the creation windows.
    for q in &queries {
        if !q.params.contains_key("createTimeStart") {
            assert!(q.keys.iter().all(|k| !closed.contains(k)), "{q:?} served a closed return");
        }
    }

    // A return that closes, one that moves on, and a new one are all seen on the next pass.
    let old_open: Vec<_> = truth.iter().filter(|r| r.state < 3120 && r.add_time_ms < window_start).collect();
    assert!(old_open.len() >= 2, "the test needs open returns created before the window");
    let (closing, moving) = (&old_open[0].return_id, &old_open[1].return_id);
    let moved_to = old_open[1].state + 5;
    assert!(w.sim.set_return_state(TOKEN, closing, 3125));
    assert!(w.sim.set_return_state(TOKEN, moving, moved_to));
    let shipped = w.sim.order_ids_in_state(TOKEN, 2060);
    let new = w.sim.add_return(TOKEN, &shipped[0]);
    w.sim.clear_queries();
    pass(&w, Stream::Refunds).await;
    assert_eq!(stored_refund_status(&w, closing).as_deref(), Some("closed"));
    assert_eq!(stored_refund_status(&w, &new).as_deref(), Some("requested"));
    // The moved one, and every other, as the simulator's truth says.
    assert_eq!(stored_refunds(w.dir.reader(), SHOP), truth_refunds(&w));
    let log = w.sim.queries();
    // The closed one left every open-state list: it is read by itself.
    assert!(log.iter().any(|q| q.path == RETURN_GET && q.params.get("return_id") == Some(closing)));
    assert!(log.iter().all(|q| q.params.get("returnStateId").is_none_or(|s| s != "3125")));
}

#[tokio::test(flavor = "multi_thread")]
async fn few_open_returns_are_read_one_by_one() {
    let w = world(300, 30, 59).await;
    both(&w).await;
    let truth = w.sim.truth_returns(TOKEN);
    // Close all but three open returns at the mall.
    let open: Vec<_> = truth.iter().filter(|r| r.state != 3125).collect();
    assert!(open.len() > 3);
    for r in &open[3..] {
        w.sim.set_return_state(TOKEN, &r.return_id, 3125);
    }
    pass(&w, Stream::Refunds).await;
    assert_eq!(count(w.dir.reader(), "SELECT COUNT(*) FROM refunds WHERE status = 'closed'"), (truth.len() - 3) as i64);

    w.sim.clear_queries();
    pass(&w, Stream::Refunds).await;
    let log = w.sim.queries();
    let queries = return_queries(&log);
    assert!(queries.iter().all(|q| !q.params.contains_key("returnStateId")), "no state list for three open returns");
    let window: BTreeSet<&String> =
        queries.iter().filter(|q| q.params.contains_key("createTimeStart")).flat_map(|q| q.keys.iter()).collect();
    let got: BTreeSet<&String> =
        queries.iter().filter(|q| q.path == RETURN_GET).filter_map(|q| q.params.get("return_id")).collect();
    let want: BTreeSet<&String> = open[..3].iter().map(|r| &r.return_id).filter(|id| !window.contains(id)).collect();
    assert_eq!(got, want, "each open return not listed by the window is read with orderReturn/get");
}

/// Requests for page 1 of the order-list window holding `at` (unix ms).
fn first_pages_covering(log: &[SsQuery], at: i64) -> usize {
    let param = |q: &SsQuery, k: &str| q.params.get(k).and_then(|v| v.parse::<i64>().ok());
    log.iter()
        .filter(|q| q.path == ORDERS && q.params.get("page").map(String::as_str) == Some("1"))
        .filter(|q| {
            param(q, "createTimeStart").is_some_and(|s| s <= at) && param(q, "createTimeEnd").is_some_and(|e| at <= e)
        })
        .count()
}

fn stream_state(w: &World, stream: &str) -> (Option<String>, Option<String>) {
    let rows = text_rows(w, "SELECT cursor, incomplete FROM sync_state WHERE shop_id = ?1 AND stream = ?2", stream);
    rows.first().map(|r| (r[0].clone(), r[1].clone())).expect("a sync_state row")
}

/// `ordersync status --check`: (exit code, stdout).
fn status_check(w: &World) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&w.dir.config_path)
        .args(["status", "--check"])
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn today_cst() -> NaiveDate {
    Utc::now().with_timezone(&cst()).date_naive()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_short_of_its_records_is_read_again_and_recovers() {
    let w = world(300, 30, 55).await;
    let truth = w.sim.truth_orders(TOKEN);
    let hidden = &truth[truth.len() / 2];
    // The first answer carrying it leaves it out; the re-read gets it.
    w.sim.under_serve(TOKEN, std::slice::from_ref(&hidden.order_id), Some(1));
    both(&w).await;
    assert_eq!(first_pages_covering(&w.sim.queries(), hidden.order_time_ms), 2, "the short window was read again");
    assert_eq!(count(w.dir.reader(), "SELECT COUNT(*) FROM orders"), truth.len() as i64);
    assert_eq!(stream_state(&w, "orders"), (Some(today_cst().to_string()), None));
    let (code, out) = status_check(&w);
    assert_eq!(code, Some(0), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_still_short_after_a_reread_holds_the_cursor_and_shows_in_status() {
    let w = world(300, 30, 56).await;
    let truth = w.sim.truth_orders(TOKEN);
    let now_ms = Utc::now().timestamp_millis();
    // The newest order placed 15+ days ago: whole windows come before its own.
    let hidden =
        truth.iter().rev().find(|t| t.order_time_ms < now_ms - 15 * 86_400_000).expect("an order 15+ days old");
    let returns = w.sim.truth_returns(TOKEN);
    let hidden_return = &returns[0];
    w.sim.under_serve(TOKEN, &[hidden.order_id.clone(), hidden_return.return_id.clone()], None);
    both(&w).await;

    // Read twice, not more; every other row is stored.
    assert_eq!(first_pages_covering(&w.sim.queries(), hidden.order_time_ms), 2);
    let store = w.dir.reader();
    assert_eq!(count(store, "SELECT COUNT(*) FROM orders"), truth.len() as i64 - 1);
    assert_eq!(count(store, &format!("SELECT COUNT(*) FROM orders WHERE order_no = '{}'", hidden.order_id)), 0);
    assert_eq!(count(store, "SELECT COUNT(*) FROM refunds"), returns.len() as i64 - 1);

    // The cursor stops at the last whole window before the short one.
    let (cursor, incomplete) = stream_state(&w, "orders");
    let hidden_day = cst_day(hidden.order_time_ms);
    let cursor: NaiveDate = cursor.expect("the windows before the short one moved the cursor").parse().unwrap();
    assert!(cursor < hidden_day && cursor >= hidden_day - Duration::days(7), "cursor {cursor}, hidden {hidden_day}");
    let incomplete = incomplete.expect("the shortfall is recorded");
    assert!(incomplete.contains("order/list createTime") && incomplete.contains(" received"), "{incomplete}");
    let (cursor, incomplete) = stream_state(&w, "refunds");
    let held = cursor.map(|c| c.parse::<NaiveDate>().unwrap());
    assert!(
        held.is_none_or(|c| c < cst_day(hidden_return.add_time_ms)),
        "refunds cursor {held:?} passed the short window"
    );
    assert!(incomplete.is_some_and(|i| i.contains("orderReturn/list createTime")));
    let shortfalls = count(store, "SELECT COUNT(*) FROM sync_runs WHERE shortfall IS NOT NULL");
    assert_eq!(shortfalls, 2, "one orders run and one refunds run");
    let (code, out) = status_check(&w);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("INCOMPLETE") && out.contains("order/list createTime"), "{out}");

    // The mall serves it again: the next pass is whole and the cursor reaches today.
    w.sim.under_serve(TOKEN, &[], None);
    both(&w).await;
    assert_eq!(stream_state(&w, "orders"), (Some(today_cst().to_string()), None));
    assert_eq!(stream_state(&w, "refunds"), (Some(today_cst().to_string()), None));
    assert_eq!(count(w.dir.reader(), "SELECT COUNT(*) FROM orders"), truth.len() as i64);
    let (code, out) = status_check(&w);
    assert_eq!(code, Some(0), "{out}");
}
