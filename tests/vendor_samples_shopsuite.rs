//! The ShopSuite page's own response samples (tests/fixtures/vendor/shopsuite, copied from
//! api-docs/shopsuite-front-trade.txt) read through the connector's real readers: the envelope,
//! the list-page reader and its completeness tally, `map::order`, `map::refund`, the one-record
//! reader and the push outcome. Every expected value is written out by hand from the fixture and
//! tests/fixtures/vendor/EXPECTED.md (`## shopsuite`), never computed by the product.

use chrono::{DateTime, TimeZone, Utc};
use ordersync::model::{OrderStatus, RefundStatus};
use ordersync::platforms::shopsuite::list::{list_page, Tally};
use ordersync::platforms::shopsuite::{map, record};
use ordersync::platforms::{envelope, push_outcome, PushOutcome};
use serde_json::Value;
use std::path::Path;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vendor/shopsuite");

/// A fixture as parsed JSON.
fn fixture(name: &str) -> Value {
    let path = Path::new(DIR).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A fixture through the envelope reader (`code` 0 → the answer).
fn answer(name: &str) -> Value {
    envelope::ok_or_vendor(fixture(name), name).unwrap_or_else(|e| panic!("{name} refused: {e}"))
}

/// The instant every RFC 3339 placeholder of the page writes: `"2019-08-24T14:15:22Z"`.
fn sample_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2019, 8, 24, 14, 15, 22).unwrap()
}

#[test]
fn every_sample_passes_the_envelope_reader() {
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .expect("fixture dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 26, "{names:?}");
    for name in &names {
        let a = answer(name);
        // `status` 0 and non-empty `error`/`msg` beside `code` 0: still a success.
        assert_eq!(
            (&a["status"], &a["msg"], &a["error"]),
            (&Value::from(0), &Value::from("string"), &Value::from("string")),
            "{name}"
        );
    }
}

#[test]
fn order_list_sample_lands_where_expected() {
    let page = list_page(answer("order_list.json"), "/front/trade/order/list").expect("a list page");
    assert_eq!((page.rows.len(), page.records, page.pages), (1, Some(0), Some(0)));
    // `records` 0 with one row: an unknown total, not a shortfall, and no further page.
    let mut tally = Tally::default();
    tally.add(&page, "order_id");
    assert_eq!(tally.shortfall("order/list"), None);
    assert!(!page.more(1, 1, 100));

    let (order, shipments) = map::order(&page.rows[0]).expect("the sample order is read, not rejected");
    assert_eq!(order.order_no, "string");
    assert_eq!((order.status, order.platform_status.as_str()), (OrderStatus::Unknown, "0"));
    // order_is_paid 0 and order_refund_status 0: codes the page does not list, kept raw only.
    assert_eq!((order.payment_status, order.refund_status), (None, None));
    let raw: Value = serde_json::from_str(&order.raw_json).expect("raw JSON kept");
    assert_eq!((&raw["order_is_paid"], &raw["order_refund_status"]), (&Value::from(0), &Value::from(0)));
    assert_eq!(order.currency, "CNY");
    assert_eq!((order.total_minor, order.shipping_minor), (0, 0));
    assert_eq!(order.buyer_name.as_deref(), Some("string"));
    assert_eq!(order.buyer_phone.as_deref(), Some("string"));
    assert_eq!(order.ship_address.as_deref(), Some("string string string string"));
    assert_eq!(order.external_ref.as_deref(), Some("string"));
    assert_eq!(order.created_at, sample_time());
    // The latest log_items[].order_state_time.
    assert_eq!(order.updated_at, Some(sample_time()));

    assert_eq!(order.lines.len(), 1);
    let line = &order.lines[0];
    assert_eq!((line.line_no, line.sku.as_str()), (1, "0"));
    // item_name "string" names the line; product_item_name "string" is its spec.
    assert_eq!((line.name.as_str(), line.spec.as_deref()), ("string", Some("string")));
    assert_eq!((line.quantity, line.quantity_exact.as_str(), line.unit_price_minor), (0, "0", 0));
    assert_eq!((line.real_quantity.as_deref(), line.real_amount_minor), (None, None));

    assert_eq!(shipments.len(), 1);
    let s = &shipments[0];
    assert_eq!(s.shipment_id, "0");
    assert_eq!(s.order_no.as_deref(), Some("string"));
    assert_eq!((s.carrier.as_deref(), s.tracking_no.as_deref()), (Some("string"), Some("string")));
    // logistics_time 0 = unset.
    assert_eq!(s.shipped_at, None);
}

#[test]
fn order_detail_sample_is_no_record_not_a_deleted_order() {
    // The page prints `data: {}` for order/detail: nothing to read, nothing to reject.
    assert_eq!(record(answer("order_detail.json")), None);
}

/// Checks a return read from either return sample (the list row and `orderReturn/get`'s data).
fn assert_sample_return(row: &Value, from: &str) {
    let r = map::refund(row).unwrap_or_else(|e| panic!("{from}: the sample return is rejected: {e}"));
    assert_eq!((r.refund_id.as_str(), r.order_no.as_str()), ("string", "string"), "{from}");
    assert_eq!((r.status, r.platform_status.as_str()), (RefundStatus::Unknown, "0"), "{from}");
    assert_eq!(r.amount_minor, 0, "{from}");
    assert_eq!(r.reason.as_deref(), Some("string"), "{from}");
    // return_add_time is the integer 0 (unset); store and finish times are the RFC 3339 sample.
    assert_eq!((r.created_at, r.updated_at), (None, Some(sample_time())), "{from}");
}

#[test]
fn order_return_samples_land_where_expected() {
    let page = list_page(answer("orderReturn_list.json"), "/front/trade/orderReturn/list").expect("a list page");
    assert_eq!((page.rows.len(), page.records, page.pages), (1, Some(0), Some(0)));
    let mut tally = Tally::default();
    tally.add(&page, "return_id");
    assert_eq!(tally.shortfall("orderReturn/list"), None);
    assert_sample_return(&page.rows[0], "orderReturn_list.json");

    let got = record(answer("orderReturn_get.json")).expect("orderReturn/get carries the return as data");
    assert_sample_return(&got, "orderReturn_get.json");
    assert_eq!(got, page.rows[0], "the same record as the list row");
}

#[test]
fn push_answers_are_done() {
    for (name, path) in
        [("order_cancel.json", "/front/trade/order/cancel"), ("order_receive.json", "/front/trade/order/receive")]
    {
        let a = answer(name);
        assert_eq!(a["data"]["orderId"], serde_json::json!(["string"]), "{name}");
        let outcome = push_outcome(envelope::ok_or_vendor(fixture(name), path)).expect("an outcome");
        assert_eq!(outcome, PushOutcome::Done, "{name}");
    }
}

#[test]
fn invoice_list_sample_reads_as_a_page() {
    // Not read by the connector, but the same paged shape (`records` 0 with one row again).
    let page = list_page(answer("order_listInvoice.json"), "/front/trade/order/listInvoice").expect("a list page");
    assert_eq!((page.rows.len(), page.records, page.pages), (1, Some(0), Some(0)));
    assert!(!page.more(1, 1, 100));
}
