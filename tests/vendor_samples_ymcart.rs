//! The YMCart page's own response samples (tests/fixtures/vendor/ymcart/, see its README.md) read
//! through the connector's real readers: nothing rejected, every filled field where it belongs.
//! Expected values are worked out by hand from the samples (EXPECTED.md), not from product code.

use ordersync::model::{OrderStatus, PaymentStatus};
use ordersync::platforms::envelope::ok_or_vendor;
use ordersync::platforms::envelope::Head;
use ordersync::platforms::ymcart::map;
use ordersync::platforms::ymcart::wire::read_list;
use ordersync::platforms::PushOutcome;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/vendor/ymcart/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The sample's bytes read by the connector's own list reader: its head and each row's text.
fn list(name: &str) -> (Head, Vec<String>) {
    let path = format!("{}/tests/fixtures/vendor/ymcart/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (head, rows) = read_list(bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    (head, rows.iter().map(str::to_string).collect())
}

#[test]
fn order_list_sample() {
    let (head, rows) = list("orderList.json");
    assert_eq!((head.get("code").int("code"), head.get("count").int("count")), (Ok(Some(0)), Ok(Some(400))));
    assert_eq!(rows.len(), 1);
    let o = map::order(&rows[0]).expect("the page's own order is read");
    assert_eq!(o.order_no, "SY20160902-595");
    assert_eq!(o.platform_order_id.as_deref(), Some("595"));
    assert_eq!((o.status, o.platform_status.as_str()), (OrderStatus::Pending, "100"));
    assert_eq!(o.payment_status, Some(PaymentStatus::Unpaid));
    assert_eq!(o.currency, "USD");
    assert_eq!((o.total_minor, o.shipping_minor), (1293, 1000));
    assert_eq!(o.created_at.to_rfc3339(), "2016-09-02T04:03:52+00:00");
    assert_eq!(o.updated_at, None, "act_time \"0\" is unset");
    assert_eq!(o.external_ref, None);
    // Only a billing address: the buyer is still named and reachable.
    assert_eq!(o.buyer_name.as_deref(), Some("cqz"));
    assert_eq!(o.buyer_phone.as_deref(), Some("1541441"));
    assert_eq!(o.ship_address.as_deref(), Some("tian rui 99, xiamen, fujian, 361004, CN"));
    assert_eq!(o.lines.len(), 1);
    let l = &o.lines[0];
    assert_eq!((l.line_no, l.sku.as_str(), l.name.as_str()), (1, "LC79246S", "Low Rise Flowery Legging"));
    assert_eq!((l.quantity, l.quantity_exact.as_str(), l.unit_price_minor), (1, "1", 180));
    // Raw JSON is the row exactly as the page sent it, numeric PHP twins included.
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/tests/fixtures/vendor/ymcart/orderList.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap(),
    )
    .unwrap();
    let raw: Value = serde_json::from_str(&o.raw_json).unwrap();
    assert_eq!(raw, sample["data"][0]);
    assert_eq!(raw["ip"], "2043462356");
    assert_eq!(raw["item"][0]["sku_value"], "Color:As shown<br />Size:S");
}

#[test]
fn delivery_list_sample() {
    let (head, rows) = list("deliveryList.json");
    assert_eq!(head.get("code").int("code"), Ok(Some(0)));
    let shipments: Vec<_> = rows.iter().map(|r| map::shipment(r).expect("the page's own delivery is read")).collect();
    let got: Vec<_> = shipments
        .iter()
        .map(|s| {
            (
                s.shipment_id.as_str(),
                s.platform_order_id.as_deref(),
                s.carrier.as_deref(),
                s.tracking_no.as_deref(),
                s.shipped_at.map(|t| t.to_rfc3339()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("55", Some("479"), Some("UPS"), Some("UPS95338"), Some("2016-08-24T07:45:33+00:00".to_string())),
            ("54", Some("454"), Some("EMS"), Some("test123"), Some("2016-08-24T06:19:50+00:00".to_string())),
        ]
    );
    let raw: Value = serde_json::from_str(&shipments[0].raw_json).unwrap();
    assert_eq!(raw["remark"], "ups尽快发货");
    // The sample lists ids newest first: the delivery walk takes that as the newest page.
    let ids: Vec<i64> = rows.iter().filter_map(|r| map::delivery_id(r)).collect();
    assert_eq!(ids.len(), 2);
    let mut walk = ordersync::platforms::ymcart::deliveries::Walk::new(None);
    assert_eq!(walk.next_request(), Some(None), "the first request sends no max_id");
    assert_eq!(walk.take(&ids), Ok(None), "newest first: the cursor waits for the walk down");
    assert_eq!(walk.next_request(), Some(Some(54)), "then pages down below the lowest id");
}

#[test]
fn push_answer_samples() {
    let ship = fixture("orderShip.json");
    assert_eq!(
        map::push_results(&ship, &["SY20160901-593", "SY20160912-596"]),
        Ok(vec![PushOutcome::Done, PushOutcome::Refused("order_status_limit".into())])
    );
    let status = fixture("orderStatus.json");
    assert_eq!(
        map::push_results(&status, &["SY20160901-593", "SY20160912-xxx"]),
        Ok(vec![PushOutcome::Done, PushOutcome::Refused("order_404".into())]),
        "an entry not listed succeeded"
    );
    let remark = fixture("orderRemark.json");
    assert_eq!(
        map::push_results(&remark, &["SY20160901-593", "SY20160912-xxx"]),
        Ok(vec![PushOutcome::Done, PushOutcome::Refused("order_404".into())])
    );
    let edit = ok_or_vendor(fixture("orderEdit.json"), "/api-erp-orderEdit.html").expect("code 0");
    assert_eq!(map::push_results(&edit, &["DN20171107210455"]), Ok(vec![PushOutcome::Done]), "`msg` \"\" lists none");
    for name in ["orderShip.json", "orderStatus.json", "orderRemark.json"] {
        assert!(ok_or_vendor(fixture(name), name).is_ok(), "{name}: code 0");
    }
}
