//! Guanmai → unified model: the status tables, the allowed pushes, and the order reader.
//!
//! An order is read from two answers: its list row (yuan strings, cheap, used to notice change)
//! and its detail (fen integers, lines, customer). Both are kept in `raw_json`.

use crate::model::{Order, OrderLine, OrderStatus, PaymentStatus};
use crate::platforms::values::{self, ValueError};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// `status` → unified order status.
pub const ORDER_STATUS: &[(&str, OrderStatus)] = &[
    ("-1", OrderStatus::Cancelled),          // deleted
    ("1", OrderStatus::AwaitingFulfillment), // waiting for outbound
    ("5", OrderStatus::Processing),          // sorting
    ("10", OrderStatus::Shipped),            // delivering (own fleet)
    ("15", OrderStatus::Delivered),          // signed for
    ("100", OrderStatus::Completed),         // paid
];

/// Unified status → the code `order/update` takes.
pub const PUSH_STATUS: &[(OrderStatus, i64)] = &[(OrderStatus::Processing, 5), (OrderStatus::Shipped, 10)];

/// The only status moves `order/update` accepts, as vendor codes (from, to).
pub const ALLOWED_MOVES: &[(i64, i64)] = &[(1, 5), (1, 10), (5, 10)];

/// The unified status of a vendor code.
pub fn status_of(code: &str) -> Option<OrderStatus> {
    ORDER_STATUS.iter().find(|(c, _)| *c == code).map(|(_, s)| *s)
}

/// The vendor code of a unified status, among the statuses `order/update` can set or start from.
pub fn code_of(status: OrderStatus) -> Option<i64> {
    ORDER_STATUS.iter().find(|(_, s)| *s == status).and_then(|(c, _)| c.parse().ok())
}

/// The vendor code a status push sends.
pub fn push_code(status: OrderStatus) -> Option<i64> {
    PUSH_STATUS.iter().find(|(s, _)| *s == status).map(|(_, c)| *c)
}

/// True when `order/update` accepts moving from `from` to `to`.
pub fn move_allowed(from: OrderStatus, to: OrderStatus) -> bool {
    matches!((code_of(from), push_code(to)), (Some(f), Some(t)) if ALLOWED_MOVES.contains(&(f, t)))
}

/// What a status push should do, judged on the vendor's current code of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveCheck {
    /// The move is one `order/update` accepts: send it.
    Send,
    /// The order is already at or past the target: nothing to send.
    AlreadyThere,
    /// The move is not allowed from the current code; the reason names the code and the moves.
    Refused(String),
}

/// Judges moving an order from vendor code `current` to `target`. Codes grow along the lifecycle
/// (1, 5, 10, 15, 100), so a known code at or past the target means the move already happened;
/// -1 (deleted) and codes outside the table are never "past" anything.
pub fn check_vendor_move(current: &str, target: i64) -> MoveCheck {
    let code = current.trim().parse::<i64>().ok().filter(|_| status_of(current.trim()).is_some());
    match code {
        Some(c) if ALLOWED_MOVES.contains(&(c, target)) => MoveCheck::Send,
        Some(c) if c > 0 && c >= target => MoveCheck::AlreadyThere,
        _ => MoveCheck::Refused(format!(
            "the order is at Guanmai status {} ({}); order/update only moves {}",
            if current.trim().is_empty() { "(none)" } else { current.trim() },
            status_of(current.trim()).map_or("unknown", |s| s.as_str()),
            allowed_moves_text(),
        )),
    }
}

/// The allowed moves as vendor codes, for messages: `1→5, 1→10, 5→10`.
pub fn allowed_moves_text() -> String {
    ALLOWED_MOVES.iter().map(|(f, t)| format!("{f}→{t}")).collect::<Vec<_>>().join(", ")
}

/// An access token as the token call answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// `data.access_token`.
    pub value: String,
    /// `data.expire_time` (CST text on the page); None when missing or unreadable.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Reads the token call's answer (its envelope already checked). An unreadable expiry is not an
/// error: the caller assumes the documented hour.
pub fn access_token(answer: &Value) -> Result<AccessToken, ValueError> {
    let data = answer.get("data").unwrap_or(&Value::Null);
    let value = values::required(data, "access_token")?;
    let expires_at = values::time(data, "expire_time").unwrap_or_else(|e| {
        tracing::warn!(error = %e, "unreadable Guanmai token expiry; assuming the documented hour");
        None
    });
    Ok(AccessToken { value, expires_at })
}

/// The amounts of a list row, in fen (the list writes yuan strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListAmounts {
    /// `total_price`, the goods at the executed prices (freight not included, as `real_price`).
    pub total_price: Option<i64>,
    /// `origin_total_price`, the goods at the prices when ordered.
    pub origin_total_price: Option<i64>,
    /// `freight`.
    pub freight: Option<i64>,
}

/// Reads a list row's yuan amounts; unset ones are None.
pub fn list_amounts(row: &Value) -> Result<ListAmounts, ValueError> {
    let fen = |field: &str| -> Result<Option<i64>, ValueError> {
        match values::non_empty(row, field) {
            Some(_) => values::fen(row, field).map(Some),
            None => Ok(None),
        }
    };
    Ok(ListAmounts {
        total_price: fen("total_price")?,
        origin_total_price: fen("origin_total_price")?,
        freight: fen("freight")?,
    })
}

/// The raw JSON stored for an order: both answers it was read from.
pub fn raw(list_row: &Value, detail: &Value) -> String {
    json!({ "list": list_row, "detail": detail }).to_string()
}

/// The list row kept in a stored order's `raw_json`, to tell whether the row changed.
pub fn stored_list_row(raw_json: &str) -> Option<Value> {
    serde_json::from_str::<Value>(raw_json).ok()?.get("list").cloned()
}

/// Reads one order from its list row and its detail.
pub fn order(list_row: &Value, detail: &Value) -> Result<Order, ValueError> {
    let order_no = values::required(list_row, "id")?;
    let code = Some(values::code(detail, "status"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| values::code(list_row, "status"));
    let status = status_of(&code).unwrap_or_else(|| {
        tracing::warn!(order_no, code, "unknown Guanmai status; stored as `unknown`");
        OrderStatus::Unknown
    });
    let created_at = match values::time(detail, "date_time")? {
        Some(t) => t,
        None => values::time(list_row, "date_time_str")?
            .ok_or_else(|| ValueError { field: "date_time".into(), problem: "missing".into() })?,
    };
    let customer = detail.get("customer").cloned().unwrap_or(Value::Null);
    let lines = values::each(detail, "details", line)?;
    Ok(Order {
        order_no,
        platform_order_id: None,
        status,
        platform_status: code,
        payment_status: (status == OrderStatus::Completed).then_some(PaymentStatus::Paid),
        refund_status: None,
        currency: "CNY".into(),
        total_minor: total_minor(list_row, detail)?,
        shipping_minor: match values::int(detail, "freight")? {
            Some(fen) => fen,
            None => list_amounts(list_row)?.freight.unwrap_or(0),
        },
        buyer_name: values::non_empty(&customer, "resname").or_else(|| values::non_empty(list_row, "resname")),
        buyer_phone: values::non_empty(&customer, "receiver_phone"),
        ship_address: values::non_empty(&customer, "address"),
        external_ref: None,
        created_at,
        updated_at: None,
        lines,
        raw_json: raw(list_row, detail),
    })
}

/// The detail's `total_pay` (fen, freight included). Without it, the list's yuan `total_price`
/// plus `freight` (the list's total is read like `real_price`, without freight).
fn total_minor(list_row: &Value, detail: &Value) -> Result<i64, ValueError> {
    if let Some(fen) = values::int(detail, "total_pay")? {
        return Ok(fen);
    }
    let list = list_amounts(list_row)?;
    Ok(list.total_price.map_or(0, |t| t + list.freight.unwrap_or(0)))
}

/// A detail line. Weighed goods (`is_weight`) have decimal quantities in 斤; `real_quantity` and
/// `real_item_price` (fen, the line's total) are what was actually weighed out and charged.
fn line(index: usize, d: &Value) -> Result<OrderLine, ValueError> {
    Ok(OrderLine {
        real_quantity: values::quantity(d, "real_quantity")?.map(|(_, exact)| exact),
        real_amount_minor: values::int(d, "real_item_price")?,
        ..OrderLine::new(
            index as u32 + 1,
            values::non_empty(d, "id").unwrap_or_default(),
            values::non_empty(d, "name").unwrap_or_default(),
            values::line_quantity(d, "quantity")?,
            values::fen(d, "sale_price")?,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_status_maps_as_the_contract_says() {
        let expected = [
            ("-1", "cancelled"),
            ("1", "awaiting_fulfillment"),
            ("5", "processing"),
            ("10", "shipped"),
            ("15", "delivered"),
            ("100", "completed"),
        ];
        assert_eq!(ORDER_STATUS.len(), expected.len());
        for (code, unified) in expected {
            assert_eq!(status_of(code).map(|s| s.as_str()), Some(unified), "code {code}");
        }
        assert_eq!(status_of("7"), None);
    }

    #[test]
    fn only_the_three_documented_moves_are_allowed() {
        use OrderStatus::*;
        let all = [Pending, AwaitingFulfillment, Processing, Shipped, Delivered, Completed, Cancelled];
        let mut allowed = Vec::new();
        for from in all {
            for to in all {
                if move_allowed(from, to) {
                    allowed.push((from, to));
                }
            }
        }
        assert_eq!(
            allowed,
            vec![(AwaitingFulfillment, Processing), (AwaitingFulfillment, Shipped), (Processing, Shipped)]
        );
    }

    #[test]
    fn a_push_is_judged_on_the_vendor_code() {
        use MoveCheck::*;
        let cases = [("1", 5, Send), ("1", 10, Send), ("5", 10, Send), ("5", 5, AlreadyThere), ("10", 5, AlreadyThere)];
        for (code, target, want) in cases {
            assert_eq!(check_vendor_move(code, target), want, "{code} -> {target}");
        }
        assert_eq!(check_vendor_move("15", 10), AlreadyThere);
        assert_eq!(check_vendor_move("100", 10), AlreadyThere);
        for code in ["-1", "7", "", "x"] {
            let Refused(why) = check_vendor_move(code, 10) else { panic!("{code} must be refused") };
            assert!(why.contains("1→5, 1→10, 5→10"), "{why}");
        }
        let Refused(why) = check_vendor_move("-1", 5) else { panic!("deleted") };
        assert!(why.contains("status -1 (cancelled)"), "{why}");
    }
}
