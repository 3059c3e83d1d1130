//! ShopSuite's wire constants: paths and limits of the front trade API.

/// Orders we placed, by creation time.
pub const ORDER_LIST: &str = "/front/trade/order/list";
/// One order.
pub const ORDER_DETAIL: &str = "/front/trade/order/detail";
/// Returns and refunds.
pub const RETURN_LIST: &str = "/front/trade/orderReturn/list";
/// One return (`return_id`).
pub const RETURN_GET: &str = "/front/trade/orderReturn/get";
/// Cancel an order (parameters in the query string).
pub const CANCEL: &str = "/front/trade/order/cancel";
/// Confirm receipt (parameters in the query string).
pub const RECEIVE: &str = "/front/trade/order/receive";

/// Most rows one list page may carry (PLATFORMS.md §4 contract).
pub const PAGE_SIZE: usize = 100;
/// Longest creation-time window one list call covers, in days (for saved progress, not a vendor limit).
pub const WINDOW_DAYS: u32 = 7;
/// `order_state_id` of a cancelled order.
pub const STATE_CANCELLED: i64 = 2070;
/// `order_state_id` of a received order.
pub const STATE_RECEIVED: i64 = 2060;
/// The cancel reason sent when `[shops.options] cancel_reason` is not set.
pub const DEFAULT_CANCEL_REASON: &str = "cancelled by the buyer (ordersync)";
