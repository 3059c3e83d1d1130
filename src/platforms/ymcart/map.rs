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

/// Reads a row's text into its typed fields; a row that is not an object of the documented
/// shape is refused naming what the parser found.
fn parse<'a, T: serde::Deserialize<'a>>(raw: &'a str) -> Result<T, ValueError> {
    serde_json::from_str(raw).map_err(|e| ValueError { field: "row".into(), problem: e.to_string() })
}

/// Reads one orderList row from the text the vendor sent, which becomes its raw JSON unchanged.
pub fn order(raw: &str) -> Result<Order, ValueError> {
    let row: wire::OrderRow<'_> = parse(raw)?;
    let order_no = values::required_of(&row.itemno, "itemno")?;
    let platform_status = row.order_status.code();
    let status = lookup(ORDER_STATUS, &platform_status).unwrap_or_else(|| {
        tracing::warn!(order_no, code = platform_status, "unknown YMCart order_status; stored as `unknown`");
        OrderStatus::Unknown
    });
    let created_at = row
        .create_time
        .time("create_time")?
        .ok_or_else(|| ValueError { field: "create_time".into(), problem: "missing or 0".into() })?;
    let lines = row.item.iter().enumerate().map(|(i, l)| line(i, l)).collect::<Result<_, _>>()?;
    let shipping_address = buyer_address(&row.address);
    Ok(Order {
        order_no,
        platform_order_id: row.id.non_empty(),
        status,
        platform_status,
        payment_status: lookup(PAYMENT_STATUS, &row.payment_status.code()),
        refund_status: None,
        currency: row.currency_code.non_empty().unwrap_or_else(|| "CNY".into()),
        total_minor: row.total_amount.fen("total_amount")?,
        shipping_minor: row.cost_shipping.fen("cost_shipping")?,
        buyer_name: shipping_address.and_then(|a| values::join([a.first_name.clone(), a.last_name.clone()], " ")),
        buyer_phone: shipping_address.and_then(|a| a.mobilephone.non_empty().or_else(|| a.telephone.non_empty())),
        ship_address: shipping_address.map(address_line),
        external_ref: row.outer_itemno.non_empty(),
        created_at,
        updated_at: row.act_time.time("act_time")?,
        lines,
        raw_json: raw.to_string(),
    })
}

fn line(index: usize, item: &wire::LineRow<'_>) -> Result<OrderLine, ValueError> {
    Ok(OrderLine::new(
        index as u32 + 1,
        item.sku_codeno.non_empty().unwrap_or_default(),
        item.goods_name.non_empty().unwrap_or_default(),
        item.buy_num.line_quantity("buy_num")?,
        item.price.fen("price")?,
    ))
}

/// The address the buyer is reached at: the shipping one (`address_type` 0), else the billing
/// one (1) — the vendor page's own sample order has only a billing address — else the first.
fn buyer_address<'r, 'a>(addresses: &'r [wire::AddressRow<'a>]) -> Option<&'r wire::AddressRow<'a>> {
    let of_type = |t: i64| addresses.iter().find(|a| a.address_type.int("address_type").ok().flatten() == Some(t));
    of_type(0).or_else(|| of_type(1)).or_else(|| addresses.first())
}

fn address_line(a: &wire::AddressRow<'_>) -> String {
    let parts = [&a.address, &a.address_spare, &a.city, &a.state, &a.postcode, &a.country_code_2];
    values::join(parts.into_iter().cloned(), ", ").unwrap_or_default()
}

/// Reads one deliveryList row (or one entry of an order's embedded `delivery` list) from the
/// text the vendor sent, which becomes its raw JSON unchanged.
pub fn shipment(raw: &str) -> Result<Shipment, ValueError> {
    let row: wire::DeliveryRow<'_> = parse(raw)?;
    // delivery_time is "0" until the carrier collects; the row's creation is when we shipped.
    let shipped_at = match row.delivery_time.time("delivery_time")? {
        Some(t) => Some(t),
        None => row.create_time.time("create_time")?,
    };
    Ok(Shipment {
        shipment_id: values::required_of(&row.id, "id")?,
        order_no: None,
        platform_order_id: Some(values::required_of(&row.order_id, "order_id")?),
        carrier: row.shipping_corp_name.non_empty(),
        tracking_no: row.delivery_no.non_empty(),
        shipped_at,
        raw_json: raw.to_string(),
    })
}

/// A delivery row's id, the shipments stream's high-water mark (None when unreadable).
pub fn delivery_id(raw: &str) -> Option<i64> {
    parse::<wire::DeliveryRow<'_>>(raw).ok()?.id.int("id").ok().flatten()
}

/// What read-back needs of an order row: its number, status code and tracking numbers.
pub fn order_state(raw: &str) -> Result<(String, String, Vec<String>), ValueError> {
    let row: wire::OrderRow<'_> = parse(raw)?;
    let tracking = row.delivery.iter().filter_map(|d| d.delivery_no.non_empty()).collect();
    Ok((row.itemno.code(), row.order_status.code(), tracking))
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
