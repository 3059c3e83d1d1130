//! YMCart ERP simulator (PLATFORMS.md §1): `POST /api-erp-<name>.html` form calls answered
//! with PHP-style rows (every field twice, under its name and a numeric key; scalars are strings
//! or null).
//!
//! Shops are told apart by their `token`. Each shop holds generated orders and deliveries; the
//! five routes read and change them, and the test hooks ([`YmSim::truth_orders`],
//! [`YmSim::touch_order`], …) expose the ground truth and play the merchant. Amounts live as
//! integers in 1/10000 yuan, the vendor's own precision, so the truth in fen is exact.
//! Decisions beyond the vendor page: an order row's `delivery` is null or the array of that
//! order's delivery rows (so a client can read a shipment back), and `order_remark` likewise
//! lists the remarks pushed so far.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;

use super::{
    cst_compact_date, cst_day_bounds, lock, now_unix, parse_date, pick, random_phone, random_units, units_to_fen,
    yuan4, SimCore, SimHandle, Simulator, TimeForm, CARRIERS, FIRST_NAMES, GOODS, LAST_NAMES, PLACES,
};

/// Most entries one push may carry (the vendor sends one e-mail per entry).
const MAX_PUSH_ENTRIES: usize = 20;
/// Largest `page_size` the lists accept (Contract).
const MAX_PAGE_SIZE: i64 = 100;
/// Order statuses a generated order can have, with their weights.
const STATUS_MIX: &[(u16, u32)] = &[(100, 15), (101, 5), (102, 5), (200, 25), (301, 20), (600, 10), (700, 20)];
/// Target statuses `orderStatus` accepts.
const PUSHABLE_STATUSES: &[u16] = &[100, 102, 200, 600, 700];
/// (payment_id, payment_method) of generated orders.
const PAYMENTS: &[(i64, &str)] = &[(142, "Alipay"), (143, "WeChat Pay"), (144, "UnionPay")];
/// The simulator's own reading of PLATFORMS.md §1, `order_status` → unified order status (the
/// expected value in tests; deliberately not the connector's table).
const EXPECTED_ORDER_STATUS: &[(u16, &str)] = &[
    (100, "pending"),
    (101, "pending"),
    (102, "pending"),
    (200, "awaiting_fulfillment"),
    (301, "shipped"),
    (600, "cancelled"),
    (700, "completed"),
];
/// The simulator's own reading of PLATFORMS.md §1, `payment_status` → unified payment status:
/// 101 is the page's "payment failed", 102 "confirming payment" is not paid yet.
const EXPECTED_PAYMENT_STATUS: &[(u16, &str)] = &[(100, "unpaid"), (101, "failed"), (102, "unpaid"), (200, "paid")];

/// The five routes, each `POST /api-erp-<name>.html`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    OrderList,
    DeliveryList,
    OrderShip,
    OrderStatus,
    OrderRemark,
}

impl Endpoint {
    const ALL: [Endpoint; 5] = [
        Endpoint::OrderList,
        Endpoint::DeliveryList,
        Endpoint::OrderShip,
        Endpoint::OrderStatus,
        Endpoint::OrderRemark,
    ];

    fn path(self) -> &'static str {
        match self {
            Endpoint::OrderList => "/api-erp-orderList.html",
            Endpoint::DeliveryList => "/api-erp-deliveryList.html",
            Endpoint::OrderShip => "/api-erp-orderShip.html",
            Endpoint::OrderStatus => "/api-erp-orderStatus.html",
            Endpoint::OrderRemark => "/api-erp-orderRemark.html",
        }
    }

    /// The form field carrying a push's JSON entries and the applied-push kind; None for lists.
    fn push(self) -> Option<(&'static str, &'static str)> {
        match self {
            Endpoint::OrderShip => Some(("shipno_res", "ship")),
            Endpoint::OrderStatus => Some(("status_res", "status")),
            Endpoint::OrderRemark => Some(("remark_res", "remark")),
            _ => None,
        }
    }
}

/// Ground truth of one order, amounts in fen.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthOrder {
    /// Numeric database id (ascending = creation order).
    pub id: i64,
    /// Order number, like `SY20240101-1001`.
    pub itemno: String,
    /// Distributor's order number, when there is one.
    pub outer_itemno: Option<String>,
    /// Vendor order status (100/101/102/200/301/600/700).
    pub order_status: u16,
    /// Vendor payment status (100/101/102/200).
    pub payment_status: u16,
    /// Expected unified order status (the simulator's own table; `unknown` outside it).
    pub unified_status: &'static str,
    /// Expected unified payment status (the simulator's own table; None outside it).
    pub unified_payment: Option<&'static str>,
    /// Creation time, unix seconds.
    pub create_time: i64,
    /// Last-modified time, unix seconds; 0 = never touched.
    pub act_time: i64,
    /// `total_amount` in fen.
    pub total_fen: i64,
    /// `cost_shipping` in fen.
    pub shipping_fen: i64,
    /// Order lines in row order.
    pub lines: Vec<TruthLine>,
    /// `first_name last_name` of the shipping address, else of the billing one.
    pub ship_name: Option<String>,
    /// `mobilephone` of the shipping address, else of the billing one.
    pub ship_phone: Option<String>,
}

/// Ground truth of one order line.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthLine {
    /// `sku_codeno`.
    pub sku: String,
    /// `goods_name`.
    pub name: String,
    /// `buy_num`.
    pub quantity: i64,
    /// `price` in fen.
    pub unit_price_fen: i64,
}

/// Ground truth of one delivery (shipment).
#[derive(Debug, Clone, PartialEq)]
pub struct TruthDelivery {
    /// Delivery id (the `deliveryList` cursor).
    pub id: i64,
    /// The order's numeric id.
    pub order_id: i64,
    /// The order's number.
    pub itemno: String,
    /// Tracking number.
    pub delivery_no: String,
    /// `shipping_corp_name`.
    pub corp_name: String,
    /// Creation time, unix seconds.
    pub create_time: i64,
}

#[derive(Debug, Clone)]
struct Line {
    id: i64,
    goods: usize,
    sku: String,
    buy_num: i64,
    price: i64,
    weight: i64,
}

#[derive(Debug, Clone)]
struct Address {
    id: i64,
    kind: u8,
    first: &'static str,
    last: &'static str,
    place: usize,
    street: String,
    phone: String,
}

#[derive(Debug, Clone)]
struct Delivery {
    id: i64,
    order_id: i64,
    itemno: String,
    user_id: i64,
    delivery_no: String,
    corp_id: i64,
    corp_name: String,
    create_time: i64,
    remark: String,
}

#[derive(Debug, Clone)]
struct Remark {
    id: i64,
    text: String,
    create_time: i64,
}

/// Amounts are 1/10000-yuan units.
#[derive(Debug, Clone)]
struct Order {
    id: i64,
    itemno: String,
    outer_itemno: Option<String>,
    user_id: i64,
    order_status: u16,
    payment_status: u16,
    shipping_status: u16,
    shipping_corp_id: i64,
    payment: (i64, &'static str),
    cost_shipping: i64,
    cost_payment: i64,
    cost_insurance: i64,
    cost_offer: i64,
    create_time: i64,
    pay_time: i64,
    act_time: i64,
    ip: u32,
    remark: &'static str,
    lines: Vec<Line>,
    addresses: Vec<Address>,
    /// Indexes into the shop's deliveries.
    deliveries: Vec<usize>,
    remarks: Vec<Remark>,
    /// Served with a `create_time` no reader can take (a vendor bug), for the test that such a
    /// row is kept raw while the rest of its page syncs.
    corrupt: bool,
}

impl Order {
    fn cost_product(&self) -> i64 {
        self.lines.iter().map(|l| l.price * l.buy_num).sum()
    }

    fn total(&self) -> i64 {
        self.cost_product() + self.cost_shipping + self.cost_payment + self.cost_insurance - self.cost_offer
    }

    /// Open for the demo's activity: not yet complete or void.
    fn is_open(&self) -> bool {
        matches!(self.order_status, 100 | 200 | 301)
    }

    fn truth(&self) -> TruthOrder {
        // PLATFORMS.md §1: the shipping address, else the billing one.
        let ship = self.addresses.iter().find(|a| a.kind == 0).or_else(|| self.addresses.iter().find(|a| a.kind == 1));
        let line = |l: &Line| TruthLine {
            sku: l.sku.clone(),
            name: GOODS[l.goods].0.to_string(),
            quantity: l.buy_num,
            unit_price_fen: units_to_fen(l.price),
        };
        TruthOrder {
            id: self.id,
            itemno: self.itemno.clone(),
            outer_itemno: self.outer_itemno.clone(),
            order_status: self.order_status,
            payment_status: self.payment_status,
            unified_status: expected(EXPECTED_ORDER_STATUS, self.order_status).unwrap_or("unknown"),
            unified_payment: expected(EXPECTED_PAYMENT_STATUS, self.payment_status),
            create_time: self.create_time,
            act_time: self.act_time,
            total_fen: units_to_fen(self.total()),
            shipping_fen: units_to_fen(self.cost_shipping),
            lines: self.lines.iter().map(line).collect(),
            ship_name: ship.map(|a| format!("{} {}", a.first, a.last)),
            ship_phone: ship.map(|a| a.phone.clone()),
        }
    }
}

/// The unified value `table` gives vendor code `code`.
fn expected(table: &[(u16, &'static str)], code: u16) -> Option<&'static str> {
    table.iter().find(|(c, _)| *c == code).map(|(_, v)| *v)
}

/// `value(rng)` with probability `p`, else 0.
fn maybe(rng: &mut StdRng, p: f64, value: impl FnOnce(&mut StdRng) -> i64) -> i64 {
    if rng.gen_bool(p) {
        value(rng)
    } else {
        0
    }
}

fn weighted_status(rng: &mut StdRng) -> u16 {
    let mut roll = rng.gen_range(0..STATUS_MIX.iter().map(|s| s.1).sum::<u32>());
    for &(status, weight) in STATUS_MIX {
        if roll < weight {
            return status;
        }
        roll -= weight;
    }
    100
}

fn payment_for(status: u16) -> u16 {
    match status {
        200 | 301 | 700 => 200,
        101 => 101,
        102 => 102,
        _ => 100,
    }
}

fn shipping_for(status: u16) -> u16 {
    if matches!(status, 301 | 700) {
        301
    } else {
        0
    }
}

/// One shop's database. Orders are kept in id order, deliveries too (both only grow).
#[derive(Debug)]
struct Shop {
    store_id: i64,
    orders: Vec<Order>,
    by_itemno: HashMap<String, usize>,
    deliveries: Vec<Delivery>,
    next_id: i64,
    next_child_id: i64,
    next_delivery_id: i64,
    quirk: Option<PagingQuirk>,
    /// How deliveryList reads `max_id` and orders its rows.
    delivery_order: DeliveryOrder,
    /// Most rows a list page serves whatever `page_size` asks (pages are counted in this size).
    page_cap: Option<usize>,
    /// (rows added to `count`, answers left to do it): a total the pages never reach.
    count_inflation: (usize, usize),
    /// orderList answers `"count":"0"` whatever it serves (a vendor that does not count).
    count_zero: bool,
    /// How times are written in rows.
    time_form: TimeForm,
    /// The last orderList filter (its fields as text) and the orders it matched: paging through
    /// one query then costs a page, not a scan of every order. Cleared whenever the shop changes.
    matched: Option<(String, Vec<usize>)>,
}

/// How a shop's deliveryList reads `max_id` (PLATFORMS.md §1: the page is ambiguous).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeliveryOrder {
    /// Rows with `id > max_id`, ascending (the Contract's default reading).
    #[default]
    Ascending,
    /// Newest first, `max_id` an inclusive upper bound (0 or absent: no bound), as the page's
    /// only sample lists them.
    NewestFirst,
    /// Newest first with `max_id` a lower bound: a shop that fits neither reading a client can
    /// page through, for the test that it is refused rather than half read.
    NewestFirstLowerBound,
}

/// Paging misbehaviour of a shop's order list, for the reliability tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingQuirk {
    /// Every page after the first starts one row early, repeating the previous page's last row
    /// (what a row inserted ahead of the cursor does to offset paging).
    RepeatRow,
    /// `count` grows as the client pages (rows added while it reads).
    CountGrows,
}

impl Shop {
    fn new(shop_no: i64) -> Shop {
        // Distinct id ranges per shop make a client mixing shops up visible in tests.
        let base = shop_no * 1_000_000;
        Shop {
            store_id: 24_073 + shop_no,
            orders: Vec::new(),
            by_itemno: HashMap::new(),
            deliveries: Vec::new(),
            next_id: base + 1_000,
            next_child_id: base + 1,
            next_delivery_id: base + 1,
            quirk: None,
            delivery_order: DeliveryOrder::default(),
            page_cap: None,
            count_inflation: (0, 0),
            count_zero: false,
            time_form: TimeForm::default(),
            matched: None,
        }
    }

    fn child_id(&mut self) -> i64 {
        self.next_child_id += 1;
        self.next_child_id
    }

    /// Generates and stores an order created at `create_time`; `touched` sets act_time.
    fn generate(&mut self, rng: &mut StdRng, create_time: i64, status: u16, touched: bool, now: i64) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        let n_lines = rng.gen_range(1..=4);
        let lines: Vec<Line> = sample(rng, GOODS.len(), n_lines)
            .into_iter()
            .map(|g| Line {
                id: self.child_id(),
                goods: g,
                sku: format!("{}{}", GOODS[g].1, pick(rng, &["S", "M", "L", ""])),
                buy_num: if rng.gen_bool(0.1) { rng.gen_range(6..=20) } else { rng.gen_range(1..=5) },
                price: random_units(rng, GOODS[g].2, GOODS[g].3),
                weight: rng.gen_range(500..=20_000),
            })
            .collect();
        let product: i64 = lines.iter().map(|l| l.price * l.buy_num).sum();
        let (first, last) = (*pick(rng, FIRST_NAMES), *pick(rng, LAST_NAMES));
        // As in the vendor page's own sample, some orders carry only a billing address.
        let mut addresses = Vec::new();
        match rng.gen_range(0..10) {
            0 => addresses.push(self.address(rng, 1, first, last)),
            1..=3 => {
                addresses.push(self.address(rng, 0, first, last));
                addresses.push(self.address(rng, 1, first, last));
            }
            _ => addresses.push(self.address(rng, 0, first, last)),
        }
        let paid = payment_for(status) == 200;
        let pay_time = if paid { now.min(create_time + rng.gen_range(30..=1_800)) } else { 0 };
        let ship_time = pay_time.max(create_time);
        let ship_time = rng.gen_range(ship_time..=now.max(ship_time));
        let order = Order {
            id,
            itemno: format!("SY{}-{id}", cst_compact_date(create_time)),
            outer_itemno: rng.gen_bool(0.4).then(|| format!("DS{id}")),
            user_id: rng.gen_range(1..=5_000),
            order_status: status,
            payment_status: payment_for(status),
            shipping_status: shipping_for(status),
            shipping_corp_id: 0,
            payment: *pick(rng, PAYMENTS),
            cost_shipping: maybe(rng, 0.7, |r| random_units(r, 500, 2_000)),
            // A 0.6% fee on the goods naturally has 4 decimals.
            cost_payment: maybe(rng, 0.3, |_| product * 6 / 1_000),
            cost_insurance: maybe(rng, 0.2, |r| random_units(r, 50, 300)),
            cost_offer: maybe(rng, 0.3, |r| random_units(r, 0, product / 1_000)),
            create_time,
            pay_time,
            act_time: if touched { rng.gen_range(ship_time..=now.max(ship_time)) } else { 0 },
            ip: rng.gen(),
            remark: if rng.gen_bool(0.15) { "请尽快发货" } else { "" },
            lines,
            addresses,
            deliveries: Vec::new(),
            remarks: Vec::new(),
            corrupt: false,
        };
        let idx = self.orders.len();
        self.by_itemno.insert(order.itemno.clone(), idx);
        self.orders.push(order);
        if shipping_for(status) == 301 {
            let (no, corp) = (format!("LN{:08}", rng.gen_range(0..100_000_000)), pick(rng, CARRIERS).1);
            self.add_delivery(idx, no, corp, String::new(), ship_time);
        }
        idx
    }

    fn address(&mut self, rng: &mut StdRng, kind: u8, first: &'static str, last: &'static str) -> Address {
        Address {
            id: self.child_id(),
            kind,
            first,
            last,
            place: rng.gen_range(0..PLACES.len()),
            street: format!("{} Renmin Road", rng.gen_range(1..=999)),
            phone: random_phone(rng),
        }
    }

    fn add_delivery(&mut self, idx: usize, delivery_no: String, corp_name: &str, remark: String, at: i64) {
        let corp_id = CARRIERS.iter().find(|c| c.1.eq_ignore_ascii_case(corp_name)).map_or(0, |c| c.0);
        let o = &mut self.orders[idx];
        o.shipping_corp_id = corp_id;
        o.deliveries.push(self.deliveries.len());
        self.deliveries.push(Delivery {
            id: self.next_delivery_id,
            order_id: o.id,
            itemno: o.itemno.clone(),
            user_id: o.user_id,
            delivery_no,
            corp_id,
            corp_name: corp_name.to_string(),
            create_time: at,
            remark,
        });
        self.next_delivery_id += 1;
    }

    /// Sets a status as the merchant's admin would: consistent payment and shipping status,
    /// a delivery when an order becomes shipped without one.
    fn touch(&mut self, rng: &mut StdRng, idx: usize, status: u16, now: i64) {
        let o = &mut self.orders[idx];
        o.order_status = status;
        o.payment_status = payment_for(status);
        o.shipping_status = shipping_for(status);
        o.pay_time = match (o.payment_status, o.pay_time) {
            (200, 0) => now,
            (200, t) => t,
            _ => 0,
        };
        o.act_time = now;
        if o.shipping_status == 301 && o.deliveries.is_empty() {
            let no = format!("LN{:08}", rng.gen_range(0..100_000_000));
            self.add_delivery(idx, no, pick(rng, CARRIERS).1, String::new(), now);
        }
    }
}

/// All shops plus the data rng (apart from the fault rng, so faults do not depend on data size).
#[derive(Debug)]
struct State {
    rng: StdRng,
    shops: HashMap<String, Shop>,
    shops_made: i64,
}

#[derive(Debug)]
struct Inner {
    core: SimCore,
    state: Mutex<State>,
}

/// The YMCart simulator: cheap to clone, all clones share one state.
#[derive(Debug, Clone)]
pub struct YmSim {
    inner: Arc<Inner>,
}

type FormResult = Result<Form<HashMap<String, String>>, FormRejection>;
type QueryResult = Result<Query<HashMap<String, String>>, QueryRejection>;

impl YmSim {
    /// An empty simulator; `seed` drives both the generated data and the fault decisions.
    pub fn new(seed: u64) -> YmSim {
        let state =
            State { rng: StdRng::seed_from_u64(seed.wrapping_add(0x9e37_79b9)), shops: HashMap::new(), shops_made: 0 };
        YmSim { inner: Arc::new(Inner { core: SimCore::new(seed), state: Mutex::new(state) }) }
    }

    /// Creates (or replaces) shop `token` with `orders` orders created over the last `days` days.
    pub fn add_shop(&self, token: &str, orders: usize, days: u32) {
        let mut guard = lock(&self.inner.state);
        let st = &mut *guard;
        st.shops_made += 1;
        let mut shop = Shop::new(st.shops_made);
        let now = now_unix();
        let mut times: Vec<i64> = (0..orders).map(|_| st.rng.gen_range(now - i64::from(days) * 86_400..=now)).collect();
        times.sort_unstable();
        for t in times {
            let status = weighted_status(&mut st.rng);
            let touched = !st.rng.gen_bool(1.0 / 3.0);
            shop.generate(&mut st.rng, t, status, touched, now);
        }
        st.shops.insert(token.to_string(), shop);
    }

    /// Runs `f` on shop `token` with the data rng; `R::default()` for an unknown shop.
    fn with_shop<R: Default>(&self, token: &str, f: impl FnOnce(&mut Shop, &mut StdRng) -> R) -> R {
        let mut guard = lock(&self.inner.state);
        let State { rng, shops, .. } = &mut *guard;
        shops.get_mut(token).map_or_else(R::default, |shop| {
            shop.matched = None;
            f(shop, rng)
        })
    }

    /// Makes a shop's order list page badly (or well again with `None`).
    pub fn set_paging_quirk(&self, token: &str, quirk: Option<PagingQuirk>) {
        self.with_shop(token, |shop, _| shop.quirk = quirk);
    }

    /// Serves order `itemno` with an unreadable `create_time` from now on; false if unknown.
    pub fn corrupt_order(&self, token: &str, itemno: &str) -> bool {
        self.with_shop(token, |shop, _| {
            let Some(&idx) = shop.by_itemno.get(itemno) else { return false };
            shop.orders[idx].corrupt = true;
            true
        })
    }

    /// Makes a shop's deliveryList read `max_id` one of the ways the page allows (or neither).
    pub fn set_delivery_order(&self, token: &str, order: DeliveryOrder) {
        self.with_shop(token, |shop, _| shop.delivery_order = order);
    }

    /// Caps every list page of a shop at `cap` rows whatever `page_size` asks (`count` stays
    /// the full total), as a server with its own maximum does.
    pub fn set_page_cap(&self, token: &str, cap: Option<usize>) {
        self.with_shop(token, |shop, _| shop.page_cap = cap);
    }

    /// Adds `extra` to the `count` of the next `answers` orderList answers: a total the pages
    /// never reach (rows the vendor counts but does not serve).
    pub fn set_count_inflation(&self, token: &str, extra: usize, answers: usize) {
        self.with_shop(token, |shop, _| shop.count_inflation = (extra, answers));
    }

    /// Makes a shop's orderList answer `"count":"0"` beside its rows (no total at all).
    pub fn set_count_zero(&self, token: &str, zero: bool) {
        self.with_shop(token, |shop, _| shop.count_zero = zero);
    }

    /// Writes a shop's times in another form than the page's unix seconds.
    pub fn set_time_form(&self, token: &str, form: TimeForm) {
        self.with_shop(token, |shop, _| shop.time_form = form);
    }

    /// Adds `n` orders created now (status 100 or 200, act_time 0); returns their numbers.
    /// Unknown shops are left alone (empty result).
    pub fn add_orders(&self, token: &str, n: usize) -> Vec<String> {
        let now = now_unix();
        self.with_shop(token, |shop, rng| {
            (0..n)
                .map(|_| {
                    let status = if rng.gen_bool(0.5) { 100 } else { 200 };
                    let idx = shop.generate(rng, now, status, false, now);
                    shop.orders[idx].itemno.clone()
                })
                .collect()
        })
    }

    /// Changes an order's status as the merchant would in the admin (consistent payment and
    /// shipping status, act_time now, a delivery if it becomes shipped without one); false if the
    /// shop or order is unknown.
    pub fn touch_order(&self, token: &str, itemno: &str, new_status: u16) -> bool {
        self.with_shop(token, |shop, rng| {
            let Some(&idx) = shop.by_itemno.get(itemno) else {
                return false;
            };
            shop.touch(rng, idx, new_status, now_unix());
            true
        })
    }

    /// Ground truth of every order of a shop, in id order (empty for an unknown shop).
    pub fn truth_orders(&self, token: &str) -> Vec<TruthOrder> {
        self.with_shop(token, |shop, _| shop.orders.iter().map(Order::truth).collect())
    }

    /// Ground truth of every delivery of a shop, in id order.
    pub fn truth_deliveries(&self, token: &str) -> Vec<TruthDelivery> {
        self.with_shop(token, |shop, _| {
            let truth = |d: &Delivery| TruthDelivery {
                id: d.id,
                order_id: d.order_id,
                itemno: d.itemno.clone(),
                delivery_no: d.delivery_no.clone(),
                corp_name: d.corp_name.clone(),
                create_time: d.create_time,
            };
            shop.deliveries.iter().map(truth).collect()
        })
    }

    /// Numbers of the orders whose payment status is not 200 (paid).
    pub fn unpaid_order_nos(&self, token: &str) -> Vec<String> {
        self.order_nos_where(token, |o| o.payment_status != 200)
    }

    /// Numbers of the orders in vendor status `status`.
    pub fn order_nos_in_status(&self, token: &str, status: u16) -> Vec<String> {
        self.order_nos_where(token, |o| o.order_status == status)
    }

    fn order_nos_where(&self, token: &str, keep: impl Fn(&Order) -> bool) -> Vec<String> {
        self.with_shop(token, |shop, _| shop.orders.iter().filter(|o| keep(o)).map(|o| o.itemno.clone()).collect())
    }

    /// For the demo: every tick adds an order and moves a random open order forward
    /// (100→200, 200→301, 301→700), until the handle is aborted.
    pub fn spawn_activity(&self, token: &str, every: Duration) -> JoinHandle<()> {
        let (sim, token) = (self.clone(), token.to_string());
        super::every(every, move || {
            sim.add_orders(&token, 1);
            let next = sim.with_shop(&token, |shop, rng| {
                let open: Vec<&Order> = shop.orders.iter().filter(|o| o.is_open()).collect();
                let o = open.get(rng.gen_range(0..open.len().max(1)))?;
                let status = match o.order_status {
                    100 => 200,
                    200 => 301,
                    _ => 700,
                };
                Some((o.itemno.clone(), status))
            });
            if let Some((itemno, status)) = next {
                sim.touch_order(&token, &itemno, status);
            }
        })
    }

    /// The axum router with the five routes, for serving or mounting elsewhere.
    pub fn router(&self) -> Router {
        Endpoint::ALL.into_iter().fold(Router::new(), |router, ep| {
            let sim = self.clone();
            let route = move |query: QueryResult, form: FormResult| async move { sim.handle(ep, query, form).await };
            router.route(ep.path(), post(route))
        })
    }

    /// Serves the simulator on 127.0.0.1 (a free port) until the handle is dropped.
    pub async fn serve(&self) -> std::io::Result<SimHandle> {
        super::serve(super::noting_passes(self.router(), self.clone())).await
    }

    async fn handle(&self, ep: Endpoint, query: QueryResult, form: FormResult) -> Response {
        // PHP's $_REQUEST: fields of the query string, overridden by those of a form body.
        let fields = match (query.ok().filter(|Query(q)| !q.is_empty()), form.ok()) {
            (None, None) => None,
            (q, f) => {
                let mut fields = q.map(|Query(q)| q).unwrap_or_default();
                fields.extend(f.map(|Form(f)| f).unwrap_or_default());
                Some(fields)
            }
        };
        let fields = fields.as_ref();
        let token = fields.and_then(|f| f.get("token")).cloned().unwrap_or_default();
        let items = ep
            .push()
            .and_then(|(field, _)| fields?.get(field))
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .map_or(0, |v| v.as_array().map_or(0, Vec::len));
        // A read's answer depends on its fields alone, so it may be served again from the cache.
        let key = fields.filter(|_| ep.push().is_none()).map(|f| {
            let mut pairs: Vec<_> = f.iter().map(|(k, v)| format!("{k}={v}")).collect();
            pairs.sort_unstable();
            format!("{}?{}", ep.path(), pairs.join("&"))
        });
        let core = &self.inner.core;
        core.respond_cached(&token, ep.path(), items, key, || {
            let body = match fields {
                None => fail("body must be an application/x-www-form-urlencoded form".into()),
                Some(f) => self.process(ep, &token, f),
            };
            (StatusCode::OK, body)
        })
        .await
    }

    fn process(&self, ep: Endpoint, token: &str, f: &HashMap<String, String>) -> Value {
        let mut applied = Vec::new();
        let body = {
            let mut st = lock(&self.inner.state);
            let Some(shop) = st.shops.get_mut(token) else {
                return json!({"code": 40001, "msg": "token error"});
            };
            let now = now_unix();
            if ep.push().is_some() {
                shop.matched = None;
            }
            match ep {
                Endpoint::OrderList => order_list(shop, f).map(|body| inflate(shop, body)),
                Endpoint::DeliveryList => delivery_list(shop, f),
                Endpoint::OrderShip => run_push(shop, f, "shipno_res", &mut applied, |s, e| ship(s, e, now)),
                Endpoint::OrderStatus => run_push(shop, f, "status_res", &mut applied, |s, e| set_status(s, e, now)),
                Endpoint::OrderRemark => run_push(shop, f, "remark_res", &mut applied, |s, e| add_remark(s, e, now)),
            }
        };
        if let Some((_, kind)) = ep.push() {
            for (itemno, entry) in &applied {
                self.inner.core.record_push(token, kind, itemno, entry);
            }
        }
        body.unwrap_or_else(fail)
    }
}

/// A request-level refusal: code 1 with the reason.
fn fail(msg: String) -> Value {
    json!({"code": 1, "msg": msg})
}

// ---- parameters (PHP treats an empty field as absent) ----

fn field<'a>(f: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    f.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn int_field(f: &HashMap<String, String>, name: &str, default: i64) -> Result<i64, String> {
    field(f, name).map_or(Ok(default), |v| v.parse().map_err(|_| format!("{name} must be an integer")))
}

/// Adds the shop's count inflation to an orderList answer while it lasts.
fn inflate(shop: &mut Shop, mut body: Value) -> Value {
    if shop.count_zero {
        body["count"] = s(0);
        return body;
    }
    let (extra, left) = shop.count_inflation;
    if left > 0 {
        shop.count_inflation.1 -= 1;
        let count = body["count"].as_str().and_then(|c| c.parse::<usize>().ok()).unwrap_or(0);
        body["count"] = s(count + extra);
    }
    body
}

/// (offset, size) from `page_no` and `page_size` under the shop's own page cap, if any.
fn capped_paging(shop: &Shop, f: &HashMap<String, String>) -> Result<(usize, usize), String> {
    let (offset, size) = paging(f)?;
    Ok(match shop.page_cap {
        Some(cap) if cap < size => ((offset / size) * cap, cap),
        _ => (offset, size),
    })
}

/// (offset, size) from `page_no` (1-based) and `page_size` (default 50, at most 100).
fn paging(f: &HashMap<String, String>) -> Result<(usize, usize), String> {
    let no = int_field(f, "page_no", 1)?;
    let size = int_field(f, "page_size", 50)?;
    if no < 1 {
        return Err("page_no must be 1 or more".into());
    }
    if size < 1 {
        return Err("page_size must be 1 or more".into());
    }
    if size > MAX_PAGE_SIZE {
        return Err("page_size too large".into());
    }
    let offset = usize::try_from((no - 1).saturating_mul(size)).unwrap_or(usize::MAX);
    Ok((offset, size as usize))
}

/// First or last second of a whole-day date field in UTC+8.
fn day_field(f: &HashMap<String, String>, name: &str, last: bool) -> Result<Option<i64>, String> {
    let Some(v) = field(f, name) else {
        return Ok(None);
    };
    let day = parse_date(v).ok_or_else(|| format!("{name} must be a date like 2016-9-9"))?;
    let (first_sec, last_sec) = cst_day_bounds(day);
    Ok(Some(if last { last_sec } else { first_sec }))
}

fn list_field<'a>(f: &'a HashMap<String, String>, name: &str) -> Option<Vec<&'a str>> {
    field(f, name).map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
}

fn page_of<T>(rows: &[T], (offset, size, count): (usize, usize, usize), to_row: impl Fn(&T) -> Value) -> Value {
    json!({
        "code": 0,
        "count": count.to_string(),
        "data": rows.iter().skip(offset).take(size).map(to_row).collect::<Vec<_>>(),
    })
}

fn order_list(shop: &mut Shop, f: &HashMap<String, String>) -> Result<Value, String> {
    let (offset, size) = capped_paging(shop, f)?;
    let time_of: fn(&Order) -> i64 = match field(f, "time_type") {
        None => |o| o.create_time,
        Some("1") => |o| o.pay_time,
        Some("2") => |o| o.act_time,
        Some(_) => return Err("time_type must be empty, 1 or 2".into()),
    };
    let start = day_field(f, "start_time", false)?;
    let end = day_field(f, "end_time", true)?;
    // Vendor order_by 1 means pay_time order; we always answer in id order (Contract).
    if !matches!(int_field(f, "order_by", 0)?, 0 | 1) {
        return Err("order_by must be 0 or 1".into());
    }
    let statuses = match list_field(f, "order_status") {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|s| s.parse::<u16>().map_err(|_| format!("order_status has a bad value: {s}")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let itemnos = list_field(f, "itemno");
    let filter =
        format!("{:?}", ["time_type", "start_time", "end_time", "order_status", "itemno"].map(|k| field(f, k)));
    if shop.matched.as_ref().is_none_or(|(last, _)| *last != filter) {
        // Orders asked for by number are looked up, not searched for (read-back asks 20 at a time).
        let candidates: Vec<usize> = match &itemnos {
            Some(nos) => {
                let mut found: Vec<usize> = nos.iter().filter_map(|n| shop.by_itemno.get(*n).copied()).collect();
                found.sort_unstable();
                found.dedup();
                found
            }
            None => (0..shop.orders.len()).collect(),
        };
        let matched = candidates
            .into_iter()
            .filter(|&i| {
                let o = &shop.orders[i];
                let t = time_of(o);
                // A time of 0 means unset and never matches a time filter.
                let in_window = (start.is_none() && end.is_none())
                    || (t != 0 && start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e));
                in_window
                    && statuses.as_ref().is_none_or(|s| s.contains(&o.order_status))
                    && itemnos.as_ref().is_none_or(|n| n.contains(&o.itemno.as_str()))
            })
            .collect();
        shop.matched = Some((filter, matched));
    }
    let shop = &*shop;
    let rows: &[usize] = shop.matched.as_ref().map_or(&[], |(_, m)| m);
    let (offset, count) = match shop.quirk {
        Some(PagingQuirk::RepeatRow) => (offset.saturating_sub(1), rows.len()),
        Some(PagingQuirk::CountGrows) => (offset, rows.len() + offset),
        None => (offset, rows.len()),
    };
    Ok(page_of(rows, (offset, size, count), |&i| order_row(shop, &shop.orders[i])))
}

fn delivery_list(shop: &Shop, f: &HashMap<String, String>) -> Result<Value, String> {
    let (offset, size) = capped_paging(shop, f)?;
    let max_id = int_field(f, "max_id", 0)?;
    // `count` is every delivery of the shop, as in the page's sample (32 with 2 rows shown).
    let all = shop.deliveries.len();
    let rows: Vec<&Delivery> = match shop.delivery_order {
        DeliveryOrder::Ascending => shop.deliveries.iter().filter(|d| d.id > max_id).collect(),
        DeliveryOrder::NewestFirst => shop.deliveries.iter().rev().filter(|d| max_id <= 0 || d.id <= max_id).collect(),
        DeliveryOrder::NewestFirstLowerBound => shop.deliveries.iter().rev().filter(|d| d.id > max_id).collect(),
    };
    Ok(page_of(&rows, (offset, size, all), |d| delivery_row(shop, d)))
}

// ---- pushes ----

/// Parses a push field and applies each entry; one entry's failure never fails the others.
fn run_push(
    shop: &mut Shop,
    f: &HashMap<String, String>,
    name: &str,
    applied: &mut Vec<(String, Value)>,
    mut apply: impl FnMut(&mut Shop, &Value) -> &'static str,
) -> Result<Value, String> {
    let text = field(f, name).ok_or_else(|| format!("{name} is required"))?;
    let parsed: Value = serde_json::from_str(text).map_err(|e| format!("{name} is not valid JSON: {e}"))?;
    let Value::Array(entries) = parsed else {
        return Err(format!("{name} must be a JSON array"));
    };
    if entries.len() > MAX_PUSH_ENTRIES {
        return Err("too many entries".into());
    }
    let mut results = Vec::with_capacity(entries.len());
    for entry in entries {
        let itemno = text_of(&entry, "itemno");
        let msg = apply(shop, &entry);
        results.push(json!({"itemno": itemno, "msg": msg}));
        if msg == "success" {
            applied.push((itemno, entry));
        }
    }
    Ok(json!({"code": 0, "msg": results}))
}

/// An entry's field as text: strings as they are, numbers written out, anything else empty.
fn text_of(entry: &Value, key: &str) -> String {
    match entry.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn ship(shop: &mut Shop, e: &Value, now: i64) -> &'static str {
    let Some(&idx) = shop.by_itemno.get(&text_of(e, "itemno")) else {
        return "order_404";
    };
    if !matches!(shop.orders[idx].order_status, 200 | 301) {
        return "order_status_limit";
    }
    let delivery_no = text_of(e, "delivery_no").trim().to_string();
    if delivery_no.is_empty() {
        return "delivery_no_empty";
    }
    // The vendor reads the carrier from its code when given, else from the name; one must be set.
    let (code, name) = (text_of(e, "shipping_corp_codeno"), text_of(e, "shipping_corp_name"));
    let corp = if name.trim().is_empty() { code.trim() } else { name.trim() };
    if corp.is_empty() {
        return "shipping_corp_empty";
    }
    shop.add_delivery(idx, delivery_no, corp, text_of(e, "remark"), now);
    let o = &mut shop.orders[idx];
    o.order_status = 301;
    o.shipping_status = 301;
    o.act_time = now;
    "success"
}

fn set_status(shop: &mut Shop, e: &Value, now: i64) -> &'static str {
    let status = text_of(e, "status").trim().parse::<u16>().ok();
    let Some(status) = status.filter(|s| PUSHABLE_STATUSES.contains(s)) else {
        return "status_error";
    };
    let Some(&idx) = shop.by_itemno.get(&text_of(e, "itemno")) else {
        return "order_404";
    };
    let o = &mut shop.orders[idx];
    if matches!(o.order_status, 600 | 700) && o.order_status != status {
        return "order_status_limit";
    }
    o.order_status = status;
    if matches!(status, 200 | 700) {
        o.payment_status = 200;
        if o.pay_time == 0 {
            o.pay_time = now;
        }
    }
    o.act_time = now;
    "success"
}

fn add_remark(shop: &mut Shop, e: &Value, now: i64) -> &'static str {
    let Some(&idx) = shop.by_itemno.get(&text_of(e, "itemno")) else {
        return "order_404";
    };
    let text = text_of(e, "remark");
    if text.trim().is_empty() {
        return "remark_empty";
    }
    let id = shop.child_id();
    let o = &mut shop.orders[idx];
    o.remarks.push(Remark { id, text, create_time: now });
    o.act_time = now;
    "success"
}

// ---- PHP-style rows ----

fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

/// A row as PHP's fetch-both mode gives it: each column under its position and its name.
fn double_keys(columns: Vec<(&str, Value)>) -> Map<String, Value> {
    let mut row = Map::new();
    for (i, (name, value)) in columns.into_iter().enumerate() {
        row.insert(i.to_string(), value.clone());
        row.insert(name.to_string(), value);
    }
    row
}

/// `php_row! { "id" => s(id), … }`: columns in table order (a macro keeps the tables compact).
macro_rules! php_row {
    ($($name:literal => $value:expr),* $(,)?) => {
        double_keys(vec![$(($name, $value)),*])
    };
}

fn order_row(shop: &Shop, o: &Order) -> Value {
    let weight: i64 = o.lines.iter().map(|l| l.weight * l.buy_num).sum();
    let null = Value::Null;
    let mut row = php_row! {
        "id" => s(o.id), "itemno" => s(&o.itemno),
        "outer_itemno" => o.outer_itemno.as_ref().map_or(Value::Null, s),
        "store_id" => s(shop.store_id), "user_id" => s(o.user_id), "user_name" => null.clone(),
        "order_status" => s(o.order_status), "payment_status" => s(o.payment_status),
        "shipping_status" => s(o.shipping_status), "account_descript" => null.clone(),
        "system_descript" => null.clone(), "admin_descript" => null.clone(),
        "total_weight" => s(yuan4(weight)), "currency_rate" => s("1.0000"),
        "shipping_id" => s(136), "shipping_method" => s("SHUNFENG"),
        "shipping_corp_id" => s(o.shipping_corp_id),
        "payment_id" => s(o.payment.0), "payment_method" => s(o.payment.1),
        "currency_code" => s("CNY"), "cost_product" => s(yuan4(o.cost_product())),
        "cost_shipping" => s(yuan4(o.cost_shipping)), "cost_payment" => s(yuan4(o.cost_payment)),
        "cost_insurance" => s(yuan4(o.cost_insurance)), "cost_offer" => s(yuan4(o.cost_offer)),
        "total_amount" => s(yuan4(o.total())), "country_id" => s(45), "ip" => s(o.ip),
        "remark" => s(o.remark), "marked" => s(0),
        "create_time" => if o.corrupt { s("yesterday-ish") } else { shop.time_form.write(o.create_time) },
        "pay_time" => shop.time_form.write(o.pay_time), "act_time" => shop.time_form.write(o.act_time),
        "source_device" => s("phone"),
        "source" => s(""), "utm_source" => s(""), "utm_medium" => s(""),
    };
    // Joined data comes after the columns, without numeric keys, as in the vendor sample;
    // an empty join is null (the sample's "delivery":null).
    let array_or_null = |rows: Vec<Value>| {
        if rows.is_empty() {
            Value::Null
        } else {
            Value::Array(rows)
        }
    };
    let items = o.lines.iter().map(|l| line_row(shop, o, l)).collect();
    let deliveries = o.deliveries.iter().map(|&i| delivery_row(shop, &shop.deliveries[i]));
    let addresses = o.addresses.iter().map(|a| address_row(shop, o, a)).collect();
    let remarks = o.remarks.iter().map(|r| {
        Value::Object(php_row! {
            "id" => s(r.id), "order_id" => s(o.id), "store_id" => s(shop.store_id),
            "remark" => s(&r.text), "create_time" => s(r.create_time),
        })
    });
    row.insert("shipping_corp_codeno".into(), null);
    row.insert("item".into(), Value::Array(items));
    row.insert("delivery".into(), array_or_null(deliveries.collect()));
    row.insert("address".into(), Value::Array(addresses));
    row.insert("order_remark".into(), array_or_null(remarks.collect()));
    Value::Object(row)
}

fn line_row(shop: &Shop, o: &Order, l: &Line) -> Value {
    let (name, code, _, _) = GOODS[l.goods];
    let size = l.sku.strip_prefix(code).unwrap_or("");
    let sku_value = if size.is_empty() { String::new() } else { format!("Size:{size}") };
    Value::Object(php_row! {
        "id" => s(l.id), "order_id" => s(o.id), "goods_id" => s(4_900 + l.goods),
        "store_id" => s(shop.store_id), "goods_name" => s(name), "goods_codeno" => s(code),
        "sku_code" => s(format!("{}_{}", 17_000 + l.goods, l.sku.len())),
        "sku_codeno" => s(&l.sku), "sku_value" => s(sku_value),
        "buy_num" => s(l.buy_num), "price" => s(yuan4(l.price)), "weight" => s(yuan4(l.weight)),
        "image" => s(format!("http://cn01.imgcdn.ymcart.com/{}/{code}.jpg", shop.store_id)),
        "remark" => s(""),
    })
}

fn address_row(shop: &Shop, o: &Order, a: &Address) -> Value {
    let (state, city, postcode) = PLACES[a.place];
    let email = format!("{}.{}@example.com", a.first, a.last).to_lowercase();
    let mut row = php_row! {
        "id" => s(a.id), "order_id" => s(o.id), "store_id" => s(shop.store_id),
        "address_type" => s(a.kind), "first_name" => s(a.first), "last_name" => s(a.last),
        "country_id" => s(45), "state" => s(state), "city" => s(city), "address" => s(&a.street),
        "address_spare" => s(""), "postcode" => s(postcode), "mobilephone" => s(&a.phone),
        "telephone" => s(""), "email" => s(email),
    };
    for (k, v) in [("country_code_2", "CN"), ("country_code_3", "CHN"), ("country_name", "China")] {
        row.insert(k.into(), s(v));
    }
    Value::Object(row)
}

fn delivery_row(shop: &Shop, d: &Delivery) -> Value {
    Value::Object(php_row! {
        "id" => s(d.id), "store_id" => s(shop.store_id), "order_id" => s(d.order_id),
        "user_id" => s(d.user_id), "delivery_no" => s(&d.delivery_no),
        "shipping_corp_id" => s(d.corp_id), "shipping_corp_name" => s(&d.corp_name),
        "shipping_cost" => s("0.0000"), "create_time" => shop.time_form.write(d.create_time),
        "delivery_time" => shop.time_form.write(d.create_time), "remark" => s(&d.remark),
    })
}

impl Simulator for YmSim {
    fn core(&self) -> &SimCore {
        &self.inner.core
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// Both ends of a date window are whole UTC+8 days, inclusive to the second.
    #[test]
    fn date_window_edges() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut shop = Shop::new(1);
        let (first, last) = cst_day_bounds(NaiveDate::from_ymd_opt(2024, 3, 5).unwrap_or_default());
        let now = last + 10_000;
        for t in [first - 1, first, last, last + 1] {
            shop.generate(&mut rng, t, 200, false, now);
        }
        let form: HashMap<String, String> = [("start_time", "2024-3-5"), ("end_time", "2024-03-05")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = order_list(&mut shop, &form).unwrap_or_else(fail);
        let times: Vec<&Value> = body["data"].as_array().into_iter().flatten().map(|r| &r["create_time"]).collect();
        assert_eq!(times, [&s(first), &s(last)]);
    }
}
