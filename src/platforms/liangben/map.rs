//! Liangben → unified model. Orders and refunds each have two status axes; each table below
//! lists rules in order, and the first that matches wins (`None` matches any code).

use crate::model::{Order, OrderLine, OrderStatus, PaymentStatus, Refund, RefundStatus, Shipment};
use crate::platforms::values::{self, ValueError};
use serde_json::Value;
use std::collections::HashMap;

/// (`order_status`, `shipment_status`) → unified order status.
pub const ORDER_STATUS: &[(&str, Option<&str>, OrderStatus)] = &[
    ("4", Some("2"), OrderStatus::PartiallyShipped), // awaiting shipment, partly shipped
    ("1", None, OrderStatus::Pending),               // pending review
    ("4", None, OrderStatus::AwaitingFulfillment),   // awaiting shipment
    ("5", None, OrderStatus::Shipped),               // awaiting receipt
    ("6", None, OrderStatus::Completed),
    ("7", None, OrderStatus::Cancelled),
];

/// (`refund_status`, `examine_status`) → unified refund status.
pub const REFUND_STATUS: &[(Option<&str>, Option<&str>, RefundStatus)] = &[
    (None, Some("2"), RefundStatus::Rejected),
    (Some("3"), None, RefundStatus::Closed),
    (Some("2"), None, RefundStatus::Refunded),
    (Some("1"), None, RefundStatus::Refunding),
    (Some("0"), Some("1"), RefundStatus::Approved),
    (Some("0"), Some("0"), RefundStatus::Requested),
];

/// `pay_status` → unified payment status.
pub const PAYMENT_STATUS: &[(&str, PaymentStatus)] = &[("0", PaymentStatus::Unpaid), ("1", PaymentStatus::Paid)];

/// The unified status of an order's two codes.
pub fn order_status(order: &str, shipment: &str) -> Option<OrderStatus> {
    ORDER_STATUS.iter().find(|(o, s, _)| *o == order && s.is_none_or(|s| s == shipment)).map(|(.., u)| *u)
}

/// The unified status of a refund's two codes.
pub fn refund_status(refund: &str, examine: &str) -> Option<RefundStatus> {
    REFUND_STATUS
        .iter()
        .find(|(r, e, _)| r.is_none_or(|r| r == refund) && e.is_none_or(|e| e == examine))
        .map(|(.., u)| *u)
}

/// Reads one order row.
pub fn order(row: &Value) -> Result<Order, ValueError> {
    let order_no = values::required(row, "order_sn")?;
    let (o, s) = (values::code(row, "order_status"), values::code(row, "shipment_status"));
    let status = order_status(&o, &s).unwrap_or_else(|| {
        tracing::warn!(
            order_no,
            order_status = o,
            shipment_status = s,
            "unknown Liangben order status; stored as `unknown`"
        );
        OrderStatus::Unknown
    });
    let pay = values::code(row, "pay_status");
    // A row without lines or amount would be stored as an empty zero-total order: the connector
    // completes such rows from `order/get_order_info` first, and one still incomplete is kept raw.
    if let Some(field) = missing_part(row) {
        let problem = "missing (neither the list row nor order/get_order_info carries it)";
        return Err(ValueError { field: field.into(), problem: problem.into() });
    }
    let lines = values::each(row, "products", line)?;
    Ok(Order {
        order_no,
        platform_order_id: None,
        status,
        // Both axes, so a partial shipment shows as a transition of the vendor status too.
        platform_status: format!("{o}/{s}"),
        payment_status: PAYMENT_STATUS.iter().find(|(c, _)| *c == pay).map(|(_, p)| *p),
        refund_status: None,
        currency: "CNY".into(),
        total_minor: values::fen(row, "order_amount")?,
        shipping_minor: values::fen(row, "freight")?,
        buyer_name: values::non_empty(row, "consignee"),
        buyer_phone: values::non_empty(row, "mobile"),
        ship_address: values::joined(row, &["province", "city", "district", "address"], " "),
        external_ref: values::non_empty(row, "external_order_sn"),
        created_at: values::time(row, "create_time")?
            .ok_or_else(|| ValueError { field: "create_time".into(), problem: "missing".into() })?,
        updated_at: values::time(row, "update_time")?,
        lines,
        raw_json: row.to_string(),
    })
}

/// The first part an order row lacks: `products` (missing, null or empty) or `order_amount`
/// (missing, null or empty text). A zero amount is an amount.
fn missing_part(row: &Value) -> Option<&'static str> {
    let no_lines = row.get("products").and_then(Value::as_array).is_none_or(|p| p.is_empty());
    if no_lines {
        Some("products")
    } else if values::non_empty(row, "order_amount").is_none() {
        Some("order_amount")
    } else {
        None
    }
}

/// True when a list row must be completed from `order/get_order_info` before it is read.
pub fn needs_detail(row: &Value) -> bool {
    missing_part(row).is_some()
}

/// Where `order/get_order_info` may put the order inside `data` (the page prints no sample):
/// `data` itself, `data.order`, `data.info`, or the first matching row of a list there.
const DETAIL_PLACES: &[&str] = &["", "/order", "/info", "/list"];

/// The order row of `order_sn` in a `get_order_info` answer, wherever a plausible nesting puts
/// it; an order row beside `data.products` gets those products. Err names what the answer held.
pub fn detail_order(answer: &Value, order_sn: &str) -> Result<Value, String> {
    let data = answer.get("data").unwrap_or(&Value::Null);
    let is_it = |v: &&Value| values::non_empty(v, "order_sn").as_deref() == Some(order_sn);
    let found = DETAIL_PLACES.iter().filter_map(|p| data.pointer(p)).find_map(|place| match place {
        Value::Array(rows) => rows.iter().find(is_it),
        row => Some(row).filter(is_it),
    });
    let Some(row) = found else {
        let keys = match data {
            Value::Object(m) => m.keys().map(String::as_str).collect::<Vec<_>>().join(", "),
            other => other.to_string().chars().take(80).collect(),
        };
        return Err(format!(
            "no order with order_sn {order_sn} under data, data.order, data.info or data.list (data holds: {keys})"
        ));
    };
    let mut row = row.clone();
    if let (Some(products), Some(map)) = (data.get("products").filter(|p| p.is_array()), row.as_object_mut()) {
        map.entry("products").or_insert_with(|| products.clone());
    }
    Ok(row)
}

/// The list row completed by its detail: every field the detail fills replaces the row's, and
/// what only the list row has is kept (its raw JSON stays a vendor row).
pub fn merge_detail(row: &mut Value, detail: Value) {
    let (Some(into), Value::Object(from)) = (row.as_object_mut(), detail) else { return };
    for (key, value) in from {
        if !value.is_null() {
            into.insert(key, value);
        }
    }
}

fn line(index: usize, p: &Value) -> Result<OrderLine, ValueError> {
    Ok(OrderLine::new(
        index as u32 + 1,
        values::non_empty(p, "sku_id").unwrap_or_default(),
        values::non_empty(p, "product_name").unwrap_or_default(),
        values::line_quantity(p, "num")?,
        values::fen(p, "price")?,
    ))
}

/// Reads one outbound record of `order_no`.
pub fn shipment(order_no: &str, rec: &Value) -> Result<Shipment, ValueError> {
    Ok(Shipment {
        shipment_id: values::required(rec, "purchase_sn")?,
        order_no: Some(order_no.to_string()),
        platform_order_id: None,
        carrier: values::non_empty(rec, "express_company"),
        tracking_no: values::non_empty(rec, "express_sn"),
        shipped_at: values::time(rec, "out_time")?,
        raw_json: rec.to_string(),
    })
}

/// Reads one refund row.
pub fn refund(row: &Value) -> Result<Refund, ValueError> {
    let refund_id = values::required(row, "refund_sn")?;
    let (r, e) = (values::code(row, "refund_status"), values::code(row, "examine_status"));
    let status = refund_status(&r, &e).unwrap_or_else(|| {
        tracing::warn!(
            refund_id,
            refund_status = r,
            examine_status = e,
            "unknown Liangben refund status; stored as `unknown`"
        );
        RefundStatus::Unknown
    });
    Ok(Refund {
        refund_id,
        order_no: values::required(row, "order_sn")?,
        status,
        platform_status: format!("{r}/{e}"),
        amount_minor: values::fen(row, "refund_amount")?,
        reason: values::non_empty(row, "reason"),
        created_at: values::time(row, "create_time")?,
        updated_at: values::time(row, "update_time")?,
        raw_json: row.to_string(),
    })
}

/// Units per SKU in a record's `products[]`.
fn units(record: &Value) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    for p in values::items(record, "products") {
        let sku = values::non_empty(p, "sku_id").unwrap_or_default();
        // Saturating: absurd vendor counts must not overflow (and so panic in a debug build).
        let units = out.entry(sku).or_insert(0i64);
        *units = units.saturating_add(values::int(p, "num").ok().flatten().unwrap_or(0));
    }
    out
}

/// True when the stored outbound records of an order do not yet cover what its row says has
/// shipped: none stored for a shipped order, or fewer units than ordered once it is fully shipped.
pub fn shipments_incomplete(order_raw: &str, shipment_raws: &[String]) -> bool {
    let Ok(order) = serde_json::from_str::<Value>(order_raw) else { return false };
    let shipment_status = values::int(&order, "shipment_status").ok().flatten();
    match shipment_status {
        Some(2) => true, // partly shipped: more records may come
        Some(3) => {
            let ordered = units(&order);
            let mut shipped: HashMap<String, i64> = HashMap::new();
            for raw in shipment_raws {
                let rec: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
                for (sku, n) in units(&rec) {
                    let units = shipped.entry(sku).or_insert(0i64);
                    *units = units.saturating_add(n);
                }
            }
            shipment_raws.is_empty() || ordered.iter().any(|(sku, n)| shipped.get(sku).copied().unwrap_or(0) < *n)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_order_status_pair_maps_as_the_contract_says() {
        let cases = [
            ("1", "1", "pending"),
            ("4", "1", "awaiting_fulfillment"),
            ("4", "2", "partially_shipped"),
            ("4", "3", "awaiting_fulfillment"),
            ("5", "3", "shipped"),
            ("5", "2", "shipped"),
            ("6", "3", "completed"),
            ("7", "1", "cancelled"),
        ];
        for (o, s, unified) in cases {
            assert_eq!(order_status(o, s).map(|x| x.as_str()), Some(unified), "{o}/{s}");
        }
        assert_eq!(order_status("2", "1"), None);
    }

    #[test]
    fn every_refund_status_pair_maps_as_the_contract_says() {
        for r in ["0", "1", "2", "3"] {
            assert_eq!(refund_status(r, "2"), Some(RefundStatus::Rejected), "examine 2 wins over refund {r}");
        }
        let cases = [
            ("3", "0", RefundStatus::Closed),
            ("3", "1", RefundStatus::Closed),
            ("2", "1", RefundStatus::Refunded),
            ("1", "1", RefundStatus::Refunding),
            ("0", "1", RefundStatus::Approved),
            ("0", "0", RefundStatus::Requested),
        ];
        for (r, e, unified) in cases {
            assert_eq!(refund_status(r, e), Some(unified), "{r}/{e}");
        }
        assert_eq!(refund_status("9", "0"), None);
    }

    #[test]
    fn the_detail_order_is_found_in_every_plausible_nesting_and_missing_fails_loudly() {
        let row = json!({"order_sn": "A1", "order_amount": "12.00", "products": [{"sku_id": "1"}]});
        let answers = [
            json!({"code": 0, "data": row}),
            json!({"code": 0, "data": {"order": row}}),
            json!({"code": 0, "data": {"info": row}}),
            json!({"code": 0, "data": {"list": [{"order_sn": "B2"}, row]}}),
            json!({"code": 0, "data": [row]}),
        ];
        for answer in &answers {
            assert_eq!(detail_order(answer, "A1").as_ref(), Ok(&row), "{answer}");
        }
        // Products beside the order, not inside it.
        let beside = json!({"data": {"order": {"order_sn": "A1"}, "products": [{"sku_id": "1"}]}});
        assert_eq!(detail_order(&beside, "A1").unwrap()["products"][0]["sku_id"], "1");
        for wrong in [json!({"data": {"order": {"order_sn": "B2"}}}), json!({"data": null}), json!({"data": {}})] {
            let err = detail_order(&wrong, "A1").unwrap_err();
            assert!(err.contains("no order with order_sn A1"), "{err}");
        }
    }

    #[test]
    fn rows_without_lines_or_amount_need_the_detail_and_are_never_read_as_empty_orders() {
        let full = json!({"order_sn": "A1", "order_status": 4, "shipment_status": 1, "order_amount": "0.00",
            "create_time": "2024-03-05 08:00:00", "products": [{"sku_id": "1", "product_name": "x", "num": 2, "price": "1.50"}]});
        assert!(!needs_detail(&full), "a zero amount is an amount");
        for (drop, value) in [
            ("products", None),
            ("products", Some(json!([]))),
            ("order_amount", None),
            ("order_amount", Some(json!(null))),
            ("order_amount", Some(json!(""))),
        ] {
            let mut row = full.clone();
            match value {
                Some(v) => row[drop] = v,
                None => {
                    row.as_object_mut().unwrap().remove(drop);
                }
            }
            assert!(needs_detail(&row), "{row}");
            let err = order(&row).unwrap_err();
            assert_eq!(err.field, drop);
            let mut merged = row.clone();
            merge_detail(&mut merged, full.clone());
            assert_eq!(order(&merged).unwrap().lines.len(), 1);
        }
        let mut row = json!({"order_sn": "A1", "consignee": "list only", "order_amount": null});
        merge_detail(&mut row, json!({"order_sn": "A1", "order_amount": "3.00", "consignee": null}));
        assert_eq!(row, json!({"order_sn": "A1", "consignee": "list only", "order_amount": "3.00"}));
    }

    #[test]
    fn full_shipments_are_checked_against_the_ordered_units() {
        let order = r#"{"shipment_status":3,"products":[{"sku_id":"A","num":2},{"sku_id":"B","num":1}]}"#;
        let half = r#"{"products":[{"sku_id":"A","num":2}]}"#.to_string();
        let rest = r#"{"products":[{"sku_id":"B","num":1}]}"#.to_string();
        assert!(shipments_incomplete(order, &[]));
        assert!(shipments_incomplete(order, std::slice::from_ref(&half)));
        assert!(!shipments_incomplete(order, &[half, rest]));
        assert!(!shipments_incomplete(r#"{"shipment_status":1}"#, &[]));
    }
}
