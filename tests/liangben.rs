//! Liangben end to end: orders with outbound records and refunds, re-polling open orders,
//! cancel and receipt pushes, and a wrong token.

mod common;

use chrono::{TimeZone, Utc};
use std::collections::{BTreeMap, BTreeSet};

use common::{count, snapshot, stored_order, stored_refunds, stored_shipments, utc, StoredOrderRow, TestDir};
use ordersync::model::{OrderStatus, Stream};
use ordersync::platforms::PushPayload;
use ordersync::push::flush_all;
use ordersync::sim::liangben::{LbDetailNesting, LbOptions, LbReceipt, LbSim, LbTimeForm};
use ordersync::sim::SimHandle;
use ordersync::sim::Simulator;
use ordersync::store::{NewEntry, Param, Row, Store};
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

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_of_1000_orders_with_outbound_records_and_refunds_equals_ground_truth() {
    let w = world(1000, 30, 41).await;
    all_streams(&w).await;
    assert_store_is_truth(&w);
}

#[tokio::test(flavor = "multi_thread")]
async fn full_sync_equals_ground_truth_with_times_as_rfc3339_z_and_as_unix_milliseconds() {
    for (form, seed) in [(LbTimeForm::Rfc3339Z, 51), (LbTimeForm::UnixMillis, 52)] {
        let w = world(300, 30, seed).await;
        w.sim.set_options(LbOptions { time_form: form, ..LbOptions::default() });
        all_streams(&w).await;
        assert_store_is_truth(&w);
    }
}

/// Every order, outbound record and refund of the simulator is stored whole as its truth says
/// (unified statuses from the simulator's own tables, amounts in fen, buyer, times in UTC, lines,
/// carriers and tracking numbers), nothing more, and nothing was rejected.
fn assert_store_is_truth(w: &World) {
    let store = w.dir.reader();
    let truth = w.sim.truth_orders(TOKEN);
    assert_eq!(count(store, "SELECT COUNT(*) FROM orders"), truth.len() as i64);
    assert_eq!(count(store, "SELECT COUNT(*) FROM rejected_records"), 0);
    // The sample reaches every unified status the generator makes, so each table entry is used.
    let statuses: BTreeSet<&str> = truth.iter().map(|t| t.unified_status).collect();
    let all = ["awaiting_fulfillment", "cancelled", "completed", "partially_shipped", "pending", "shipped"];
    assert_eq!(statuses, BTreeSet::from(all), "statuses the truth covers");
    let payments: BTreeSet<&str> = truth.iter().map(|t| t.payment_status).collect();
    assert_eq!(payments, BTreeSet::from(["paid", "unpaid"]));
    for t in &truth {
        let stored = stored_order(store, SHOP, &t.order_sn).unwrap_or_else(|| panic!("order {} missing", t.order_sn));
        let lines = t.lines.iter().map(|l| (l.sku_id.clone(), l.name.clone(), l.num.to_string(), l.price_fen));
        let expected = StoredOrderRow {
            status: t.unified_status.to_string(),
            platform_status: format!("{}/{}", t.order_status, t.shipment_status),
            payment_status: Some(t.payment_status.to_string()),
            total_minor: t.amount_fen,
            shipping_minor: t.freight_fen,
            buyer_name: Some(t.consignee.clone()),
            buyer_phone: Some(t.mobile.clone()),
            external_ref: t.external_order_sn.clone(),
            created_at: utc(t.create_time),
            updated_at: Some(utc(t.update_time)),
            lines: lines.collect(),
        };
        assert_eq!(stored, expected, "order {}", t.order_sn);
        let address: Option<String> = first_row(
            store,
            "SELECT ship_address FROM orders WHERE shop_id = ?1 AND order_no = ?2",
            &[Param::Text(SHOP), Param::Text(&t.order_sn)],
        )
        .expect("order row")
        .opt_text(0)
        .unwrap();
        let full = format!("{} {} {} {}", t.province, t.city, t.district, t.address);
        assert_eq!(address, Some(full), "address of {}", t.order_sn);
    }

    let outbound = w.sim.truth_outbound(TOKEN);
    let expected: BTreeMap<_, _> = (outbound.iter())
        .map(|b| {
            let row = (Some(b.order_sn.clone()), Some(b.express_company.clone()), Some(b.express_sn.clone()));
            (b.purchase_sn.clone(), row)
        })
        .collect();
    assert_eq!(stored_shipments(store, SHOP), expected, "outbound records: order, carrier, tracking number");
    let shipped_at =
        keyed(store, "SELECT shipment_id, shipped_at FROM shipments WHERE shop_id = ?1", |r| r.opt_text(1).unwrap());
    let expected: BTreeMap<_, _> = outbound.iter().map(|b| (b.purchase_sn.clone(), Some(utc(b.out_time)))).collect();
    assert_eq!(shipped_at, expected, "outbound times in UTC");

    let refunds = w.sim.truth_refunds(TOKEN);
    assert!(refunds.len() >= 12);
    let statuses: BTreeSet<&str> = refunds.iter().map(|r| r.unified_status).collect();
    let all = ["approved", "closed", "refunded", "refunding", "rejected", "requested"];
    assert_eq!(statuses, BTreeSet::from(all), "refund statuses the truth covers");
    let expected: BTreeMap<_, _> = (refunds.iter())
        .map(|r| (r.refund_sn.clone(), (r.order_sn.clone(), r.unified_status.to_string(), r.amount_fen)))
        .collect();
    assert_eq!(stored_refunds(store, SHOP), expected, "refunds: order, status, amount");
    let sql = "SELECT refund_id, platform_status, reason, created_at, updated_at FROM refunds WHERE shop_id = ?1";
    let details = keyed(store, sql, |r| {
        (r.text(1).unwrap(), r.opt_text(2).unwrap(), r.opt_text(3).unwrap(), r.opt_text(4).unwrap())
    });
    let expected: BTreeMap<_, _> = (refunds.iter())
        .map(|r| {
            let status = format!("{}/{}", r.refund_status, r.examine_status);
            let row = (status, Some(r.reason.clone()), Some(utc(r.create_time)), Some(utc(r.update_time)));
            (r.refund_sn.clone(), row)
        })
        .collect();
    assert_eq!(details, expected, "refunds: vendor codes, reason, times in UTC");
}

/// The rows of `sql` (the shop as `?1`) keyed by their first column, the rest read by `value`.
fn keyed<V>(store: &Store, sql: &str, value: impl Fn(&mut Row) -> V) -> BTreeMap<String, V> {
    let rows = store.query(sql, &[Param::Text(SHOP)]).expect("query");
    rows.into_iter().map(|mut r| (r.text(0).expect("row"), value(&mut r))).collect()
}

/// The first row of `sql` with `params`, or why there is none.
fn first_row(store: &Store, sql: &str, params: &[Param]) -> Result<Row, String> {
    let rows = store.query(sql, params).map_err(|e| e.to_string())?;
    rows.into_iter().next().ok_or_else(|| "no rows returned".to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_to_old_orders_and_refunds_are_picked_up_and_a_second_pass_changes_nothing() {
    let w = world(300, 30, 42).await;
    all_streams(&w).await;
    let tables = ["orders", "order_lines", "shipments", "refunds", "status_changes"];
    let before: Vec<_> = tables.iter().map(|t| snapshot(w.dir.reader(), t)).collect();
    w.sim.clear_requests();
    all_streams(&w).await;
    let after: Vec<_> = tables.iter().map(|t| snapshot(w.dir.reader(), t)).collect();
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

    let store = w.dir.reader();
    let changed = |key: &str, from: &str, to: &str| {
        count(
            store,
            &format!("SELECT COUNT(*) FROM status_changes WHERE entity_key = '{key}' AND from_status = '{from}' AND to_status = '{to}'"),
        )
    };
    assert_eq!(changed(&waiting, "awaiting_fulfillment", "partially_shipped"), 1);
    assert_eq!(changed(&receiving, "shipped", "completed"), 1);
    assert_eq!(changed(&refund.refund_sn, "requested", "approved"), 1);
    assert!(
        count(store, &format!("SELECT COUNT(*) FROM shipments WHERE order_no = '{waiting}'")) >= 1,
        "its outbound record"
    );
    assert_store_is_truth(&w);
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
    // A cut-off answer must not lead to a second cancel. Reads are not retried by the HTTP
    // client meanwhile, so one flush stays short of the outbox's give-up limit whatever the
    // number of reads a push makes.
    let token = w.dir.secret("lb.token", TOKEN);
    let http = "[http]\nretries = 0\nrequest_timeout_secs = 5\n";
    w.dir.write_config_with(http, &shop_block(SHOP, &w.handle.base_url(), &token));
    w.sim.set_faults(ordersync::sim::Faults { cut_body: 1.0, ..Default::default() });
    flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();
    w.sim.set_faults(ordersync::sim::Faults::default());
    for _ in 0..20 {
        flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();
        if count(w.dir.reader(), "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'in_flight')") == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let applied = w.sim.applied_pushes();
    assert_eq!(applied.len(), 2, "cancel and receipt each applied exactly once: {applied:?}");
    let receipt = applied.iter().find(|p| p.order_no == receiving[0]).expect("receipt applied");
    let stored_purchase: String = first_row(
        w.dir.reader(),
        "SELECT shipment_id FROM shipments WHERE order_no = ?1 ORDER BY shipped_at LIMIT 1",
        &[Param::Text(&receiving[0])],
    )
    .unwrap()
    .text(0)
    .unwrap();
    assert_eq!(receipt.entry["purchase_sn"], stored_purchase.as_str(), "the receipt names the stored outbound record");
    let err: String = first_row(
        w.dir.reader(),
        "SELECT last_error FROM outbox WHERE order_no = ?1 AND state = 'failed'",
        &[Param::Text(&receiving[1])],
    )
    .expect("the cancel of a shipped order failed")
    .text(0)
    .unwrap();
    assert!(err.contains("无法取消"), "the vendor's message is kept: {err}");
    let done = count(w.dir.reader(), "SELECT COUNT(*) FROM outbox WHERE state = 'done'");
    let rows = outbox_rows(&w);
    assert_eq!(done, 2, "{rows:?}");
    // The next pass reads the pushed orders back as the supplier now has them.
    all_streams(&w).await;
    assert_store_is_truth(&w);
    let status = |sn: &str| stored_order(w.dir.reader(), SHOP, sn).map(|o| o.status);
    assert_eq!(status(&pending[0]).as_deref(), Some("cancelled"));
    assert_eq!(status(&receiving[0]).as_deref(), Some("completed"));
    assert_eq!(status(&receiving[1]).as_deref(), Some("shipped"), "the refused cancel changed nothing");
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
    assert_eq!(count(w.dir.reader(), "SELECT COUNT(*) FROM orders WHERE shop_id = 'lb-test'"), 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partly_shipped_order_completed_between_passes_gets_its_last_outbound_record() {
    let w = world(200, 10, 45).await;
    all_streams(&w).await;
    let partial = w.sim.order_sns_where(TOKEN, 4, Some(2));
    let order = partial.first().expect("a partly shipped order").clone();
    let stored = |w: &World| {
        count(
            w.dir.reader(),
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
    assert_store_is_truth(&w);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_rows_without_products_or_amounts_are_completed_from_the_order_detail() {
    let w = world(300, 30, 46).await;
    let options = LbOptions {
        omit_products: 0.25,
        omit_amounts: 0.15,
        detail_nesting: LbDetailNesting::Order,
        ..LbOptions::default()
    };
    w.sim.set_options(options);
    let mut lacking = w.sim.orders_without_full_rows(TOKEN);
    assert!(lacking.len() > 30 && lacking.len() < 200, "a share of the rows lacks lines or amounts: {}", lacking.len());
    all_streams(&w).await;
    // Every order with its full lines and total, as if the list had carried them.
    assert_store_is_truth(&w);
    // One detail call per incomplete row, and none for the complete ones.
    let mut asked = w.sim.detail_requests(TOKEN);
    asked.sort_unstable();
    lacking.sort_unstable();
    assert_eq!(asked, lacking);
    let calls = w.sim.requests().iter().filter(|r| r.endpoint.ends_with("/order/get_order_info")).count();
    assert_eq!(calls, lacking.len());
    assert_eq!(count(w.dir.reader(), "SELECT COUNT(*) FROM orders WHERE total_minor = 0"), 0);
}

/// Orders awaiting receipt (5/3) with two outbound records or more, by the simulator's truth.
fn orders_with_several_records(sim: &LbSim) -> Vec<(String, Vec<String>)> {
    let outbound = sim.truth_outbound(TOKEN);
    let mut out = Vec::new();
    for sn in sim.order_sns_where(TOKEN, 5, Some(3)) {
        let mut records: Vec<_> = outbound.iter().filter(|b| b.order_sn == sn).collect();
        records.sort_by_key(|b| (b.out_time, b.purchase_sn.clone()));
        if records.len() >= 2 {
            out.push((sn, records.into_iter().map(|b| b.purchase_sn.clone()).collect()));
        }
    }
    out
}

fn enqueue_receipt(w: &World, order: &str) {
    let entry = NewEntry {
        shop_id: SHOP.into(),
        order_no: order.to_string(),
        payload: PushPayload::Status { status: OrderStatus::Completed },
    };
    w.dir.store().enqueue(&entry, Utc::now()).unwrap();
}

fn outbox_state(w: &World, order: &str) -> (String, Option<String>) {
    let sql = "SELECT state, last_error FROM outbox WHERE order_no = ?1";
    let mut r = first_row(w.dir.reader(), sql, &[Param::Text(order)]).expect("outbox row");
    (r.text(0).unwrap(), r.opt_text(1).unwrap())
}

async fn flush_until_settled(w: &World) {
    for _ in 0..40 {
        flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();
        if count(w.dir.reader(), "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'in_flight')") == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the outbox did not settle");
}

fn status_at_supplier(w: &World, order: &str) -> u8 {
    w.sim.truth_orders(TOKEN).into_iter().find(|t| t.order_sn == order).expect("order").order_status
}

/// The purchase_sn each applied receipt of `order` named, in order.
fn receipts_applied(w: &World, order: &str) -> Vec<String> {
    (w.sim.applied_pushes().iter())
        .filter(|p| p.order_no == order)
        .map(|p| p.entry["purchase_sn"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_that_confirms_the_whole_order_is_sent_once_and_done_when_the_order_reads_received() {
    let w = world(300, 20, 47).await;
    w.sim.set_options(LbOptions { receipt: LbReceipt::WholeOrder, ..LbOptions::default() });
    all_streams(&w).await;
    let several = orders_with_several_records(&w.sim);
    let (order, records) = several.first().expect("an order with two outbound records");
    enqueue_receipt(&w, order);
    flush_until_settled(&w).await;
    assert_eq!(outbox_state(&w, order).0, "done");
    assert_eq!(status_at_supplier(&w, order), 6, "received at the supplier");
    // The first receipt completed the order: no second one was sent.
    assert_eq!(receipts_applied(&w, order), vec![records[0].clone()]);
    all_streams(&w).await;
    assert_store_is_truth(&w);
}

#[tokio::test(flavor = "multi_thread")]
async fn receipts_that_confirm_one_outbound_record_each_are_sent_for_every_record_and_never_done_early() {
    let w = world(300, 20, 48).await;
    w.sim.set_options(LbOptions { receipt: LbReceipt::PerRecord, ..LbOptions::default() });
    all_streams(&w).await;
    let several = orders_with_several_records(&w.sim);
    assert!(several.len() >= 2, "two orders with several outbound records");
    let (order, records) = &several[0];
    enqueue_receipt(&w, order);
    flush_until_settled(&w).await;
    assert_eq!(outbox_state(&w, order).0, "done");
    assert_eq!(status_at_supplier(&w, order), 6);
    assert_eq!(&receipts_applied(&w, order), records, "one receipt per outbound record, each once");

    // The supplier will not confirm the last record yet: the order stays awaiting receipt, and
    // the push is not done (a retry, not a failure).
    let (order, records) = &several[1];
    let last = records.last().expect("a record");
    w.sim.refuse_receipt(TOKEN, last, true);
    enqueue_receipt(&w, order);
    flush_all(&w.dir.runtime(), &CancellationToken::new()).await.unwrap();
    let (state, error) = outbox_state(&w, order);
    assert_eq!(state, "pending", "not done while the order is not received: {error:?}");
    assert!(error.as_deref().is_some_and(|e| e.contains("not 6")), "{error:?}");
    assert_eq!(status_at_supplier(&w, order), 5);
    assert_eq!(w.sim.confirmed_records(TOKEN, order), records[..records.len() - 1].to_vec());
    // Once it can, the next attempt confirms the rest and the push is done; no record twice.
    w.sim.refuse_receipt(TOKEN, last, false);
    flush_until_settled(&w).await;
    assert_eq!(outbox_state(&w, order).0, "done");
    assert_eq!(status_at_supplier(&w, order), 6);
    assert_eq!(&receipts_applied(&w, order), records);
    all_streams(&w).await;
    assert_store_is_truth(&w);
}

/// The creation day (CST) of an order, by the simulator's truth.
fn cst_day(w: &World, order: &str) -> chrono::NaiveDate {
    let t = w.sim.truth_orders(TOKEN).into_iter().find(|t| t.order_sn == order).expect("order");
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    Utc.timestamp_opt(t.create_time, 0).unwrap().with_timezone(&cst).date_naive()
}

fn today_cst() -> chrono::NaiveDate {
    Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive()
}

/// An order created `from..to` days ago.
fn order_created_days_ago(w: &World, from: i64, to: i64) -> String {
    let now = Utc::now().timestamp();
    (w.sim.truth_orders(TOKEN).into_iter())
        .find(|t| t.create_time < now - from * 86_400 && t.create_time > now - to * 86_400)
        .expect("an order in that range")
        .order_sn
}

fn sync_state(w: &World) -> (Option<String>, Option<String>, Option<String>) {
    let sql = "SELECT s.cursor, s.incomplete, (SELECT shortfall FROM sync_runs r WHERE r.shop_id = s.shop_id
               AND r.stream = s.stream ORDER BY r.id DESC LIMIT 1) FROM sync_state s
               WHERE s.shop_id = ?1 AND s.stream = 'orders'";
    let mut r = first_row(w.dir.reader(), sql, &[Param::Text(SHOP)]).expect("sync state");
    (r.opt_text(0).unwrap(), r.opt_text(1).unwrap(), r.opt_text(2).unwrap())
}

fn window_reads(w: &World) -> usize {
    (w.sim.requests().iter()).filter(|r| r.endpoint.ends_with("/order/get_order_list") && r.items == 0).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_short_of_the_reported_total_is_read_again_and_then_complete() {
    let w = world(150, 30, 49).await;
    w.sim.set_options(LbOptions { total_with_has_next: true, ..LbOptions::default() });
    let order = order_created_days_ago(&w, 12, 18);
    w.sim.hide_order(TOKEN, &order, 1);
    pass(&w, Stream::Orders).await;
    assert_eq!(count(w.dir.reader(), "SELECT COUNT(*) FROM orders"), 150);
    assert_eq!(count(w.dir.reader(), &format!("SELECT COUNT(*) FROM orders WHERE order_no = '{order}'")), 1);
    let (cursor, incomplete, shortfall) = sync_state(&w);
    assert_eq!((incomplete, shortfall), (None, None));
    assert_eq!(cursor, Some(today_cst().to_string()));
    // 31 days in windows of 7: 5 windows of one page each, and one re-read.
    assert_eq!(window_reads(&w), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_still_short_after_the_re_read_is_recorded_and_holds_the_cursor() {
    let w = world(150, 30, 50).await;
    w.sim.set_options(LbOptions { total_with_has_next: true, ..LbOptions::default() });
    let order = order_created_days_ago(&w, 12, 18);
    let day = cst_day(&w, &order);
    w.sim.hide_order(TOKEN, &order, usize::MAX);
    let report = pass(&w, Stream::Orders).await;
    assert_eq!(report.rejected, 0);
    assert_eq!(count(w.dir.reader(), "SELECT COUNT(*) FROM orders"), 149, "every row served is stored");
    let (cursor, incomplete, shortfall) = sync_state(&w);
    // Windows run from 30 days ago in steps of 7: the cursor is the last day before the short
    // window (none saved when it is the first).
    let start = today_cst() - chrono::Duration::days(30);
    let k = (day - start).num_days() / 7;
    let expected = (k > 0).then(|| (start + chrono::Duration::days(7 * k - 1)).to_string());
    assert_eq!(cursor, expected);
    let incomplete = incomplete.expect("the stream is incomplete");
    // The short window and its numbers, counted from the truth.
    let (from, to) = (start + chrono::Duration::days(7 * k), start + chrono::Duration::days(7 * k + 6));
    let all = w.sim.truth_orders(TOKEN);
    let in_window = all.iter().filter(|t| (from..=to).contains(&cst_day(&w, &t.order_sn))).count();
    let expected = format!(
        "order/get_order_list created {from}..{to}: vendor reported {in_window} rows, {} received",
        in_window - 1
    );
    assert_eq!(incomplete, expected);
    assert_eq!(shortfall.as_deref(), Some(incomplete.as_str()));
    assert_eq!(window_reads(&w), 6, "the short window was read twice");

    // Still short on the next pass: the cursor stays before the gap.
    pass(&w, Stream::Orders).await;
    let (cursor, incomplete, _) = sync_state(&w);
    assert!(cursor.as_deref().is_none_or(|c| c < day.to_string().as_str()), "{cursor:?} passed {day}");
    assert!(incomplete.is_some());

    // Served again: the pass completes, stores it and moves the cursor to today.
    w.sim.hide_order(TOKEN, &order, 0);
    pass(&w, Stream::Orders).await;
    assert_eq!(count(w.dir.reader(), "SELECT COUNT(*) FROM orders"), 150);
    assert_eq!(sync_state(&w), (Some(today_cst().to_string()), None, None));
}

/// Every outbox row: order, state, last error.
fn outbox_rows(w: &World) -> Vec<(String, String, Option<String>)> {
    let rows = w.dir.store().query("SELECT order_no, state, last_error FROM outbox", &[]).unwrap();
    rows.into_iter().map(|mut r| (r.text(0).unwrap(), r.text(1).unwrap(), r.opt_text(2).unwrap())).collect()
}
