//! YMCart → unified model: the status tables and the row readers.
//!
//! Each table is the whole truth for its vendor field (PLATFORMS.md §1); a code not in a table
//! maps to `unknown` and is kept raw, never dropped.

use super::wire;
use crate::model::{Order, OrderLine, OrderStatus, PaymentStatus, Shipment};
use crate::platforms::values::{self, ValueError};
use crate::platforms::PushOutcome;
use serde_json::Value;

/// `order_status` → unified order status.
pub const ORDER_STATUS: &[(&str, OrderStatus)] = &[
    ("100", OrderStatus::Pending),             // new
    ("101", OrderStatus::Pending),             // payment failed (payment column says `failed`)
    ("102", OrderStatus::Pending),             // confirming payment
    ("200", OrderStatus::AwaitingFulfillment), // paid
    ("301", OrderStatus::Shipped),
    ("600", OrderStatus::Cancelled), // void
    ("700", OrderStatus::Completed),
];

/// `payment_status` → unified payment status.
pub const PAYMENT_STATUS: &[(&str, PaymentStatus)] = &[
    ("100", PaymentStatus::Unpaid),
    ("101", PaymentStatus::Failed),
    ("102", PaymentStatus::Unpaid),
    ("200", PaymentStatus::Paid),
];

/// Unified status → the code orderStatus takes (the vendor accepts 100, 102, 200, 600, 700).
pub const PUSH_STATUS: &[(OrderStatus, u16)] = &[
    (OrderStatus::Pending, 100),
    (OrderStatus::AwaitingFulfillment, 200),
    (OrderStatus::Cancelled, 600),
    (OrderStatus::Completed, 700),
];

/// Looks `code` up in a vendor table.
pub fn lookup<T: Copy>(table: &[(&str, T)], code: &str) -> Option<T> {
    table.iter().find(|(c, _)| *c == code).map(|(_, v)| *v)
}

/// The vendor code orderStatus takes for `status`.
pub fn push_code(status: OrderStatus) -> Option<u16> {
    PUSH_STATUS.iter().find(|(s, _)| *s == status).map(|(_, c)| *c)
}

/// Reads one orderList row.
pub fn order(row: &Value) -> Result<Order, ValueError> {
    let order_no = values::required(row, "itemno")?;
    let platform_status = values::code(row, "order_status");
    let status = lookup(ORDER_STATUS, &platform_status).unwrap_or_else(|| {
        tracing::warn!(order_no, code = platform_status, "unknown YMCart order_status; stored as `unknown`");
        OrderStatus::Unknown
    });
    let payment = values::code(row, "payment_status");
    let created_at = values::time(row, "create_time")?
        .ok_or_else(|| ValueError { field: "create_time".into(), problem: "missing or 0".into() })?;
    let lines = values::each(row, "item", line)?;
    let shipping_address = buyer_address(row);
    Ok(Order {
        order_no,
        platform_order_id: values::non_empty(row, "id"),
        status,
        platform_status,
        payment_status: lookup(PAYMENT_STATUS, &payment),
        refund_status: None,
        currency: values::non_empty(row, "currency_code").unwrap_or_else(|| "CNY".into()),
        total_minor: values::fen(row, "total_amount")?,
        shipping_minor: values::fen(row, "cost_shipping")?,
        buyer_name: shipping_address.and_then(person_name),
        buyer_phone: shipping_address
            .and_then(|a| values::non_empty(a, "mobilephone").or_else(|| values::non_empty(a, "telephone"))),
        ship_address: shipping_address.map(address_line),
        external_ref: values::non_empty(row, "outer_itemno"),
        created_at,
        updated_at: values::time(row, "act_time")?,
        lines,
        raw_json: without_numeric_keys(row).to_string(),
    })
}

/// The row without PHP's numeric duplicate keys (`"0":"595"` beside `"id":"595"`): they repeat
/// every named field, so dropping them halves what is stored and loses nothing.
pub fn without_numeric_keys(row: &Value) -> Value {
    match row {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.bytes().all(|b| b.is_ascii_digit()))
                .map(|(k, v)| (k.clone(), without_numeric_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_numeric_keys).collect()),
        other => other.clone(),
    }
}

fn line(index: usize, item: &Value) -> Result<OrderLine, ValueError> {
    Ok(OrderLine::new(
        index as u32 + 1,
        values::non_empty(item, "sku_codeno").unwrap_or_default(),
        values::non_empty(item, "goods_name").unwrap_or_default(),
        values::line_quantity(item, "buy_num")?,
        values::fen(item, "price")?,
    ))
}

/// The address the buyer is reached at: the shipping one (`address_type` 0), else the billing
/// one (1) — the vendor page's own sample order has only a billing address — else the first.
fn buyer_address(row: &Value) -> Option<&Value> {
    let of_type =
        |t: i64| values::items(row, "address").find(|a| values::int(a, "address_type").ok().flatten() == Some(t));
    of_type(0).or_else(|| of_type(1)).or_else(|| values::items(row, "address").next())
}

fn person_name(a: &Value) -> Option<String> {
    values::joined(a, &["first_name", "last_name"], " ")
}

fn address_line(a: &Value) -> String {
    values::joined(a, &["address", "address_spare", "city", "state", "postcode", "country_code_2"], ", ")
        .unwrap_or_default()
}

/// Reads one deliveryList row (or one row of an order's embedded `delivery` array).
pub fn shipment(row: &Value) -> Result<Shipment, ValueError> {
    let id = values::required(row, "id")?;
    // delivery_time is "0" until the carrier collects; the row's creation is when we shipped.
    let shipped_at = match values::time(row, "delivery_time")? {
        Some(t) => Some(t),
        None => values::time(row, "create_time")?,
    };
    Ok(Shipment {
        shipment_id: id,
        order_no: None,
        platform_order_id: Some(values::required(row, "order_id")?),
        carrier: values::non_empty(row, "shipping_corp_name"),
        tracking_no: values::non_empty(row, "delivery_no"),
        shipped_at,
        raw_json: without_numeric_keys(row).to_string(),
    })
}

/// The outcome of each of `order_nos` in a push answer (`{"code":0,"msg":[{"itemno","msg"}]}`).
/// Contract: an entry listed with `"success"`, or not listed at all, succeeded; any other `msg`
/// is that entry's failure code. A `msg` that is not a list (orderEdit answers `""`) lists none.
pub fn push_results(answer: &Value, order_nos: &[&str]) -> Result<Vec<PushOutcome>, String> {
    let results: Vec<wire::EntryResult> = match answer.get("msg") {
        Some(v @ Value::Array(_)) => serde_json::from_value(v.clone()).map_err(|e| format!("`msg`: {e}"))?,
        _ => Vec::new(),
    };
    Ok(order_nos
        .iter()
        .map(|no| {
            let failure = results.iter().find(|r| r.itemno == *no).map(|r| match &r.msg {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            match failure {
                Some(code) if code != "success" && !code.is_empty() => PushOutcome::Refused(code),
                _ => PushOutcome::Done,
            }
        })
        .collect())
}

/// The tracking numbers in an order row's embedded `delivery` array (for read-back).
pub fn tracking_numbers(row: &Value) -> Vec<String> {
    row.get("delivery")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| values::non_empty(d, "delivery_no"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code of the vendor page's order_status list, with the unified status PLATFORMS.md gives.
    #[test]
    fn every_vendor_order_status_maps_as_the_contract_says() {
        let expected = [
            ("100", "pending"),
            ("101", "pending"),
            ("102", "pending"),
            ("200", "awaiting_fulfillment"),
            ("301", "shipped"),
            ("600", "cancelled"),
            ("700", "completed"),
        ];
        assert_eq!(ORDER_STATUS.len(), expected.len());
        for (code, unified) in expected {
            assert_eq!(lookup(ORDER_STATUS, code).map(|s| s.as_str()), Some(unified), "code {code}");
        }
        assert_eq!(lookup(ORDER_STATUS, "999"), None);
    }

    #[test]
    fn every_payment_status_and_push_code() {
        for (code, unified) in [("100", "unpaid"), ("101", "failed"), ("102", "unpaid"), ("200", "paid")] {
            assert_eq!(lookup(PAYMENT_STATUS, code).map(|s| s.as_str()), Some(unified));
        }
        for (status, code) in PUSH_STATUS {
            // A pushed code read back must map to the status we pushed.
            assert_eq!(lookup(ORDER_STATUS, &code.to_string()), Some(*status));
        }
    }
}
