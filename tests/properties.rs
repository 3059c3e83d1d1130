//! Property tests over every platform's parsers and status mappings.
//!
//! - Money: `yuan_to_fen` matches an integer-only reference for every decimal text with up to
//!   8 integer and 4 fraction digits, JSON numbers convert from their written digits, and any
//!   other text is an error, never a panic.
//! - Robustness: each row reader starts from a valid vendor row; every field of it (nested ones
//!   too) is replaced by arbitrary JSON or deleted, and the reader must answer `Ok` or `Err`.
//! - Status tables: codes outside a table are stored as `unknown` with the raw code kept; every
//!   code in a table maps to the table's unified status.
//!
//! No network and no files: the readers are pure functions of `serde_json::Value`s.

use ordersync::model::{OrderStatus, RefundStatus};
use ordersync::platforms::values::{self, yuan_to_fen, ValueError};
use ordersync::platforms::{guanmai, liangben, shopsuite, ymcart};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Number, Value};

/// A config with `cases` cases that never writes regression files (this suite must not touch the tree).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// Money
// ---------------------------------------------------------------------------------------------

/// Fen of the decimal `[-]whole.frac`, computed apart from the library: the exact value in
/// 10^-n yuan (n = fraction digits), rounded half away from zero to whole fen. None when it does
/// not fit an i64.
fn reference_fen(negative: bool, whole: &str, frac: &str) -> Option<i64> {
    let scale = 10_i128.pow(u32::try_from(frac.len()).ok()?);
    let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac: i128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    let units = whole.checked_mul(scale)?.checked_add(frac)?;
    // floor(units * 100 / scale + 1/2) on the magnitude is half away from zero.
    let fen = (units.checked_mul(200)? + scale) / (2 * scale);
    i64::try_from(if negative { -fen } else { fen }).ok()
}

prop_compose! {
    /// A decimal text (optional sign, 0–8 integer digits, optional point with 0–4 fraction digits,
    /// optional surrounding blanks) with its sign, integer and fraction digits.
    fn decimal_text()(
        sign in prop::sample::select(vec!["", "-", "+"]),
        whole in "[0-9]{0,8}",
        point in any::<bool>(),
        frac in "[0-9]{0,4}",
        pad in prop::sample::select(vec!["", " ", "\t"]),
    ) -> (String, bool, String, String) {
        let frac = if point { frac } else { String::new() };
        let text = format!("{pad}{sign}{whole}{}{frac}{pad}", if point { "." } else { "" });
        (text, sign == "-", whole, frac)
    }
}

prop_compose! {
    /// A decimal as a JSON number whose shortest text is exactly the decimal: no leading zeros,
    /// 1–4 fraction digits ending in a non-zero one (or none at all: a JSON integer).
    fn json_amount()(
        negative in any::<bool>(),
        whole in "0|[1-9][0-9]{0,7}",
        frac in "([0-9]{0,3}[1-9])?",
    ) -> (String, Value, bool, String, String) {
        let sign = if negative { "-" } else { "" };
        let (text, value) = if frac.is_empty() {
            let n: i64 = format!("{sign}{whole}").parse().expect("at most 9 digits");
            (n.to_string(), Value::from(n))
        } else {
            let text = format!("{sign}{whole}.{frac}");
            let f: f64 = text.parse().expect("a decimal text");
            (text, Number::from_f64(f).map_or(Value::Null, Value::Number))
        };
        // "-0" is the integer 0, whose text has no sign.
        let negative = negative && text.starts_with('-');
        (text, value, negative, whole, frac)
    }
}

/// The sign, integer and fraction digits of `[blanks][+|-][digits][.digits][blanks]` with at least
/// one digit, or None: which texts are decimal amounts, decided apart from the library's parser.
fn decimal_shaped(text: &str) -> Option<(bool, &str, &str)> {
    let t = text.trim();
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (digits(whole) && digits(frac) && !(whole.is_empty() && frac.is_empty())).then_some((negative, whole, frac))
}

proptest! {
    #![proptest_config(config(512))]

    /// Every decimal text with up to 4 places converts exactly; texts without a digit are errors.
    #[test]
    fn yuan_texts_convert_exactly((text, negative, whole, frac) in decimal_text()) {
        let got = yuan_to_fen(&text);
        if whole.is_empty() && frac.is_empty() {
            prop_assert!(got.is_err(), "{text:?} has no digit but gave {got:?}");
        } else {
            prop_assert_eq!(got, Ok(reference_fen(negative, &whole, &frac).expect("8 digits fit")), "{:?}", text);
        }
    }

    /// A JSON number carries the digits the vendor wrote, so `fen` of it equals the reference of those digits.
    #[test]
    fn json_numbers_convert_from_their_written_digits((text, value, negative, whole, frac) in json_amount()) {
        // The premise: the number's shortest text is the decimal (≤ 15 significant digits round-trip).
        prop_assert_eq!(value.to_string(), text.clone());
        let expected = reference_fen(negative, &whole, &frac).expect("8 digits fit");
        prop_assert_eq!(values::fen(&json!({ "a": value }), "a"), Ok(expected), "{}", text);
        // The same digits as a string field read the same.
        prop_assert_eq!(values::fen(&json!({ "a": text }), "a"), Ok(expected));
    }

    /// Any text that is not a decimal is an error; decimal-shaped junk-alphabet texts convert exactly.
    #[test]
    fn other_texts_are_errors(text in prop_oneof![any::<String>(), "[0-9.+\\- eE,_١２\u{3000}]{0,14}"]) {
        let got = yuan_to_fen(&text);
        match decimal_shaped(&text) {
            None => prop_assert!(got.is_err(), "{text:?} is not a decimal but gave {got:?}"),
            // Beyond i64 an error is as good as a value.
            Some((negative, whole, frac)) => {
                if let Some(fen) = reference_fen(negative, whole, frac) {
                    prop_assert_eq!(got, Ok(fen), "{:?}", text);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary JSON in place of vendor fields
// ---------------------------------------------------------------------------------------------

/// Field names the readers look at: generated objects use them often, so a replaced array or
/// object still reaches the readers' nested code paths.
const KEYS: &[&str] = &[
    "id",
    "price",
    "buy_num",
    "sku_codeno",
    "goods_name",
    "address_type",
    "first_name",
    "mobilephone",
    "delivery_no",
    "status",
    "date_time",
    "customer",
    "resname",
    "name",
    "quantity",
    "sale_price",
    "sku_id",
    "num",
    "out_time",
    "order_state_time",
    "order_logistics_id",
    "logistics_time",
    "item_unit_price",
    "order_item_quantity",
    "da_name",
    "products",
    "shipment_status",
    "create_time",
];

/// Texts at the edges of what the lenient readers accept (times, integers, amounts, unset markers).
const EDGE_TEXTS: &[&str] = &[
    "",
    " ",
    "0",
    "00",
    "-0",
    "0.0",
    ".",
    "-",
    "1.005",
    "1e5",
    "NaN",
    "null",
    "true",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "99999999999999999999.99",
    "0000-00-00 00:00:00",
    "2024-01-02 08:00:00",
    "2024-01-02T08:00:00.123456789123",
    "2024-01-02 08:00",
    "2024-01-02",
    "2024-02-30 10:00:00",
    "2024-12-31 23:59:60",
    "+262143-12-31 23:59:59",
    "-262143-01-01 00:00:00",
    "-262144-01-01 00:00:00",
    "+262144-01-01 00:00:00",
    "１２",
    "١٢٣",
    "\u{3000}12\u{3000}",
    "张三",
    "🦀",
];

/// Arbitrary JSON of depth ≤ 3: null, bools, integers (incl. beyond i64), floats, all kinds of
/// text, arrays and objects.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![0, 1, -1, i64::MIN, i64::MAX, 1_704_153_600, 1_704_153_600_000])
            .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        prop::sample::select(EDGE_TEXTS).prop_map(Value::from),
        "[-+]?[0-9]{0,20}(\\.[0-9]{0,6})?".prop_map(Value::String),
        "[-+]?[0-9]{1,7}-[0-9]{1,2}-[0-9]{1,2}([ T][0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}(\\.[0-9]{0,12})?)?)?"
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let key = prop_oneof![3 => prop::sample::select(KEYS).prop_map(String::from), 1 => any::<String>()];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A row reader under test: its valid base inputs and a call on (possibly mutated) inputs.
struct Reader {
    name: &'static str,
    base: Vec<Value>,
    read: fn(&[Value]) -> Result<(), ValueError>,
}

/// YMCart orderList row, as the simulator writes it (digits as strings, yuan with 4 places).
fn ym_order_row() -> Value {
    json!({
        "id": "1001", "itemno": "YM240102001", "outer_itemno": null, "store_id": "88", "user_id": "9",
        "order_status": "200", "payment_status": "200", "shipping_status": "0", "currency_code": "CNY",
        "cost_shipping": "10.0000", "total_amount": "129.3000", "create_time": "1704153600",
        "pay_time": "1704153700", "act_time": "1704153800", "remark": "",
        "item": [{
            "id": "5001", "order_id": "1001", "goods_name": "Tee", "sku_codeno": "TEE-M", "buy_num": "2",
            "price": "59.6500", "weight": "0.2000",
        }],
        "delivery": null,
        "address": [
            {
                "address_type": "0", "first_name": "San", "last_name": "Zhang", "state": "Zhejiang",
                "city": "Hangzhou", "address": "1 West Lake Rd", "address_spare": "", "postcode": "310000",
                "mobilephone": "13800000000", "telephone": "", "country_code_2": "CN",
            },
            { "address_type": "1", "first_name": "Si", "last_name": "Li", "mobilephone": "", "telephone": "0571-1" },
        ],
        "order_remark": null,
    })
}

/// YMCart deliveryList row.
fn ym_delivery_row() -> Value {
    json!({
        "id": "7001", "store_id": "88", "order_id": "1001", "user_id": "9", "delivery_no": "SF123",
        "shipping_corp_id": "3", "shipping_corp_name": "SF Express", "shipping_cost": "0.0000",
        "create_time": "1704160000", "delivery_time": "1704160000", "remark": "",
    })
}

/// Guanmai order list row (yuan strings, CST time text).
fn gm_list_row() -> Value {
    json!({
        "origin_total_price": "146.31", "date_time_str": "2024-01-02 08:00:00", "receive_begin_time": "2024-01-03 06:00",
        "receive_end_time": "2024-01-03 12:00", "status": 10, "sort_id": 3, "id": "PL492002",
        "total_price": "141.31", "resname": "Golden Wok", "freight": "5.00",
    })
}

/// Guanmai order detail (fen integers, lines, customer).
fn gm_detail() -> Value {
    json!({
        "freight": 500, "status": 10, "real_price": 14131, "date_time": "2024-01-02T08:00:00.000",
        "remark": "", "sort_id": 3, "total_pay": 14631,
        "customer": {
            "resname": "Golden Wok", "address": "8 Market St", "receiver_phone": "13900000000",
            "receive_begin_time": "2024-01-03 06:00", "receive_end_time": "2024-01-03 12:00", "receiver_name": "Wang",
        },
        "details": [{
            "id": "D0001", "name": "白菜", "quantity": 2, "sale_price": "3.50", "real_quantity": 2,
            "std_unit_name": "斤", "is_weight": true, "has_weight": true,
        }],
    })
}

/// Liangben order row: fully shipped (`shipment_status` 3) with two SKUs.
fn lb_order_row() -> Value {
    json!({
        "order_sn": "LB2024010200001", "external_order_sn": "", "order_status": 5, "pay_status": 1,
        "shipment_status": 3, "order_amount": "129.30", "freight": "10.00", "create_time": "2024-01-02 08:00:00",
        "update_time": "2024-01-03 09:00:00", "consignee": "张三", "mobile": "13800000000", "province": "浙江",
        "city": "杭州", "district": "西湖区", "address": "1 West Lake Rd",
        "products": [
            { "sku_id": "SKU-A", "product_name": "Tea", "num": 2, "price": "59.65" },
            { "sku_id": "SKU-B", "product_name": "Cup", "num": 1, "price": "1.0050" },
        ],
    })
}

/// Liangben outbound record (`order/out_info`).
fn lb_outbound() -> Value {
    json!({
        "purchase_sn": "PS0001", "express_company": "顺丰", "express_sn": "SF100", "out_time": "2024-01-03 09:00:00",
        "products": [{ "sku_id": "SKU-A", "product_name": "Tea", "num": 2 }],
    })
}

/// Liangben refund row.
fn lb_refund_row() -> Value {
    json!({
        "refund_sn": "RF0001", "order_sn": "LB2024010200001", "refund_status": 1, "examine_status": 1,
        "refund_amount": "59.65", "reason": "破损", "create_time": "2024-01-04 10:00:00",
        "update_time": "2024-01-04 11:00:00",
    })
}

/// ShopSuite order (amounts as JSON numbers, times in unix milliseconds).
fn ss_order_row() -> Value {
    json!({
        "order_id": "DD-20240102-0001", "store_id": 101, "order_state_id": 2040, "order_is_paid": 3013,
        "order_refund_status": 2600, "order_time": 1_704_153_600_000_i64, "src_order_id": "",
        "order_payment_amount": 129.3, "order_shipping_fee": 10, "buyer_mobile": 13_800_000_000_i64,
        "delivery": {
            "da_name": "张三", "da_mobile": "13800000000", "da_province": "浙江", "da_city": "杭州",
            "da_county": "西湖区", "da_address": "1 West Lake Rd", "da_time": 1_704_153_600_000_i64,
        },
        "items": [{ "item_id": 7001, "product_item_name": "Tea 250g", "order_item_quantity": 2, "item_unit_price": 2.675 }],
        "logistics": [{
            "order_logistics_id": 9001, "order_tracking_number": "SF1", "express_name": "SF",
            "logistics_time": 1_704_160_000_000_i64,
        }],
        "log_items": [
            { "order_state_id": 2011, "order_state_time": 1_704_153_600_000_i64 },
            { "order_state_id": 2040, "order_state_time": "2024-01-02 10:00:00" },
        ],
    })
}

/// ShopSuite return.
fn ss_return_row() -> Value {
    json!({
        "return_id": "R-0001", "order_id": "DD-20240102-0001", "return_state_id": 3105,
        "return_buyer_message": "wrong size", "return_refund_amount": 2.675,
        "return_add_time": 1_704_200_000_000_i64, "return_store_time": 0, "return_finish_time": 0,
        "items": [{ "item_id": 7001, "return_item_num": 1, "item_unit_price": 2.675 }],
    })
}

fn ym_order() -> Reader {
    Reader {
        name: "ymcart order",
        base: vec![ym_order_row()],
        read: |v| ymcart::map::order(&v[0].to_string()).map(drop),
    }
}

fn ym_shipment() -> Reader {
    Reader {
        name: "ymcart shipment",
        base: vec![ym_delivery_row()],
        read: |v| ymcart::map::shipment(&v[0].to_string()).map(drop),
    }
}

fn gm_order() -> Reader {
    Reader {
        name: "guanmai order",
        base: vec![gm_list_row(), gm_detail()],
        read: |v| guanmai::map::order(&v[0], &v[1]).map(drop),
    }
}

fn lb_order() -> Reader {
    Reader { name: "liangben order", base: vec![lb_order_row()], read: |v| liangben::map::order(&v[0]).map(drop) }
}

fn lb_shipment() -> Reader {
    Reader {
        name: "liangben shipment",
        base: vec![lb_outbound()],
        read: |v| liangben::map::shipment("LB2024010200001", &v[0]).map(drop),
    }
}

fn lb_refund() -> Reader {
    Reader { name: "liangben refund", base: vec![lb_refund_row()], read: |v| liangben::map::refund(&v[0]).map(drop) }
}

/// `shipments_incomplete` reads stored raw JSON of an order and its outbound records.
fn lb_incomplete() -> Reader {
    Reader {
        name: "liangben shipments_incomplete",
        base: vec![lb_order_row(), lb_outbound()],
        read: |v| {
            let _ = liangben::map::shipments_incomplete(&v[0].to_string(), &[v[1].to_string()]);
            Ok(())
        },
    }
}

fn ss_order() -> Reader {
    Reader { name: "shopsuite order", base: vec![ss_order_row()], read: |v| shopsuite::map::order(&v[0]).map(drop) }
}

fn ss_refund() -> Reader {
    Reader { name: "shopsuite refund", base: vec![ss_return_row()], read: |v| shopsuite::map::refund(&v[0]).map(drop) }
}

fn all_readers() -> Vec<Reader> {
    vec![
        ym_order(),
        ym_shipment(),
        gm_order(),
        lb_order(),
        lb_shipment(),
        lb_refund(),
        lb_incomplete(),
        ss_order(),
        ss_refund(),
    ]
}

/// JSON pointers of `v` and of everything inside it (the root is `""`).
fn pointers(v: &Value) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    walk(child, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

/// Removes the member or element at `pointer` (not the root); a pointer that no longer exists is ignored.
fn delete_at(root: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else { return };
    let key = last.replace("~1", "/").replace("~0", "~");
    match root.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Some(i) = key.parse::<usize>().ok().filter(|&i| i < a.len()) {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// Names the reader and the mutation on stderr when reading panics; the panic itself still
/// fails the test (nothing is caught here).
struct Reading<'a> {
    reader: &'a str,
    change: String,
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{} panicked after: {}", self.reader, self.change);
        }
    }
}

/// Runs `reader` once per field of its base inputs, with that field replaced by `value`.
fn replace_each_field(reader: &Reader, value: &Value) {
    for (input, base) in reader.base.iter().enumerate() {
        for pointer in pointers(base) {
            let mut inputs = reader.base.clone();
            *inputs[input].pointer_mut(&pointer).expect("a pointer of the base") = value.clone();
            let _reading = Reading { reader: reader.name, change: format!("input {input}: `{pointer}` = {value}") };
            let _ = (reader.read)(&inputs);
        }
    }
}

/// The base rows are valid: every reader accepts them, so mutations start from a good row.
#[test]
fn base_rows_are_read() {
    for reader in all_readers() {
        assert_eq!((reader.read)(&reader.base), Ok(()), "{}", reader.name);
    }
    let ym = ymcart::map::order(&ym_order_row().to_string()).unwrap();
    assert_eq!((ym.total_minor, ym.shipping_minor, ym.lines[0].unit_price_minor), (12_930, 1_000, 5_965));
    assert_eq!(ym.buyer_name.as_deref(), Some("San Zhang"));
    let gm = guanmai::map::order(&gm_list_row(), &gm_detail()).unwrap();
    assert_eq!((gm.status, gm.total_minor, gm.lines[0].unit_price_minor), (OrderStatus::Shipped, 14_631, 350));
    let lb = liangben::map::order(&lb_order_row()).unwrap();
    assert_eq!((lb.platform_status.as_str(), lb.lines[1].unit_price_minor), ("5/3", 101));
    // One outbound record covers SKU-A only, so the fully shipped order is not yet covered.
    assert!(liangben::map::shipments_incomplete(&lb_order_row().to_string(), &[lb_outbound().to_string()]));
    let (ss, shipments) = shopsuite::map::order(&ss_order_row()).unwrap();
    assert_eq!((ss.total_minor, ss.shipping_minor, ss.lines[0].unit_price_minor), (12_930, 1_000, 268));
    assert_eq!(shipments.len(), 1);
    assert_eq!(shopsuite::map::refund(&ss_return_row()).unwrap().amount_minor, 268);
}

/// Deleting any one field (or array element) of any reader's input never panics.
#[test]
fn deleting_any_field_never_panics() {
    for reader in all_readers() {
        for (input, base) in reader.base.iter().enumerate() {
            for pointer in pointers(base).into_iter().filter(|p| !p.is_empty()) {
                let mut inputs = reader.base.clone();
                delete_at(&mut inputs[input], &pointer);
                let _reading = Reading { reader: reader.name, change: format!("input {input}: without `{pointer}`") };
                let _ = (reader.read)(&inputs);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn ymcart_order_takes_any_json_in_any_field(value in arb_json()) {
        replace_each_field(&ym_order(), &value);
    }

    #[test]
    fn ymcart_shipment_takes_any_json_in_any_field(value in arb_json()) {
        replace_each_field(&ym_shipment(), &value);
    }

    #[test]
    fn guanmai_order_takes_any_json_in_any_field(value in arb_json()) {
        replace_each_field(&gm_order(), &value);
    }

    #[test]
    fn liangben_order_takes_any_json_in_any_field(value in arb_json()) {
        replace_each_field(&lb_order(), &value);
    }

    #[test]
    fn liangben_shipment_takes_any_json_in_any_field(value in arb_json(), order_no in any::<String>()) {
        replace_each_field(&lb_shipment(), &value);
        // The order number is the caller's, any text is fine.
        prop_assert!(liangben::map::shipment(&order_no, &lb_outbound()).is_ok());
    }

    #[test]
    fn liangben_refund_takes_any_json_in_any_field(value in arb_json()) {
        replace_each_field(&lb_refund(), &value);
    }

    #[test]
    fn liangben_shipments_incomplete_takes_any_json_in_any_field(value in arb_json()) {
        replace_each_field(&lb_incomplete(), &value);
    }

    #[test]
    fn shopsuite_order_takes_any_json_in_any_field(value in arb_json()) {
        replace_each_field(&ss_order(), &value);
    }

    #[test]
    fn shopsuite_refund_takes_any_json_in_any_field(value in arb_json()) {
        replace_each_field(&ss_refund(), &value);
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Several edits in a row (replace or delete), each landing anywhere in the current input,
    /// including inside values put there by earlier edits: combinations one edit cannot reach.
    #[test]
    fn several_edits_at_once_never_panic(
        which in any::<Index>(),
        edits in prop::collection::vec((any::<Index>(), any::<Index>(), prop::option::of(arb_json())), 1..6),
    ) {
        let readers = all_readers();
        let reader = which.get(&readers);
        let mut inputs = reader.base.clone();
        let mut changes = Vec::new();
        for (input, at, value) in edits {
            let input = input.index(inputs.len());
            let pointer = at.get(&pointers(&inputs[input])).clone();
            match value {
                Some(v) => {
                    changes.push(format!("input {input}: `{pointer}` = {v}"));
                    *inputs[input].pointer_mut(&pointer).expect("a pointer of the input") = v;
                }
                None => {
                    changes.push(format!("input {input}: without `{pointer}`"));
                    delete_at(&mut inputs[input], &pointer);
                }
            }
        }
        let _reading = Reading { reader: reader.name, change: changes.join(", ") };
        let _ = (reader.read)(&inputs);
    }

    /// Stored raw JSON with any unit counts (up to the i64 edges) and any text as a record.
    ///
    /// This found an overflow panic in the unit sums (two `i64::MIN` counts of one SKU, or two
    /// records of `i64::MAX`); the sums saturate now.
    #[test]
    fn shipments_incomplete_takes_any_units(
        shipment_status in prop_oneof![Just(json!(3)), Just(json!(2)), arb_json()],
        ordered in units(prop_oneof![0..5_i64, Just(i64::MAX), Just(i64::MIN), any::<i64>()]),
        records in prop::collection::vec(
            prop_oneof![
                units(prop_oneof![0..5_i64, Just(i64::MAX), Just(i64::MIN), any::<i64>()])
                    .prop_map(|p| json!({ "products": p }).to_string()),
                any::<String>(),
            ],
            0..3,
        ),
    ) {
        let order = json!({ "shipment_status": shipment_status, "products": ordered }).to_string();
        let _reading = Reading { reader: "liangben shipments_incomplete", change: format!("{order} / {records:?}") };
        let _ = liangben::map::shipments_incomplete(&order, &records);
    }

    /// With realistic unit counts the answer is the documented one: partly shipped (2) always asks
    /// again; fully shipped (3) asks while no record is stored or some SKU has fewer units shipped
    /// than ordered (records that are not JSON count as stored but ship nothing); others never ask.
    #[test]
    fn shipments_incomplete_compares_units_per_sku(
        (status, status_sent) in prop_oneof![(1_i64..5).prop_map(|s| (s, json!(s))), (1_i64..5).prop_map(|s| (s, json!(s.to_string())))],
        ordered in units(0..1_000_i64),
        records in prop::collection::vec(
            prop_oneof![
                3 => units(0..1_000_i64).prop_map(|p| json!({ "products": p }).to_string()),
                1 => any::<String>(),
            ],
            0..3,
        ),
    ) {
        let order = json!({ "shipment_status": status_sent, "products": ordered }).to_string();
        let per_sku = |products: &Value| {
            let mut sums = std::collections::HashMap::<String, i64>::new();
            for p in products.as_array().into_iter().flatten() {
                *sums.entry(p["sku_id"].as_str().unwrap_or_default().to_string()).or_default() += p["num"].as_i64().unwrap_or(0);
            }
            sums
        };
        let mut shipped = std::collections::HashMap::<String, i64>::new();
        for raw in &records {
            if let Ok(rec) = serde_json::from_str::<Value>(raw) {
                for (sku, n) in per_sku(&rec["products"]) {
                    *shipped.entry(sku).or_default() += n;
                }
            }
        }
        let expected = match status {
            2 => true,
            3 => records.is_empty() || per_sku(&ordered).iter().any(|(sku, n)| shipped.get(sku).copied().unwrap_or(0) < *n),
            _ => false,
        };
        prop_assert_eq!(liangben::map::shipments_incomplete(&order, &records), expected);
    }
}

/// `products` arrays over a few SKUs (and the empty one) with unit counts from `num`.
fn units(num: impl Strategy<Value = i64>) -> impl Strategy<Value = Value> {
    let product =
        (prop::sample::select(vec!["A", "B", ""]), num).prop_map(|(sku, num)| json!({ "sku_id": sku, "num": num }));
    prop::collection::vec(product, 0..4).prop_map(Value::Array)
}

// ---------------------------------------------------------------------------------------------
// Status codes
// ---------------------------------------------------------------------------------------------

/// An integer code whose text is not in `known`, sent as a JSON number or as a digit string
/// (vendors do both; the readers must treat them alike).
fn code_outside(known: Vec<String>) -> impl Strategy<Value = (i64, Value)> {
    (prop_oneof![-100_i64..10_000, any::<i64>()], any::<bool>())
        .prop_filter("code is in the table", move |(c, _)| !known.contains(&c.to_string()))
        .prop_map(|(c, as_text)| (c, if as_text { Value::from(c.to_string()) } else { Value::from(c) }))
}

/// Any integer code, as a number or a digit string.
fn any_code() -> impl Strategy<Value = (i64, Value)> {
    code_outside(Vec::new())
}

fn codes<T>(table: &[(&str, T)]) -> Vec<String> {
    table.iter().map(|(c, _)| c.to_string()).collect()
}

/// `row` with `field` set to `value`.
fn with(mut row: Value, field: &str, value: Value) -> Value {
    row[field] = value;
    row
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn ymcart_unknown_order_status_is_kept_raw((code, sent) in code_outside(codes(ymcart::map::ORDER_STATUS))) {
        let order = ymcart::map::order(&with(ym_order_row(), "order_status", sent).to_string()).unwrap();
        prop_assert_eq!(order.status, OrderStatus::Unknown);
        prop_assert_eq!(order.platform_status, code.to_string());
    }

    /// The detail's status wins over the list row's; either alone is read too.
    #[test]
    fn guanmai_unknown_status_is_kept_raw(
        (code, sent) in code_outside(codes(guanmai::map::ORDER_STATUS)),
        place in prop::sample::select(vec!["both", "detail", "list"]),
    ) {
        let (mut list, mut detail) = (gm_list_row(), gm_detail());
        match place {
            "both" => (list["status"], detail["status"]) = (sent.clone(), sent),
            "detail" => (list["status"], detail["status"]) = (Value::Null, sent),
            _ => {
                list["status"] = sent;
                detail.as_object_mut().unwrap().remove("status");
            }
        }
        let order = guanmai::map::order(&list, &detail).unwrap();
        prop_assert_eq!(order.status, OrderStatus::Unknown);
        prop_assert_eq!(order.platform_status, code.to_string());
    }

    /// Every rule names an `order_status`, so an order code outside them matches no rule, whatever
    /// the shipment code.
    #[test]
    fn liangben_unknown_order_status_is_kept_raw(
        (o, o_sent) in code_outside(liangben::map::ORDER_STATUS.iter().map(|(o, ..)| o.to_string()).collect()),
        (s, s_sent) in prop_oneof![(0_i64..4).prop_map(|s| (s, json!(s))), any_code()],
    ) {
        let row = with(with(lb_order_row(), "order_status", o_sent), "shipment_status", s_sent);
        let order = liangben::map::order(&row).unwrap();
        prop_assert_eq!(order.status, OrderStatus::Unknown);
        prop_assert_eq!(order.platform_status, format!("{o}/{s}"));
    }

    /// The refund pairs no rule matches: a refund code outside 0–3 with examine ≠ 2 (examine 2 is
    /// `rejected` whatever the refund code), or refund 0 with an examine code outside 0–2
    /// (refund 1–3 match any examine code).
    #[test]
    fn liangben_unmatched_refund_pair_is_kept_raw(
        ((r, r_sent), (e, e_sent)) in prop_oneof![
            (
                code_outside(["0", "1", "2", "3"].map(String::from).to_vec()),
                code_outside(vec!["2".to_string()]),
            ),
            (Just((0, json!(0))), code_outside(["0", "1", "2"].map(String::from).to_vec())),
        ],
    ) {
        let row = with(with(lb_refund_row(), "refund_status", r_sent), "examine_status", e_sent);
        let refund = liangben::map::refund(&row).unwrap();
        prop_assert_eq!(refund.status, RefundStatus::Unknown);
        prop_assert_eq!(refund.platform_status, format!("{r}/{e}"));
    }

    #[test]
    fn shopsuite_unknown_order_state_is_kept_raw((code, sent) in code_outside(codes(shopsuite::map::ORDER_STATE))) {
        let (order, _) = shopsuite::map::order(&with(ss_order_row(), "order_state_id", sent)).unwrap();
        prop_assert_eq!(order.status, OrderStatus::Unknown);
        prop_assert_eq!(order.platform_status, code.to_string());
    }

    #[test]
    fn shopsuite_unknown_return_state_is_kept_raw((code, sent) in code_outside(codes(shopsuite::map::RETURN_STATE))) {
        let refund = shopsuite::map::refund(&with(ss_return_row(), "return_state_id", sent)).unwrap();
        prop_assert_eq!(refund.status, RefundStatus::Unknown);
        prop_assert_eq!(refund.platform_status, code.to_string());
    }
}

#[test]
fn every_ymcart_order_status_maps_through_the_reader() {
    for &(code, status) in ymcart::map::ORDER_STATUS {
        let order = ymcart::map::order(&with(ym_order_row(), "order_status", json!(code)).to_string()).unwrap();
        assert_eq!((order.status, order.platform_status.as_str()), (status, code), "{code}");
    }
}

#[test]
fn every_guanmai_status_maps_through_the_reader() {
    for &(code, status) in guanmai::map::ORDER_STATUS {
        // The simulator sends the status as a JSON number, in both answers.
        let n: i64 = code.parse().unwrap();
        let order =
            guanmai::map::order(&with(gm_list_row(), "status", json!(n)), &with(gm_detail(), "status", json!(n)))
                .unwrap();
        assert_eq!((order.status, order.platform_status.as_str()), (status, code), "{code}");
    }
}

/// The first code in 0–3 for which `earlier` (does a rule before this one match?) is false: the
/// filler for a rule's wildcard axis, so that this rule is the one that decides.
fn filler(earlier: impl Fn(&str) -> bool) -> &'static str {
    ["0", "1", "2", "3"].into_iter().find(|&c| !earlier(c)).expect("some code reaches the rule")
}

#[test]
fn every_liangben_order_rule_maps_through_the_reader() {
    let table = liangben::map::ORDER_STATUS;
    for (i, &(o, s, status)) in table.iter().enumerate() {
        let s = s.unwrap_or_else(|| {
            filler(|c| table[..i].iter().any(|&(eo, es, _)| eo == o && es.is_none_or(|es| es == c)))
        });
        let row = with(with(lb_order_row(), "order_status", json!(o)), "shipment_status", json!(s));
        let order = liangben::map::order(&row).unwrap();
        assert_eq!((order.status, order.platform_status), (status, format!("{o}/{s}")), "rule {i}");
    }
}

#[test]
fn every_liangben_refund_rule_maps_through_the_reader() {
    let table = liangben::map::REFUND_STATUS;
    for (i, &(r, e, status)) in table.iter().enumerate() {
        let earlier = |r: &str, e: &str| {
            table[..i].iter().any(|&(er, ee, _)| er.is_none_or(|er| er == r) && ee.is_none_or(|ee| ee == e))
        };
        let (r, e) = match (r, e) {
            (Some(r), Some(e)) => (r, e),
            (Some(r), None) => (r, filler(|c| earlier(r, c))),
            (None, Some(e)) => (filler(|c| earlier(c, e)), e),
            (None, None) => (filler(|c| earlier(c, "0")), "0"),
        };
        let row = with(with(lb_refund_row(), "refund_status", json!(r)), "examine_status", json!(e));
        let refund = liangben::map::refund(&row).unwrap();
        assert_eq!((refund.status, refund.platform_status), (status, format!("{r}/{e}")), "rule {i}");
    }
}

#[test]
fn every_shopsuite_state_maps_through_the_readers() {
    for &(code, status) in shopsuite::map::ORDER_STATE {
        let n: i64 = code.parse().unwrap();
        let (order, _) = shopsuite::map::order(&with(ss_order_row(), "order_state_id", json!(n))).unwrap();
        assert_eq!((order.status, order.platform_status.as_str()), (status, code), "{code}");
    }
    for &(code, status) in shopsuite::map::RETURN_STATE {
        let n: i64 = code.parse().unwrap();
        let refund = shopsuite::map::refund(&with(ss_return_row(), "return_state_id", json!(n))).unwrap();
        assert_eq!((refund.status, refund.platform_status.as_str()), (status, code), "{code}");
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// A known order code with a shipment code no earlier rule names takes its wildcard rule
    /// (documented: ordered rules, first match wins), e.g. 4 with shipment 9 is awaiting fulfilment.
    #[test]
    fn liangben_known_order_code_with_any_other_shipment_code((s, s_sent) in any_code()) {
        let table = liangben::map::ORDER_STATUS;
        for (i, &(o, rule_s, status)) in table.iter().enumerate() {
            let s_text = s.to_string();
            let earlier = table[..i].iter().any(|&(eo, es, _)| eo == o && es.is_none_or(|es| es == s_text));
            if rule_s.is_some() || earlier {
                continue;
            }
            let row = with(with(lb_order_row(), "order_status", json!(o)), "shipment_status", s_sent.clone());
            let order = liangben::map::order(&row).unwrap();
            prop_assert_eq!((order.status, order.platform_status), (status, format!("{o}/{s}")));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Locating rows in a list answer (envelope::RawRows)
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(300))]

    /// The rows the byte scan locates are exactly the elements serde_json's own `RawValue` finds,
    /// for any rows, compact or pretty-printed, with other members before and after the list.
    #[test]
    fn rows_are_located_as_serde_json_reads_them(
        rows in prop::collection::vec(arb_json(), 0..6),
        before in arb_json(),
        after in arb_json(),
        pretty in any::<bool>(),
    ) {
        let answer = json!({"before": before, "data": rows, "zz_after": after});
        let text = if pretty { serde_json::to_string_pretty(&answer) } else { serde_json::to_string(&answer) }.unwrap();
        #[derive(serde::Deserialize)]
        struct Body<'a> {
            #[serde(borrow)]
            data: Vec<&'a serde_json::value::RawValue>,
        }
        let expected: Vec<String> =
            serde_json::from_str::<Body<'_>>(&text).unwrap().data.iter().map(|r| r.get().to_string()).collect();
        let (head, found) = ordersync::platforms::envelope::RawRows::read(text.clone().into_bytes(), "data").unwrap();
        prop_assert_eq!(found.iter().map(str::to_string).collect::<Vec<_>>(), expected);
        prop_assert_eq!(head.problem.as_deref(), None);
        let after_text = answer["zz_after"].to_string();
        prop_assert_eq!(head.get("zz_after").text().is_some(), after_text != "null");
        // Cut anywhere inside, the answer is refused, never read as fewer rows.
        for cut in [1, text.len() / 3, text.len() / 2, text.len() - 1] {
            prop_assert!(ordersync::platforms::envelope::RawRows::read(text.as_bytes()[..cut].to_vec(), "data").is_err());
        }
    }
}
