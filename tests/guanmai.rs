//! Guanmai end to end: 7-day windows, details, token expiry, look-back, re-reads of older open
//! orders, weighed lines, times in every form, status pushes (also to orders not synced yet).

mod common;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use common::{count, stored_order, stored_refunds, stored_shipments, utc, StoredOrderRow, TestDir};
use ordersync::model::{OrderStatus, Stream};
use ordersync::platforms::PushPayload;
use ordersync::push::flush_all;
use ordersync::sim::guanmai::{GmSim, GmTimeForm};
use ordersync::sim::SimHandle;
use ordersync::sim::Simulator;
use ordersync::store::{NewEntry, Param, Row, Store};
use ordersync::sync::run_pass;
use std::collections::{BTreeMap, BTreeSet};
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

/// The look-back of the test config.
const LOOKBACK_DAYS: i64 = 3;

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("offset")
}

/// The CST day of a unix time.
fn cst_day(unix: i64) -> NaiveDate {
    DateTime::from_timestamp(unix, 0).expect("time").with_timezone(&cst()).date_naive()
}

/// Order dates (unix seconds) of the simulator's orders now, by id.
fn order_dates(w: &World) -> BTreeMap<String, i64> {
    w.sim.truth_orders(ACCESS_ID).into_iter().map(|t| (t.order_id, t.order_date)).collect()
}

/// The rows of `sql` with `params`.
fn rows(store: &Store, sql: &str, params: &[Param]) -> Vec<Row> {
    store.query(sql, params).unwrap()
}

/// The first row of `sql` with `params`, or why there is none.
fn first_row(store: &Store, sql: &str, params: &[Param]) -> Result<Row, String> {
    let rows = store.query(sql, params).map_err(|e| e.to_string())?;
    rows.into_iter().next().ok_or_else(|| "no rows returned".to_string())
}

/// The stored orders not completed or cancelled.
fn stored_open(w: &World) -> BTreeSet<String> {
    let store = w.dir.reader();
    let sql = "SELECT order_no FROM orders WHERE shop_id = ?1 AND status NOT IN ('completed', 'cancelled')";
    rows(store, sql, &[Param::Text(SHOP)]).into_iter().map(|mut r| r.text(0).unwrap()).collect()
}

/// The stored open orders placed before the first day a later pass lists (`lookback_days`
/// before today, CST): exactly the ones that pass must re-read one by one.
fn open_before_lookback(w: &World, dates: &BTreeMap<String, i64>) -> BTreeSet<String> {
    let first_listed = cst_day(Utc::now().timestamp()) - Duration::days(LOOKBACK_DAYS);
    stored_open(w).into_iter().filter(|id| cst_day(dates[id]) < first_listed).collect()
}

/// (unified status, vendor code) of a stored order.
fn stored_status(w: &World, order_no: &str) -> (String, String) {
    let mut r = first_row(
        w.dir.reader(),
        "SELECT status, platform_status FROM orders WHERE shop_id = ?1 AND order_no = ?2",
        &[Param::Text(SHOP), Param::Text(order_no)],
    )
    .unwrap_or_else(|e| panic!("order {order_no} not stored: {e}"));
    (r.text(0).unwrap(), r.text(1).unwrap())
}

/// A stored line: (sku, name, quantity, unit price, quantity_exact, real_quantity, real_amount_minor).
type StoredLine = (String, String, i64, i64, String, Option<String>, Option<i64>);

fn stored_lines(w: &World, order_no: &str) -> Vec<StoredLine> {
    let store = w.dir.reader();
    let sql = "SELECT sku, name, quantity, unit_price_minor, quantity_exact, real_quantity, real_amount_minor
             FROM order_lines WHERE shop_id = ?1 AND order_no = ?2 ORDER BY line_no";
    rows(store, sql, &[Param::Text(SHOP), Param::Text(order_no)])
        .into_iter()
        .map(|mut r| {
            let (sku, name) = (r.text(0).unwrap(), r.text(1).unwrap());
            let (quantity, price, exact) = (r.int(2).unwrap(), r.int(3).unwrap(), r.text(4).unwrap());
            (sku, name, quantity, price, exact, r.opt_text(5).unwrap(), r.opt_int(6).unwrap())
        })
        .collect()
}

/// Every order and line in the database equals the simulator's truth, whole rows; nothing was
/// rejected. Every expected value comes from the truth: statuses from the simulator's own table
/// (written from PLATFORMS.md), amounts as the simulator computed them in fen.
fn assert_equals_truth(w: &World) {
    let truth = w.sim.truth_orders(ACCESS_ID);
    let store = w.dir.reader();
    assert_eq!(count(store, "SELECT COUNT(*) FROM orders"), truth.len() as i64);
    assert_eq!(count(store, "SELECT COUNT(*) FROM rejected_records"), 0);
    // A station delivers with its own fleet and has no refund endpoint: nothing else is stored.
    assert!(stored_shipments(store, SHOP).is_empty() && stored_refunds(store, SHOP).is_empty());
    for t in &truth {
        let expected = StoredOrderRow {
            status: t.unified_status.to_string(),
            platform_status: t.status.to_string(),
            payment_status: t.unified_payment_status.map(str::to_string),
            total_minor: t.total_pay_fen,
            shipping_minor: t.freight_fen,
            buyer_name: Some(t.resname.clone()),
            buyer_phone: Some(t.receiver_phone.clone()),
            external_ref: None,
            created_at: utc(t.order_date),
            updated_at: None,
            lines: (t.lines.iter())
                .map(|l| (l.sku_id.clone(), l.name.clone(), l.quantity_exact.clone(), l.sale_price_fen))
                .collect(),
        };
        assert_eq!(stored_order(store, SHOP, &t.order_id), Some(expected), "order {}", t.order_id);
        // The columns the common row leaves out.
        let mut r = first_row(
            store,
            "SELECT ship_address, refund_status, currency, platform_order_id FROM orders
                 WHERE shop_id = ?1 AND order_no = ?2",
            &[Param::Text(SHOP), Param::Text(&t.order_id)],
        )
        .unwrap();
        let rest: (Option<String>, Option<String>, String, Option<String>) =
            (r.opt_text(0).unwrap(), r.opt_text(1).unwrap(), r.text(2).unwrap(), r.opt_text(3).unwrap());
        assert_eq!(rest, (Some(t.address.clone()), None, "CNY".to_string(), None), "order {}", t.order_id);
        let expected: Vec<StoredLine> = (t.lines.iter())
            .map(|l| {
                let (sku, name, exact) = (l.sku_id.clone(), l.name.clone(), l.quantity_exact.clone());
                let real = (Some(l.real_quantity.clone()), Some(l.real_item_price_fen));
                (sku, name, l.quantity, l.sale_price_fen, exact, real.0, real.1)
            })
            .collect();
        assert_eq!(stored_lines(w, &t.order_id), expected, "lines of {}", t.order_id);
    }
}

/// Runs the CLI's `push status`: (exit code, stderr).
fn push_cli(w: &World, order: &str, status: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&w.dir.config_path)
        .args(["push", "status", "--shop", SHOP, "--order", order, "--status", status])
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// (state, last_error) of the outbox row of `order_no`.
fn outbox_row(w: &World, order_no: &str) -> (String, Option<String>) {
    let sql = "SELECT state, last_error FROM outbox WHERE order_no = ?1";
    let mut r = first_row(w.dir.reader(), sql, &[Param::Text(order_no)])
        .unwrap_or_else(|e| panic!("no outbox row for {order_no}: {e}"));
    (r.text(0).unwrap(), r.opt_text(1).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_of_1000_orders_with_details_equals_ground_truth() {
    let w = world(1000, 30, 31).await;
    pass(&w).await;
    assert_eq!(w.sim.truth_orders(ACCESS_ID).len(), 1000);
    // The simulator refuses any span over 7 days, so a successful pass proves none was sent.
    assert_eq!(detail_calls(&w), 1000, "one detail call per new order");
    assert_equals_truth(&w);
    // Weighed goods came in decimals, and were stored so.
    let store = w.dir.reader();
    assert!(count(store, "SELECT COUNT(*) FROM order_lines WHERE quantity_exact LIKE '%.%'") > 50);
    assert!(count(store, "SELECT COUNT(*) FROM order_lines WHERE real_quantity <> quantity_exact") > 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_sync_equals_the_truth_with_times_as_rfc3339_z_and_as_milliseconds() {
    for (seed, form) in [(41, GmTimeForm::Rfc3339Utc), (42, GmTimeForm::UnixMillis)] {
        let w = world(150, 20, seed).await;
        w.sim.set_time_form(form);
        pass(&w).await;
        assert_equals_truth(&w);
        // An expiry read wrong (e.g. as already past) would refresh the token on every call.
        assert_eq!(w.sim.token_requests(ACCESS_ID), 1, "{form:?}: one token for the pass");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn weighed_lines_of_1_5_and_2_35_are_stored_exactly() {
    let w = world(20, 3, 43).await;
    let weighed = w.sim.add_weighed_order(ACCESS_ID, &[("1.5", "1.52"), ("2.35", "2.4")], 10).expect("added");
    let waiting = w.sim.add_weighed_order(ACCESS_ID, &[("0.75", "0.75"), ("12", "12")], 1).expect("added");
    let c = pass(&w).await;
    assert_eq!(c.rejected, 0, "a decimal never rejects an order");
    assert_equals_truth(&w);
    let truth = w.sim.truth_orders(ACCESS_ID);
    let t = truth.iter().find(|t| t.order_id == weighed).expect("truth");
    let (units, real_fen) = (t.lines[0].sale_price_fen, t.lines[1].sale_price_fen);
    let lines = stored_lines(&w, &weighed);
    let exact: Vec<(i64, &str, Option<&str>)> = lines.iter().map(|l| (l.2, l.4.as_str(), l.5.as_deref())).collect();
    assert_eq!(exact, [(2, "1.5", Some("1.52")), (2, "2.35", Some("2.4"))]);
    // Charged for what was weighed: 1.52 and 2.4 at the unit price, rounded to the fen.
    assert_eq!(lines[0].6, Some((152 * units + 50) / 100));
    assert_eq!(lines[1].6, Some((240 * real_fen + 50) / 100));
    let lines = stored_lines(&w, &waiting);
    let exact: Vec<(i64, &str, Option<&str>)> = lines.iter().map(|l| (l.2, l.4.as_str(), l.5.as_deref())).collect();
    assert_eq!(exact, [(1, "0.75", Some("0.75")), (12, "12", Some("12"))]);
}

#[tokio::test(flavor = "multi_thread")]
async fn older_open_orders_are_re_read_paid_weeks_later_deleted_or_gone() {
    let w = world(200, 30, 44).await;
    let at = |days: i64| Utc::now() - Duration::days(days);
    // Restaurants that pay monthly, an order deleted later, one the vendor loses altogether.
    let signed = w.sim.add_order_at(ACCESS_ID, at(12), 15).expect("added");
    let deleted = w.sim.add_order_at(ACCESS_ID, at(11), 1).expect("added");
    let gone = w.sim.add_order_at(ACCESS_ID, at(14), 10).expect("added");
    let recent = w.sim.add_order_at(ACCESS_ID, at(1), 15).expect("added");
    pass(&w).await;
    let dates = order_dates(&w);
    assert_equals_truth(&w);

    // Nothing changed: a pass re-reads exactly the open orders older than the look-back, once each.
    let expected = open_before_lookback(&w, &dates);
    assert!(expected.contains(&signed) && expected.contains(&deleted) && !expected.contains(&recent));
    assert!(expected.len() < stored_open(&w).len(), "open orders inside the look-back exist and are not re-read");
    let asked_before = w.sim.detail_requests().len();
    let c = pass(&w).await;
    assert_eq!((c.inserted, c.updated, c.rejected), (0, 0, 0), "{c:?}");
    let asked: Vec<String> = w.sim.detail_requests()[asked_before..].to_vec();
    assert_eq!(asked.len(), expected.len(), "each re-read once");
    assert_eq!(asked.into_iter().collect::<BTreeSet<_>>(), expected);

    w.sim.set_status(ACCESS_ID, &signed, 100);
    w.sim.set_status(ACCESS_ID, &deleted, -1);
    assert!(w.sim.remove_order(ACCESS_ID, &gone));
    let asked_before = w.sim.detail_requests().len();
    let c = pass(&w).await;
    assert_eq!((c.inserted, c.updated, c.rejected), (0, 2, 0), "{c:?}");
    assert_eq!(stored_status(&w, &signed), ("completed".into(), "100".into()));
    assert_eq!(stored_status(&w, &deleted), ("cancelled".into(), "-1".into()));
    // Refused by the vendor (no such order): what is stored stands, the pass goes on.
    assert_eq!(stored_status(&w, &gone), ("shipped".into(), "10".into()));
    let asked: BTreeSet<String> = w.sim.detail_requests()[asked_before..].iter().cloned().collect();
    assert_eq!(asked, expected);
    let n = count(
        w.dir.reader(),
        &format!("SELECT COUNT(*) FROM status_changes WHERE entity_key = '{signed}' AND from_status = 'delivered' AND to_status = 'completed'"),
    );
    assert_eq!(n, 1);
    // Terminal now: the next pass no longer asks for them.
    let asked_before = w.sim.detail_requests().len();
    pass(&w).await;
    let asked: BTreeSet<String> = w.sim.detail_requests()[asked_before..].iter().cloned().collect();
    assert!(!asked.contains(&signed) && !asked.contains(&deleted) && asked.contains(&gone));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_pushed_to_an_order_older_than_the_lookback_is_seen_on_the_next_pass() {
    let w = world(60, 20, 45).await;
    let old = w.sim.add_order_at(ACCESS_ID, Utc::now() - Duration::days(12), 1).expect("added");
    pass(&w).await;
    assert_eq!(stored_status(&w, &old), ("awaiting_fulfillment".into(), "1".into()));
    assert_eq!(push_cli(&w, &old, "processing").0, Some(0));
    flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();
    assert_eq!(outbox_row(&w, &old).0, "done");
    pass(&w).await;
    assert_eq!(stored_status(&w, &old), ("processing".into(), "5".into()));
    // The station sends it out later; that is seen too.
    w.sim.set_status(ACCESS_ID, &old, 10);
    pass(&w).await;
    assert_eq!(stored_status(&w, &old), ("shipped".into(), "10".into()));
    // Re-read in full: weighed lines, amounts and status all as the station has them now.
    assert_equals_truth(&w);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_to_an_order_not_synced_yet_is_judged_on_the_vendors_status() {
    let w = world(30, 3, 46).await;
    pass(&w).await;
    // Placed after the pass: a warehouse system pushes before the next one.
    let placed = w.sim.add_orders(ACCESS_ID, 2);
    let out_already = w.sim.add_order_at(ACCESS_ID, Utc::now(), 10).expect("added");
    let deleted = w.sim.add_order_at(ACCESS_ID, Utc::now(), -1).expect("added");
    let unknown = "PL1";
    for (order, status) in
        [(&placed[0], "processing"), (&placed[1], "shipped"), (&out_already, "processing"), (&deleted, "processing")]
    {
        assert_eq!(push_cli(&w, order, status), (Some(0), String::new()), "{order} is accepted before it is synced");
    }
    assert_eq!(push_cli(&w, unknown, "shipped").0, Some(0));
    let calls_before = w.sim.requests().len();
    flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();

    let status = |id: &str| w.sim.truth_orders(ACCESS_ID).into_iter().find(|t| t.order_id == id).map(|t| t.status);
    // Legal moves are sent and land.
    assert_eq!((status(&placed[0]), status(&placed[1])), (Some(5), Some(10)));
    assert_eq!(outbox_row(&w, &placed[0]), ("done".into(), None));
    assert_eq!(outbox_row(&w, &placed[1]), ("done".into(), None));
    // Already past the target: done without sending.
    assert_eq!(status(&out_already), Some(10));
    assert_eq!(outbox_row(&w, &out_already).0, "done");
    let settled_by: String =
        first_row(w.dir.reader(), "SELECT settled_by FROM outbox WHERE order_no = ?1", &[Param::Text(&out_already)])
            .unwrap()
            .text(0)
            .unwrap();
    assert_eq!(settled_by, "read_back", "recorded as found applied, not as sent");
    let applied: Vec<String> = w.sim.applied_pushes().iter().map(|p| p.order_no.clone()).collect();
    assert_eq!(applied, [placed[0].clone(), placed[1].clone()], "only the legal moves were sent");
    // Illegal from the vendor's status: failed, naming the code and the allowed moves.
    let (state, error) = outbox_row(&w, &deleted);
    let error = error.unwrap_or_default();
    assert_eq!(state, "failed");
    assert!(error.contains("status -1") && error.contains("1→5, 1→10, 5→10"), "{error}");
    // The vendor does not know it at all: failed with the vendor's own refusal.
    let (state, error) = outbox_row(&w, unknown);
    assert_eq!(state, "failed");
    assert!(error.unwrap_or_default().contains("order not found: PL1"));
    // One read per entry, and an update only for the two legal moves.
    let calls: Vec<String> = w.sim.requests()[calls_before..].iter().map(|r| r.endpoint.clone()).collect();
    let reads = calls.iter().filter(|e| *e == "/openapi/order/get").count();
    let updates = calls.iter().filter(|e| *e == "/openapi/order/update").count();
    assert_eq!((reads, updates), (5, 2), "{calls:?}");

    // The next pass stores them, with the pushed statuses.
    pass(&w).await;
    assert_eq!(stored_status(&w, &placed[0]).0, "processing");
    assert_eq!(stored_status(&w, &placed[1]).0, "shipped");
    assert_equals_truth(&w);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_expiring_every_7_calls_costs_one_refresh_per_expiry() {
    let w = world(300, 20, 32).await;
    w.sim.set_token_lifetime_calls(Some(7));
    pass(&w).await;
    assert_equals_truth(&w);
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
    let dates = order_dates(&w);
    let before = w.sim.detail_requests().len();
    let again = pass(&w).await;
    assert_eq!((again.inserted, again.updated), (0, 0));
    // An unchanged list row needs no detail call: only open orders the lists no longer reach are read.
    let asked: BTreeSet<String> = w.sim.detail_requests()[before..].iter().cloned().collect();
    assert_eq!(asked, open_before_lookback(&w, &dates));

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
        w.dir.reader(),
        &format!("SELECT COUNT(*) FROM status_changes WHERE entity_key = '{old}' AND from_status = 'awaiting_fulfillment' AND to_status = 'shipped'"),
    );
    assert_eq!(n, 1);
    assert_equals_truth(&w);
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
    assert_eq!(count(w.dir.reader(), "SELECT COUNT(*) FROM outbox WHERE state = 'done'"), 3);
    // The next pass stores what the pushes did, lines weighed at 10 included.
    pass(&w).await;
    assert_equals_truth(&w);
}
