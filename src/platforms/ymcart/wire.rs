//! YMCart's wire format: the push entry bodies and the answers we read.
//!
//! List rows are PHP arrays with every field doubled under a numeric key and every scalar a
//! string; they are read leniently as JSON values in `map.rs` rather than through strict types.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Token refused (PLATFORMS.md §1: permanent, alert the admin).
pub const CODE_BAD_TOKEN: i64 = 40001;

/// The most rows one list page may carry (PLATFORMS.md §1 contract).
pub const PAGE_SIZE: usize = 100;

/// One entry of `shipno_res` (orderShip).
#[derive(Debug, Serialize)]
pub struct ShipEntry<'a> {
    /// Order number.
    pub itemno: &'a str,
    /// Tracking number.
    pub delivery_no: &'a str,
    /// Left empty so the vendor matches the carrier by name, as its page advises.
    pub shipping_corp_codeno: &'a str,
    /// Carrier name.
    pub shipping_corp_name: &'a str,
}

/// One entry of `status_res` (orderStatus).
#[derive(Debug, Serialize)]
pub struct StatusEntry<'a> {
    /// Order number.
    pub itemno: &'a str,
    /// Vendor status code.
    pub status: u16,
}

/// One entry of `remark_res` (orderRemark).
#[derive(Debug, Serialize)]
pub struct RemarkEntry<'a> {
    /// Order number.
    pub itemno: &'a str,
    /// Remark text.
    pub remark: &'a str,
}

/// One per-entry result in a push answer's `msg` array.
#[derive(Debug, Deserialize)]
pub struct EntryResult {
    /// Order number the result is for.
    pub itemno: String,
    /// `success`, or the entry's failure code.
    #[serde(default)]
    pub msg: Value,
}
