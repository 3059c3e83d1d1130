//! ShopSuite → unified model: the state tables and the readers of orders (with their embedded
//! logistics rows) and returns. Amounts are yuan JSON numbers, converted from their written digits.

use crate::model::{Order, OrderLine, OrderStatus, PaymentStatus, Refund, RefundStatus, RefundSummary, Shipment};
use crate::platforms::values::{self, ValueError};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// `order_state_id` → unified order status.
pub const ORDER_STATE: &[(&str, OrderStatus)] = &[
    ("2011", OrderStatus::Pending),             // awaiting order review
    ("2013", OrderStatus::Pending),             // awaiting finance review
    ("2020", OrderStatus::AwaitingFulfillment), // awaiting picking
    ("2030", OrderStatus::Processing),          // awaiting shipment
    ("2040", OrderStatus::Shipped),
    ("2060", OrderStatus::Completed), // received
    ("2070", OrderStatus::Cancelled),
];

/// `return_state_id` → unified refund status.
pub const RETURN_STATE: &[(&str, RefundStatus)] = &[
    ("3100", RefundStatus::Requested), // submitted
    ("3105", RefundStatus::Approved),  // under review
    ("3110", RefundStatus::Returning), // goods received
    ("3115", RefundStatus::Refunding), // refund confirmed
    ("3120", RefundStatus::Refunded),  // buyer confirmed the money
    ("3125", RefundStatus::Closed),    // done
];

/// `order_is_paid` → unified payment status. The vendor page lists no codes for it (its sample
/// is `0` in `order/list` and `false` in `order/listInvoice`), so none is guessed: every code
/// leaves `payment_status` unset and stays readable in `raw_json`. A code goes here only once a
/// vendor documents it.
pub const PAID_STATE: &[(&str, PaymentStatus)] = &[];

/// `order_refund_status` → refund summary. As for [`PAID_STATE`], the page lists no codes.
pub const REFUND_SUMMARY: &[(&str, RefundSummary)] = &[];

/// Looks `code` up in a vendor table.
pub fn lookup<T: Copy>(table: &[(&str, T)], code: &str) -> Option<T> {
    table.iter().find(|(c, _)| *c == code).map(|(_, v)| *v)
}

/// A summary code (`order_is_paid`, `order_refund_status`) looked up in `table`; a code the
/// table does not hold gives no unified value and is never guessed. The raw code stays in the
/// order's `raw_json`. Every order carries these fields, so the warning is logged once per field
/// and code per process, not once per order and pass.
fn summary<T: Copy>(table: &[(&str, T)], row: &Value, field: &str) -> Option<T> {
    let code = values::code(row, field);
    if code.is_empty() {
        return None;
    }
    let found = lookup(table, &code);
    if found.is_none() && first_sight(field, &code) {
        tracing::warn!(
            field,
            code,
            "ShopSuite code the vendor page does not list: no unified value, the raw code stays in the order's raw_json"
        );
    }
    found
}

/// True the first time this process sees `code` in `field`.
fn first_sight(field: &str, code: &str) -> bool {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut seen = SEEN.get_or_init(Mutex::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    seen.insert(format!("{field}={code}"))
}

/// Reads one order (list row or detail) and its embedded logistics rows.
pub fn order(row: &Value) -> Result<(Order, Vec<Shipment>), ValueError> {
    let order_no = values::required(row, "order_id")?;
    let state = values::code(row, "order_state_id");
    let status = lookup(ORDER_STATE, &state).unwrap_or_else(|| {
        tracing::warn!(order_no, code = state, "unknown ShopSuite order_state_id; stored as `unknown`");
        OrderStatus::Unknown
    });
    let delivery = row.get("delivery").cloned().unwrap_or(Value::Null);
    let lines = values::each(row, "items", line)?;
    let shipments = values::each(row, "logistics", |_, l| logistics(&order_no, l))?;
    // The state log is the only modified time ShopSuite gives: its latest entry.
    let updated_at =
        values::items(row, "log_items").filter_map(|l| values::time(l, "order_state_time").ok().flatten()).max();
    let order = Order {
        status,
        platform_status: state,
        payment_status: summary(PAID_STATE, row, "order_is_paid"),
        refund_status: summary(REFUND_SUMMARY, row, "order_refund_status"),
        currency: "CNY".into(),
        total_minor: values::fen(row, "order_payment_amount")?,
        shipping_minor: values::fen(row, "order_shipping_fee")?,
        buyer_name: values::non_empty(&delivery, "da_name"),
        buyer_phone: values::non_empty(&delivery, "da_mobile"),
        ship_address: values::joined(&delivery, &["da_province", "da_city", "da_county", "da_address"], " "),
        external_ref: values::non_empty(row, "src_order_id"),
        created_at: values::time(row, "order_time")?
            .ok_or_else(|| ValueError { field: "order_time".into(), problem: "missing".into() })?,
        updated_at,
        lines,
        raw_json: row.to_string(),
        platform_order_id: None,
        order_no,
    };
    Ok((order, shipments))
}

/// The page's order item carries three names: the item's, the product's, and the SKU's spec
/// (`product_item_name`). The first one filled names the line; the spec is kept beside it.
fn line(index: usize, it: &Value) -> Result<OrderLine, ValueError> {
    let spec = values::non_empty(it, "product_item_name");
    let name = values::non_empty(it, "item_name").or_else(|| values::non_empty(it, "product_name")).or(spec.clone());
    Ok(OrderLine {
        spec,
        ..OrderLine::new(
            index as u32 + 1,
            values::non_empty(it, "item_id").unwrap_or_default(),
            name.unwrap_or_default(),
            values::line_quantity(it, "order_item_quantity")?,
            values::fen(it, "item_unit_price")?,
        )
    })
}

fn logistics(order_no: &str, l: &Value) -> Result<Shipment, ValueError> {
    Ok(Shipment {
        shipment_id: values::required(l, "order_logistics_id")?,
        order_no: Some(order_no.to_string()),
        platform_order_id: None,
        carrier: values::non_empty(l, "express_name"),
        tracking_no: values::non_empty(l, "order_tracking_number"),
        shipped_at: values::time(l, "logistics_time")?,
        raw_json: l.to_string(),
    })
}

/// Reads one return.
pub fn refund(row: &Value) -> Result<Refund, ValueError> {
    let refund_id = values::required(row, "return_id")?;
    let state = values::code(row, "return_state_id");
    let status = lookup(RETURN_STATE, &state).unwrap_or_else(|| {
        tracing::warn!(refund_id, code = state, "unknown ShopSuite return_state_id; stored as `unknown`");
        RefundStatus::Unknown
    });
    let times: Vec<_> = ["return_add_time", "return_store_time", "return_finish_time"]
        .iter()
        .map(|f| values::time(row, f))
        .collect::<Result<_, _>>()?;
    Ok(Refund {
        refund_id,
        order_no: values::required(row, "order_id")?,
        status,
        platform_status: state,
        amount_minor: values::fen(row, "return_refund_amount")?,
        reason: values::non_empty(row, "return_buyer_message"),
        created_at: times[0],
        updated_at: times.iter().flatten().max().copied(),
        raw_json: row.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_order_state_maps_as_the_contract_says() {
        let expected = [
            ("2011", "pending"),
            ("2013", "pending"),
            ("2020", "awaiting_fulfillment"),
            ("2030", "processing"),
            ("2040", "shipped"),
            ("2060", "completed"),
            ("2070", "cancelled"),
        ];
        assert_eq!(ORDER_STATE.len(), expected.len());
        for (code, unified) in expected {
            assert_eq!(lookup(ORDER_STATE, code).map(|s| s.as_str()), Some(unified), "{code}");
        }
    }

    #[test]
    fn every_return_state_maps_as_the_contract_says() {
        let expected = [
            ("3100", "requested"),
            ("3105", "approved"),
            ("3110", "returning"),
            ("3115", "refunding"),
            ("3120", "refunded"),
            ("3125", "closed"),
        ];
        assert_eq!(RETURN_STATE.len(), expected.len());
        for (code, unified) in expected {
            assert_eq!(lookup(RETURN_STATE, code).map(|s| s.as_str()), Some(unified), "{code}");
        }
    }

    #[test]
    fn payment_and_refund_codes_the_page_does_not_list_stay_raw() {
        for (paid, refund) in [(json!(3013), json!(2601)), (json!(0), json!(0)), (json!(false), json!("2"))] {
            let row = json!({
                "order_id": "DD-2", "order_state_id": 2020, "order_time": "2019-08-24T14:15:22Z",
                "order_is_paid": paid.clone(), "order_refund_status": refund.clone(),
            });
            let (order, _) = order(&row).unwrap();
            assert_eq!((order.payment_status, order.refund_status), (None, None));
            let raw: Value = serde_json::from_str(&order.raw_json).unwrap();
            assert_eq!((&raw["order_is_paid"], &raw["order_refund_status"]), (&paid, &refund));
        }
    }

    #[test]
    fn a_line_is_named_by_the_first_name_filled_and_keeps_its_spec() {
        let cases = [
            (
                json!({"item_name": "Tea 250g", "product_name": "Tea", "product_item_name": "250g"}),
                "Tea 250g",
                Some("250g"),
            ),
            (json!({"item_name": "", "product_name": "Tea", "product_item_name": "250g"}), "Tea", Some("250g")),
            (json!({"product_item_name": "250g"}), "250g", Some("250g")),
            (json!({"item_name": "Tea", "product_name": "Tea", "product_item_name": null}), "Tea", None),
        ];
        for (names, name, spec) in cases {
            let mut item = json!({"item_id": 1, "order_item_quantity": 1});
            if let (Some(item), Some(names)) = (item.as_object_mut(), names.as_object()) {
                item.extend(names.clone());
            }
            let l = line(0, &item).unwrap();
            assert_eq!((l.name.as_str(), l.spec.as_deref()), (name, spec), "{names}");
        }
    }

    #[test]
    fn float_amounts_land_as_exact_fen() {
        let row = json!({
            "order_id": "DD-1", "order_state_id": 2040, "order_time": 1_700_000_000_000_i64,
            "order_payment_amount": 2.675, "order_shipping_fee": 1.005,
            "items": [{"item_id": 7, "product_item_name": "Tea", "order_item_quantity": 1, "item_unit_price": 2.675}],
            "logistics": [{"order_logistics_id": 9, "order_tracking_number": "SF1", "express_name": "SF", "logistics_time": 1_700_000_100_000_i64}]
        });
        let (order, shipments) = order(&row).unwrap();
        assert_eq!((order.total_minor, order.shipping_minor, order.lines[0].unit_price_minor), (268, 101, 268));
        assert_eq!(shipments[0].tracking_no.as_deref(), Some("SF1"));
        assert_eq!(shipments[0].order_no.as_deref(), Some("DD-1"));
    }
}
