//! Youliang "liangben" ERP simulator (PLATFORMS.md §3): the supplier's ERP we buy from, answering
//! `POST /api/liangben/v1/order/<name>` form calls that carry `Authorization: Bearer <token>`.
//!
//! Shops are told apart by their token; an unknown or missing token answers HTTP 401 with
//! `{"code":401,"msg":"unauthorized"}`. Every other answer is HTTP 200 with
//! `{"code":0,"msg":"ok","data":…}` or a refusal `{"code":C,"msg":…}`: C is 400 for a bad
//! parameter (the message names it), 404 for an unknown order or outbound record, 409 when the
//! order's state refuses a push. Each shop holds generated orders, their outbound (shipment)
//! records and refunds; the routes read and change them, and the test hooks
//! ([`LbSim::truth_orders`], [`LbSim::set_order_status`], …) expose the ground truth and play the
//! supplier. Amounts live as integers in 1/10000 yuan, so the truth in fen is exact. The truth
//! also states the unified statuses a client must store, from the simulator's own tables
//! (`UNIFIED_ORDER_STATUS` and the two beside it), read from PLATFORMS.md and never from the
//! connector's mapping, so a wrong connector table fails the end-to-end tests.
//!
//! Decisions beyond the vendor page and the contract: statuses and `num` are JSON integers;
//! amounts are yuan strings with two decimals when they are whole fen, four otherwise;
//! `order_amount` is goods plus freight; `update_time` equals `create_time` until the order
//! changes; a missing `external_order_sn` is `""`; out_info `products[]` rows are `sku_id`,
//! `product_name`, `num`; `fields` and the vendor's mislabelled `sort_order` are ignored.
//!
//! Where the vendor page is ambiguous the simulator serves every plausible reading as an option
//! ([`LbOptions`], [`LbSim::set_options`]): times as the contract writes them (CST text) or as RFC
//! 3339 `Z` or unix milliseconds; list rows without `products` or amounts (then only
//! `order/get_order_info` has them, under `data`, `data.order` or `data.info`); a `total` beside
//! `has_next`; a receipt that confirms the whole order or only the named outbound record. And it
//! can under-serve a list while its `total` counts every row ([`LbSim::hide_order`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::Form;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use chrono::NaiveDateTime;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::{
    cst_compact_date, lock, now_unix, pick, random_phone, random_units, units_to_fen, yuan4, SimCore, SimHandle,
    Simulator, TimeForm, CARRIERS, FIRST_NAMES, GOODS, LAST_NAMES, PLACES,
};

/// Largest `page_size` the lists accept (Contract).
const MAX_PAGE_SIZE: i64 = 100;
/// `page_size` when the client sends none (the vendor page gives no default).
const DEFAULT_PAGE_SIZE: i64 = 20;
/// Most order numbers `more_order_sn` may carry (vendor page).
const MAX_SN_LIST: usize = 20;
/// Order statuses a generated order can have, with their weights.
const STATUS_MIX: &[(u8, u32)] = &[(1, 15), (4, 25), (5, 20), (6, 25), (7, 15)];
/// Values the list filters accept.
const ORDER_STATUSES: &[u8] = &[1, 4, 5, 6, 7];
const PAY_STATUSES: &[u8] = &[0, 1];
const SHIPMENT_STATUSES: &[u8] = &[1, 2, 3];
const REFUND_STATUSES: &[u8] = &[0, 1, 2, 3];
const EXAMINE_STATUSES: &[u8] = &[0, 1, 2];
/// Refund reasons buyers give.
const REASONS: &[&str] = &["质量问题", "发错货", "少发/漏发", "商品破损", "不想要了"];
/// A district per entry of [`PLACES`] (same index), so addresses have all four parts.
const DISTRICTS: &[&str] = &["siming", "futian", "xihu", "pudong", "jinjiang", "dongcheng"];

/// The simulator's own reading of PLATFORMS.md §3, written from its text and never from the
/// connector: (`order_status`, `shipment_status`) → the unified order status a client must store.
/// Every pair of the contract's codes is listed; 2 (partial) counts only beside 4. Others: `unknown`.
const UNIFIED_ORDER_STATUS: &[((u8, u8), &str)] = &[
    ((1, 1), "pending"),
    ((1, 2), "pending"),
    ((1, 3), "pending"),
    ((4, 1), "awaiting_fulfillment"),
    ((4, 2), "partially_shipped"),
    ((4, 3), "awaiting_fulfillment"),
    ((5, 1), "shipped"),
    ((5, 2), "shipped"),
    ((5, 3), "shipped"),
    ((6, 1), "completed"),
    ((6, 2), "completed"),
    ((6, 3), "completed"),
    ((7, 1), "cancelled"),
    ((7, 2), "cancelled"),
    ((7, 3), "cancelled"),
];

/// The simulator's own reading of PLATFORMS.md §3: `pay_status` → unified payment status.
const UNIFIED_PAYMENT_STATUS: &[(u8, &str)] = &[(0, "unpaid"), (1, "paid")];

/// The simulator's own reading of PLATFORMS.md §3: (`refund_status`, `examine_status`) → unified
/// refund status. Every pair is listed: examine 2 is `rejected` whatever the refund status; else
/// refund 3, 2, 1 are `closed`, `refunded`, `refunding`; refund 0 is `approved` or `requested`.
const UNIFIED_REFUND_STATUS: &[((u8, u8), &str)] = &[
    ((0, 0), "requested"),
    ((0, 1), "approved"),
    ((0, 2), "rejected"),
    ((1, 0), "refunding"),
    ((1, 1), "refunding"),
    ((1, 2), "rejected"),
    ((2, 0), "refunded"),
    ((2, 1), "refunded"),
    ((2, 2), "rejected"),
    ((3, 0), "closed"),
    ((3, 1), "closed"),
    ((3, 2), "rejected"),
];

/// The value `key` has in `table`, `unknown` for a key the table does not list.
fn unified<K: PartialEq>(table: &[(K, &'static str)], key: K) -> &'static str {
    table.iter().find(|(k, _)| *k == key).map_or("unknown", |(_, u)| u)
}

/// A route's work on one shop under the simulator's options: the `data` of a success, or a
/// refusal. (Lists only read the shop; one signature for all keeps the route table plain.)
type Handler = fn(&mut Shop, &LbOptions, &Fields) -> Result<Value, Refusal>;

/// Each route: path (vendor page), handler, and whether it is a push (one order per call).
const ROUTES: [(&str, Handler, bool); 6] = [
    ("/api/liangben/v1/order/get_order_list", order_list, false),
    ("/api/liangben/v1/order/get_order_info", order_info, false),
    ("/api/liangben/v1/order/out_info", out_info, false),
    ("/api/liangben/v1/order/refund_list", refund_list, false),
    ("/api/liangben/v1/order/cancel", cancel, true),
    ("/api/liangben/v1/order/receipt", receipt, true),
];

/// How the simulator writes every time it serves (rows, outbound records, refunds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LbTimeForm {
    /// `yyyy-MM-dd HH:mm:ss` in China Standard Time, as PLATFORMS.md's contract writes them.
    #[default]
    Cst,
    /// RFC 3339 in UTC with `Z` (`2024-03-05T00:00:00Z`).
    Rfc3339Z,
    /// Unix milliseconds as JSON numbers.
    UnixMillis,
}

impl LbTimeForm {
    /// `unix` (seconds) written in this form, by the simulators' shared writer.
    fn write(self, unix: i64) -> Value {
        let form = match self {
            LbTimeForm::Cst => TimeForm::CstText,
            LbTimeForm::Rfc3339Z => TimeForm::Rfc3339Z,
            LbTimeForm::UnixMillis => TimeForm::UnixMillis,
        };
        form.write(unix)
    }
}

/// What one `order/receipt` confirms (the page names both the order and an outbound record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LbReceipt {
    /// The whole order: it completes (6) on the first receipt, whatever record it names.
    #[default]
    WholeOrder,
    /// Only the named `purchase_sn`; the order completes once every outbound record is
    /// confirmed. A receipt without `purchase_sn` confirms them all; naming a confirmed record
    /// again is refused (409).
    PerRecord,
}

/// Where `order/get_order_info` puts the order row inside `data`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LbDetailNesting {
    /// `data` is the row.
    #[default]
    Data,
    /// `data.order` is the row.
    Order,
    /// `data.info` is the row.
    Info,
}

/// The readings of the vendor page the simulator serves; the default is PLATFORMS.md's contract.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LbOptions {
    /// How times are written.
    pub time_form: LbTimeForm,
    /// Share (0.0..=1.0) of orders whose list rows come without `products` (fixed per order).
    pub omit_products: f64,
    /// Share (0.0..=1.0) of orders whose list rows carry `order_amount: null` and no `freight`.
    pub omit_amounts: f64,
    /// Lists report `total` in `use_has_next` mode too (beside `has_next`).
    pub total_with_has_next: bool,
    /// What a receipt confirms.
    pub receipt: LbReceipt,
    /// Where the detail answer puts the order.
    pub detail_nesting: LbDetailNesting,
}

impl LbOptions {
    /// Whether the list row of `order_sn` omits its products, and its amounts.
    fn omits(&self, order_sn: &str) -> (bool, bool) {
        (share("products", order_sn) < self.omit_products, share("amounts", order_sn) < self.omit_amounts)
    }
}

/// A fixed number in 0..1 per (salt, text) (FNV-1a), so an order's omissions do not depend on
/// the data rng or on the request order.
fn share(salt: &str, text: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.bytes().chain([0]).chain(text.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Ground truth of one order, amounts in fen, times in unix seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct LbTruthOrder {
    /// The supplier's order number.
    pub order_sn: String,
    /// Our (the buyer's) order number, when the order carries one.
    pub external_order_sn: Option<String>,
    /// 1 pending review, 4 awaiting shipment, 5 awaiting receipt, 6 completed, 7 cancelled.
    pub order_status: u8,
    /// 0 unpaid, 1 paid.
    pub pay_status: u8,
    /// 1 none, 2 partial, 3 all shipped.
    pub shipment_status: u8,
    /// The unified status a client must store, from the simulator's own table (`pending`, …).
    pub unified_status: &'static str,
    /// The unified payment status a client must store (`unpaid`, `paid`), from the same reading.
    pub payment_status: &'static str,
    /// `order_amount` (goods plus freight) in fen.
    pub amount_fen: i64,
    /// `freight` in fen.
    pub freight_fen: i64,
    /// Creation time, unix seconds.
    pub create_time: i64,
    /// Last change, unix seconds (equal to `create_time` when never changed).
    pub update_time: i64,
    /// Receiver's name.
    pub consignee: String,
    /// Receiver's mobile number.
    pub mobile: String,
    /// Address province.
    pub province: String,
    /// Address city.
    pub city: String,
    /// Address district.
    pub district: String,
    /// Street address.
    pub address: String,
    /// Order lines in row order.
    pub lines: Vec<LbTruthLine>,
}

/// Ground truth of one order line.
#[derive(Debug, Clone, PartialEq)]
pub struct LbTruthLine {
    /// `sku_id`.
    pub sku_id: String,
    /// `product_name`.
    pub name: String,
    /// `num`.
    pub num: i64,
    /// `price` in fen.
    pub price_fen: i64,
}

/// Ground truth of one outbound (shipment) record.
#[derive(Debug, Clone, PartialEq)]
pub struct LbTruthOutbound {
    /// The order it ships.
    pub order_sn: String,
    /// Outbound number.
    pub purchase_sn: String,
    /// Carrier name.
    pub express_company: String,
    /// Tracking number.
    pub express_sn: String,
    /// Outbound time, unix seconds.
    pub out_time: i64,
    /// (sku_id, num) of the lines it carries.
    pub products: Vec<(String, i64)>,
}

/// Ground truth of one refund.
#[derive(Debug, Clone, PartialEq)]
pub struct LbTruthRefund {
    /// Refund number.
    pub refund_sn: String,
    /// The order refunded.
    pub order_sn: String,
    /// 0 applied, 1 refunding, 2 refunded, 3 closed.
    pub refund_status: u8,
    /// 0 waiting, 1 approved, 2 rejected.
    pub examine_status: u8,
    /// The unified status a client must store, from the simulator's own table (`requested`, …).
    pub unified_status: &'static str,
    /// `refund_amount` in fen.
    pub amount_fen: i64,
    /// Buyer's reason.
    pub reason: String,
    /// Creation time, unix seconds.
    pub create_time: i64,
    /// Last change, unix seconds.
    pub update_time: i64,
}

impl LbTruthOrder {
    /// Sets the three codes and the unified statuses they mean, so the two never disagree.
    fn set_codes(&mut self, order_status: u8, shipment_status: u8, pay_status: u8) {
        (self.order_status, self.shipment_status, self.pay_status) = (order_status, shipment_status, pay_status);
        self.unified_status = unified(UNIFIED_ORDER_STATUS, (order_status, shipment_status));
        self.payment_status = unified(UNIFIED_PAYMENT_STATUS, pay_status);
    }
}

impl LbTruthRefund {
    /// Sets both codes and the unified status they mean.
    fn set_codes(&mut self, refund_status: u8, examine_status: u8) {
        (self.refund_status, self.examine_status) = (refund_status, examine_status);
        self.unified_status = unified(UNIFIED_REFUND_STATUS, (refund_status, examine_status));
    }
}

/// An order is its truth plus the exact amounts the truth rounds to fen (1/10000-yuan units).
#[derive(Debug, Clone)]
struct Order {
    truth: LbTruthOrder,
    /// Unit price of each of `truth.lines`, same order.
    prices: Vec<i64>,
    freight: i64,
    /// Outbound records are plain data, so they are stored as their truth.
    outbound: Vec<LbTruthOutbound>,
    /// Outbound records whose receipt is confirmed (all of them once the order completes by
    /// receipt).
    confirmed: Vec<String>,
}

impl Order {
    fn amount(&self) -> i64 {
        let lines = self.truth.lines.iter().zip(&self.prices);
        lines.map(|(l, p)| p * l.num).sum::<i64>() + self.freight
    }
}

/// A refund is its truth plus the exact amount in 1/10000-yuan units.
#[derive(Debug, Clone)]
struct Refund {
    units: i64,
    truth: LbTruthRefund,
}

/// A random (order_status, shipment_status) pair that makes sense together.
fn weighted_status(rng: &mut StdRng) -> (u8, u8) {
    let mut roll = rng.gen_range(0..STATUS_MIX.iter().map(|s| s.1).sum::<u32>());
    let mut status = 1;
    for &(s, weight) in STATUS_MIX {
        if roll < weight {
            status = s;
            break;
        }
        roll -= weight;
    }
    let shipment = match status {
        4 if rng.gen_bool(0.4) => 2,
        5 | 6 => 3,
        _ => 1,
    };
    (status, shipment)
}

/// One shop's ERP. Orders and refunds are kept in creation order (both only grow).
#[derive(Debug, Default)]
struct Shop {
    shop_no: i64,
    orders: Vec<Order>,
    by_sn: HashMap<String, usize>,
    refunds: Vec<Refund>,
    seq: i64,
    /// Orders left out of list answers while `total` still counts them, with how many more
    /// answers leave each out (`usize::MAX`: always).
    hidden: HashMap<String, usize>,
    /// Outbound records whose receipt the supplier refuses for now.
    refused_receipts: HashSet<String>,
    /// Order numbers `order/get_order_info` was asked for, in order.
    detail_log: Vec<String>,
}

impl Shop {
    /// A document number: prefix, CST date, shop number (so shops never share one), sequence.
    fn next_sn(&mut self, prefix: &str, at: i64) -> String {
        self.seq += 1;
        let date = cst_compact_date(at);
        format!("{prefix}{date}{:02}{:05}", self.shop_no % 100, self.seq)
    }

    /// Generates and stores an order created at `t` in the given (consistent) statuses.
    fn generate(&mut self, rng: &mut StdRng, t: i64, statuses: (u8, u8), now: i64) -> usize {
        let (status, shipment) = statuses;
        // A partial shipment needs two lines to split between shipped and not yet shipped.
        let n_lines = rng.gen_range(if shipment == 2 { 2 } else { 1 }..=4);
        let (mut lines, mut prices) = (Vec::new(), Vec::new());
        for g in sample(rng, GOODS.len(), n_lines) {
            let (name, _, lo, hi) = GOODS[g];
            let price = random_units(rng, lo, hi);
            let bulk = rng.gen_bool(0.1);
            let num = rng.gen_range(if bulk { 6..=20 } else { 1..=5 });
            let sku_id = (8_300 + g * 10 + rng.gen_range(0..4)).to_string();
            let price_fen = units_to_fen(price);
            lines.push(LbTruthLine { sku_id, name: name.into(), num, price_fen });
            prices.push(price);
        }
        let freight = if rng.gen_bool(0.6) { random_units(rng, 500, 1_500) } else { 0 };
        let place = rng.gen_range(0..PLACES.len());
        let (province, city, _) = PLACES[place];
        let order_sn = self.next_sn("", t);
        // Half the orders still pending review were never changed after creation.
        let untouched = status == 1 && rng.gen_bool(0.5);
        let update_time = rng.gen_range(t..=if untouched { t } else { now.max(t) });
        let mut order = Order {
            truth: LbTruthOrder {
                external_order_sn: rng.gen_bool(0.7).then(|| format!("PO{order_sn}")),
                order_sn,
                order_status: status,
                pay_status: if matches!(status, 1 | 7) { u8::from(rng.gen_bool(0.4)) } else { 1 },
                shipment_status: shipment,
                unified_status: "",
                payment_status: "",
                amount_fen: 0,
                freight_fen: units_to_fen(freight),
                create_time: t,
                update_time,
                consignee: format!("{} {}", pick(rng, LAST_NAMES), pick(rng, FIRST_NAMES)),
                mobile: random_phone(rng),
                province: province.into(),
                city: city.into(),
                district: DISTRICTS.get(place).copied().unwrap_or_default().into(),
                address: format!("{} Renmin Road", rng.gen_range(1..=999)),
                lines,
            },
            prices,
            freight,
            outbound: Vec::new(),
            confirmed: Vec::new(),
        };
        order.truth.amount_fen = units_to_fen(order.amount());
        let pay = order.truth.pay_status;
        order.truth.set_codes(status, shipment, pay);
        let idx = self.orders.len();
        self.by_sn.insert(order.truth.order_sn.clone(), idx);
        self.orders.push(order);
        if shipment > 1 {
            self.add_outbound(rng, idx, shipment == 3, (t, update_time));
        }
        idx
    }

    /// Adds outbound records at times within `window`. Partial (`full` false): one record with
    /// half the lines, only if the order has none yet. Full: whatever is not yet shipped, in one
    /// record or (first shipment, two lines or more, sometimes) two.
    fn add_outbound(&mut self, rng: &mut StdRng, idx: usize, full: bool, window: (i64, i64)) {
        let o = &self.orders[idx];
        if !full && !o.outbound.is_empty() {
            return;
        }
        let shipped = |sku: &str| -> i64 {
            let products = o.outbound.iter().flat_map(|b| &b.products);
            products.filter(|p| p.0 == sku).map(|p| p.1).sum()
        };
        let remaining: Vec<(String, i64)> = (o.truth.lines.iter())
            .map(|l| (l.sku_id.clone(), l.num - shipped(&l.sku_id)))
            .filter(|r| r.1 > 0)
            .collect();
        let chunks: Vec<Vec<(String, i64)>> = match remaining.as_slice() {
            [] => Vec::new(),
            // Only a hook can make a one-line order partial: ship half its quantity (at least 1).
            [(sku, n)] if !full => vec![vec![(sku.clone(), (n / 2).max(1))]],
            r if !full => vec![r[..r.len() / 2].to_vec()],
            r if r.len() >= 2 && o.outbound.is_empty() && rng.gen_bool(0.4) => {
                let k = rng.gen_range(1..r.len());
                vec![r[..k].to_vec(), r[k..].to_vec()]
            }
            r => vec![r.to_vec()],
        };
        let (from, to) = (window.0, window.1.max(window.0));
        let mut times: Vec<i64> = chunks.iter().map(|_| rng.gen_range(from..=to)).collect();
        times.sort_unstable();
        for (products, out_time) in chunks.into_iter().zip(times) {
            let outbound = LbTruthOutbound {
                order_sn: self.orders[idx].truth.order_sn.clone(),
                purchase_sn: self.next_sn("CK", out_time),
                express_company: pick(rng, CARRIERS).1.into(),
                express_sn: format!("{:012}", rng.gen_range(0..1_000_000_000_000i64)),
                out_time,
                products,
            };
            self.orders[idx].outbound.push(outbound);
        }
    }

    /// Sets statuses as the supplier's staff would: paid from 4 on, outbound records when the
    /// order becomes shipped, update_time now.
    fn set_status(&mut self, rng: &mut StdRng, idx: usize, statuses: (u8, u8), now: i64) {
        let t = &mut self.orders[idx].truth;
        let pay = if matches!(statuses.0, 4..=6) { 1 } else { t.pay_status };
        t.set_codes(statuses.0, statuses.1, pay);
        t.update_time = now;
        if matches!(statuses.1, 2 | 3) {
            self.add_outbound(rng, idx, statuses.1 == 3, (now, now));
        }
    }

    /// Adds a refund of order `idx` created at `at`, amount up to the order's.
    fn add_refund(&mut self, rng: &mut StdRng, idx: usize, at: i64, states: (u8, u8), now: i64) {
        let total = self.orders[idx].amount();
        let units = if rng.gen_bool(0.3) { total } else { random_units(rng, 1, units_to_fen(total).max(1)).min(total) };
        let update_time = rng.gen_range(at..=if states == (0, 0) { at } else { now.max(at) });
        let mut truth = LbTruthRefund {
            refund_sn: self.next_sn("TK", at),
            order_sn: self.orders[idx].truth.order_sn.clone(),
            refund_status: states.0,
            examine_status: states.1,
            unified_status: "",
            amount_fen: units_to_fen(units),
            reason: pick(rng, REASONS).to_string(),
            create_time: at,
            update_time,
        };
        truth.set_codes(states.0, states.1);
        self.refunds.push(Refund { units, truth });
    }
}

/// All shops plus the data rng (apart from the fault rng, so faults do not depend on data size).
#[derive(Debug)]
struct State {
    rng: StdRng,
    shops: HashMap<String, Shop>,
    shops_made: i64,
    options: LbOptions,
}

#[derive(Debug)]
struct Inner {
    core: SimCore,
    state: Mutex<State>,
}

/// The liangben simulator: cheap to clone, all clones share one state.
#[derive(Debug, Clone)]
pub struct LbSim {
    inner: Arc<Inner>,
}

type FormResult = Result<Form<HashMap<String, String>>, FormRejection>;
type Fields = HashMap<String, String>;
/// A refusal: body code and message.
type Refusal = (i64, String);

impl LbSim {
    /// An empty simulator; `seed` drives both the generated data and the fault decisions.
    pub fn new(seed: u64) -> LbSim {
        let state = State {
            rng: StdRng::seed_from_u64(seed.wrapping_add(0x4c42_5349)),
            shops: HashMap::new(),
            shops_made: 0,
            options: LbOptions::default(),
        };
        LbSim { inner: Arc::new(Inner { core: SimCore::new(seed), state: Mutex::new(state) }) }
    }

    /// Creates (or replaces) shop `token` with `orders` orders created over the last `days` days
    /// and refunds for about a tenth of them (at least 12, so all 12 status pairs appear).
    pub fn add_shop(&self, token: &str, orders: usize, days: u32) {
        let mut guard = lock(&self.inner.state);
        let st = &mut *guard;
        st.shops_made += 1;
        let mut shop = Shop { shop_no: st.shops_made, ..Shop::default() };
        let (rng, now) = (&mut st.rng, now_unix());
        let mut times: Vec<i64> = (0..orders).map(|_| rng.gen_range(now - i64::from(days) * 86_400..=now)).collect();
        times.sort_unstable();
        for t in times {
            let statuses = weighted_status(rng);
            shop.generate(rng, t, statuses, now);
        }
        // Refunds go to paid orders first; status pairs cycle so every combination appears.
        let (mut paid, mut unpaid): (Vec<usize>, Vec<usize>) =
            (0..orders).partition(|&i| shop.orders[i].truth.pay_status == 1);
        paid.shuffle(rng);
        unpaid.shuffle(rng);
        let count = (orders / 10).max(orders.min(12));
        let mut picks: Vec<(i64, usize)> = paid
            .into_iter()
            .chain(unpaid)
            .take(count)
            .map(|i| (rng.gen_range(shop.orders[i].truth.create_time..=now), i))
            .collect();
        picks.sort_unstable();
        for (k, (at, idx)) in picks.into_iter().enumerate() {
            let states = ((k % 4) as u8, (k / 4 % 3) as u8);
            shop.add_refund(rng, idx, at, states, now);
        }
        st.shops.insert(token.to_string(), shop);
    }

    /// Runs `f` on shop `token` with the data rng; `R::default()` for an unknown shop.
    fn with_shop<R: Default>(&self, token: &str, f: impl FnOnce(&mut Shop, &mut StdRng) -> R) -> R {
        let mut guard = lock(&self.inner.state);
        let State { rng, shops, .. } = &mut *guard;
        shops.get_mut(token).map_or_else(R::default, |shop| f(shop, rng))
    }

    /// Ground truth of every order of a shop, in creation order (empty for an unknown shop).
    pub fn truth_orders(&self, token: &str) -> Vec<LbTruthOrder> {
        self.with_shop(token, |shop, _| shop.orders.iter().map(|o| o.truth.clone()).collect())
    }

    /// Ground truth of every outbound record of a shop, by order then out_time.
    pub fn truth_outbound(&self, token: &str) -> Vec<LbTruthOutbound> {
        self.with_shop(token, |shop, _| shop.orders.iter().flat_map(|o| o.outbound.iter().cloned()).collect())
    }

    /// Ground truth of every refund of a shop, in creation order.
    pub fn truth_refunds(&self, token: &str) -> Vec<LbTruthRefund> {
        self.with_shop(token, |shop, _| shop.refunds.iter().map(|r| r.truth.clone()).collect())
    }

    /// Sets an order's statuses as the supplier would (any codes, so tests can send unknown
    /// ones): paid from 4 on, outbound records added when it becomes shipped, update_time now.
    /// False if the shop or order is unknown.
    pub fn set_order_status(&self, token: &str, order_sn: &str, order_status: u8, shipment_status: u8) -> bool {
        self.with_shop(token, |shop, rng| {
            let Some(&idx) = shop.by_sn.get(order_sn) else {
                return false;
            };
            shop.set_status(rng, idx, (order_status, shipment_status), now_unix());
            true
        })
    }

    /// Sets a refund's statuses and bumps its update_time; false if the shop or refund is unknown.
    pub fn set_refund(&self, token: &str, refund_sn: &str, refund_status: u8, examine_status: u8) -> bool {
        self.with_shop(token, |shop, _| {
            let mut found = shop.refunds.iter_mut().map(|r| &mut r.truth);
            let Some(r) = found.find(|r| r.refund_sn == refund_sn) else {
                return false;
            };
            r.set_codes(refund_status, examine_status);
            r.update_time = now_unix();
            true
        })
    }

    /// Adds a refund of order `order_sn` created now (applied, waiting for review); returns its
    /// number, or an empty string if the shop or order is unknown.
    pub fn add_refund(&self, token: &str, order_sn: &str) -> String {
        self.with_shop(token, |shop, rng| {
            let Some(&idx) = shop.by_sn.get(order_sn) else {
                return String::new();
            };
            let now = now_unix();
            shop.add_refund(rng, idx, now, (0, 0), now);
            shop.refunds.last().map(|r| r.truth.refund_sn.clone()).unwrap_or_default()
        })
    }

    /// Replaces the readings served (all shops; takes effect from the next request).
    pub fn set_options(&self, options: LbOptions) {
        lock(&self.inner.state).options = options;
    }

    /// The readings served now.
    pub fn options(&self) -> LbOptions {
        lock(&self.inner.state).options.clone()
    }

    /// Leaves order `order_sn` out of the next `answers` order-list answers that match it
    /// (`usize::MAX`: all of them) while their `total` still counts it: a vendor that
    /// under-serves. `answers` 0 serves it again. False if the shop or order is unknown.
    pub fn hide_order(&self, token: &str, order_sn: &str, answers: usize) -> bool {
        self.with_shop(token, |shop, _| {
            if !shop.by_sn.contains_key(order_sn) {
                return false;
            }
            shop.hidden.insert(order_sn.to_string(), answers);
            true
        })
    }

    /// Makes the supplier refuse (409) receipts naming outbound record `purchase_sn` while
    /// `refuse` holds. False if the shop is unknown.
    pub fn refuse_receipt(&self, token: &str, purchase_sn: &str, refuse: bool) -> bool {
        self.with_shop(token, |shop, _| {
            if refuse {
                shop.refused_receipts.insert(purchase_sn.to_string());
            } else {
                shop.refused_receipts.remove(purchase_sn);
            }
            true
        })
    }

    /// Numbers of the orders whose list rows lack `products` or amounts under the current
    /// options, in creation order: the rows a client must complete with `order/get_order_info`.
    pub fn orders_without_full_rows(&self, token: &str) -> Vec<String> {
        let options = self.options();
        self.with_shop(token, |shop, _| {
            (shop.orders.iter().map(|o| &o.truth.order_sn))
                .filter(|sn| options.omits(sn) != (false, false))
                .cloned()
                .collect()
        })
    }

    /// Order numbers `order/get_order_info` was asked for so far, in order.
    pub fn detail_requests(&self, token: &str) -> Vec<String> {
        self.with_shop(token, |shop, _| shop.detail_log.clone())
    }

    /// Outbound records of `order_sn` whose receipt is confirmed, in confirmation order.
    pub fn confirmed_records(&self, token: &str, order_sn: &str) -> Vec<String> {
        self.with_shop(token, |shop, _| {
            shop.by_sn.get(order_sn).map(|&i| shop.orders[i].confirmed.clone()).unwrap_or_default()
        })
    }

    /// Adds `n` orders created now (pending review or awaiting shipment, nothing shipped);
    /// returns their numbers. Unknown shops are left alone (empty result).
    pub fn add_orders(&self, token: &str, n: usize) -> Vec<String> {
        let now = now_unix();
        self.with_shop(token, |shop, rng| {
            (0..n)
                .map(|_| {
                    let status = if rng.gen_bool(0.5) { 1 } else { 4 };
                    let idx = shop.generate(rng, now, (status, 1), now);
                    shop.orders[idx].truth.order_sn.clone()
                })
                .collect()
        })
    }

    /// Adds an order created now, awaiting shipment (paid, nothing shipped), carrying
    /// `external_order_sn` (the buyer's own order number) when given; returns its number, or an
    /// empty string for an unknown shop.
    pub fn add_order_for(&self, token: &str, external_order_sn: Option<&str>) -> String {
        let now = now_unix();
        self.with_shop(token, |shop, rng| {
            let idx = shop.generate(rng, now, (4, 1), now);
            let o = &mut shop.orders[idx].truth;
            o.external_order_sn = external_order_sn.map(str::to_string);
            o.order_sn.clone()
        })
    }

    /// Sets the buyer's order number an order carries (`external_order_sn`), as the buyer wrote
    /// it when ordering; false if the shop or order is unknown.
    pub fn set_external_order_sn(&self, token: &str, order_sn: &str, external_order_sn: Option<&str>) -> bool {
        self.with_shop(token, |shop, _| {
            let Some(&idx) = shop.by_sn.get(order_sn) else {
                return false;
            };
            shop.orders[idx].truth.external_order_sn = external_order_sn.map(str::to_string);
            true
        })
    }

    /// Ships what order `order_sn` has not shipped yet in `parcels` outbound records (a line's
    /// quantity is split when there are fewer lines than parcels), carrier `express_company`;
    /// the order becomes awaiting receipt, all shipped. Returns the new records' numbers (empty
    /// for an unknown shop or order, or nothing left to ship).
    pub fn ship_parcels(&self, token: &str, order_sn: &str, parcels: usize, express_company: &str) -> Vec<String> {
        let now = now_unix();
        self.with_shop(token, |shop, rng| {
            let Some(&idx) = shop.by_sn.get(order_sn) else {
                return Vec::new();
            };
            let o = &shop.orders[idx];
            let shipped = |sku: &str| -> i64 {
                (o.outbound.iter().flat_map(|b| &b.products)).filter(|p| p.0 == sku).map(|p| p.1).sum()
            };
            // One unit per item, dealt round-robin into the parcels.
            let mut chunks: Vec<Vec<(String, i64)>> = vec![Vec::new(); parcels.max(1)];
            let mut k = 0;
            for l in &o.truth.lines {
                for _ in 0..(l.num - shipped(&l.sku_id)).max(0) {
                    let chunk = &mut chunks[k % parcels.max(1)];
                    match chunk.iter_mut().find(|p| p.0 == l.sku_id) {
                        Some(p) => p.1 += 1,
                        None => chunk.push((l.sku_id.clone(), 1)),
                    }
                    k += 1;
                }
            }
            let mut made = Vec::new();
            for products in chunks.into_iter().filter(|c| !c.is_empty()) {
                let purchase_sn = shop.next_sn("CK", now);
                let express_sn = format!("{:012}", rng.gen_range(0..1_000_000_000_000i64));
                let record = LbTruthOutbound {
                    order_sn: order_sn.to_string(),
                    purchase_sn: purchase_sn.clone(),
                    express_company: express_company.to_string(),
                    express_sn,
                    out_time: now,
                    products,
                };
                shop.orders[idx].outbound.push(record);
                made.push(purchase_sn);
            }
            if !made.is_empty() {
                let t = &mut shop.orders[idx].truth;
                t.set_codes(5, 3, 1);
                t.update_time = now;
            }
            made
        })
    }

    /// Corrects the tracking number of outbound record `purchase_sn` (a typo the supplier
    /// fixes) and touches its order; false if the shop or record is unknown.
    pub fn correct_tracking(&self, token: &str, purchase_sn: &str, express_sn: &str) -> bool {
        let now = now_unix();
        self.with_shop(token, |shop, _| {
            for o in &mut shop.orders {
                if let Some(r) = o.outbound.iter_mut().find(|r| r.purchase_sn == purchase_sn) {
                    r.express_sn = express_sn.to_string();
                    o.truth.update_time = now;
                    return true;
                }
            }
            false
        })
    }

    /// Numbers of the orders in `order_status` (and `shipment_status`, when given).
    pub fn order_sns_where(&self, token: &str, order_status: u8, shipment_status: Option<u8>) -> Vec<String> {
        self.with_shop(token, |shop, _| {
            shop.orders
                .iter()
                .map(|o| &o.truth)
                .filter(|t| t.order_status == order_status && shipment_status.is_none_or(|s| t.shipment_status == s))
                .map(|t| t.order_sn.clone())
                .collect()
        })
    }

    /// For the demo: every tick adds an order, moves a random open order forward (1→4, 4→5 all
    /// shipped, 5→6) and now and then opens a refund, until the handle is aborted.
    pub fn spawn_activity(&self, token: &str, every: Duration) -> JoinHandle<()> {
        let (sim, token) = (self.clone(), token.to_string());
        super::every(every, move || {
            sim.add_orders(&token, 1);
            let next = sim.with_shop(&token, |shop, rng| {
                let open: Vec<&LbTruthOrder> =
                    (shop.orders.iter().map(|o| &o.truth)).filter(|t| matches!(t.order_status, 1 | 4 | 5)).collect();
                let o = open.get(rng.gen_range(0..open.len().max(1)))?;
                let (status, shipment) = match o.order_status {
                    1 => (4, 1),
                    4 => (5, 3),
                    _ => (6, 3),
                };
                Some((o.order_sn.clone(), status, shipment, rng.gen_bool(0.1)))
            });
            if let Some((sn, status, shipment, refund)) = next {
                sim.set_order_status(&token, &sn, status, shipment);
                if refund {
                    sim.add_refund(&token, &sn);
                }
            }
        })
    }

    /// The axum router with the six routes, for serving or mounting elsewhere.
    pub fn router(&self) -> Router {
        let mut router = Router::new();
        for (path, handler, push) in ROUTES {
            let sim = self.clone();
            let route = move |headers: HeaderMap, form: FormResult| async move {
                sim.handle((path, handler, push), &headers, form).await
            };
            router = router.route(path, post(route));
        }
        router
    }

    /// Serves the simulator on 127.0.0.1 (a free port) until the handle is dropped.
    pub async fn serve(&self) -> std::io::Result<SimHandle> {
        super::serve(super::noting_passes(self.router(), self.clone())).await
    }

    async fn handle(&self, route: (&str, Handler, bool), h: &HeaderMap, form: FormResult) -> Response {
        let (path, handler, push) = route;
        let fields = form.as_ref().ok().map(|Form(f)| f);
        let token = bearer(h).unwrap_or_default();
        let items = match fields.and_then(|f| list_field(f, "more_order_sn")) {
            _ if push => 1,
            sns => sns.map_or(0, |l| l.len()),
        };
        // The token check runs inside respond(), so 500/429 faults come before it as they would
        // on a gateway in front of the ERP, and the 401 is logged like any other answer.
        let answer = || self.process(token, fields, handler, push);
        self.inner.core.respond(token, path, items, answer).await
    }

    fn process(&self, token: &str, fields: Option<&Fields>, handler: Handler, push: bool) -> (StatusCode, Value) {
        let mut guard = lock(&self.inner.state);
        let State { shops, options, .. } = &mut *guard;
        let Some(shop) = shops.get_mut(token) else {
            let body = json!({"code": 401, "msg": "unauthorized"});
            return (StatusCode::UNAUTHORIZED, body);
        };
        let Some(f) = fields else {
            let msg = "body must be an application/x-www-form-urlencoded form";
            return (StatusCode::OK, json!({"code": 400, "msg": msg}));
        };
        let body = match handler(shop, options, f) {
            Ok(data) => {
                if push {
                    // The entry is the form exactly as sent, so tests can see purchase_sn/remarks.
                    let entry: Value = (f.iter()).map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
                    let sn = field(f, "order_sn").unwrap_or_default();
                    self.inner.core.record_push(token, "status", sn, &entry);
                }
                json!({"code": 0, "msg": "ok", "data": data})
            }
            Err((code, msg)) => json!({"code": code, "msg": msg}),
        };
        (StatusCode::OK, body)
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

// ---- parameters (an empty field counts as absent, as form-based vendor APIs treat it) ----

fn bad(msg: String) -> Refusal {
    (400, msg)
}

fn field<'a>(f: &'a Fields, name: &str) -> Option<&'a str> {
    f.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn int_field(f: &Fields, name: &str) -> Result<Option<i64>, Refusal> {
    field(f, name).map(|v| v.parse().map_err(|_| bad(format!("{name} must be an integer")))).transpose()
}

/// A status filter: absent, or one of `allowed`.
fn code_field(f: &Fields, name: &str, allowed: &[u8]) -> Result<Option<u8>, Refusal> {
    let refuse = || bad(format!("{name} must be one of {allowed:?}"));
    match int_field(f, name).map_err(|_| refuse())? {
        None => Ok(None),
        Some(v) => u8::try_from(v).ok().filter(|v| allowed.contains(v)).map(Some).ok_or_else(refuse),
    }
}

fn list_field<'a>(f: &'a Fields, name: &str) -> Option<Vec<&'a str>> {
    field(f, name).map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
}

/// A comma-separated list of order numbers, at most [`MAX_SN_LIST`].
fn sn_list<'a>(f: &'a Fields, name: &str) -> Result<Option<Vec<&'a str>>, Refusal> {
    match list_field(f, name) {
        Some(l) if l.len() > MAX_SN_LIST => Err(bad(format!("{name} accepts at most {MAX_SN_LIST} order numbers"))),
        other => Ok(other),
    }
}

/// A `yyyy-MM-dd HH:mm:ss` field in China Standard Time, as unix seconds.
fn time_field(f: &Fields, name: &str) -> Result<Option<i64>, Refusal> {
    let Some(v) = field(f, name) else {
        return Ok(None);
    };
    NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S")
        .map(|t| Some(t.and_utc().timestamp() - 8 * 3600))
        .map_err(|_| bad(format!("{name} must be a time like 2024-03-05 08:00:00")))
}

fn required<'a>(f: &'a Fields, name: &str) -> Result<&'a str, Refusal> {
    field(f, name).ok_or_else(|| bad(format!("{name} is required")))
}

/// Yuan text: two decimals for whole fen (`"12.90"`), four otherwise (`"1.0050"`), so clients
/// meet both widths.
fn yuan(units: i64) -> String {
    let mut s = yuan4(units);
    if units % 100 == 0 {
        s.truncate(s.len() - 2);
    }
    s
}

/// `page` (1-based), `page_size` (1..=100) and `use_has_next`.
struct Paging {
    page: i64,
    size: i64,
    has_next: bool,
}

fn paging(f: &Fields) -> Result<Paging, Refusal> {
    let page = int_field(f, "page")?.unwrap_or(1);
    let size = int_field(f, "page_size")?.unwrap_or(DEFAULT_PAGE_SIZE);
    if page < 1 {
        return Err(bad("page must be 1 or more".into()));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(bad(format!("page_size must be between 1 and {MAX_PAGE_SIZE}")));
    }
    let has_next = match field(f, "use_has_next").map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(_) => return Err(bad("use_has_next must be true or false".into())),
    };
    Ok(Paging { page, size, has_next })
}

/// The list envelope: `total` (the rows the query matches, which an under-serving answer does
/// not all serve), or `has_next` when the client asked for it, with `total` beside it when the
/// options say so.
fn page_of<T>(rows: &[T], total: usize, p: &Paging, o: &LbOptions, to_row: impl Fn(&T) -> Value) -> Value {
    let offset = usize::try_from((p.page - 1).saturating_mul(p.size)).unwrap_or(usize::MAX);
    let size = usize::try_from(p.size).unwrap_or(0);
    let list: Vec<Value> = rows.iter().skip(offset).take(size).map(to_row).collect();
    let mut data = json!({"list": list, "page": p.page, "page_size": p.size});
    if p.has_next {
        data["has_next"] = json!(offset.saturating_add(size) < rows.len());
    }
    if !p.has_next || o.total_with_has_next {
        data["total"] = json!(total);
    }
    data
}

fn order_list(shop: &mut Shop, o: &LbOptions, f: &Fields) -> Result<Value, Refusal> {
    let p = paging(f)?;
    let status = code_field(f, "order_status", ORDER_STATUSES)?;
    let pay = code_field(f, "pay_status", PAY_STATUSES)?;
    let shipment = code_field(f, "shipment_status", SHIPMENT_STATUSES)?;
    let start = time_field(f, "start_time")?;
    let end = time_field(f, "end_time")?;
    let sn = field(f, "order_sn");
    let sns = sn_list(f, "more_order_sn")?;
    let mut rows: Vec<&Order> = shop
        .orders
        .iter()
        .filter(|Order { truth: o, .. }| {
            let t = o.create_time;
            status.is_none_or(|s| o.order_status == s)
                && pay.is_none_or(|s| o.pay_status == s)
                && shipment.is_none_or(|s| o.shipment_status == s)
                && start.is_none_or(|s| t >= s)
                && end.is_none_or(|e| t <= e)
                && sn.is_none_or(|n| o.order_sn == n)
                && sns.as_ref().is_none_or(|l| l.contains(&o.order_sn.as_str()))
        })
        .collect();
    rows.sort_by_key(|o| (o.truth.create_time, &o.truth.order_sn));
    let total = rows.len();
    // Hidden orders leave the answer (shifting the rows after them), but not its total.
    rows.retain(|order| match shop.hidden.get_mut(&order.truth.order_sn) {
        Some(left) if *left > 0 => {
            if *left != usize::MAX {
                *left -= 1;
            }
            false
        }
        _ => true,
    });
    Ok(page_of(&rows, total, &p, o, |order| order_row(order, o, true)))
}

/// An order as the vendor writes it; a list row (`listed`) omits what the options say.
fn order_row(order: &Order, opts: &LbOptions, listed: bool) -> Value {
    let o = &order.truth;
    let products: Vec<Value> = (o.lines.iter().zip(&order.prices))
        .map(|(l, &p)| json!({"sku_id": l.sku_id, "product_name": l.name, "num": l.num, "price": yuan(p)}))
        .collect();
    let mut row = json!({
        "order_sn": o.order_sn, "external_order_sn": o.external_order_sn.as_deref().unwrap_or(""),
        "order_status": o.order_status, "pay_status": o.pay_status,
        "shipment_status": o.shipment_status, "order_amount": yuan(order.amount()),
        "freight": yuan(order.freight), "create_time": opts.time_form.write(o.create_time),
        "update_time": opts.time_form.write(o.update_time), "consignee": o.consignee, "mobile": o.mobile,
        "province": o.province, "city": o.city, "district": o.district, "address": o.address,
        "products": products,
    });
    let (no_products, no_amounts) = if listed { opts.omits(&o.order_sn) } else { (false, false) };
    if let Some(map) = row.as_object_mut() {
        if no_products {
            map.remove("products");
        }
        if no_amounts {
            // Both forms of "missing": a null amount and an absent freight.
            map.insert("order_amount".into(), Value::Null);
            map.remove("freight");
        }
    }
    row
}

/// The detail of one order (`order_sn`, else `external_order_sn`): the full row, never
/// omitting anything, nested as the options say.
fn order_info(shop: &mut Shop, o: &LbOptions, f: &Fields) -> Result<Value, Refusal> {
    let idx = match (field(f, "order_sn"), field(f, "external_order_sn")) {
        (Some(sn), _) => order_idx(shop, sn)?,
        (None, Some(ext)) => (shop.orders.iter())
            .position(|o| o.truth.external_order_sn.as_deref() == Some(ext))
            .ok_or_else(|| (404, format!("订单不存在: external_order_sn {ext}")))?,
        (None, None) => return Err(bad("order_sn or external_order_sn is required".into())),
    };
    let order = &shop.orders[idx];
    shop.detail_log.push(order.truth.order_sn.clone());
    let row = order_row(order, o, false);
    Ok(match o.detail_nesting {
        LbDetailNesting::Data => row,
        LbDetailNesting::Order => json!({ "order": row }),
        LbDetailNesting::Info => json!({ "info": row }),
    })
}

fn order_idx(shop: &Shop, sn: &str) -> Result<usize, Refusal> {
    shop.by_sn.get(sn).copied().ok_or_else(|| (404, format!("订单不存在: {sn}")))
}

fn out_info(shop: &mut Shop, opts: &LbOptions, f: &Fields) -> Result<Value, Refusal> {
    let o = &shop.orders[order_idx(shop, required(f, "order_sn")?)?];
    // The vendor page also lists purchase_sn: it narrows the answer to that one record.
    let only = field(f, "purchase_sn");
    let list: Vec<Value> = o
        .outbound
        .iter()
        .filter(|b| only.is_none_or(|p| b.purchase_sn == p))
        .map(|b| {
            let product = |(sku, num): &(String, i64)| {
                let line = o.truth.lines.iter().find(|l| l.sku_id == *sku);
                let name = line.map_or("", |l| l.name.as_str());
                json!({"sku_id": sku, "product_name": name, "num": num})
            };
            json!({
                "purchase_sn": b.purchase_sn, "express_company": b.express_company,
                "express_sn": b.express_sn, "out_time": opts.time_form.write(b.out_time),
                "products": b.products.iter().map(product).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({"list": list}))
}

fn refund_list(shop: &mut Shop, o: &LbOptions, f: &Fields) -> Result<Value, Refusal> {
    let p = paging(f)?;
    let sn = field(f, "order_sn");
    let status = code_field(f, "refund_status", REFUND_STATUSES)?;
    let examine = code_field(f, "examine_status", EXAMINE_STATUSES)?;
    let mut rows: Vec<&Refund> = shop
        .refunds
        .iter()
        .filter(|Refund { truth: r, .. }| {
            sn.is_none_or(|n| r.order_sn == n)
                && status.is_none_or(|s| r.refund_status == s)
                && examine.is_none_or(|s| r.examine_status == s)
        })
        .collect();
    rows.sort_by_key(|r| (r.truth.create_time, &r.truth.refund_sn));
    Ok(page_of(&rows, rows.len(), &p, o, |Refund { units, truth: r }| {
        json!({
            "refund_sn": r.refund_sn, "order_sn": r.order_sn, "refund_status": r.refund_status,
            "examine_status": r.examine_status, "refund_amount": yuan(*units),
            "reason": r.reason, "create_time": o.time_form.write(r.create_time),
            "update_time": o.time_form.write(r.update_time),
        })
    }))
}

// ---- pushes (one order per call) ----

/// 409: the order's state refuses the push.
fn refused(msg: &str) -> Refusal {
    (409, msg.to_string())
}

fn cancel(shop: &mut Shop, _: &LbOptions, f: &Fields) -> Result<Value, Refusal> {
    let sn = required(f, "order_sn")?;
    let idx = order_idx(shop, sn)?;
    let o = &mut shop.orders[idx].truth;
    match (o.order_status, o.shipment_status) {
        (7, _) => return Err(refused("订单已取消，请勿重复操作")),
        (6, _) => return Err(refused("订单已完成，无法取消")),
        (5, _) | (_, 2 | 3) => return Err(refused("订单已发货，无法取消")),
        _ => {}
    }
    o.set_codes(7, o.shipment_status, o.pay_status);
    o.update_time = now_unix();
    Ok(json!({"order_sn": sn, "order_status": 7}))
}

/// Confirms receipt: of the whole order, or (per-record reading) of the named outbound record,
/// the order completing once every record is confirmed.
fn receipt(shop: &mut Shop, opts: &LbOptions, f: &Fields) -> Result<Value, Refusal> {
    let sn = required(f, "order_sn")?;
    let idx = order_idx(shop, sn)?;
    let named = field(f, "purchase_sn");
    let order = &mut shop.orders[idx];
    if order.truth.order_status != 5 {
        return Err(refused("订单不是待收货状态，无法确认收货"));
    }
    // purchase_sn is optional; when given it must name one of this order's outbound records.
    if let Some(p) = named {
        if !order.outbound.iter().any(|b| b.purchase_sn == p) {
            return Err((404, format!("出库单不存在: purchase_sn {p}")));
        }
        if shop.refused_receipts.contains(p) {
            return Err(refused("出库单暂不能确认收货"));
        }
    }
    let now = now_unix();
    if let (LbReceipt::PerRecord, Some(p)) = (opts.receipt, named) {
        if order.confirmed.iter().any(|c| c == p) {
            return Err(refused("出库单已确认收货，请勿重复操作"));
        }
        order.confirmed.push(p.to_string());
        let all = order.outbound.iter().all(|b| order.confirmed.contains(&b.purchase_sn));
        if !all {
            order.truth.update_time = now;
            return Ok(json!({"order_sn": sn, "purchase_sn": p, "order_status": 5}));
        }
    } else {
        for b in &order.outbound {
            if !order.confirmed.contains(&b.purchase_sn) {
                order.confirmed.push(b.purchase_sn.clone());
            }
        }
    }
    let t = &mut order.truth;
    t.set_codes(6, t.shipment_status, t.pay_status);
    t.update_time = now;
    Ok(json!({"order_sn": sn, "order_status": 6}))
}

impl Simulator for LbSim {
    fn core(&self) -> &SimCore {
        &self.inner.core
    }
}
