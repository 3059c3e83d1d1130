//! Liangben's wire constants: paths and limits of the ERP's buyer API.

/// Orders we placed, by creation time or by order number.
pub const ORDER_LIST: &str = "/api/liangben/v1/order/get_order_list";
/// One order in full (its lines and amounts, when a list row lacks them).
pub const ORDER_INFO: &str = "/api/liangben/v1/order/get_order_info";
/// Outbound (shipment) records of one order.
pub const OUT_INFO: &str = "/api/liangben/v1/order/out_info";
/// Refunds.
pub const REFUND_LIST: &str = "/api/liangben/v1/order/refund_list";
/// Cancel an order.
pub const CANCEL: &str = "/api/liangben/v1/order/cancel";
/// Confirm receipt.
pub const RECEIPT: &str = "/api/liangben/v1/order/receipt";

/// Most rows one list page may carry (PLATFORMS.md §3 contract).
pub const PAGE_SIZE: usize = 100;
/// Most order numbers one `more_order_sn` may name.
pub const MORE_ORDER_SN_MAX: usize = 20;
/// Longest creation-time window one list call covers, in days (for saved progress, not a vendor limit).
pub const WINDOW_DAYS: u32 = 7;
/// `order_status` while the order awaits our receipt.
pub const STATUS_AWAITING_RECEIPT: i64 = 5;
/// `order_status` after a cancel.
pub const STATUS_CANCELLED: i64 = 7;
/// `order_status` after a receipt.
pub const STATUS_COMPLETED: i64 = 6;
