//! YMCart's wire format: the push entry bodies and the answers we read.
//!
//! List rows are PHP arrays with every field doubled under a numeric key and every scalar a
//! string. They are read straight from the answer's bytes into the row types below: only the
//! fields we use, each a lenient [`Scalar`] borrowed from the text (the numeric twins and every
//! other field are skipped by the parser, never built), while the row's own text is kept as its
//! raw JSON.

use crate::platforms::envelope::{Head, RawRows};
use crate::platforms::values::Scalar;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Reads a list answer's bytes: its envelope, and its rows (under `data`) located as the text the
/// vendor sent.
pub fn read_list(body: Vec<u8>) -> Result<(Head, RawRows), String> {
    RawRows::read(body, "data")
}

/// The fields of an orderList row that we read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderRow<'a> {
    /// Internal id.
    #[serde(borrow)]
    pub id: Scalar<'a>,
    /// Order number.
    #[serde(borrow)]
    pub itemno: Scalar<'a>,
    /// Order status code.
    #[serde(borrow)]
    pub order_status: Scalar<'a>,
    /// Payment status code.
    #[serde(borrow)]
    pub payment_status: Scalar<'a>,
    /// Currency (CNY when absent).
    #[serde(borrow)]
    pub currency_code: Scalar<'a>,
    /// Order total in yuan.
    #[serde(borrow)]
    pub total_amount: Scalar<'a>,
    /// Shipping cost in yuan.
    #[serde(borrow)]
    pub cost_shipping: Scalar<'a>,
    /// The merchant's own order number.
    #[serde(borrow)]
    pub outer_itemno: Scalar<'a>,
    /// Created.
    #[serde(borrow)]
    pub create_time: Scalar<'a>,
    /// Last modified ("0" until the order is first touched).
    #[serde(borrow)]
    pub act_time: Scalar<'a>,
    /// Order lines.
    #[serde(borrow, deserialize_with = "rows")]
    pub item: Vec<LineRow<'a>>,
    /// Addresses (shipping 0, billing 1).
    #[serde(borrow, deserialize_with = "rows")]
    pub address: Vec<AddressRow<'a>>,
    /// Embedded deliveries (null when none).
    #[serde(borrow, deserialize_with = "rows")]
    pub delivery: Vec<DeliveryRow<'a>>,
}

/// The fields of an order line (`item`) that we read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LineRow<'a> {
    /// SKU code.
    #[serde(borrow)]
    pub sku_codeno: Scalar<'a>,
    /// Product name.
    #[serde(borrow)]
    pub goods_name: Scalar<'a>,
    /// Quantity.
    #[serde(borrow)]
    pub buy_num: Scalar<'a>,
    /// Unit price in yuan.
    #[serde(borrow)]
    pub price: Scalar<'a>,
}

/// The fields of an order address that we read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddressRow<'a> {
    /// 0 shipping, 1 billing.
    #[serde(borrow)]
    pub address_type: Scalar<'a>,
    /// Given name.
    #[serde(borrow)]
    pub first_name: Scalar<'a>,
    /// Family name.
    #[serde(borrow)]
    pub last_name: Scalar<'a>,
    /// Mobile phone.
    #[serde(borrow)]
    pub mobilephone: Scalar<'a>,
    /// Landline.
    #[serde(borrow)]
    pub telephone: Scalar<'a>,
    /// Street.
    #[serde(borrow)]
    pub address: Scalar<'a>,
    /// Second street line.
    #[serde(borrow)]
    pub address_spare: Scalar<'a>,
    /// City.
    #[serde(borrow)]
    pub city: Scalar<'a>,
    /// Province.
    #[serde(borrow)]
    pub state: Scalar<'a>,
    /// Postcode.
    #[serde(borrow)]
    pub postcode: Scalar<'a>,
    /// Country code.
    #[serde(borrow)]
    pub country_code_2: Scalar<'a>,
}

/// The fields of a deliveryList row (or an order's embedded `delivery` entry) that we read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeliveryRow<'a> {
    /// Delivery id (the shipments stream's high-water mark).
    #[serde(borrow)]
    pub id: Scalar<'a>,
    /// The order's internal id.
    #[serde(borrow)]
    pub order_id: Scalar<'a>,
    /// Carrier.
    #[serde(borrow)]
    pub shipping_corp_name: Scalar<'a>,
    /// Tracking number.
    #[serde(borrow)]
    pub delivery_no: Scalar<'a>,
    /// When the carrier collected ("0" until then).
    #[serde(borrow)]
    pub delivery_time: Scalar<'a>,
    /// When the delivery was created.
    #[serde(borrow)]
    pub create_time: Scalar<'a>,
}

/// A joined list: an array, or null/missing/`""` for none (PHP's empty joins), or an object of
/// rows keyed by position (what PHP's `json_encode` makes of a non-sequential array), read in
/// the order written.
fn rows<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    struct Rows<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Rows<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of rows, null or \"\"")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(row) = seq.next_element()? {
                rows.push(row);
            }
            Ok(rows)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
            let mut rows = Vec::new();
            while let Some((_, row)) = map.next_entry::<serde::de::IgnoredAny, T>()? {
                rows.push(row);
            }
            Ok(rows)
        }
        fn visit_unit<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<T>, E> {
            if v.is_empty() {
                Ok(Vec::new())
            } else {
                Err(E::custom(format!("expected a list of rows, found {v:?}")))
            }
        }
    }
    d.deserialize_any(Rows(std::marker::PhantomData))
}
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
