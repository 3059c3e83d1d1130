//! Guanmai's wire constants: paths, codes and limits of the station openapi.

/// Token exchange.
pub const TOKEN_PATH: &str = "/openapi/auth/access_token";
/// Order list by order date.
pub const ORDERS_PATH: &str = "/openapi/orders";
/// One order with lines and customer.
pub const ORDER_PATH: &str = "/openapi/order/get";
/// Order update (status moves).
pub const UPDATE_PATH: &str = "/openapi/order/update";

/// An expired or unknown access token (PLATFORMS.md §2 contract): refresh once and repeat.
pub const CODE_TOKEN_INVALID: i64 = 10;
/// Most rows one list page may carry.
pub const PAGE_LIMIT: usize = 100;
/// Longest span one list call may cover, in days.
pub const MAX_SPAN_DAYS: u32 = 7;
