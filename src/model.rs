//! The unified order, shipment and refund types every platform maps into.
//!
//! Architecture invariant: this module does no I/O. Connectors produce these types, the store
//! persists them, and nothing here knows which platform a value came from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Macro-free helper: one string table per enum keeps `as_str` and `FromStr` in step.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable text stored in the database and accepted on the command line.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} `{}` (expected one of: {})",
                        stringify!($name),
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

string_enum! {
    /// One lifecycle for every platform's orders (PLATFORMS.md, "Unified states").
    OrderStatus {
        Pending => "pending",
        AwaitingFulfillment => "awaiting_fulfillment",
        Processing => "processing",
        PartiallyShipped => "partially_shipped",
        Shipped => "shipped",
        Delivered => "delivered",
        Completed => "completed",
        Cancelled => "cancelled",
        Unknown => "unknown",
    }
}

impl OrderStatus {
    /// Position in the forward lifecycle; `None` for states outside it (cancelled, unknown).
    fn rank(self) -> Option<u8> {
        match self {
            OrderStatus::Pending => Some(0),
            OrderStatus::AwaitingFulfillment => Some(1),
            OrderStatus::Processing => Some(2),
            OrderStatus::PartiallyShipped => Some(3),
            OrderStatus::Shipped => Some(4),
            OrderStatus::Delivered => Some(5),
            OrderStatus::Completed => Some(6),
            OrderStatus::Cancelled | OrderStatus::Unknown => None,
        }
    }

    /// True when an order in this state already shows `target` or went past it along the
    /// lifecycle (a status push to `target` has nothing left to do).
    pub fn is_at_or_past(self, target: OrderStatus) -> bool {
        match (self.rank(), target.rank()) {
            (Some(a), Some(b)) => a >= b,
            _ => self == target && target != OrderStatus::Unknown,
        }
    }

    /// True when nothing more is expected to happen to an order in this state.
    pub fn is_terminal(self) -> bool {
        matches!(self, OrderStatus::Completed | OrderStatus::Cancelled)
    }

    /// True when moving from `self` to `next` goes backwards in the lifecycle (refunded → shipped,
    /// cancelled → paid): such a move is applied only with a flag in the status history.
    pub fn is_regression_to(self, next: OrderStatus) -> bool {
        match (self.rank(), next.rank()) {
            (Some(a), Some(b)) => b < a,
            // Leaving `cancelled` for a lifecycle state is a resurrection; report it.
            _ => self == OrderStatus::Cancelled && next != OrderStatus::Cancelled && next != OrderStatus::Unknown,
        }
    }
}

string_enum! {
    /// Whether the buyer's money arrived; a column beside the order status, not a state of it.
    PaymentStatus {
        Unpaid => "unpaid",
        Paid => "paid",
        Failed => "failed",
    }
}

string_enum! {
    /// How much of an order was refunded; a column beside the order status.
    RefundSummary {
        None => "none",
        Requested => "requested",
        Partial => "partial",
        Full => "full",
    }
}

string_enum! {
    /// The unified lifecycle of one refund or return.
    RefundStatus {
        Requested => "requested",
        Approved => "approved",
        Returning => "returning",
        Refunding => "refunding",
        Refunded => "refunded",
        Closed => "closed",
        Rejected => "rejected",
        Cancelled => "cancelled",
        Unknown => "unknown",
    }
}

impl RefundStatus {
    /// True when the refund can no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(self, RefundStatus::Refunded | RefundStatus::Closed | RefundStatus::Rejected | RefundStatus::Cancelled)
    }

    /// Position in the forward lifecycle (requested → … → refunded → closed); `None` for the
    /// side exits (rejected, cancelled) and unknown.
    fn rank(self) -> Option<u8> {
        match self {
            RefundStatus::Requested => Some(0),
            RefundStatus::Approved => Some(1),
            RefundStatus::Returning => Some(2),
            RefundStatus::Refunding => Some(3),
            RefundStatus::Refunded => Some(4),
            RefundStatus::Closed => Some(5),
            RefundStatus::Rejected | RefundStatus::Cancelled | RefundStatus::Unknown => None,
        }
    }

    /// True when moving from `self` to `next` goes backwards (refunded → refunding, or out of
    /// rejected/cancelled); refunded → closed, the normal last step, is not.
    pub fn is_regression_to(self, next: RefundStatus) -> bool {
        match (self.rank(), next.rank()) {
            (Some(a), Some(b)) => b < a,
            _ => {
                matches!(self, RefundStatus::Rejected | RefundStatus::Cancelled)
                    && next != self
                    && next != RefundStatus::Unknown
            }
        }
    }
}

string_enum! {
    /// A list a shop can be synced from; each has its own schedule and cursor.
    Stream {
        Orders => "orders",
        Shipments => "shipments",
        Refunds => "refunds",
    }
}

string_enum! {
    /// What an outbox entry asks the platform to do.
    PushKind {
        Ship => "ship",
        Status => "status",
        Remark => "remark",
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// 1-based position within the order, as the vendor lists the lines.
    pub line_no: u32,
    /// The vendor's SKU code.
    pub sku: String,
    /// The product name as the buyer saw it.
    pub name: String,
    /// Units ordered, whole (a weighed quantity rounded half away from zero; see `quantity_exact`).
    pub quantity: i64,
    /// The quantity exactly as the vendor gave it, as canonical decimal text (`3`, `1.5`, `2.35`).
    pub quantity_exact: String,
    /// Price of one unit in fen.
    pub unit_price_minor: i64,
    /// The SKU's spec (size, colour, weight class), where the vendor gives one apart from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// Weighed goods: the quantity actually weighed out, exact decimal text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_quantity: Option<String>,
    /// Weighed goods: the line's amount actually charged for what was weighed, in fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_amount_minor: Option<i64>,
}

impl OrderLine {
    /// A line with no spec or weighed actuals; `quantity` is (whole units, exact text) as
    /// `platforms::values::quantity` reads it.
    pub fn new(line_no: u32, sku: String, name: String, quantity: (i64, String), unit_price_minor: i64) -> OrderLine {
        OrderLine {
            line_no,
            sku,
            name,
            quantity: quantity.0,
            quantity_exact: quantity.1,
            unit_price_minor,
            spec: None,
            real_quantity: None,
            real_amount_minor: None,
        }
    }
}

/// An order in the unified model, as one connector observed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order number the platform shows to people (the key with the shop id).
    pub order_no: String,
    /// The platform's internal id, when it differs from `order_no` (shipments may refer to it).
    pub platform_order_id: Option<String>,
    /// Unified order status.
    pub status: OrderStatus,
    /// The vendor's own status code, stored exactly as received.
    pub platform_status: String,
    /// Whether the order is paid.
    pub payment_status: Option<PaymentStatus>,
    /// Refund summary, where the platform reports one.
    pub refund_status: Option<RefundSummary>,
    /// ISO currency code.
    pub currency: String,
    /// Order total in minor units.
    pub total_minor: i64,
    /// Shipping fee in minor units.
    pub shipping_minor: i64,
    /// Buyer or consignee name.
    pub buyer_name: Option<String>,
    /// Buyer or consignee phone.
    pub buyer_phone: Option<String>,
    /// Shipping address as one line.
    pub ship_address: Option<String>,
    /// The other side's order number, for cross-platform links.
    pub external_ref: Option<String>,
    /// When the order was placed.
    pub created_at: DateTime<Utc>,
    /// The vendor's last-modified time, where it has one.
    pub updated_at: Option<DateTime<Utc>>,
    /// Order lines.
    pub lines: Vec<OrderLine>,
    /// The vendor JSON this order was read from.
    pub raw_json: String,
}

/// A shipment (delivery, outbound record, logistics row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// The vendor's id of the shipment, unique within the shop.
    pub shipment_id: String,
    /// The order number, when the vendor gives it.
    pub order_no: Option<String>,
    /// The platform's internal order id, when the vendor gives that instead.
    pub platform_order_id: Option<String>,
    /// Carrier name.
    pub carrier: Option<String>,
    /// Tracking number.
    pub tracking_no: Option<String>,
    /// When the goods left.
    pub shipped_at: Option<DateTime<Utc>>,
    /// The vendor JSON this shipment was read from.
    pub raw_json: String,
}

/// A refund or return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The vendor's refund id, unique within the shop.
    pub refund_id: String,
    /// The order refunded.
    pub order_no: String,
    /// Unified refund status.
    pub status: RefundStatus,
    /// The vendor's own status, stored exactly as received.
    pub platform_status: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// Why the buyer asked.
    pub reason: Option<String>,
    /// When the refund was requested.
    pub created_at: Option<DateTime<Utc>>,
    /// The vendor's last-modified time.
    pub updated_at: Option<DateTime<Utc>>,
    /// The vendor JSON this refund was read from.
    pub raw_json: String,
}

/// A vendor record that could not be normalized: kept raw with the reason, never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The stream it came from.
    pub stream: Stream,
    /// Best-effort vendor key (order number, id), or a hash of the JSON when none could be read.
    pub vendor_key: String,
    /// What was wrong with it.
    pub error: String,
    /// The record as received.
    pub raw_json: String,
}
