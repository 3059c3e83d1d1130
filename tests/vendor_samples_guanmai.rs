//! The Guanmai page's own response samples (tests/fixtures/vendor/guanmai/, copied from
//! api-docs/guanmai-station-openapi.txt) read through the connector's real readers: nothing is
//! rejected, and every field a sample fills lands where tests/fixtures/vendor/EXPECTED.md says.
//! Every expected value below is a literal copied from EXPECTED.md (computed there by hand).

use chrono::{DateTime, Utc};
use ordersync::model::OrderStatus;
use ordersync::platforms::guanmai::{map, wire};
use ordersync::platforms::{envelope, push_outcome, values, PushOutcome};
use serde_json::{json, Value};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vendor/guanmai")
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("literal time").with_timezone(&Utc)
}

/// Every fixture in the folder has a test here: a sample added later cannot go unread.
#[test]
fn every_fixture_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("fixture folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["auth_access_token.json", "order_get.json", "order_update.json", "orders.json"]);
}

#[test]
fn access_token_answer() {
    let answer = envelope::ok_or_vendor(fixture("auth_access_token.json"), wire::TOKEN_PATH).expect("code 0");
    let token = map::access_token(&answer).expect("read");
    assert_eq!(token.value, "swbtoen3ir2snmcabgyq5vaaa5ep42xs");
    // "2017-07-01 12:23:32" without a zone is CST.
    assert_eq!(token.expires_at, Some(utc("2017-07-01T04:23:32Z")));
}

#[test]
fn order_list_sample() {
    let mut answer = envelope::ok_or_vendor(fixture("orders.json"), wire::ORDERS_PATH).expect("code 0");
    assert_eq!(answer["data"]["pagination"], json!({"limit": 20, "offset": 0}));
    let rows = envelope::list_at(&mut answer, "/data/list", wire::ORDERS_PATH).expect("list");
    assert_eq!(rows.len(), 1, "one row, fewer than the limit: the last page");
    let row = &rows[0];

    // A list row alone (no detail): the reader takes what the row has.
    let o = map::order(row, &Value::Null).expect("not rejected");
    assert_eq!(o.order_no, "PL492271");
    assert_eq!((o.status, o.platform_status.as_str()), (OrderStatus::Shipped, "10"));
    assert_eq!(o.created_at, utc("2017-06-14T04:09:25Z"));
    assert_eq!(o.buyer_name.as_deref(), Some("湘有缘饭店"));
    assert_eq!((o.buyer_phone, o.ship_address), (None, None), "no phone or address in a list row");
    assert!(o.lines.is_empty());
    assert_eq!(o.shipping_minor, 2000);
    // Without a detail `total_pay`: the list's `total_price` (read as without freight) + `freight`.
    assert_eq!(o.total_minor, 14631 + 2000);
    assert_eq!(o.currency, "CNY");

    let amounts = map::list_amounts(row).expect("amounts");
    assert_eq!(
        (amounts.total_price, amounts.origin_total_price, amounts.freight),
        (Some(14631), Some(14631), Some(2000))
    );
    // The receive window has no column: it is kept in raw_json, and reads as CST with minutes only.
    assert_eq!(values::time(row, "receive_begin_time"), Ok(Some(utc("2017-06-12T22:00:00Z"))));
    assert_eq!(values::time(row, "receive_end_time"), Ok(Some(utc("2017-06-13T04:00:00Z"))));
    assert_eq!(values::int(row, "sort_id"), Ok(None));
    let raw: Value = serde_json::from_str(&o.raw_json).expect("raw JSON");
    assert_eq!(&raw["list"], row);
    assert_eq!(map::stored_list_row(&o.raw_json).as_ref(), Some(row));
}

#[test]
fn order_detail_sample() {
    let answer = envelope::ok_or_vendor(fixture("order_get.json"), wire::ORDER_PATH).expect("code 0");
    let detail = &answer["data"];
    assert!(detail.get("id").is_none(), "the detail has no order id");
    // The key comes from the request (`order_id=PL492416`), as the connector pairs them.
    let o = map::order(&json!({"id": "PL492416"}), detail).expect("not rejected");
    assert_eq!(o.order_no, "PL492416");
    assert_eq!((o.status, o.platform_status.as_str()), (OrderStatus::Shipped, "10"));
    // "2017-06-21T17:29:38.913": ISO with `T` and milliseconds but no zone, so CST.
    assert_eq!(o.created_at, utc("2017-06-21T09:29:38.913Z"));
    assert_eq!(ordersync::store::vendor_ts(o.created_at), "2017-06-21T09:29:38Z", "stored to the second");
    assert_eq!((o.total_minor, o.shipping_minor), (2728, 2000), "fen as written");
    assert_eq!(values::int(detail, "real_price"), Ok(Some(728)));
    assert_eq!(values::int(detail, "sort_id"), Ok(Some(2)));
    assert_eq!(values::non_empty(detail, "remark"), None);
    // The customer: the restaurant is the buyer; phone and address are the receiver's.
    assert_eq!(o.buyer_name.as_deref(), Some("盐田区沙头角中学沙县小吃"));
    assert_eq!(o.buyer_phone.as_deref(), Some("18033432789"));
    assert_eq!(o.ship_address.as_deref(), Some("沙头角东和路55号"));
    let customer = &detail["customer"];
    assert_eq!(values::time(customer, "receive_begin_time"), Ok(Some(utc("2017-06-21T22:00:00Z"))));
    assert_eq!(values::time(customer, "receive_end_time"), Ok(Some(utc("2017-06-22T04:00:00Z"))));
    let raw: Value = serde_json::from_str(&o.raw_json).expect("raw JSON");
    assert_eq!(raw["detail"]["customer"]["receiver_name"], "邓华君", "the receiver's name is kept raw");
    assert_eq!(o.payment_status, None, "paid only at 100");

    assert_eq!(o.lines.len(), 1);
    let l = &o.lines[0];
    assert_eq!((l.line_no, l.sku.as_str(), l.name.as_str()), (1, "D805677", "白菜苔|斤"));
    assert_eq!((l.quantity, l.quantity_exact.as_str()), (1, "1"));
    assert_eq!(l.unit_price_minor, 728, "sale_price \"7.28\" yuan");
    assert_eq!((l.real_quantity.as_deref(), l.real_amount_minor), (Some("1"), Some(728)));
    assert_eq!(l.spec, None);
}

#[test]
fn order_update_sample() {
    let answer = fixture("order_update.json");
    let read = envelope::ok_or_vendor(answer, wire::UPDATE_PATH);
    assert_eq!(read.as_ref().map(|a| a["data"].clone()).ok(), Some(Value::Null));
    assert_eq!(push_outcome(read).expect("not an error"), PushOutcome::Done);
}
