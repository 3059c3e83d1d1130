//! ShopSuite trade API simulator (PLATFORMS.md §4): the buyer's side of a ShopSuite/MallSuite
//! mall — `GET`/`POST /front/trade/…` with parameters in the query string,
//! `Authorization: Bearer <token>`, and answers in the `{"code","data","error","msg","status"}`
//! envelope.
//!
//! Shops are told apart by their bearer token; a missing or unknown one answers HTTP 401. Each
//! shop holds generated orders (with their shipments embedded as `logistics[]` and a state log)
//! and returns; the five routes read and change them, and the test hooks
//! ([`SsSim::truth_orders`], [`SsSim::set_order_state`], …) expose the ground truth and play the
//! mall. Amounts live as integers in 1/10000 yuan, generated on whole 1/1000 yuan, and go out as
//! JSON floats whose shortest text is exactly that decimal (`2.675`), so the truth in fen is exact.
//! The truth also states the unified order and refund status a client must store, from this
//! file's own tables ([`UNIFIED_ORDER_STATUS`], [`UNIFIED_RETURN_STATUS`]) read from PLATFORMS.md
//! and never from the connector, so a wrong table in the product fails the tests.
//!
//! Times are written as the page's samples write them ([`SsTimeForm::Rfc3339`], the default):
//! the string-typed times (`order_time`, `payment_time`, `order_state_time`, `da_time`, the
//! return times) as RFC 3339 UTC text `"2019-08-24T14:15:22Z"`, the integer-typed ones
//! (`logistics_time`, `return_add_time`) as integers with `0` = unset. The page cannot tell
//! seconds from milliseconds for those; this form writes seconds. [`SsTimeForm::Millis`] writes
//! every time as unix milliseconds and [`SsTimeForm::CstText`] the string-typed ones as China
//! Standard Time `YYYY-MM-DD HH:MM:SS` (integers as milliseconds): the other readings a vendor may
//! take. Every generated time falls on a whole second so the three forms carry the same instants.
//!
//! A line carries `item_name`, `product_name` and `product_item_name` (the SKU's spec) as
//! PLATFORMS.md §4 names them, filled in four mixes (all three; product and spec; spec only;
//! item name without a spec), so a client that reads one of them only is caught.
//!
//! Decisions beyond the vendor page: the `createTimeStart`/`createTimeEnd` filters of both lists
//! are unix milliseconds (Contract) on the order time and the return's `return_add_time`;
//! `returnAddStart`/`returnAddEnd`, whose page text contradicts their name, are not implemented
//! (ignored, as the vendor's binding ignores unknown parameters); lists answer newest first unless
//! `sort=asc`; `size` defaults to 10; a refusal answers HTTP 200 with `code` = `status` = 250 and
//! a Chinese `msg`, a bad token HTTP 401 with `code` = `status` = 401. `order_is_paid` and
//! `order_refund_status`, whose codes the page does not list, carry the codes of ShopSuite's own
//! state table (3010/3013, 2600–2602).
//!
//! Test hooks beyond the data: [`SsSim::under_serve`] leaves rows out of list answers while
//! `records` still counts them (a server that loses rows), and [`SsSim::queries`] logs each
//! processed request with its parameters and the keys of the rows it answered.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Number, Value};
use tokio::task::JoinHandle;

use super::{
    cst, cst_compact_date, lock, pick, random_phone, random_units, units_to_fen, yuan4, SimCore, SimHandle, Simulator,
    CARRIERS, FIRST_NAMES, GOODS, LAST_NAMES, PLACES,
};

/// Largest `size` the lists accept (Contract).
const MAX_PAGE_SIZE: i64 = 100;
/// `size` when the client sends none (the vendor's page-helper default).
const DEFAULT_PAGE_SIZE: i64 = 10;
/// `code` and `status` of a refused request (the vendor's "failed" status).
const FAILED: i64 = 250;
/// The simulator's own reading of PLATFORMS.md §4 (written from the contract, never from the
/// connector): `order_state_id` → the unified order status a client must store.
pub const UNIFIED_ORDER_STATUS: &[(u16, &str)] = &[
    (2011, "pending"),              // awaiting order review
    (2013, "pending"),              // awaiting finance review
    (2020, "awaiting_fulfillment"), // awaiting picking
    (2030, "processing"),           // awaiting shipment
    (2040, "shipped"),
    (2060, "completed"), // received
    (2070, "cancelled"),
];
/// The simulator's own reading of PLATFORMS.md §4: `return_state_id` → the unified refund status
/// a client must store.
pub const UNIFIED_RETURN_STATUS: &[(u16, &str)] = &[
    (3100, "requested"), // submitted
    (3105, "approved"),  // under review
    (3110, "returning"), // goods received
    (3115, "refunding"), // refund confirmed
    (3120, "refunded"),  // buyer confirmed the money
    (3125, "closed"),    // done
];
/// Order states in lifecycle order; cancelled (2070) branches off before shipment.
const CHAIN: [u16; 6] = [2011, 2013, 2020, 2030, 2040, 2060];
const SHIPPED: u16 = 2040;
const RECEIVED: u16 = 2060;
const CANCELLED: u16 = 2070;
/// States the buyer may still cancel from: everything before shipment.
const CANCELLABLE: [u16; 4] = [2011, 2013, 2020, 2030];
/// Order states a generated order can have, with their weights.
const STATE_MIX: &[(u16, u32)] = &[(2011, 8), (2013, 5), (2020, 10), (2030, 10), (2040, 20), (2060, 35), (2070, 12)];
/// Return states in lifecycle order.
const RETURN_STATES: [u16; 6] = [3100, 3105, 3110, 3115, 3120, 3125];
const RETURN_DONE: u16 = 3125;
/// (return_reason_id, text) of generated returns.
const REASONS: &[(i64, &str)] = &[(1, "不想要了"), (2, "商品破损"), (3, "发错货"), (4, "质量问题"), (5, "少件漏发")];
/// Specs (`product_item_name`) a product is sold in; a line's SKU (`item_id`) is product × spec.
const SPECS: &[&str] = &["默认", "S", "M", "L"];
/// `order_is_paid` of every listed order (ShopSuite's "paid"; the page lists no codes).
const PAID: u16 = 3013;
/// A county for each entry of `PLACES`, in the same order.
const COUNTIES: &[&str] = &["Siming", "Nanshan", "Xihu", "Huangpu", "Wuhou", "Chaoyang"];
/// Buyer messages (`order_message`), mostly empty.
const MESSAGES: &[&str] = &["", "", "", "请尽快发货", "周末送货"];

/// How the simulator writes times (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SsTimeForm {
    /// As the page's samples: RFC 3339 UTC text, integer-typed times in unix seconds.
    #[default]
    Rfc3339,
    /// Every time as unix milliseconds (JSON integers).
    Millis,
    /// String-typed times as CST `YYYY-MM-DD HH:MM:SS`, integer-typed ones in unix milliseconds.
    CstText,
}

/// Which of a line's three names the mall fills (PLATFORMS.md §4: the name is `item_name`, else
/// `product_name`; `product_item_name` is the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// `item_name` (product and spec), `product_name` and `product_item_name` (spec).
    All,
    /// `item_name` empty: `product_name` and the spec.
    ProductAndSpec,
    /// Only `product_item_name` (the spec) is filled.
    SpecOnly,
    /// `item_name` and `product_name`, no spec (`product_item_name` missing).
    NoSpec,
}

/// The mixes generated lines take, with their weights.
const NAMINGS: &[(Naming, u32)] =
    &[(Naming::All, 5), (Naming::ProductAndSpec, 2), (Naming::SpecOnly, 1), (Naming::NoSpec, 2)];

/// One request the routes processed: who, where, its parameters and the keys of the rows answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsQuery {
    /// The bearer token.
    pub shop: String,
    /// The request path.
    pub path: String,
    /// The query-string parameters as received.
    pub params: BTreeMap<String, String>,
    /// `order_id`s or `return_id`s of the rows in the answer (lists, detail, return get).
    pub keys: Vec<String>,
}

/// The six routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    OrderList,
    OrderDetail,
    ReturnList,
    ReturnGet,
    Cancel,
    Receive,
}

impl Endpoint {
    const ALL: [Endpoint; 6] = [
        Endpoint::OrderList,
        Endpoint::OrderDetail,
        Endpoint::ReturnList,
        Endpoint::ReturnGet,
        Endpoint::Cancel,
        Endpoint::Receive,
    ];

    fn path(self) -> &'static str {
        match self {
            Endpoint::OrderList => "/front/trade/order/list",
            Endpoint::OrderDetail => "/front/trade/order/detail",
            Endpoint::ReturnList => "/front/trade/orderReturn/list",
            Endpoint::ReturnGet => "/front/trade/orderReturn/get",
            Endpoint::Cancel => "/front/trade/order/cancel",
            Endpoint::Receive => "/front/trade/order/receive",
        }
    }

    /// Pushes are POSTs that change one order; lists and detail are GETs.
    fn is_push(self) -> bool {
        matches!(self, Endpoint::Cancel | Endpoint::Receive)
    }
}

/// Ground truth of one order: amounts in fen, times in unix milliseconds (whole seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct SsTruthOrder {
    /// `order_id`, like `DD-20240101-100001`.
    pub order_id: String,
    /// `order_state_id` (2011/2013/2020/2030/2040/2060/2070, or whatever a hook set).
    pub state: u16,
    /// The unified status a client must store for `state` ([`UNIFIED_ORDER_STATUS`]; `unknown`
    /// for a code outside it, as PLATFORMS.md says).
    pub unified_status: &'static str,
    /// `order_time`, unix milliseconds.
    pub order_time_ms: i64,
    /// The latest `log_items[].order_state_time`, unix milliseconds.
    pub last_state_ms: i64,
    /// `order_is_paid` as sent (a code the page does not list). PLATFORMS.md §4 defines no
    /// payment status for ShopSuite, so a client stores none and keeps the code raw.
    pub paid_code: u16,
    /// `order_refund_status` as sent (a code the page does not list): as for `paid_code`, no
    /// unified refund summary, the code kept raw.
    pub refund_code: u16,
    /// `order_payment_amount` (goods + shipping − discount) in fen.
    pub total_fen: i64,
    /// `order_shipping_fee` in fen.
    pub shipping_fen: i64,
    /// `delivery.da_name` (also `buyer_contacter`).
    pub buyer_name: String,
    /// `delivery.da_mobile` (also `buyer_mobile`, which the vendor sends as a number).
    pub buyer_phone: String,
    /// `delivery.da_province`.
    pub province: String,
    /// `delivery.da_city`.
    pub city: String,
    /// `delivery.da_county`.
    pub county: String,
    /// `delivery.da_address` (the street line).
    pub address: String,
    /// Order lines in row order.
    pub lines: Vec<SsTruthLine>,
    /// Shipments (`logistics[]`) in row order.
    pub logistics: Vec<SsTruthLogistics>,
}

/// Ground truth of one order line.
#[derive(Debug, Clone, PartialEq)]
pub struct SsTruthLine {
    /// `item_id` (ShopSuite's SKU id) as decimal text.
    pub sku: String,
    /// The line's name as PLATFORMS.md §4 reads it: `item_name`, else `product_name`, else (a
    /// mall that fills neither) `product_item_name`.
    pub name: String,
    /// `product_item_name`, the SKU's spec; None when the mall leaves it out.
    pub spec: Option<String>,
    /// `order_item_quantity`.
    pub quantity: i64,
    /// `item_unit_price` in fen.
    pub price_fen: i64,
}

/// Ground truth of one shipment (`logistics[]` row).
#[derive(Debug, Clone, PartialEq)]
pub struct SsTruthLogistics {
    /// `order_logistics_id`.
    pub id: i64,
    /// `order_tracking_number`.
    pub tracking: String,
    /// `express_name`.
    pub express: String,
    /// `logistics_time`, unix milliseconds.
    pub time_ms: i64,
}

/// Ground truth of one return (refund).
#[derive(Debug, Clone, PartialEq)]
pub struct SsTruthReturn {
    /// `return_id`, like `TD-20240101-100042`.
    pub return_id: String,
    /// `order_id` of the order it returns.
    pub order_id: String,
    /// `return_state_id` (3100…3125, or whatever a hook set).
    pub state: u16,
    /// The unified refund status a client must store for `state` ([`UNIFIED_RETURN_STATUS`];
    /// `unknown` for a code outside it).
    pub unified_status: &'static str,
    /// `return_refund_amount` in fen.
    pub amount_fen: i64,
    /// `return_buyer_message` (the reason's text; `return_reason_id` is its id).
    pub reason: String,
    /// `return_add_time`, unix milliseconds.
    pub add_time_ms: i64,
    /// `return_store_time` (the seller handled it, from 3105 on), unix milliseconds.
    pub store_time_ms: Option<i64>,
    /// `return_finish_time` (set at 3125), unix milliseconds.
    pub finish_time_ms: Option<i64>,
}

/// Amounts are 1/10000-yuan units.
#[derive(Debug, Clone)]
struct Line {
    id: i64,
    goods: usize,
    spec: usize,
    naming: Naming,
    qty: i64,
    price: i64,
}

impl Line {
    fn item_id(&self) -> i64 {
        10_000 + self.goods as i64 * 10 + self.spec as i64
    }

    /// (`item_name`, `product_name`, `product_item_name`) as the mall fills them; None is left out.
    fn names(&self) -> (Option<String>, Option<String>, Option<String>) {
        let (product, spec) = (GOODS[self.goods].0.to_string(), SPECS[self.spec].to_string());
        let item = format!("{product} {spec}");
        match self.naming {
            Naming::All => (Some(item), Some(product), Some(spec)),
            Naming::ProductAndSpec => (Some(String::new()), Some(product), Some(spec)),
            Naming::SpecOnly => (Some(String::new()), Some(String::new()), Some(spec)),
            Naming::NoSpec => (Some(product.clone()), Some(product), None),
        }
    }

    /// The name and spec PLATFORMS.md §4 reads from [`Line::names`], told from the naming itself.
    fn truth_name(&self) -> (String, Option<String>) {
        let (product, spec) = (GOODS[self.goods].0.to_string(), SPECS[self.spec].to_string());
        match self.naming {
            Naming::All => (format!("{product} {spec}"), Some(spec)),
            Naming::ProductAndSpec => (product, Some(spec)),
            Naming::SpecOnly => (spec.clone(), Some(spec)),
            Naming::NoSpec => (product, None),
        }
    }

    fn amount(&self) -> i64 {
        self.price * self.qty
    }
}

#[derive(Debug, Clone)]
struct Logistics {
    id: i64,
    tracking: String,
    carrier: (i64, &'static str),
    time: i64,
}

#[derive(Debug, Clone)]
struct StateLog {
    id: i64,
    pre: u16,
    state: u16,
    time: i64,
}

#[derive(Debug, Clone)]
struct Buyer {
    name: String,
    phone: String,
    place: usize,
    street: String,
    tag: &'static str,
}

/// Amounts are 1/10000-yuan units, times unix milliseconds.
#[derive(Debug, Clone)]
struct Order {
    id: String,
    state: u16,
    time: i64,
    pay_time: i64,
    received_time: Option<i64>,
    cancel_time: Option<i64>,
    cancel_reason: String,
    shipping: i64,
    discount: i64,
    message: std::borrow::Cow<'static, str>,
    lines: Vec<Line>,
    buyer: Buyer,
    logistics: Vec<Logistics>,
    log: Vec<StateLog>,
    /// Indexes into the shop's returns.
    returns: Vec<usize>,
}

impl Order {
    fn goods(&self) -> i64 {
        self.lines.iter().map(Line::amount).sum()
    }

    fn total(&self) -> i64 {
        self.goods() + self.shipping - self.discount
    }

    /// The truth, with the `order_refund_status` its returns give it (see [`refund_code`]).
    fn truth(&self, refund_code: u16) -> SsTruthOrder {
        let (province, city, _) = PLACES[self.buyer.place];
        let line = |l: &Line| {
            let (name, spec) = l.truth_name();
            SsTruthLine { sku: l.item_id().to_string(), name, spec, quantity: l.qty, price_fen: units_to_fen(l.price) }
        };
        let logistics = |l: &Logistics| SsTruthLogistics {
            id: l.id,
            tracking: l.tracking.clone(),
            express: l.carrier.1.to_string(),
            time_ms: l.time,
        };
        SsTruthOrder {
            order_id: self.id.clone(),
            state: self.state,
            unified_status: unified(UNIFIED_ORDER_STATUS, self.state),
            order_time_ms: self.time,
            last_state_ms: self.log.iter().map(|l| l.time).max().unwrap_or(self.time),
            paid_code: PAID,
            refund_code,
            total_fen: units_to_fen(self.total()),
            shipping_fen: units_to_fen(self.shipping),
            buyer_name: self.buyer.name.clone(),
            buyer_phone: self.buyer.phone.clone(),
            province: province.to_string(),
            city: city.to_string(),
            county: county(self.buyer.place).to_string(),
            address: self.buyer.street.clone(),
            lines: self.lines.iter().map(line).collect(),
            logistics: self.logistics.iter().map(logistics).collect(),
        }
    }
}

/// Amounts are 1/10000-yuan units, times unix milliseconds.
#[derive(Debug, Clone)]
struct Return {
    id: String,
    order: usize,
    state: u16,
    /// (index of the order line, quantity returned).
    lines: Vec<(usize, i64)>,
    amount: i64,
    reason: (i64, &'static str),
    add_time: i64,
    store_time: Option<i64>,
    finish_time: Option<i64>,
}

/// `order_refund_status` (ShopSuite's table, not on the page): 2600 no return, 2601 a return in
/// progress, 2602 every return done.
fn refund_code(shop: &Shop, o: &Order) -> u16 {
    let open = o.returns.iter().any(|&i| shop.returns[i].state != RETURN_DONE);
    match (o.returns.is_empty(), open) {
        (true, _) => 2600,
        (false, true) => 2601,
        (false, false) => 2602,
    }
}

/// The unified value one of the simulator's tables gives `code`; `unknown` outside it (PLATFORMS.md:
/// an unknown vendor code is stored raw with unified status `unknown`).
fn unified(table: &[(u16, &'static str)], code: u16) -> &'static str {
    table.iter().find(|(c, _)| *c == code).map_or("unknown", |(_, s)| s)
}

fn county(place: usize) -> &'static str {
    COUNTIES.get(place).copied().unwrap_or("")
}

/// The current time in unix milliseconds, on a whole second (see [`sec`]).
fn now_ms() -> i64 {
    sec(Utc::now().timestamp_millis())
}

/// Milliseconds down to a whole second: every generated time is one, so that the RFC 3339 text
/// and integer seconds of [`SsTimeForm::Rfc3339`] carry exactly the instant of the truth.
fn sec(ms: i64) -> i64 {
    ms - ms.rem_euclid(1000)
}

/// A random amount in 1/10000-yuan units on a whole 1/1000 yuan: about one in ten has exactly
/// three decimals (half of those on a half fen), the rest are whole fen.
fn mills(rng: &mut StdRng, lo_fen: i64, hi_fen: i64) -> i64 {
    let units = random_units(rng, lo_fen, hi_fen);
    units - units % 10
}

/// 1/10000-yuan units as a JSON number whose shortest text is the exact decimal
/// (`26750` → `2.675`). A decimal of at most 15 significant digits round-trips through f64, and
/// serde_json prints the shortest text that round-trips, which is that decimal.
fn yuan(units: i64) -> Value {
    let text = yuan4(units);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.parse::<f64>().ok().and_then(Number::from_f64).map_or(Value::Null, Value::Number)
}

/// The next element after `cur` in a lifecycle, None at its end or when `cur` is not in it.
fn next_in(seq: &[u16], cur: u16) -> Option<u16> {
    let i = seq.iter().position(|&s| s == cur)?;
    seq.get(i + 1).copied()
}

/// The index of a random element of `rows` that passes `keep`.
fn any_of<T>(rng: &mut StdRng, rows: &[T], keep: impl Fn(&T) -> bool) -> Option<usize> {
    let hits: Vec<usize> = (0..rows.len()).filter(|&i| keep(&rows[i])).collect();
    (!hits.is_empty()).then(|| hits[rng.gen_range(0..hits.len())])
}

fn weighted_state(rng: &mut StdRng) -> u16 {
    weighted(rng, STATE_MIX)
}

/// A random entry of a non-empty (value, weight) table.
fn weighted<T: Copy>(rng: &mut StdRng, table: &[(T, u32)]) -> T {
    let mut roll = rng.gen_range(0..table.iter().map(|s| s.1).sum::<u32>().max(1));
    for &(value, weight) in table {
        if roll < weight {
            return value;
        }
        roll -= weight;
    }
    table[0].0
}

/// The states an order passes through to reach `state`, from 2011; finance review (2013) is a
/// node the mall may skip, and a cancellation happens at some state before shipment.
fn path_to(rng: &mut StdRng, state: u16) -> Vec<u16> {
    let last = if state == CANCELLED { CANCELLABLE[rng.gen_range(0..CANCELLABLE.len())] } else { state };
    let mut path: Vec<u16> =
        CHAIN.iter().copied().take_while(|&s| s != last).filter(|&s| s != 2013 || rng.gen_bool(0.5)).collect();
    path.push(last);
    if state == CANCELLED {
        path.push(CANCELLED);
    }
    path
}

/// One shop (one buyer account in one mall). Orders only grow, in creation order; returns too.
#[derive(Debug)]
struct Shop {
    store_id: i64,
    user_id: i64,
    orders: Vec<Order>,
    by_id: HashMap<String, usize>,
    returns: Vec<Return>,
    returns_by_id: HashMap<String, usize>,
    next_seq: i64,
    next_child_id: i64,
}

impl Shop {
    fn new(shop_no: i64) -> Shop {
        // Distinct id ranges per shop make a client mixing shops up visible in tests.
        let base = shop_no * 1_000_000;
        Shop {
            store_id: 100 + shop_no,
            user_id: 20_000 + shop_no,
            orders: Vec::new(),
            by_id: HashMap::new(),
            returns: Vec::new(),
            returns_by_id: HashMap::new(),
            next_seq: base + 100_000,
            next_child_id: base,
        }
    }

    fn seq(&mut self) -> i64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn child_id(&mut self) -> i64 {
        self.next_child_id += 1;
        self.next_child_id
    }

    /// Generates an order placed at `time` and walks it to `state` with plausible times.
    fn generate(&mut self, rng: &mut StdRng, time: i64, state: u16, now: i64) -> usize {
        let id = format!("DD-{}-{}", cst_compact_date(time.div_euclid(1000)), self.seq());
        let n_lines = rng.gen_range(1..=4);
        let lines: Vec<Line> = sample(rng, GOODS.len(), n_lines)
            .into_iter()
            .map(|g| Line {
                id: self.child_id(),
                goods: g,
                spec: rng.gen_range(0..SPECS.len()),
                naming: weighted(rng, NAMINGS),
                qty: if rng.gen_bool(0.1) { rng.gen_range(6..=20) } else { rng.gen_range(1..=5) },
                price: mills(rng, GOODS[g].2, GOODS[g].3),
            })
            .collect();
        let goods: i64 = lines.iter().map(Line::amount).sum();
        let (first, last) = (*pick(rng, FIRST_NAMES), *pick(rng, LAST_NAMES));
        let (tag, message) = (*pick(rng, &["家", "公司"]), *pick(rng, MESSAGES));
        let buyer = Buyer {
            name: format!("{last} {first}"),
            phone: random_phone(rng),
            place: rng.gen_range(0..PLACES.len()),
            street: format!("{} Renmin Road", rng.gen_range(1..=999)),
            tag,
        };
        // Orders reach the list once paid: 2011 is the first state after payment.
        let pay_time = now.min(time + rng.gen_range(30..=1_800) * 1000);
        let order = Order {
            id: id.clone(),
            state: CHAIN[0],
            time,
            pay_time,
            received_time: None,
            cancel_time: None,
            cancel_reason: String::new(),
            shipping: if rng.gen_bool(0.7) { mills(rng, 500, 2_000) } else { 0 },
            // A voucher of at most a tenth of the goods keeps the total positive.
            discount: if rng.gen_bool(0.25) { mills(rng, 0, goods / 1_000) } else { 0 },
            message: message.into(),
            lines,
            buyer,
            logistics: Vec::new(),
            log: vec![StateLog { id: self.child_id(), pre: 2010, state: CHAIN[0], time: pay_time }],
            returns: Vec::new(),
        };
        let idx = self.orders.len();
        self.by_id.insert(id, idx);
        self.orders.push(order);
        let mut at = pay_time;
        for next in path_to(rng, state).into_iter().skip(1) {
            at += sec(rng.gen_range(0..=(now - at).max(0) / 3));
            self.set_state(rng, idx, next, at);
        }
        idx
    }

    /// Moves an order to `state` at `at` as the mall would: a state-log row, received and cancel
    /// times, and 1–2 shipments when it becomes shipped or received without any.
    fn set_state(&mut self, rng: &mut StdRng, idx: usize, state: u16, at: i64) {
        let log_id = self.child_id();
        let o = &mut self.orders[idx];
        if o.state == state {
            return;
        }
        o.log.push(StateLog { id: log_id, pre: o.state, state, time: at });
        o.state = state;
        o.received_time = (state == RECEIVED).then_some(o.received_time.unwrap_or(at));
        o.cancel_time = (state == CANCELLED).then_some(o.cancel_time.unwrap_or(at));
        if state != CANCELLED {
            o.cancel_reason.clear();
        }
        if matches!(state, SHIPPED | RECEIVED) && o.logistics.is_empty() {
            // One order in five ships in two parcels.
            for _ in 0..if rng.gen_bool(0.2) { 2 } else { 1 } {
                let id = self.child_id();
                let carrier = *pick(rng, CARRIERS);
                // Tracking numbers start with the carrier's initials, like `SF0123…`.
                let prefix = carrier.1.get(..2).unwrap_or("LN").to_uppercase();
                let tracking = format!("{prefix}{:012}", rng.gen_range(0..1_000_000_000_000u64));
                let parcel = Logistics { id, tracking, carrier, time: at };
                self.orders[idx].logistics.push(parcel);
            }
        }
    }

    /// Adds a return of order `idx` in `state`, created after the order's last change.
    fn add_return(&mut self, rng: &mut StdRng, idx: usize, state: u16, now: i64) -> String {
        let seq = self.seq();
        let o = &self.orders[idx];
        let since = o.log.last().map_or(o.pay_time, |l| l.time).min(now);
        let add_time = sec(rng.gen_range(since..=now));
        // Three returns in ten take back the whole order, the others part of one line.
        let (lines, amount) = if rng.gen_bool(0.3) {
            let all = o.lines.iter().enumerate().map(|(i, l)| (i, l.qty));
            (all.collect(), o.total())
        } else {
            let i = rng.gen_range(0..o.lines.len());
            let k = rng.gen_range(1..=o.lines[i].qty);
            (vec![(i, k)], (o.lines[i].price * k).min(o.total()))
        };
        let store_time = (state >= 3105).then(|| sec(rng.gen_range(add_time..=now)));
        let finish_time = (state == RETURN_DONE).then(|| sec(rng.gen_range(store_time.unwrap_or(add_time)..=now)));
        let id = format!("TD-{}-{seq}", cst_compact_date(add_time.div_euclid(1000)));
        let ri = self.returns.len();
        self.returns.push(Return {
            id: id.clone(),
            order: idx,
            state,
            lines,
            amount,
            reason: *pick(rng, REASONS),
            add_time,
            store_time,
            finish_time,
        });
        self.returns_by_id.insert(id.clone(), ri);
        self.orders[idx].returns.push(ri);
        id
    }

    /// Moves a return to `state` at `at`, keeping its seller and finish times consistent.
    fn set_return_state(&mut self, ri: usize, state: u16, at: i64) {
        let r = &mut self.returns[ri];
        r.state = state;
        r.store_time = (state >= 3105).then_some(r.store_time.unwrap_or(at));
        r.finish_time = (state == RETURN_DONE).then_some(r.finish_time.unwrap_or(at));
    }

    /// Returns for about one order in ten, at least six when there are enough paid orders, with
    /// the states dealt round-robin so every state appears.
    fn generate_returns(&mut self, rng: &mut StdRng, now: i64) {
        let eligible: Vec<usize> =
            (0..self.orders.len()).filter(|&i| matches!(self.orders[i].state, 2020 | 2030 | 2040 | 2060)).collect();
        let n = (self.orders.len() / 10).max(RETURN_STATES.len()).min(eligible.len());
        let mut chosen: Vec<usize> = sample(rng, eligible.len(), n).into_vec();
        chosen.sort_unstable();
        for (k, i) in chosen.into_iter().enumerate() {
            let state = RETURN_STATES[k % RETURN_STATES.len()];
            self.add_return(rng, eligible[i], state, now);
        }
    }

    /// One tick of the demo's mall: an open order moves one state on, sometimes a shipped order
    /// gets a return, and an open return moves one state on.
    fn tick(&mut self, rng: &mut StdRng, now: i64) {
        let orders = &self.orders;
        if let Some(i) = any_of(rng, orders, |o| next_in(&CHAIN, o.state).is_some()) {
            let next = next_in(&CHAIN, orders[i].state).unwrap_or(RECEIVED);
            self.set_state(rng, i, next, now);
        }
        let shipped = |o: &Order| matches!(o.state, SHIPPED | RECEIVED) && o.returns.is_empty();
        if let Some(i) = any_of(rng, &self.orders, shipped).filter(|_| rng.gen_bool(0.2)) {
            self.add_return(rng, i, RETURN_STATES[0], now);
        }
        if let Some(ri) = any_of(rng, &self.returns, |r| r.state != RETURN_DONE) {
            let next = next_in(&RETURN_STATES, self.returns[ri].state).unwrap_or(RETURN_DONE);
            self.set_return_state(ri, next, now);
        }
    }
}

/// All shops plus the data rng (apart from the fault rng, so faults do not depend on data size).
#[derive(Debug)]
struct State {
    rng: StdRng,
    shops: HashMap<String, Shop>,
    shops_made: i64,
    form: SsTimeForm,
    /// Per shop token: rows its list answers leave out.
    under: HashMap<String, UnderServe>,
}

/// Rows a shop's list answers leave out while `records` still counts them.
#[derive(Debug, Default)]
struct UnderServe {
    keys: HashSet<String>,
    /// How many more answers may leave rows out; None for every answer.
    answers: Option<usize>,
}

impl UnderServe {
    /// The keys of `page` to leave out of this answer (spending one answer of the budget).
    fn hide(&mut self, page: &[String]) -> HashSet<String> {
        let hit: HashSet<String> = page.iter().filter(|k| self.keys.contains(*k)).cloned().collect();
        match &mut self.answers {
            _ if hit.is_empty() => HashSet::new(),
            Some(0) => HashSet::new(),
            Some(n) => {
                *n -= 1;
                hit
            }
            None => hit,
        }
    }
}

#[derive(Debug)]
struct Inner {
    core: SimCore,
    state: Mutex<State>,
    queries: Mutex<Vec<SsQuery>>,
}

/// The ShopSuite simulator: cheap to clone, all clones share one state.
#[derive(Debug, Clone)]
pub struct SsSim {
    inner: Arc<Inner>,
}

type Params = HashMap<String, String>;
type QueryResult = Result<Query<Params>, QueryRejection>;

impl SsSim {
    /// An empty simulator; `seed` drives both the generated data and the fault decisions.
    pub fn new(seed: u64) -> SsSim {
        let state = State {
            rng: StdRng::seed_from_u64(seed.wrapping_add(0x5353_5353)),
            shops: HashMap::new(),
            shops_made: 0,
            form: SsTimeForm::default(),
            under: HashMap::new(),
        };
        let inner = Inner { core: SimCore::new(seed), state: Mutex::new(state), queries: Mutex::new(Vec::new()) };
        SsSim { inner: Arc::new(inner) }
    }

    /// Writes every later answer's times in `form` (all shops).
    pub fn set_time_form(&self, form: SsTimeForm) {
        lock(&self.inner.state).form = form;
    }

    /// Makes shop `token`'s list answers leave out the rows keyed `keys` (`order_id`s or
    /// `return_id`s) while `records` and `total` still count them: in the next `answers` answers
    /// that would carry one of them, or in every answer with None. Empty `keys` stops it.
    pub fn under_serve(&self, token: &str, keys: &[String], answers: Option<usize>) {
        let under = UnderServe { keys: keys.iter().cloned().collect(), answers };
        lock(&self.inner.state).under.insert(token.to_string(), under);
    }

    /// Every request the routes processed so far (after the token check and faults), oldest first.
    pub fn queries(&self) -> Vec<SsQuery> {
        lock(&self.inner.queries).clone()
    }

    /// Empties the log of [`SsSim::queries`].
    pub fn clear_queries(&self) {
        lock(&self.inner.queries).clear();
    }

    /// Creates (or replaces) shop `token` with `orders` orders placed over the last `days` days.
    pub fn add_shop(&self, token: &str, orders: usize, days: u32) {
        let mut guard = lock(&self.inner.state);
        let st = &mut *guard;
        st.shops_made += 1;
        let mut shop = Shop::new(st.shops_made);
        let now = now_ms();
        let mut times: Vec<i64> =
            (0..orders).map(|_| sec(st.rng.gen_range(now - i64::from(days) * 86_400_000..=now))).collect();
        times.sort_unstable();
        for t in times {
            let state = weighted_state(&mut st.rng);
            shop.generate(&mut st.rng, t, state, now);
        }
        // Amounts whose fen rounding float arithmetic gets wrong (2.675 → 2.67, 1.005 → 1.00)
        // must always be present; the voucher goes so the total stays positive.
        if let Some(o) = shop.orders.first_mut() {
            o.lines[0].price = 26_750;
            o.discount = 0;
        }
        if let Some(o) = shop.orders.get_mut(1) {
            o.shipping = 10_050;
        }
        shop.generate_returns(&mut st.rng, now);
        st.shops.insert(token.to_string(), shop);
    }

    /// Runs `f` on shop `token` with the data rng; `R::default()` for an unknown shop.
    fn with_shop<R: Default>(&self, token: &str, f: impl FnOnce(&mut Shop, &mut StdRng) -> R) -> R {
        let mut guard = lock(&self.inner.state);
        let State { rng, shops, .. } = &mut *guard;
        shops.get_mut(token).map_or_else(R::default, |shop| f(shop, rng))
    }

    /// Adds `n` orders placed now (state 2011, 2013 or 2020); returns their ids (empty for an
    /// unknown shop).
    pub fn add_orders(&self, token: &str, n: usize) -> Vec<String> {
        let now = now_ms();
        self.with_shop(token, |shop, rng| {
            (0..n)
                .map(|_| {
                    let state = *pick(rng, &[2011, 2011, 2013, 2020]);
                    let idx = shop.generate(rng, now, state, now);
                    shop.orders[idx].id.clone()
                })
                .collect()
        })
    }

    /// Sets an order's `order_state_id` as the mall would (any code, no rules; a shipment is
    /// added when it becomes 2040 or 2060 without one); false if the shop or order is unknown.
    pub fn set_order_state(&self, token: &str, order_id: &str, state: u16) -> bool {
        self.with_shop(token, |shop, rng| {
            let Some(&idx) = shop.by_id.get(order_id) else {
                return false;
            };
            shop.set_state(rng, idx, state, now_ms());
            true
        })
    }

    /// Sets an order's buyer message (`order_message`), as a merchant writes their own order
    /// number there; false if the shop or order is unknown.
    pub fn set_message(&self, token: &str, order_id: &str, message: &str) -> bool {
        self.with_shop(token, |shop, _| {
            let Some(&idx) = shop.by_id.get(order_id) else {
                return false;
            };
            shop.orders[idx].message = message.to_string().into();
            true
        })
    }

    /// Sets a return's `return_state_id` as the mall would (any code, no rules); false if the
    /// shop or return is unknown.
    pub fn set_return_state(&self, token: &str, return_id: &str, state: u16) -> bool {
        self.with_shop(token, |shop, _| {
            let Some(&ri) = shop.returns_by_id.get(return_id) else {
                return false;
            };
            shop.set_return_state(ri, state, now_ms());
            true
        })
    }

    /// Adds a submitted (3100) return of order `order_id`, created now; returns its id, or an
    /// empty string if the shop or order is unknown.
    pub fn add_return(&self, token: &str, order_id: &str) -> String {
        self.with_shop(token, |shop, rng| {
            let Some(&idx) = shop.by_id.get(order_id) else {
                return String::new();
            };
            shop.add_return(rng, idx, RETURN_STATES[0], now_ms())
        })
    }

    /// Ids of the orders in `order_state_id` `state`, in creation order.
    pub fn order_ids_in_state(&self, token: &str, state: u16) -> Vec<String> {
        self.with_shop(token, |shop, _| {
            let orders = shop.orders.iter().filter(|o| o.state == state);
            orders.map(|o| o.id.clone()).collect()
        })
    }

    /// Ground truth of every order of a shop, in creation order (empty for an unknown shop).
    pub fn truth_orders(&self, token: &str) -> Vec<SsTruthOrder> {
        self.with_shop(token, |shop, _| shop.orders.iter().map(|o| o.truth(refund_code(shop, o))).collect())
    }

    /// Ground truth of every return of a shop, oldest `return_add_time` first (empty for an
    /// unknown shop).
    pub fn truth_returns(&self, token: &str) -> Vec<SsTruthReturn> {
        self.with_shop(token, |shop, _| {
            let truth = |r: &Return| SsTruthReturn {
                return_id: r.id.clone(),
                order_id: shop.orders[r.order].id.clone(),
                state: r.state,
                unified_status: unified(UNIFIED_RETURN_STATUS, r.state),
                amount_fen: units_to_fen(r.amount),
                reason: r.reason.1.to_string(),
                add_time_ms: r.add_time,
                store_time_ms: r.store_time,
                finish_time_ms: r.finish_time,
            };
            let mut all: Vec<SsTruthReturn> = shop.returns.iter().map(truth).collect();
            all.sort_by_key(|r| r.add_time_ms);
            all
        })
    }

    /// For the demo: every tick adds an order, moves a random open order one state on
    /// (2011→…→2060), sometimes opens a return and moves a random open return one state on,
    /// until the handle is aborted.
    pub fn spawn_activity(&self, token: &str, every: Duration) -> JoinHandle<()> {
        let (sim, token) = (self.clone(), token.to_string());
        super::every(every, move || {
            sim.add_orders(&token, 1);
            sim.with_shop(&token, |shop, rng| shop.tick(rng, now_ms()));
        })
    }

    /// The axum router with the five routes, for serving or mounting elsewhere.
    pub fn router(&self) -> Router {
        Endpoint::ALL.into_iter().fold(Router::new(), |router, ep| {
            let sim = self.clone();
            let handler =
                move |headers: HeaderMap, query: QueryResult| async move { sim.handle(ep, &headers, query).await };
            let route = if ep.is_push() { post(handler) } else { get(handler) };
            router.route(ep.path(), route)
        })
    }

    /// Serves the simulator on 127.0.0.1 (a free port) until the handle is dropped.
    pub async fn serve(&self) -> std::io::Result<SimHandle> {
        super::serve(super::noting_passes(self.router(), self.clone())).await
    }

    async fn handle(&self, ep: Endpoint, headers: &HeaderMap, query: QueryResult) -> Response {
        let token = bearer(headers);
        let params = query.ok().map(|Query(q)| q);
        let items = usize::from(ep.is_push());
        let core = &self.inner.core;
        // The token check runs inside `respond`, so a 401 is logged and faults apply to it too.
        core.respond(token.unwrap_or(""), ep.path(), items, || self.process(ep, token, params.as_ref())).await
    }

    fn process(&self, ep: Endpoint, token: Option<&str>, q: Option<&Params>) -> (StatusCode, Value) {
        let mut applied = None;
        let result = {
            let mut guard = lock(&self.inner.state);
            let State { rng, shops, form, under, .. } = &mut *guard;
            let Some(shop) = token.and_then(|t| shops.get_mut(t)) else {
                let body = json!({"code": 401, "data": null, "error": "Unauthorized",
                                  "msg": "暂未登录或token已经过期", "status": 401});
                return (StatusCode::UNAUTHORIZED, body);
            };
            let out = Out { form: *form, under: token.and_then(|t| under.get_mut(t)) };
            match (ep, q) {
                (_, None) => Err("请求参数格式错误".to_string()),
                (Endpoint::OrderList, Some(q)) => order_list(shop, q, out),
                (Endpoint::OrderDetail, Some(q)) => order_detail(shop, q, out.form),
                (Endpoint::ReturnList, Some(q)) => return_list(shop, q, out),
                (Endpoint::ReturnGet, Some(q)) => return_get(shop, q, out.form),
                (Endpoint::Cancel | Endpoint::Receive, Some(q)) => push(shop, rng, q, ep == Endpoint::Cancel, now_ms())
                    .map(|(data, pushed)| {
                        let key = pushed.0.clone();
                        applied = Some(pushed);
                        (data, vec![key])
                    }),
            }
        };
        if let Some((order_id, entry)) = applied {
            let shop = token.unwrap_or("");
            self.inner.core.record_push(shop, "status", &order_id, &entry);
        }
        let keys = result.as_ref().map(|(_, keys)| keys.clone()).unwrap_or_default();
        let params = q.map(|q| q.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        let entry = SsQuery { shop: token.unwrap_or("").to_string(), path: ep.path().to_string(), params, keys };
        lock(&self.inner.queries).push(entry);
        let body = match result {
            Ok((data, _)) => json!({"code": 0, "data": data, "error": "", "msg": "", "status": 200}),
            Err(msg) => fail(&msg),
        };
        (StatusCode::OK, body)
    }
}

/// A refusal: HTTP 200 with the vendor's failed status.
fn fail(msg: &str) -> Value {
    json!({"code": FAILED, "data": null, "error": "", "msg": msg, "status": FAILED})
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

// ---- parameters (an empty value counts as absent, as in the vendor's Java binding) ----

fn param<'a>(q: &'a Params, name: &str) -> Option<&'a str> {
    q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn int_param(q: &Params, name: &str) -> Result<Option<i64>, String> {
    param(q, name).map(|v| v.parse().map_err(|_| format!("{name} 必须是整数"))).transpose()
}

/// (page, size) from `page` (1-based, default 1) and `size` (default 10, at most 100).
fn paging(q: &Params) -> Result<(i64, i64), String> {
    let page = int_param(q, "page")?.unwrap_or(1);
    let size = int_param(q, "size")?.unwrap_or(DEFAULT_PAGE_SIZE);
    if page < 1 {
        return Err("page 必须大于 0".into());
    }
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(format!("size 必须在 1 到 {MAX_PAGE_SIZE} 之间"));
    }
    Ok((page, size))
}

/// Whether to answer newest first: `sidx` may only name `column`, `sort` is `asc` or `desc`
/// (default `desc`, the mall's own "latest first" list).
fn descending(q: &Params, column: &str) -> Result<bool, String> {
    if param(q, "sidx").is_some_and(|s| s != column) {
        return Err(format!("sidx 只支持 {column}"));
    }
    match param(q, "sort").map(str::to_ascii_lowercase).as_deref() {
        None | Some("desc") => Ok(true),
        Some("asc") => Ok(false),
        Some(_) => Err("sort 只能是 asc 或 desc".into()),
    }
}

/// How answers are written: the time form, and the shop's under-serving if any.
struct Out<'a> {
    form: SsTimeForm,
    under: Option<&'a mut UnderServe>,
}

/// An answer's `data` with the keys of the rows it carries.
type Answer = Result<(Value, Vec<String>), String>;

/// The list `data` object: one page of `rows` plus `records` (rows) and `total` (pages). Rows the
/// shop under-serves are left out of the page but still counted.
fn page_of<T>(
    rows: &[T],
    page: i64,
    size: i64,
    under: Option<&mut UnderServe>,
    key: impl Fn(&T) -> &str,
    to_row: impl Fn(&T) -> Value,
) -> (Value, Vec<String>) {
    let records = rows.len() as i64;
    let skip = usize::try_from((page - 1).saturating_mul(size)).unwrap_or(usize::MAX);
    let on_page: Vec<&T> = rows.iter().skip(skip).take(size as usize).collect();
    let keys: Vec<String> = on_page.iter().map(|r| key(r).to_string()).collect();
    let hidden = under.map(|u| u.hide(&keys)).unwrap_or_default();
    let (items, keys): (Vec<Value>, Vec<String>) =
        on_page.into_iter().zip(keys).filter(|(_, k)| !hidden.contains(k)).map(|(r, k)| (to_row(r), k)).unzip();
    let data = json!({"items": items, "page": page, "records": records, "size": size,
                      "total": (records + size - 1) / size});
    (data, keys)
}

/// A `createTimeStart`/`createTimeEnd` filter (unix milliseconds, both inclusive) over `at`.
fn in_window(q: &Params, at: i64) -> Result<bool, String> {
    let start = int_param(q, "createTimeStart")?;
    let end = int_param(q, "createTimeEnd")?;
    Ok(start.is_none_or(|s| at >= s) && end.is_none_or(|e| at <= e))
}

fn order_list(shop: &Shop, q: &Params, out: Out<'_>) -> Answer {
    let (page, size) = paging(q)?;
    in_window(q, 0)?;
    let state = int_param(q, "orderStateId")?;
    let desc = descending(q, "order_time")?;
    let only = param(q, "orderId");
    let mut rows: Vec<&Order> = shop
        .orders
        .iter()
        .filter(|o| {
            in_window(q, o.time).unwrap_or(false)
                && state.is_none_or(|s| i64::from(o.state) == s)
                && only.is_none_or(|id| o.id == id)
        })
        .collect();
    // A stable sort: orders placed in the same second keep their creation order.
    rows.sort_by_key(|o| o.time);
    if desc {
        rows.reverse();
    }
    Ok(page_of(&rows, page, size, out.under, |o| &o.id, |o| order_row(shop, o, out.form)))
}

fn order_detail(shop: &Shop, q: &Params, form: SsTimeForm) -> Answer {
    let id = param(q, "order_id").ok_or("order_id 不能为空")?;
    let &idx = shop.by_id.get(id).ok_or("订单不存在")?;
    Ok((order_row(shop, &shop.orders[idx], form), vec![id.to_string()]))
}

fn return_list(shop: &Shop, q: &Params, out: Out<'_>) -> Answer {
    let (page, size) = paging(q)?;
    in_window(q, 0)?;
    let state = int_param(q, "returnStateId")?;
    let desc = descending(q, "return_add_time")?;
    let only = param(q, "orderId");
    let only_return = param(q, "returnId");
    let mut rows: Vec<&Return> = shop
        .returns
        .iter()
        .filter(|r| {
            in_window(q, r.add_time).unwrap_or(false)
                && state.is_none_or(|s| i64::from(r.state) == s)
                && only.is_none_or(|id| shop.orders[r.order].id == id)
                && only_return.is_none_or(|id| r.id == id)
        })
        .collect();
    rows.sort_by_key(|r| r.add_time);
    if desc {
        rows.reverse();
    }
    Ok(page_of(&rows, page, size, out.under, |r| &r.id, |r| return_row(shop, r, out.form)))
}

/// `orderReturn/get?return_id=…`: the return object itself as `data` (the page's sample).
fn return_get(shop: &Shop, q: &Params, form: SsTimeForm) -> Answer {
    let id = param(q, "return_id").ok_or("return_id 不能为空")?;
    let &ri = shop.returns_by_id.get(id).ok_or("退单不存在")?;
    Ok((return_row(shop, &shop.returns[ri], form), vec![id.to_string()]))
}

// ---- pushes ----

/// Why a cancel (before shipment only) or a receive (from 2040 only) of an order in `state` is
/// refused; None when it is allowed.
fn refusal(cancel: bool, state: u16) -> Option<&'static str> {
    Some(match (cancel, state) {
        (true, s) if CANCELLABLE.contains(&s) => return None,
        (true, SHIPPED) => "订单已发货，不能取消",
        (true, RECEIVED) => "订单已完成，不能取消",
        (true, CANCELLED) => "订单已取消，请勿重复操作",
        (true, _) => "订单当前状态不能取消",
        (false, SHIPPED) => return None,
        (false, RECEIVED) => "订单已确认收货，请勿重复操作",
        (false, CANCELLED) => "订单已取消，不能确认收货",
        (false, _) => "订单未发货，不能确认收货",
    })
}

/// Cancels (→ 2070) or confirms receipt of (→ 2060) the order `orderId`; on success the `data`
/// of the vendor sample and the applied push (order id, the parameters as sent).
fn push(
    shop: &mut Shop,
    rng: &mut StdRng,
    q: &Params,
    cancel: bool,
    now: i64,
) -> Result<(Value, (String, Value)), String> {
    let id = param(q, "orderId").ok_or("orderId 不能为空")?;
    let &idx = shop.by_id.get(id).ok_or("订单不存在")?;
    if let Some(msg) = refusal(cancel, shop.orders[idx].state) {
        return Err(msg.into());
    }
    shop.set_state(rng, idx, if cancel { CANCELLED } else { RECEIVED }, now);
    if cancel {
        let reason = param(q, "orderCancelReason").unwrap_or_default();
        shop.orders[idx].cancel_reason = reason.to_string();
    }
    let entry: Map<String, Value> = q.iter().map(|(k, v)| (k.clone(), v.as_str().into())).collect();
    Ok((json!({"orderId": [id]}), (id.to_string(), Value::Object(entry))))
}

// ---- rows (field names from the vendor page; a subset of its sample) ----

/// Merges the fields of `more` into the object `row` (json! objects stay small that way).
fn merge(mut row: Value, more: Value) -> Value {
    if let (Value::Object(row), Value::Object(more)) = (&mut row, more) {
        row.extend(more);
    }
    row
}

/// A string-typed time (RFC 3339 in the page's samples) in `form`; unset is null.
fn text_time(form: SsTimeForm, ms: Option<i64>) -> Value {
    let Some(ms) = ms else {
        return Value::Null;
    };
    let at = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    match form {
        SsTimeForm::Rfc3339 => at.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
        SsTimeForm::Millis => ms.into(),
        SsTimeForm::CstText => at.with_timezone(&cst()).format("%Y-%m-%d %H:%M:%S").to_string().into(),
    }
}

/// An integer-typed time (`0` = unset, as in the page's samples): unix seconds in the page's
/// form, milliseconds in the others.
fn int_time(form: SsTimeForm, ms: Option<i64>) -> Value {
    match (ms, form) {
        (None, _) => 0.into(),
        (Some(ms), SsTimeForm::Rfc3339) => ms.div_euclid(1000).into(),
        (Some(ms), _) => ms.into(),
    }
}

fn order_row(shop: &Shop, o: &Order, form: SsTimeForm) -> Value {
    let (province, city, postcode) = PLACES[o.buyer.place];
    let returns: Vec<&Return> = o.returns.iter().map(|&i| &shop.returns[i]).collect();
    let open_return = returns.iter().any(|r| r.state != RETURN_DONE);
    // 2600/2500 none, 2601/2501 in progress, 2602/2502 done.
    let refund = refund_code(shop, o);
    let shipped = matches!(o.state, SHIPPED | RECEIVED);
    let head = json!({
        "order_id": o.id, "order_title": GOODS[o.lines[0].goods].0,
        "store_id": shop.store_id, "store_name": format!("ShopSuite Store {}", shop.store_id),
        "subsite_id": 0, "user_id": shop.user_id, "user_nickname": "ordersync",
        "buyer_contacter": o.buyer.name,
        // The vendor sample types the buyer's mobile as a number.
        "buyer_mobile": o.buyer.phone.parse::<i64>().map_or(Value::Null, Value::from),
        "kind_id": 1201, "order_state_id": o.state, "order_is_paid": PAID,
        "order_is_out": if shipped || o.state == 2030 { 3022 } else { 3020 },
        "order_is_shipped": if shipped { 3032 } else { 3030 },
        "order_is_received": o.state == RECEIVED,
        "if_buyer_cancel": CANCELLABLE.contains(&o.state),
    });
    let times = json!({
        "order_time": text_time(form, Some(o.time)), "payment_time": text_time(form, Some(o.pay_time)),
        "order_received_time": text_time(form, o.received_time),
        "order_cancel_time": text_time(form, o.cancel_time), "delivery_time": 0,
        "order_cancel_reason": o.cancel_reason, "order_message": o.message,
        "payment_type_id": 1302, "delivery_type_id": 1, "src_order_id": "",
        "currency_id": 1, "currency_symbol_left": "￥",
    });
    let money = json!({
        "order_item_amount": yuan(o.goods()), "order_product_amount": yuan(o.goods()),
        "order_discount_amount": yuan(o.discount), "voucher_price": yuan(o.discount),
        "order_shipping_fee": yuan(o.shipping), "order_shipping_fee_amount": yuan(o.shipping),
        "order_payment_amount": yuan(o.total()), "trade_payment_amount": yuan(0),
        "order_return_ids": returns.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(","),
        "order_lock_status": open_return, "order_refund_status": refund,
        "order_return_status": refund - 100,
    });
    let delivery = json!({
        "order_id": o.id, "da_name": o.buyer.name, "da_mobile": o.buyer.phone,
        "da_telephone": "", "da_intl": "+86", "da_province": province, "da_city": city,
        "da_county": county(o.buyer.place), "da_address": o.buyer.street,
        "da_postalcode": postcode, "da_tag_name": o.buyer.tag, "da_time": text_time(form, Some(o.time)),
    });
    let items: Vec<Value> = (0..o.lines.len()).map(|i| line_row(shop, o, &returns, i)).collect();
    let logistics: Vec<Value> = o.logistics.iter().map(|l| logistics_row(o, l, form)).collect();
    let log: Vec<Value> = o
        .log
        .iter()
        .map(|l| {
            json!({"order_state_log_id": l.id, "order_id": o.id, "order_state_id": l.state,
                   "order_state_pre_id": l.pre, "order_state_time": text_time(form, Some(l.time)),
                   "order_state_note": "", "user_id": shop.user_id})
        })
        .collect();
    let joined = json!({"delivery": delivery, "items": items, "logistics": logistics,
                        "log_items": log});
    [times, money, joined].into_iter().fold(head, merge)
}

fn line_row(shop: &Shop, o: &Order, returns: &[&Return], i: usize) -> Value {
    let l = &o.lines[i];
    let return_ids: Vec<&str> =
        returns.iter().filter(|r| r.lines.iter().any(|&(li, _)| li == i)).map(|r| r.id.as_str()).collect();
    let head = json!({
        "order_item_id": l.id, "order_id": o.id, "store_id": shop.store_id,
        "user_id": shop.user_id, "item_id": l.item_id(), "product_id": 1_000 + l.goods,
        "order_item_image": format!("https://img.shopsuite.example/{}.jpg", GOODS[l.goods].1),
    });
    let head = merge(head, names(l));
    let money = json!({
        "item_unit_price": yuan(l.price), "order_item_sale_price": yuan(l.price),
        "order_item_quantity": l.qty, "order_item_amount": yuan(l.amount()),
        "order_item_payment_amount": yuan(l.amount()), "order_item_discount_amount": yuan(0),
        "if_return": !return_ids.is_empty(), "return_ids": return_ids,
    });
    merge(head, money)
}

/// A line's `item_name`, `product_name` and `product_item_name`, those the mall leaves out omitted.
fn names(l: &Line) -> Value {
    let (item, product, spec) = l.names();
    let fields = [("item_name", item), ("product_name", product), ("product_item_name", spec)];
    Value::Object(fields.into_iter().filter_map(|(k, v)| Some((k.to_string(), Value::from(v?)))).collect())
}

fn logistics_row(o: &Order, l: &Logistics, form: SsTimeForm) -> Value {
    json!({
        "order_logistics_id": l.id, "order_id": o.id, "order_tracking_number": l.tracking,
        "express_id": l.carrier.0, "express_name": l.carrier.1, "logistics_id": l.carrier.0,
        "logistics_time": int_time(form, Some(l.time)), "logistics_enable": true, "logistics_explain": "",
        "stock_bill_id": "", "ss_id": 0,
    })
}

fn return_row(shop: &Shop, r: &Return, form: SsTimeForm) -> Value {
    let o = &shop.orders[r.order];
    let shipped = o.logistics.iter().any(|l| l.time <= r.add_time);
    let head = json!({
        "return_id": r.id, "order_id": o.id, "store_id": shop.store_id,
        "buyer_user_id": shop.user_id, "buyer_store_id": 0, "subsite_id": 0,
        "return_state_id": r.state,
        "plantform_return_state_id": if r.state == RETURN_DONE { 3182 } else { 3180 },
        // Refund only (1) before the goods left, return of goods (2) after.
        "service_type_id": if shipped { 2 } else { 1 }, "return_flag": i64::from(shipped),
        "return_reason_id": r.reason.0, "return_buyer_message": r.reason.1,
        "return_tel": o.buyer.phone, "return_contact_name": o.buyer.name,
    });
    let money = json!({
        "return_refund_amount": yuan(r.amount), "submit_return_refund_amount": yuan(r.amount),
        "return_refund_point": 0, "return_shipping_fee": yuan(0),
        "trade_payment_amount": yuan(o.total()),
        "return_financial_confirm": r.state >= 3115, "return_is_paid": r.state >= 3120,
        "return_add_time": int_time(form, Some(r.add_time)),
        "return_store_time": text_time(form, r.store_time),
        "return_finish_time": text_time(form, r.finish_time),
        "return_num": r.lines.iter().map(|&(_, k)| k).sum::<i64>(),
    });
    let items: Vec<Value> = r
        .lines
        .iter()
        .map(|&(i, k)| {
            let l = &o.lines[i];
            let row = json!({
                "order_item_id": l.id, "order_id": o.id, "item_id": l.item_id(),
                "order_item_quantity": l.qty,
                "item_unit_price": yuan(l.price), "order_item_sale_price": yuan(l.price),
                "return_item_num": k, "return_item_subtotal": yuan(l.price * k),
                "unit_name": "件",
            });
            merge(row, names(l))
        })
        .collect();
    merge(merge(head, money), json!({"items": items}))
}

impl Simulator for SsSim {
    fn core(&self) -> &SimCore {
        &self.inner.core
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Amounts print as their exact decimals, never as the float's long expansion.
    #[test]
    fn yuan_numbers_print_their_decimal() {
        let text = |units| yuan(units).to_string();
        assert_eq!(text(26_750), "2.675");
        assert_eq!(text(10_050), "1.005");
        assert_eq!(text(129_300), "12.93");
        assert_eq!(text(1_000_000), "100.0");
        assert_eq!(text(49), "0.0049");
        assert_eq!(text(0), "0.0");
        assert_eq!(units_to_fen(26_750), 268);
    }

    /// Every generated order walks the lifecycle from 2011 and ships before it is received.
    #[test]
    fn generated_orders_are_consistent() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut shop = Shop::new(1);
        let now = now_ms();
        for k in 0..300 {
            let state = weighted_state(&mut rng);
            let idx = shop.generate(&mut rng, now - 86_400_000 + k * 1000, state, now);
            let o = &shop.orders[idx];
            assert_eq!(o.state, state);
            assert_eq!(o.log[0].state, 2011);
            assert!(o.log.windows(2).all(|w| w[0].time <= w[1].time));
            let shipped = matches!(state, SHIPPED | RECEIVED);
            assert_eq!(shipped, (1..=2).contains(&o.logistics.len()), "{state}");
            assert!(o.total() > 0);
        }
        shop.generate_returns(&mut rng, now);
        assert!(shop.returns.len() >= 30);
        for st in RETURN_STATES {
            assert!(shop.returns.iter().any(|r| r.state == st), "{st}");
        }
    }
}
