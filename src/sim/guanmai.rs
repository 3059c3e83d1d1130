//! Guanmai station openapi simulator (PLATFORMS.md §2): a fresh-food distribution station whose
//! orders come from restaurants. Four routes answer `{"code":0,"msg":"ok","data":…}`: the token
//! call, the order list, the order detail and the status update.
//!
//! Shops are told apart by their `access_id`; every call but the token call carries an
//! `access_token` in the query string, which the simulator maps back to the shop (also in the
//! request log). Each shop holds generated orders; the test hooks ([`GmSim::truth_orders`],
//! [`GmSim::set_status`], [`GmSim::add_order_at`], [`GmSim::add_weighed_order`],
//! [`GmSim::remove_order`], [`GmSim::detail_requests`], [`GmSim::set_token_lifetime_calls`], …)
//! expose the ground truth, play the station's workers (an order paid weeks later, deleted to -1,
//! entered after the fact) and make tokens expire on demand. Amounts live as integer fen, so the list's
//! yuan strings and the detail's fen agree exactly. The truth also states what a correct connector
//! stores as unified status and payment, from this file's own tables ([`UNIFIED_STATUS`],
//! [`UNIFIED_PAYMENT`]) written from PLATFORMS.md, so tests never take them from product code.
//! Decisions beyond the vendor page and PLATFORMS.md:
//! - wrong credentials answer code 2 `access_id or secret invalid`; a missing parameter, code 1;
//! - a new token does not revoke older ones: each lives until its `expire_time` (or its call
//!   budget), so concurrent workers of one shop may refresh independently;
//! - the 7-day limit counts whole days inclusively: `start_date`..`end_date` may cover at most
//!   7 calendar days (2024-01-01..2024-01-07), dates must be zero-padded `YYYY-MM-DD`;
//! - `sort_type` defaults to `date_desc` as on the vendor page, `limit` to 20 (its sample);
//! - `origin_total_price` is higher than `total_price` in the few orders whose unit price the
//!   station cut after ordering;
//! - the detail mimics the vendor sample, so it carries no order id; its `date_time` has
//!   milliseconds (as the sample), while the list's `date_time_str` and the truth's
//!   `order_date` are whole seconds;
//! - times are written as the page's samples write them (CST text: `date_time_str`
//!   `YYYY-MM-DD HH:MM:SS`, detail `date_time` `YYYY-MM-DDTHH:MM:SS.mmm` without a zone, token
//!   `expire_time`, receive times `YYYY-MM-DD HH:MM`); [`GmSim::set_time_form`] switches every
//!   one of them to RFC 3339 UTC (`Z`) or to unix milliseconds (numbers);
//! - weighed goods (`is_weight`, 斤) are ordered in decimals (`1.5`, `2.35`, at most two
//!   places) and weighed when packed: from status 10 on (not for a deleted order) the detail's
//!   `real_quantity` is the weighed amount, before that it equals `quantity`. Amounts:
//!   `real_item_price` = `real_quantity` × `sale_price` rounded half up to the fen,
//!   `real_price` = Σ `real_item_price`, `total_pay` = `real_price` + `freight`; the list's
//!   `total_price` = Σ `quantity` × `sale_price` (each line rounded the same way) and
//!   `origin_total_price` the same at the prices when ordered; neither includes freight;
//! - a token's call budget counts only calls that reached the handler (an injected 500/429
//!   spends none); the request log names the shop behind a token even once it has expired;
//! - `order/update` changes only `status` (required) and refuses a move to the same status;
//!   an unknown order answers code 1 `order not found: …`.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::{
    cst, cst_day_bounds, lock, now_unix, parse_date, pick, random_phone, yuan4, SimCore, SimHandle, Simulator,
    FIRST_NAMES, LAST_NAMES, PLACES,
};

/// Largest `limit` the order list accepts.
const MAX_LIMIT: i64 = 100;
/// `limit` when the client sends none (the vendor sample's pagination shows 20).
const DEFAULT_LIMIT: i64 = 20;
/// Most calendar days one list window may cover (inclusive).
const MAX_SPAN_DAYS: i64 = 7;
/// Token lifetime unless a test shortens it: one hour, as the vendor page says.
const TOKEN_TTL_SECS: i64 = 3_600;
/// Status moves `order/update` accepts (vendor page: 1>5, 1>10, 5>10).
const ALLOWED_MOVES: &[(i32, i32)] = &[(1, 5), (1, 10), (5, 10)];
/// Order statuses a generated order can have, with their weights.
const STATUS_MIX: &[(i32, u32)] = &[(-1, 10), (1, 25), (5, 15), (10, 15), (15, 15), (100, 20)];
/// The simulator's own reading of PLATFORMS.md §2: vendor `status` → unified order status (never
/// taken from the connector's table, so a wrong entry there fails the end-to-end tests).
pub const UNIFIED_STATUS: &[(i32, &str)] = &[
    (-1, "cancelled"),
    (1, "awaiting_fulfillment"),
    (5, "processing"),
    (10, "shipped"),
    (15, "delivered"),
    (100, "completed"),
];
/// The simulator's own reading of PLATFORMS.md §2 ("100 paid") and docs/platforms/guanmai.md: the
/// only status that says anything about payment; every other leaves payment unknown.
pub const UNIFIED_PAYMENT: &[(i32, &str)] = &[(100, "paid")];
/// Characters of an access token (the vendor sample's are lowercase letters and digits).
const TOKEN_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Restaurants ordering from the station (`resname`).
const RESTAURANTS: &[&str] = &["湘有缘饭店", "沙县小吃", "兰州拉面", "潮汕牛肉火锅", "Golden Wok"];
/// Suppliers named on order lines.
const SUPPLIERS: &[&str] = &["小农女", "鲜丰农场", "永辉供应链"];

type Str = &'static str;
/// One row of [`MENU`].
type MenuItem = (Str, Str, Str, Str, Str, Str, i64, i64, bool);
/// The station's sale menu: (name `goods|unit`, spu_id, sku id, category 1, category 2, unit,
/// lowest fen, highest fen, sold by weight). A fresh-food station has its own menu rather than
/// the shared `GOODS` table: categories, units and weighing are part of its detail rows.
#[rustfmt::skip]
const MENU: &[MenuItem] = &[
    ("白菜苔|斤", "C00865", "D805677", "蔬菜", "叶菜类", "斤", 500, 900, true),
    ("上海青|斤", "C00871", "D805702", "蔬菜", "叶菜类", "斤", 300, 600, true),
    ("土豆|斤", "C01203", "D806114", "蔬菜", "根茎类", "斤", 150, 350, true),
    ("西红柿|斤", "C01377", "D806230", "蔬菜", "茄果类", "斤", 400, 800, true),
    ("五花肉|斤", "C02210", "D807015", "肉类", "猪肉", "斤", 1_800, 2_800, true),
    ("鸡蛋|箱", "C03102", "D808120", "蛋类", "鲜蛋", "箱", 9_000, 13_000, false),
    ("大豆油 5L|桶", "C04005", "D809001", "粮油", "食用油", "桶", 5_500, 7_900, false),
    ("五常大米 10kg|袋", "C04120", "D809044", "粮油", "大米", "袋", 6_500, 9_900, false),
];

/// The four routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Token,
    Orders,
    Get,
    Update,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Token => "/openapi/auth/access_token",
            Endpoint::Orders => "/openapi/orders",
            Endpoint::Get => "/openapi/order/get",
            Endpoint::Update => "/openapi/order/update",
        }
    }
}

/// Ground truth of one order, amounts in fen.
#[derive(Debug, Clone, PartialEq)]
pub struct GmTruthOrder {
    /// Order id, like `PL492001` (ascending = order-date order).
    pub order_id: String,
    /// Vendor status: -1, 1, 5, 10, 15 or 100.
    pub status: i32,
    /// The unified status PLATFORMS.md gives `status` ([`UNIFIED_STATUS`]; `unknown` outside it).
    pub unified_status: &'static str,
    /// The unified payment status ([`UNIFIED_PAYMENT`]): `paid` at 100, otherwise None (unknown).
    pub unified_payment_status: Option<&'static str>,
    /// Order date (creation time), unix seconds.
    pub order_date: i64,
    /// The customer, a restaurant: `customer.resname` (the list's `resname`).
    pub resname: String,
    /// `customer.receiver_name`.
    pub receiver_name: String,
    /// `customer.receiver_phone`.
    pub receiver_phone: String,
    /// `customer.address`.
    pub address: String,
    /// Detail `freight`.
    pub freight_fen: i64,
    /// Detail `real_price` (goods, without freight).
    pub real_price_fen: i64,
    /// Detail `total_pay` (`real_price` + `freight`).
    pub total_pay_fen: i64,
    /// Detail lines in row order.
    pub lines: Vec<GmTruthLine>,
    /// The list row's `total_price`, read back from its yuan string.
    pub list_total_price_fen: i64,
    /// The list row's `origin_total_price`, read back from its yuan string.
    pub list_origin_total_price_fen: i64,
    /// The list row's `freight`, read back from its yuan string.
    pub list_freight_fen: i64,
}

/// Ground truth of one order line.
#[derive(Debug, Clone, PartialEq)]
pub struct GmTruthLine {
    /// `details[].id`, the sku id.
    pub sku_id: String,
    /// `details[].name`.
    pub name: String,
    /// `details[].quantity` in whole units, rounded half away from zero (1.5 → 2, 2.35 → 2).
    pub quantity: i64,
    /// `details[].quantity` exactly, as decimal text without trailing zeros (`3`, `1.5`, `2.35`).
    pub quantity_exact: String,
    /// `details[].real_quantity` exactly, as decimal text (the weighed amount once weighed).
    pub real_quantity: String,
    /// `details[].real_item_price` in fen: what the line is charged.
    pub real_item_price_fen: i64,
    /// `details[].is_weight`.
    pub is_weight: bool,
    /// `details[].sale_price` in fen.
    pub sale_price_fen: i64,
}

/// How the simulator writes its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GmTimeForm {
    /// As the vendor page's samples: text without a zone, China Standard Time.
    #[default]
    CstText,
    /// RFC 3339 in UTC with `Z` (`2017-06-21T09:29:38.913Z`).
    Rfc3339Utc,
    /// Unix milliseconds, as JSON numbers.
    UnixMillis,
}

/// Amounts in fen; quantities in hundredths of a unit (weighed goods come in decimals).
#[derive(Debug, Clone)]
struct Line {
    goods: usize,
    /// Ordered, hundredths.
    quantity: i64,
    /// Weighed out, hundredths (shown once the order is weighed).
    weighed: i64,
    sale_price: i64,
    /// The unit price when the order was placed (the station may cut it later).
    origin_price: i64,
    supplier: &'static str,
}

/// Amounts in fen.
#[derive(Debug, Clone)]
struct Order {
    id: String,
    status: i32,
    /// Order date, unix milliseconds (the detail's `date_time` shows them).
    date_ms: i64,
    sort_id: Option<i64>,
    resname: String,
    receiver_name: String,
    receiver_phone: String,
    address: String,
    freight: i64,
    remark: Option<&'static str>,
    lines: Vec<Line>,
}

impl Order {
    fn date(&self) -> i64 {
        self.date_ms.div_euclid(1_000)
    }

    /// Weighed goods get their weight when sorted and packed, i.e. once out for delivery.
    fn weighed_yet(&self) -> bool {
        matches!(self.status, 10 | 15 | 100)
    }

    /// A line's quantity as the detail shows it in `real_quantity`, hundredths.
    fn real_quantity(&self, l: &Line) -> i64 {
        if self.weighed_yet() {
            l.weighed
        } else {
            l.quantity
        }
    }

    /// A line's `real_item_price`, fen.
    fn real_item_price(&self, l: &Line) -> i64 {
        amount(self.real_quantity(l), l.sale_price)
    }

    /// Detail `real_price`: what the weighed lines are charged.
    fn real_price(&self) -> i64 {
        self.lines.iter().map(|l| self.real_item_price(l)).sum()
    }

    /// List `total_price`: the ordered quantities at the executed prices.
    fn list_price(&self) -> i64 {
        self.lines.iter().map(|l| amount(l.quantity, l.sale_price)).sum()
    }

    fn origin_price(&self) -> i64 {
        self.lines.iter().map(|l| amount(l.quantity, l.origin_price)).sum()
    }

    /// Open for the demo's activity: not yet paid or deleted.
    fn is_open(&self) -> bool {
        matches!(self.status, 1 | 5 | 10 | 15)
    }

    fn truth(&self) -> GmTruthOrder {
        let row = list_row(self, GmTimeForm::CstText);
        let list_fen = |key: &str| row[key].as_str().map_or(0, fen_of_yuan2);
        let line = |l: &Line| GmTruthLine {
            sku_id: MENU[l.goods].2.to_string(),
            name: MENU[l.goods].0.to_string(),
            // Hundredths to whole units, half away from zero (quantities are never negative).
            quantity: (l.quantity + 50) / 100,
            quantity_exact: decimal(l.quantity),
            real_quantity: decimal(self.real_quantity(l)),
            real_item_price_fen: self.real_item_price(l),
            is_weight: MENU[l.goods].8,
            sale_price_fen: l.sale_price,
        };
        GmTruthOrder {
            order_id: self.id.clone(),
            status: self.status,
            unified_status: unified(UNIFIED_STATUS, self.status).unwrap_or("unknown"),
            unified_payment_status: unified(UNIFIED_PAYMENT, self.status),
            order_date: self.date(),
            resname: self.resname.clone(),
            receiver_name: self.receiver_name.clone(),
            receiver_phone: self.receiver_phone.clone(),
            address: self.address.clone(),
            freight_fen: self.freight,
            real_price_fen: self.real_price(),
            total_pay_fen: self.real_price() + self.freight,
            lines: self.lines.iter().map(line).collect(),
            list_total_price_fen: list_fen("total_price"),
            list_origin_total_price_fen: list_fen("origin_total_price"),
            list_freight_fen: list_fen("freight"),
        }
    }
}

/// The unified value a table of the simulator gives a vendor code.
fn unified(table: &[(i32, &'static str)], code: i32) -> Option<&'static str> {
    table.iter().find(|(c, _)| *c == code).map(|(_, u)| *u)
}

/// Decimal text with at most two places (`1.5`, `2.35`, `3`) as hundredths.
fn parse_hundredths(text: &str) -> Option<i64> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || frac.len() > 2 || !(frac.is_empty() || digits(frac)) {
        return None;
    }
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    Some(whole.parse::<i64>().ok()?.checked_mul(100)? + frac)
}

/// A quantity in hundredths at a unit price in fen, rounded half up to the fen.
fn amount(hundredths: i64, fen: i64) -> i64 {
    (hundredths * fen + 50).div_euclid(100)
}

/// Hundredths as decimal text without trailing zeros: 150 → `1.5`, 235 → `2.35`, 300 → `3`.
fn decimal(hundredths: i64) -> String {
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// Hundredths as a JSON number written exactly as [`decimal`] writes it.
fn decimal_json(hundredths: i64) -> Value {
    serde_json::from_str(&decimal(hundredths)).unwrap_or(Value::Null)
}

/// An ordered quantity, hundredths: whole units for packed goods; for weighed goods whole 斤,
/// halves or two decimals, as restaurants order.
fn ordered_quantity(rng: &mut StdRng, weighed: bool) -> i64 {
    if !weighed {
        return rng.gen_range(1..=5) * 100;
    }
    match rng.gen_range(0..4) {
        0 | 1 => rng.gen_range(1..=30) * 100,
        2 => rng.gen_range(1..=20) * 100 + 50,
        _ => rng.gen_range(50..=2_500),
    }
}

/// What the scale shows for `ordered` hundredths: within 8% either way, never below 0.01.
fn weigh(rng: &mut StdRng, ordered: i64) -> i64 {
    let spread = (ordered * 8 / 100).max(1);
    (ordered + rng.gen_range(-spread..=spread)).max(1)
}

fn weighted_status(rng: &mut StdRng) -> i32 {
    let mut roll = rng.gen_range(0..STATUS_MIX.iter().map(|s| s.1).sum::<u32>());
    for &(status, weight) in STATUS_MIX {
        if roll < weight {
            return status;
        }
        roll -= weight;
    }
    1
}

/// One station's database; orders are kept in id order.
#[derive(Debug)]
struct Shop {
    secret: String,
    orders: Vec<Order>,
    by_id: HashMap<String, usize>,
    next_no: i64,
    next_sort_id: i64,
}

impl Shop {
    fn new(secret: &str, shop_no: i64) -> Shop {
        // Distinct id ranges per shop make a client mixing shops up visible in tests; shop 1
        // starts next to the vendor sample's PL492416.
        Shop {
            secret: secret.to_string(),
            orders: Vec::new(),
            by_id: HashMap::new(),
            next_no: 392_000 + shop_no * 100_000,
            next_sort_id: 0,
        }
    }

    /// Sorting numbers are handed out as orders reach sorting (status 5 or later).
    fn sort_id_for(&mut self, status: i32) -> Option<i64> {
        (status >= 5).then(|| {
            self.next_sort_id += 1;
            self.next_sort_id
        })
    }

    /// Generates and stores an order dated `date_ms`.
    fn generate(&mut self, rng: &mut StdRng, date_ms: i64, status: i32) -> usize {
        self.next_no += 1;
        let n_lines = rng.gen_range(1..=5);
        let mut lines: Vec<Line> = sample(rng, MENU.len(), n_lines)
            .into_iter()
            .map(|g| {
                let (.., lo_fen, hi_fen, weighed) = MENU[g];
                let price = rng.gen_range(lo_fen..=hi_fen);
                let quantity = ordered_quantity(rng, weighed);
                Line {
                    goods: g,
                    quantity,
                    weighed: if weighed { weigh(rng, quantity) } else { quantity },
                    sale_price: price,
                    origin_price: price,
                    supplier: pick::<&str>(rng, SUPPLIERS),
                }
            })
            .collect();
        if rng.gen_bool(0.15) {
            lines[0].origin_price += rng.gen_range(10..=100);
        }
        let (first, last) = (pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES));
        let (province, city, _) = *pick(rng, PLACES);
        let order = Order {
            id: format!("PL{}", self.next_no),
            status,
            date_ms,
            sort_id: self.sort_id_for(status),
            resname: format!("{}({city})", pick(rng, RESTAURANTS)),
            receiver_name: format!("{first} {last}"),
            receiver_phone: random_phone(rng),
            address: format!("{} Donghe Road, {city}, {province}", rng.gen_range(1..=999)),
            freight: *pick(rng, &[0, 0, 500, 1_000, 1_500, 2_000]),
            remark: rng.gen_bool(0.15).then_some("请早上7点前送到"),
            lines,
        };
        let idx = self.orders.len();
        self.by_id.insert(order.id.clone(), idx);
        self.orders.push(order);
        idx
    }

    /// Moves an order to `status`, numbering it for sorting when it first gets there.
    fn move_to(&mut self, idx: usize, status: i32) {
        if self.orders[idx].sort_id.is_none() {
            self.orders[idx].sort_id = self.sort_id_for(status);
        }
        self.orders[idx].status = status;
    }
}

/// One issued access token.
#[derive(Debug)]
struct Token {
    access_id: String,
    /// Unix seconds; the token is refused from this second on.
    expires: i64,
    /// API calls answered with it so far.
    calls: u32,
}

/// All shops and tokens. The data rng and the token rng are apart from the fault rng (and each
/// other), so neither faults nor token refreshes shift the generated data.
#[derive(Debug)]
struct State {
    rng: StdRng,
    token_rng: StdRng,
    shops: HashMap<String, Shop>,
    shops_made: i64,
    tokens: HashMap<String, Token>,
    token_requests: HashMap<String, usize>,
    token_calls: Option<u32>,
    token_ttl: i64,
    time_form: GmTimeForm,
    /// `order_id` of every `order/get` that reached the handler, in arrival order.
    detail_log: Vec<String>,
}

impl State {
    /// Answers the token call: checks the credentials and issues a fresh token.
    fn issue_token(&mut self, q: &Params, now: i64) -> Result<Value, String> {
        let access_id = required(q, "access_id")?;
        let secret = required(q, "secret")?;
        *self.token_requests.entry(access_id.to_string()).or_default() += 1;
        if self.shops.get(access_id).is_none_or(|s| s.secret != secret) {
            return Ok(json!({"code": 2, "msg": "access_id or secret invalid"}));
        }
        let token: String = (0..32).map(|_| char::from(*pick(&mut self.token_rng, TOKEN_CHARS))).collect();
        let expires = now + self.token_ttl;
        self.tokens.insert(token.clone(), Token { access_id: access_id.to_string(), expires, calls: 0 });
        let expire_time = time_value(self.time_form, expires * 1_000, "%Y-%m-%d %H:%M:%S");
        Ok(ok(json!({"access_token": token, "expire_time": expire_time})))
    }

    /// The shop a live token belongs to, counting the call; None for an unknown, expired or
    /// spent token.
    fn use_token(&mut self, token: Option<&str>, now: i64) -> Option<String> {
        let limit = self.token_calls;
        let t = self.tokens.get_mut(token?)?;
        if now >= t.expires || limit.is_some_and(|n| t.calls >= n) {
            return None;
        }
        t.calls += 1;
        Some(t.access_id.clone())
    }
}

#[derive(Debug)]
struct Inner {
    core: SimCore,
    state: Mutex<State>,
}

/// The Guanmai simulator: cheap to clone, all clones share one state.
#[derive(Debug, Clone)]
pub struct GmSim {
    inner: Arc<Inner>,
}

type Params = HashMap<String, String>;
type QueryResult = Result<Query<Params>, QueryRejection>;
type FormResult = Result<Form<Params>, FormRejection>;

impl GmSim {
    /// An empty simulator; `seed` drives the generated data, the tokens and the fault decisions.
    pub fn new(seed: u64) -> GmSim {
        let state = State {
            rng: StdRng::seed_from_u64(seed.wrapping_add(0x9e37_79b9)),
            token_rng: StdRng::seed_from_u64(seed.wrapping_add(0x7f4a_7c15)),
            shops: HashMap::new(),
            shops_made: 0,
            tokens: HashMap::new(),
            token_requests: HashMap::new(),
            token_calls: None,
            token_ttl: TOKEN_TTL_SECS,
            time_form: GmTimeForm::default(),
            detail_log: Vec::new(),
        };
        GmSim { inner: Arc::new(Inner { core: SimCore::new(seed), state: Mutex::new(state) }) }
    }

    /// Creates (or replaces) shop `access_id` with `orders` orders dated over the last `days` days.
    pub fn add_shop(&self, access_id: &str, secret: &str, orders: usize, days: u32) {
        let mut guard = lock(&self.inner.state);
        let st = &mut *guard;
        st.shops_made += 1;
        let mut shop = Shop::new(secret, st.shops_made);
        let now_ms = Utc::now().timestamp_millis();
        let mut dates: Vec<i64> =
            (0..orders).map(|_| st.rng.gen_range(now_ms - i64::from(days) * 86_400_000..=now_ms)).collect();
        // Ids ascend with the order date, as a station numbers orders when they are placed.
        dates.sort_unstable();
        for d in dates {
            let status = weighted_status(&mut st.rng);
            shop.generate(&mut st.rng, d, status);
        }
        st.shops.insert(access_id.to_string(), shop);
    }

    /// Makes every token answer code 10 once it has served `calls` API calls (None: no limit);
    /// applies to tokens already issued, counting their calls so far.
    pub fn set_token_lifetime_calls(&self, calls: Option<u32>) {
        lock(&self.inner.state).token_calls = calls;
    }

    /// Sets how long tokens issued from now on live (default one hour; whole seconds).
    pub fn set_token_ttl(&self, ttl: Duration) {
        lock(&self.inner.state).token_ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    }

    /// Token calls naming `access_id` that reached the handler (not cut off by an injected 500 or
    /// 429), with right or wrong secret.
    pub fn token_requests(&self, access_id: &str) -> usize {
        let st = lock(&self.inner.state);
        st.token_requests.get(access_id).copied().unwrap_or(0)
    }

    /// Runs `f` on shop `access_id`; `R::default()` for an unknown shop.
    fn with_shop<R: Default>(&self, access_id: &str, f: impl FnOnce(&mut Shop, &mut StdRng) -> R) -> R {
        let mut guard = lock(&self.inner.state);
        let State { rng, shops, .. } = &mut *guard;
        shops.get_mut(access_id).map_or_else(R::default, |shop| f(shop, rng))
    }

    /// Adds `n` orders dated now, waiting for outbound (status 1); returns their ids.
    /// Unknown shops are left alone (empty result).
    pub fn add_orders(&self, access_id: &str, n: usize) -> Vec<String> {
        let now_ms = Utc::now().timestamp_millis();
        self.with_shop(access_id, |shop, rng| {
            (0..n)
                .map(|_| {
                    let idx = shop.generate(rng, now_ms, 1);
                    shop.orders[idx].id.clone()
                })
                .collect()
        })
    }

    /// Sets an order's status as a station worker would (no transition rules); false if the shop
    /// or order is unknown.
    pub fn set_status(&self, access_id: &str, order_id: &str, status: i32) -> bool {
        self.with_shop(access_id, |shop, _| {
            let Some(&idx) = shop.by_id.get(order_id) else {
                return false;
            };
            shop.move_to(idx, status);
            true
        })
    }

    /// Adds an order placed at `at` (a station entering an order after the fact, or one a
    /// restaurant placed weeks ago) in vendor status `status`; None for an unknown shop.
    pub fn add_order_at(&self, access_id: &str, at: DateTime<Utc>, status: i32) -> Option<String> {
        self.with_shop(access_id, |shop, rng| {
            let idx = shop.generate(rng, at.timestamp_millis(), status);
            Some(shop.orders[idx].id.clone())
        })
    }

    /// Adds an order placed now, in vendor status `status`, whose lines are weighed goods with
    /// these (ordered `quantity`, weighed `real_quantity`) as decimal text with at most two
    /// places (`("1.5", "1.52")`). None for an unknown shop, a text that is not such a decimal,
    /// or more lines than the menu has weighed goods.
    pub fn add_weighed_order(&self, access_id: &str, weights: &[(&str, &str)], status: i32) -> Option<String> {
        let hundredths: Option<Vec<(i64, i64)>> =
            weights.iter().map(|(q, r)| Some((parse_hundredths(q)?, parse_hundredths(r)?))).collect();
        let hundredths = hundredths?;
        let weighed_goods: Vec<usize> = (0..MENU.len()).filter(|&g| MENU[g].8).collect();
        if hundredths.len() > weighed_goods.len() {
            return None;
        }
        let now_ms = Utc::now().timestamp_millis();
        self.with_shop(access_id, |shop, rng| {
            let idx = shop.generate(rng, now_ms, status);
            let order = &mut shop.orders[idx];
            order.lines = hundredths
                .iter()
                .zip(&weighed_goods)
                .map(|(&(quantity, weighed), &goods)| {
                    let (.., lo_fen, hi_fen, _) = MENU[goods];
                    let price = rng.gen_range(lo_fen..=hi_fen);
                    Line { goods, quantity, weighed, sale_price: price, origin_price: price, supplier: SUPPLIERS[0] }
                })
                .collect();
            Some(order.id.clone())
        })
    }

    /// Removes an order altogether (not deleted to -1: `order/get` then answers "order not
    /// found"); false if the shop or order is unknown.
    pub fn remove_order(&self, access_id: &str, order_id: &str) -> bool {
        self.with_shop(access_id, |shop, _| {
            let Some(idx) = shop.by_id.remove(order_id) else {
                return false;
            };
            shop.orders.remove(idx);
            shop.by_id = shop.orders.iter().enumerate().map(|(i, o)| (o.id.clone(), i)).collect();
            true
        })
    }

    /// The `order_id` of every `order/get` call that reached the handler, in arrival order (the
    /// shared request log names endpoints, not orders).
    pub fn detail_requests(&self) -> Vec<String> {
        lock(&self.inner.state).detail_log.clone()
    }

    /// Writes every time from now on in `form` (default: CST text, as the page's samples).
    pub fn set_time_form(&self, form: GmTimeForm) {
        lock(&self.inner.state).time_form = form;
    }

    /// Ground truth of every order of a shop, in id order (empty for an unknown shop).
    pub fn truth_orders(&self, access_id: &str) -> Vec<GmTruthOrder> {
        self.with_shop(access_id, |shop, _| shop.orders.iter().map(Order::truth).collect())
    }

    /// Ids of the orders in vendor status `status`, in id order.
    pub fn order_ids_in_status(&self, access_id: &str, status: i32) -> Vec<String> {
        self.with_shop(access_id, |shop, _| {
            let orders = shop.orders.iter().filter(|o| o.status == status);
            orders.map(|o| o.id.clone()).collect()
        })
    }

    /// For the demo: every tick adds an order and moves a random open order forward
    /// (1→5, 5→10, 10→15, 15→100), until the handle is aborted.
    pub fn spawn_activity(&self, access_id: &str, every: Duration) -> JoinHandle<()> {
        let (sim, access_id) = (self.clone(), access_id.to_string());
        super::every(every, move || {
            sim.add_orders(&access_id, 1);
            sim.with_shop(&access_id, |shop, rng| {
                let open: Vec<usize> = (0..shop.orders.len()).filter(|&i| shop.orders[i].is_open()).collect();
                let Some(&idx) = open.get(rng.gen_range(0..open.len().max(1))) else {
                    return;
                };
                let next = match shop.orders[idx].status {
                    1 => 5,
                    5 => 10,
                    10 => 15,
                    _ => 100,
                };
                shop.move_to(idx, next);
            });
        })
    }

    /// The axum router with the four routes, for serving or mounting elsewhere.
    pub fn router(&self) -> Router {
        let mut router = Router::new();
        for ep in [Endpoint::Token, Endpoint::Orders, Endpoint::Get] {
            let sim = self.clone();
            let handler = move |q: QueryResult| async move { sim.handle(ep, q, None).await };
            router = router.route(ep.path(), get(handler));
        }
        let sim = self.clone();
        // The token rides in the URL, the fields in the form body (vendor page).
        let update = move |q: QueryResult, f: FormResult| async move { sim.handle(Endpoint::Update, q, Some(f)).await };
        router.route(Endpoint::Update.path(), post(update))
    }

    /// Serves the simulator on 127.0.0.1 (a free port) until the handle is dropped.
    pub async fn serve(&self) -> std::io::Result<SimHandle> {
        super::serve(super::noting_passes(self.router(), self.clone())).await
    }

    async fn handle(&self, ep: Endpoint, query: QueryResult, form: Option<FormResult>) -> Response {
        let query = query.ok().map(|Query(q)| q);
        let form = form.map(|f| f.ok().map(|Form(f)| f));
        let shop = query.as_ref().map_or_else(String::new, |q| self.shop_of(ep, q));
        let items = usize::from(ep == Endpoint::Update);
        let core = &self.inner.core;
        core.respond(&shop, ep.path(), items, || {
            let body = match &query {
                None => fail("query string is not valid".into()),
                Some(q) => self.process(ep, q, form.as_ref()),
            };
            (StatusCode::OK, body)
        })
        .await
    }

    /// The access_id a request speaks for, as logged: the token call names it, other calls map
    /// their token back (expired tokens too, so a log shows who used a stale one).
    fn shop_of(&self, ep: Endpoint, q: &Params) -> String {
        if ep == Endpoint::Token {
            return field(q, "access_id").unwrap_or_default().to_string();
        }
        let st = lock(&self.inner.state);
        field(q, "access_token").and_then(|t| st.tokens.get(t)).map_or_else(String::new, |t| t.access_id.clone())
    }

    fn process(&self, ep: Endpoint, q: &Params, form: Option<&Option<Params>>) -> Value {
        let now = now_unix();
        let mut applied = None;
        let (access_id, body) = {
            let mut guard = lock(&self.inner.state);
            let st = &mut *guard;
            if ep == Endpoint::Token {
                return st.issue_token(q, now).unwrap_or_else(fail);
            }
            // The token is checked before anything else, as a gateway would.
            let Some(access_id) = st.use_token(field(q, "access_token"), now) else {
                return json!({"code": 10, "msg": "access_token invalid"});
            };
            let form_of_times = st.time_form;
            let Some(shop) = st.shops.get_mut(&access_id) else {
                return json!({"code": 10, "msg": "access_token invalid"});
            };
            let body = match (ep, form) {
                (Endpoint::Orders, _) => order_list(shop, q, form_of_times),
                (Endpoint::Get, _) => {
                    let asked = field(q, "order_id").unwrap_or_default().to_string();
                    let body = order_detail(shop, q, form_of_times);
                    st.detail_log.push(asked);
                    body
                }
                (_, Some(Some(f))) => update(shop, f).map(|(order_id, entry)| {
                    applied = Some((order_id, entry));
                    ok(Value::Null)
                }),
                _ => Err("body must be an application/x-www-form-urlencoded form".into()),
            };
            (access_id, body)
        };
        if let Some((order_id, entry)) = applied {
            let core = &self.inner.core;
            core.record_push(&access_id, "status", &order_id, &entry);
        }
        body.unwrap_or_else(fail)
    }
}

/// A successful answer.
fn ok(data: Value) -> Value {
    json!({"code": 0, "msg": "ok", "data": data})
}

/// A request-level refusal: code 1 with the reason.
fn fail(msg: String) -> Value {
    json!({"code": 1, "msg": msg})
}

// ---- parameters (an empty value counts as absent) ----

fn field<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, String> {
    field(p, name).ok_or_else(|| format!("{name} is required"))
}

fn int_field(p: &Params, name: &str, default: i64) -> Result<i64, String> {
    field(p, name).map_or(Ok(default), |v| v.parse().map_err(|_| format!("{name} must be an integer")))
}

/// A required `YYYY-MM-DD` date (zero-padded, as the vendor page writes it).
fn date_field(p: &Params, name: &str) -> Result<NaiveDate, String> {
    let v = required(p, name)?;
    parse_date(v).filter(|_| v.len() == 10).ok_or_else(|| format!("{name} must be a date like 2017-06-01"))
}

// ---- the three reads and the update ----

fn order_list(shop: &Shop, p: &Params, times: GmTimeForm) -> Result<Value, String> {
    if required(p, "query_type")? != "1" {
        return Err("query_type must be 1 (by order date)".into());
    }
    let (start, end) = (date_field(p, "start_date")?, date_field(p, "end_date")?);
    if end < start {
        return Err("end_date is before start_date".into());
    }
    if (end - start).num_days() >= MAX_SPAN_DAYS {
        return Err("date range exceeds 7 days".into());
    }
    let offset = int_field(p, "offset", 0)?;
    let limit = int_field(p, "limit", DEFAULT_LIMIT)?;
    if offset < 0 {
        return Err("offset must be 0 or more".into());
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(format!("limit must be between 1 and {MAX_LIMIT}"));
    }
    let status = field(p, "status").map(str::parse::<i32>).transpose();
    let status = status.map_err(|_| "status must be an integer".to_string())?;
    let (from, to) = (cst_day_bounds(start).0, cst_day_bounds(end).1);
    let mut rows: Vec<&Order> = shop
        .orders
        .iter()
        .filter(|o| (from..=to).contains(&o.date()) && status.is_none_or(|s| o.status == s))
        .collect();
    // Stable sorts: ties keep id order.
    match field(p, "sort_type").unwrap_or("date_desc") {
        "date_asc" => rows.sort_by_key(|o| o.date_ms),
        "date_desc" => rows.sort_by_key(|o| Reverse(o.date_ms)),
        "price_asc" => rows.sort_by_key(|o| o.list_price()),
        "price_desc" => rows.sort_by_key(|o| Reverse(o.list_price())),
        _ => return Err("sort_type must be date_desc, date_asc, price_desc or price_asc".into()),
    }
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let list: Vec<Value> = rows.into_iter().skip(skip).take(limit as usize).map(|o| list_row(o, times)).collect();
    let pagination = json!({"limit": limit, "offset": offset});
    Ok(ok(json!({"list": list, "pagination": pagination})))
}

fn order_detail(shop: &Shop, p: &Params, times: GmTimeForm) -> Result<Value, String> {
    let id = required(p, "order_id")?;
    let o = shop.by_id.get(id).map(|&i| &shop.orders[i]).ok_or_else(|| format!("order not found: {id}"))?;
    Ok(ok(detail_data(o, times)))
}

/// Applies one status move; returns the order id and the form as sent, for the push log.
fn update(shop: &mut Shop, f: &Params) -> Result<(String, Value), String> {
    let id = required(f, "order_id")?;
    let to: i32 = required(f, "status")?.parse().map_err(|_| "status must be an integer".to_string())?;
    let idx = *shop.by_id.get(id).ok_or_else(|| format!("order not found: {id}"))?;
    let from = shop.orders[idx].status;
    if !ALLOWED_MOVES.contains(&(from, to)) {
        return Err(format!("status transition not allowed: {from} -> {to}"));
    }
    shop.move_to(idx, to);
    let entry = f.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    Ok((id.to_string(), Value::Object(entry)))
}

// ---- vendor rows ----

/// Fen as a 2-decimal yuan string (`14631` → `"146.31"`), as the list shows amounts.
fn yuan2(fen: i64) -> String {
    let mut s = yuan4(fen * 100);
    s.truncate(s.len() - 2);
    s
}

/// The fen of a string [`yuan2`] wrote.
fn fen_of_yuan2(s: &str) -> i64 {
    s.replace('.', "").parse().unwrap_or_default()
}

/// A unix-millisecond time in China Standard Time.
fn cst_format(ms: i64, fmt: &str) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().with_timezone(&cst()).format(fmt).to_string()
}

/// A time in the simulator's form: CST text in `cst_fmt`, RFC 3339 UTC, or unix milliseconds.
fn time_value(form: GmTimeForm, ms: i64, cst_fmt: &str) -> Value {
    match form {
        GmTimeForm::CstText => json!(cst_format(ms, cst_fmt)),
        GmTimeForm::Rfc3339Utc => {
            let at = DateTime::from_timestamp_millis(ms).unwrap_or_default();
            let secs = if ms % 1_000 == 0 { SecondsFormat::Secs } else { SecondsFormat::Millis };
            json!(at.to_rfc3339_opts(secs, true))
        }
        GmTimeForm::UnixMillis => json!(ms),
    }
}

/// Delivery window: the morning after the order date, 06:00–12:00 CST (minutes only, as the
/// page writes it).
fn receive_window(o: &Order, form: GmTimeForm) -> (Value, Value) {
    let (day, _) = cst_day_bounds(
        DateTime::from_timestamp_millis(o.date_ms + 86_400_000).unwrap_or_default().with_timezone(&cst()).date_naive(),
    );
    let at = |hour: i64| time_value(form, (day + hour * 3_600) * 1_000, "%Y-%m-%d %H:%M");
    (at(6), at(12))
}

fn list_row(o: &Order, times: GmTimeForm) -> Value {
    let (begin, end) = receive_window(o, times);
    json!({
        "origin_total_price": yuan2(o.origin_price()),
        "date_time_str": time_value(times, o.date_ms.div_euclid(1_000) * 1_000, "%Y-%m-%d %H:%M:%S"),
        "receive_end_time": end,
        "status": o.status,
        "sort_id": o.sort_id,
        "id": o.id,
        "receive_begin_time": begin,
        "total_price": yuan2(o.list_price()),
        "resname": o.resname,
        "freight": yuan2(o.freight),
    })
}

fn detail_data(o: &Order, times: GmTimeForm) -> Value {
    let (begin, end) = receive_window(o, times);
    let weighed_yet = o.weighed_yet();
    let details: Vec<Value> = o
        .lines
        .iter()
        .map(|l| {
            let (name, spu, sku, cat1, cat2, unit, _, _, weighed) = MENU[l.goods];
            json!({
                "category_title_2": cat2, "std_unit_name": unit, "sale_unit_name": unit,
                "real_item_price": o.real_item_price(l), "real_quantity": decimal_json(o.real_quantity(l)),
                "category_title_1": cat1, "spu_remark": "", "accept_quantity": decimal_json(o.real_quantity(l)),
                "supplier_name": l.supplier, "quantity": decimal_json(l.quantity),
                "purchase_quantity": decimal_json(l.quantity), "sale_price": yuan2(l.sale_price),
                "name": name, "sale_ratio": 1, "spu_id": spu, "id": sku,
                "is_weight": weighed, "has_weight": weighed && weighed_yet,
                "salemenu_name": "餐饮报价单",
            })
        })
        .collect();
    json!({
        "freight": o.freight,
        "status": o.status,
        "real_price": o.real_price(),
        "customer": {
            "resname": o.resname, "address": o.address, "receiver_phone": o.receiver_phone,
            "receive_begin_time": begin, "receive_end_time": end,
            "receiver_name": o.receiver_name,
        },
        "date_time": time_value(times, o.date_ms, "%Y-%m-%dT%H:%M:%S%.3f"),
        "remark": o.remark,
        "details": details,
        "sort_id": o.sort_id,
        "total_pay": o.real_price() + o.freight,
    })
}

impl Simulator for GmSim {
    fn core(&self) -> &SimCore {
        &self.inner.core
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Both ends of a window are whole UTC+8 days, inclusive to the second.
    #[test]
    fn date_window_edges_and_span() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut shop = Shop::new("s", 1);
        let day = NaiveDate::from_ymd_opt(2024, 3, 5).unwrap_or_default();
        let (first, last) = cst_day_bounds(day);
        for t in [first - 1, first, last, last + 1] {
            shop.generate(&mut rng, t * 1_000 + 999, 1);
        }
        let window = |start: &str, end: &str| {
            let p = params(&[("query_type", "1"), ("start_date", start), ("end_date", end), ("sort_type", "date_asc")]);
            order_list(&shop, &p, GmTimeForm::CstText).unwrap_or_else(fail)
        };
        let body = window("2024-03-05", "2024-03-05");
        let ids: Vec<&Value> = body["data"]["list"].as_array().into_iter().flatten().map(|r| &r["id"]).collect();
        assert_eq!(ids, [&json!("PL492002"), &json!("PL492003")]);
        assert_eq!(window("2024-03-05", "2024-03-11")["code"], 0);
        assert_eq!((yuan2(14_631), yuan2(5), fen_of_yuan2("146.31")), ("146.31".into(), "0.05".into(), 14_631));
    }

    /// Quantities in hundredths are written as the shortest exact decimal, both ways.
    #[test]
    fn decimal_quantities() {
        for (h, text) in [(150, "1.5"), (235, "2.35"), (300, "3"), (5, "0.05"), (1_210, "12.1")] {
            assert_eq!(decimal(h), text);
            assert_eq!(decimal_json(h).to_string(), text);
            assert_eq!(parse_hundredths(text), Some(h));
        }
        assert_eq!([parse_hundredths("1.505"), parse_hundredths("-1"), parse_hundredths(".5")], [None, None, None]);
        assert_eq!((amount(152, 728), amount(235, 201)), (1_107, 472));
    }
}
