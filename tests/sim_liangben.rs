//! The liangben simulator against its contract (PLATFORMS.md §3), driven over HTTP on 127.0.0.1
//! exactly as a connector would: bearer auth, the `{"code","msg","data"}` envelope, paging with
//! `has_next`, creation-time windows in UTC+8, outbound records, refunds, the two pushes and
//! reproducible faults; and the options that serve the other readings of the vendor page (time
//! forms, rows without lines or amounts and the order detail, `total` beside `has_next` with
//! under-served lists, per-record receipts).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use serde_json::{json, Value};

use ordersync::sim::liangben::{LbDetailNesting, LbOptions, LbReceipt, LbSim, LbTimeForm, LbTruthOrder};
use ordersync::sim::Simulator;
use ordersync::sim::{Faults, SimHandle};

const TOKEN: &str = "lb-token-main";
/// The row fields of the contract, in its order.
const ORDER_KEYS: [&str; 16] = [
    "order_sn",
    "external_order_sn",
    "order_status",
    "pay_status",
    "shipment_status",
    "order_amount",
    "freight",
    "create_time",
    "update_time",
    "consignee",
    "mobile",
    "province",
    "city",
    "district",
    "address",
    "products",
];

/// A simulator with one shop of `orders` orders over `days` days, served on loopback.
async fn start(seed: u64, orders: usize, days: u32) -> (LbSim, SimHandle) {
    let sim = LbSim::new(seed);
    sim.add_shop(TOKEN, orders, days);
    let handle = sim.serve().await.expect("bind 127.0.0.1");
    (sim, handle)
}

/// POSTs a form to `/api/liangben/v1/order/<name>` with an optional bearer token.
async fn post_raw(h: &SimHandle, name: &str, token: Option<&str>, form: &[(&str, &str)]) -> (u16, String) {
    let url = format!("{}/api/liangben/v1/order/{name}", h.base_url());
    let mut req = reqwest::Client::new().post(url).form(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// POSTs with the shop's token, expects HTTP 200 and returns the JSON body.
async fn call(h: &SimHandle, name: &str, form: &[(&str, &str)]) -> Value {
    let (status, text) = post_raw(h, name, Some(TOKEN), form).await;
    assert_eq!(status, 200, "{name}: {text}");
    serde_json::from_str(&text).expect("JSON body")
}

/// Calls and expects `code` 0; returns `data`.
async fn data(h: &SimHandle, name: &str, form: &[(&str, &str)]) -> Value {
    let body = call(h, name, form).await;
    assert_eq!((&body["code"], &body["msg"]), (&json!(0), &json!("ok")), "{body}");
    body["data"].clone()
}

/// Calls and expects a refusal; returns its `msg`.
async fn refusal(h: &SimHandle, name: &str, form: &[(&str, &str)]) -> String {
    let body = call(h, name, form).await;
    assert_ne!(body["code"], 0, "{name} {form:?} was accepted: {body}");
    body["msg"].as_str().expect("msg").to_string()
}

fn list(data: &Value) -> &Vec<Value> {
    data["list"].as_array().expect("data.list")
}

fn text<'a>(row: &'a Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {row}"))
}

fn int(row: &Value, key: &str) -> i64 {
    row[key].as_i64().unwrap_or_else(|| panic!("{key} is not an integer in {row}"))
}

/// Non-negative yuan string with up to 4 decimals → fen, half away from zero, integers only.
fn fen(yuan: &str) -> i64 {
    let (whole, frac) = yuan.split_once('.').unwrap_or((yuan, "0"));
    assert!(frac.len() <= 4, "too many decimals: {yuan}");
    let units = whole.parse::<i64>().expect("yuan") * 10_000 + format!("{frac:0<4}").parse::<i64>().expect("fraction");
    (units + 50) / 100
}

/// A unix time as the vendor writes it: `yyyy-MM-dd HH:mm:ss` in UTC+8.
fn cst(unix: i64) -> String {
    let offset = FixedOffset::east_opt(8 * 3600).expect("offset");
    DateTime::from_timestamp(unix, 0).expect("time").with_timezone(&offset).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn sns(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| text(r, "order_sn").to_string()).collect()
}

/// Every order of the shop through `use_has_next` paging with pages of `size`.
async fn all_orders(h: &SimHandle, size: usize, extra: &[(&str, &str)]) -> Vec<Value> {
    let (mut rows, size_s) = (Vec::new(), size.to_string());
    for page in 1.. {
        let page_s = page.to_string();
        let mut form = vec![("page", page_s.as_str()), ("page_size", &size_s)];
        form.push(("use_has_next", "true"));
        form.extend_from_slice(extra);
        let d = data(h, "get_order_list", &form).await;
        assert!(d.get("total").is_none(), "has_next mode sends no total");
        assert_eq!((int(&d, "page"), int(&d, "page_size")), (page, size as i64));
        rows.extend(list(&d).iter().cloned());
        if d["has_next"] == false {
            assert!(list(&d).len() <= size);
            return rows;
        }
        assert_eq!(list(&d).len(), size);
    }
    unreachable!()
}

fn assert_row_is_truth(row: &Value, t: &LbTruthOrder) {
    let mut keys: Vec<&str> = row.as_object().expect("row").keys().map(|k| &**k).collect();
    let mut want = ORDER_KEYS.to_vec();
    keys.sort_unstable();
    want.sort_unstable();
    assert_eq!(keys, want, "row fields");
    assert_eq!(text(row, "order_sn"), t.order_sn);
    let ext = text(row, "external_order_sn");
    assert_eq!((!ext.is_empty()).then_some(ext), t.external_order_sn.as_deref());
    let statuses = [int(row, "order_status"), int(row, "pay_status"), int(row, "shipment_status")];
    let want = [t.order_status, t.pay_status, t.shipment_status].map(i64::from);
    assert_eq!(statuses, want);
    assert_eq!(fen(text(row, "order_amount")), t.amount_fen);
    assert_eq!(fen(text(row, "freight")), t.freight_fen);
    assert_eq!(text(row, "create_time"), cst(t.create_time));
    assert_eq!(text(row, "update_time"), cst(t.update_time));
    let place = ["consignee", "mobile", "province", "city", "district", "address"].map(|k| text(row, k));
    assert_eq!(place, [&t.consignee, &t.mobile, &t.province, &t.city, &t.district, &t.address].map(|s| s.as_str()));
    let products = row["products"].as_array().expect("products[]");
    assert_eq!(products.len(), t.lines.len());
    for (p, l) in products.iter().zip(&t.lines) {
        assert_eq!(
            (text(p, "sku_id"), text(p, "product_name"), int(p, "num")),
            (l.sku_id.as_str(), l.name.as_str(), l.num)
        );
        assert_eq!(fen(text(p, "price")), l.price_fen);
    }
}

#[tokio::test]
async fn bad_or_missing_token_is_http_401() {
    let (sim, h) = start(1, 5, 3).await;
    for name in ["get_order_list", "get_order_info", "out_info", "refund_list", "cancel", "receipt"] {
        for token in [None, Some("nope"), Some("")] {
            let (status, text) = post_raw(&h, name, token, &[("page", "1")]).await;
            assert_eq!(status, 401, "{name} {token:?}");
            let body: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(body, json!({"code": 401, "msg": "unauthorized"}));
        }
    }
    // A token under another scheme is no bearer token.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/liangben/v1/order/get_order_list", h.base_url()))
        .header("Authorization", format!("Basic {TOKEN}"))
        .form(&[("page", "1")])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);
    assert!(sim.applied_pushes().is_empty());
    let shops: BTreeSet<String> = sim.requests().into_iter().map(|r| r.shop).collect();
    assert_eq!(shops, BTreeSet::from(["".to_string(), "nope".to_string()]));
}

#[tokio::test]
async fn rows_match_the_truth_in_creation_order() {
    let (sim, h) = start(2, 90, 10).await;
    let d = data(&h, "get_order_list", &[("page_size", "100")]).await;
    assert_eq!((int(&d, "total"), int(&d, "page")), (90, 1));
    assert!(d.get("has_next").is_none());
    let truth = sim.truth_orders(TOKEN);
    let rows = list(&d);
    assert_eq!(sns(rows), truth.iter().map(|t| t.order_sn.clone()).collect::<Vec<_>>());
    for (row, t) in rows.iter().zip(&truth) {
        assert_row_is_truth(row, t);
    }
    let keys: Vec<(i64, &str)> = truth.iter().map(|t| (t.create_time, &*t.order_sn)).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "sorted by create_time, order_sn");
    // Some amounts carry 3–4 decimals so clients exercise rounding half away from zero.
    let amounts = rows.iter().flat_map(|r| {
        let prices = r["products"].as_array().into_iter().flatten().map(|p| text(p, "price"));
        prices.chain([text(r, "order_amount"), text(r, "freight")])
    });
    let odd = amounts.filter(|a| a.split_once('.').is_some_and(|(_, f)| f.len() > 2)).count();
    assert!(odd > 0, "no amount with 3–4 decimals");
    let statuses: BTreeSet<(u8, u8)> = truth.iter().map(|t| (t.order_status, t.shipment_status)).collect();
    for pair in [(1, 1), (4, 1), (4, 2), (5, 3), (6, 3), (7, 1)] {
        assert!(statuses.contains(&pair), "no order in {pair:?}");
    }
}

#[tokio::test]
async fn has_next_paging_and_page_size_limit() {
    let (sim, h) = start(3, 30, 5).await;
    let truth: Vec<String> = sim.truth_orders(TOKEN).into_iter().map(|t| t.order_sn).collect();
    assert_eq!(sns(&all_orders(&h, 7, &[]).await), truth);
    assert_eq!(sns(&all_orders(&h, 10, &[]).await), truth, "a last page that is full");
    let d = data(&h, "get_order_list", &[("page", "9"), ("page_size", "7")]).await;
    assert_eq!((list(&d).len(), int(&d, "total")), (0, 30));

    let msg = refusal(&h, "get_order_list", &[("page_size", "101")]).await;
    assert!(msg.contains("page_size") && msg.contains("100"), "{msg}");
    for bad in [("page_size", "ten"), ("page", "0"), ("use_has_next", "maybe")] {
        let msg = refusal(&h, "get_order_list", &[bad]).await;
        assert!(msg.contains(bad.0), "{msg}");
    }
    let msg = refusal(&h, "refund_list", &[("page_size", "101")]).await;
    assert!(msg.contains("page_size"), "{msg}");
}

#[tokio::test]
async fn more_order_sn_takes_at_most_20() {
    let (sim, h) = start(4, 40, 5).await;
    let truth: Vec<String> = sim.truth_orders(TOKEN).into_iter().map(|t| t.order_sn).collect();
    let many = truth[..21].join(",");
    sim.clear_requests();
    let msg = refusal(&h, "get_order_list", &[("more_order_sn", &many)]).await;
    assert!(msg.contains("more_order_sn") && msg.contains("20"), "{msg}");
    assert_eq!(sim.requests().last().map(|r| r.items), Some(21));

    // Twenty numbers, in any order and with spaces, come back in list order.
    let mut some: Vec<&str> = truth[10..30].iter().map(|s| s.as_str()).collect();
    some.reverse();
    let d = data(&h, "get_order_list", &[("more_order_sn", &some.join(", ")), ("page_size", "100")]).await;
    assert_eq!(sns(list(&d)), truth[10..30]);
    assert_eq!(sim.requests().last().map(|r| (r.items, r.shop.clone())), Some((20, TOKEN.into())));
}

#[tokio::test]
async fn creation_time_window_is_inclusive_in_utc8() {
    let (sim, h) = start(5, 150, 10).await;
    let truth = sim.truth_orders(TOKEN);
    let (t1, t2) = (truth[40].create_time, truth[90].create_time);
    let inside = |from: i64, to: i64| -> Vec<String> {
        let rows = truth.iter().filter(|t| (from..=to).contains(&t.create_time));
        rows.map(|t| t.order_sn.clone()).collect()
    };
    let (from, to) = (cst(t1), cst(t2));
    let window = [("start_time", from.as_str()), ("end_time", to.as_str())];
    let got = sns(&all_orders(&h, 100, &window).await);
    assert_eq!(got, inside(t1, t2));
    assert!(got.contains(&truth[40].order_sn) && got.contains(&truth[90].order_sn));
    // One second later at the start and earlier at the end drops both edges.
    let (from, to) = (cst(t1 + 1), cst(t2 - 1));
    let window = [("start_time", from.as_str()), ("end_time", to.as_str())];
    let got = sns(&all_orders(&h, 100, &window).await);
    assert_eq!(got, inside(t1 + 1, t2 - 1));
    assert!(!got.contains(&truth[40].order_sn) && !got.contains(&truth[90].order_sn));

    // Status filters combine with the window.
    let filters = [("order_status", "4"), ("shipment_status", "2"), ("pay_status", "1")];
    let got = sns(&all_orders(&h, 100, &filters).await);
    let want = truth.iter().filter(|t| (t.order_status, t.shipment_status, t.pay_status) == (4, 2, 1));
    assert_eq!(got, want.map(|t| t.order_sn.clone()).collect::<Vec<_>>());

    for bad in [("start_time", "2024-03-05"), ("end_time", "2024-03-05T10:00:00"), ("order_status", "3")] {
        let msg = refusal(&h, "get_order_list", &[bad]).await;
        assert!(msg.contains(bad.0), "{msg}");
    }
}

#[tokio::test]
async fn out_info_lists_outbound_records() {
    let (sim, h) = start(6, 80, 10).await;
    let truth = sim.truth_orders(TOKEN);
    let outbound = sim.truth_outbound(TOKEN);
    let mut seen = 0;
    for t in &truth {
        let d = data(&h, "out_info", &[("order_sn", &t.order_sn)]).await;
        let records = list(&d);
        let mine: Vec<_> = outbound.iter().filter(|b| b.order_sn == t.order_sn).collect();
        assert_eq!(records.len(), mine.len());
        seen += records.len();
        let mut shipped: BTreeMap<String, i64> = BTreeMap::new();
        for (r, b) in records.iter().zip(&mine) {
            let keys: BTreeSet<&str> = r.as_object().expect("record").keys().map(|k| &**k).collect();
            let want = ["purchase_sn", "express_company", "express_sn", "out_time", "products"];
            assert_eq!(keys, BTreeSet::from(want));
            assert_eq!(
                [text(r, "purchase_sn"), text(r, "express_company"), text(r, "express_sn")],
                [&b.purchase_sn, &b.express_company, &b.express_sn].map(|s| s.as_str())
            );
            assert_eq!(text(r, "out_time"), cst(b.out_time));
            assert!(b.out_time >= t.create_time);
            for p in r["products"].as_array().expect("products[]") {
                let line = t.lines.iter().find(|l| l.sku_id == text(p, "sku_id")).expect("a line");
                assert_eq!(text(p, "product_name"), line.name);
                *shipped.entry(line.sku_id.clone()).or_default() += int(p, "num");
            }
        }
        let ordered: BTreeMap<String, i64> = t.lines.iter().map(|l| (l.sku_id.clone(), l.num)).collect();
        match t.shipment_status {
            1 => assert!(records.is_empty()),
            2 => {
                assert_eq!(records.len(), 1, "{}", t.order_sn);
                assert!(shipped.iter().all(|(sku, n)| *n <= ordered[sku]));
                assert!(shipped != ordered, "partial shipment covers only part");
            }
            _ => {
                assert!((1..=2).contains(&records.len()), "{}", t.order_sn);
                assert_eq!(shipped, ordered, "full shipment covers every line");
            }
        }
    }
    assert_eq!(seen, outbound.len());
    assert!(seen > 10);
    // purchase_sn narrows the answer to one record.
    let b = &outbound[0];
    let d = data(&h, "out_info", &[("order_sn", &b.order_sn), ("purchase_sn", &b.purchase_sn)]).await;
    assert_eq!(list(&d).len(), 1);
    assert!(refusal(&h, "out_info", &[]).await.contains("order_sn"));
    assert!(refusal(&h, "out_info", &[("order_sn", "0000")]).await.contains("0000"));
}

#[tokio::test]
async fn refund_list_has_every_status_pair() {
    let (sim, h) = start(7, 200, 20).await;
    let truth = sim.truth_refunds(TOKEN);
    assert!((18..=22).contains(&truth.len()), "about 10% of orders: {}", truth.len());
    let pairs: BTreeSet<(u8, u8)> = truth.iter().map(|r| (r.refund_status, r.examine_status)).collect();
    assert_eq!(pairs.len(), 12, "every refund_status × examine_status");

    let mut rows = Vec::new();
    for page in ["1", "2", "3"] {
        let form = [("page", page), ("page_size", "8"), ("use_has_next", "true")];
        let d = data(&h, "refund_list", &form).await;
        rows.extend(list(&d).iter().cloned());
        assert_eq!(d["has_next"], page != "3");
    }
    assert_eq!(rows.len(), truth.len());
    for (r, t) in rows.iter().zip(&truth) {
        assert_eq!(r.as_object().map(|o| o.len()), Some(8), "{r}");
        assert_eq!((text(r, "refund_sn"), text(r, "order_sn")), (&*t.refund_sn, &*t.order_sn));
        assert_eq!(
            (int(r, "refund_status"), int(r, "examine_status")),
            (i64::from(t.refund_status), i64::from(t.examine_status))
        );
        assert_eq!(fen(text(r, "refund_amount")), t.amount_fen);
        assert_eq!(text(r, "reason"), t.reason);
        assert_eq!((text(r, "create_time"), text(r, "update_time")), (&*cst(t.create_time), &*cst(t.update_time)));
    }
    let d = data(&h, "refund_list", &[("refund_status", "2"), ("examine_status", "1"), ("page_size", "100")]).await;
    let want = truth.iter().filter(|t| (t.refund_status, t.examine_status) == (2, 1)).count();
    assert_eq!(int(&d, "total") as usize, want);
    let d = data(&h, "refund_list", &[("order_sn", &truth[3].order_sn)]).await;
    assert!(list(&d).iter().all(|r| text(r, "order_sn") == truth[3].order_sn));
    assert!(!list(&d).is_empty());
    assert!(refusal(&h, "refund_list", &[("examine_status", "3")]).await.contains("examine_status"));
}

#[tokio::test]
async fn cancel_refuses_shipped_orders_and_applies_once() {
    let (sim, h) = start(8, 120, 10).await;
    let shipped = sim.order_sns_where(TOKEN, 5, None);
    let partial = sim.order_sns_where(TOKEN, 4, Some(2));
    let done = sim.order_sns_where(TOKEN, 6, None);
    let pending = sim.order_sns_where(TOKEN, 1, None);
    for sn in [&shipped[0], &partial[0]] {
        assert_eq!(refusal(&h, "cancel", &[("order_sn", sn)]).await, "订单已发货，无法取消");
    }
    assert!(refusal(&h, "cancel", &[("order_sn", &done[0])]).await.contains("已完成"));
    assert!(refusal(&h, "cancel", &[("order_sn", "nope")]).await.contains("nope"));
    assert!(refusal(&h, "cancel", &[]).await.contains("order_sn"));
    assert!(sim.applied_pushes().is_empty(), "nothing refused is applied");

    let asked = chrono::Utc::now().timestamp();
    let d = data(&h, "cancel", &[("order_sn", &pending[0])]).await;
    assert_eq!(d["order_status"], 7);
    let after = sim.truth_orders(TOKEN).into_iter().find(|t| t.order_sn == pending[0]).expect("order");
    assert_eq!(after.order_status, 7);
    assert!(after.update_time >= asked, "cancel bumps update_time");
    assert_eq!(sim.requests().last().map(|r| r.items), Some(1));
    let pushes = sim.applied_pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!((pushes[0].kind, &*pushes[0].order_no, &*pushes[0].shop), ("status", &*pending[0], TOKEN));
    assert_eq!(pushes[0].entry, json!({"order_sn": pending[0]}));
    assert!(refusal(&h, "cancel", &[("order_sn", &pending[0])]).await.contains("已取消"));
    assert_eq!(sim.applied_pushes().len(), 1);
}

#[tokio::test]
async fn receipt_completes_orders_awaiting_receipt() {
    let (sim, h) = start(9, 100, 10).await;
    let waiting = sim.order_sns_where(TOKEN, 5, None);
    let unshipped = sim.order_sns_where(TOKEN, 4, Some(1));
    let record = sim.truth_outbound(TOKEN).into_iter().find(|b| b.order_sn == waiting[0]).expect("outbound");
    let form = [("order_sn", waiting[0].as_str()), ("purchase_sn", &record.purchase_sn), ("remarks", "已收到")];
    let d = data(&h, "receipt", &form).await;
    assert_eq!(d["order_status"], 6);
    assert_eq!(sim.order_sns_where(TOKEN, 6, None).iter().filter(|s| **s == waiting[0]).count(), 1);
    let pushes = sim.applied_pushes();
    assert_eq!((pushes.len(), pushes[0].kind, &*pushes[0].order_no), (1, "status", &*waiting[0]));
    assert_eq!(pushes[0].entry["remarks"], "已收到");

    assert!(refusal(&h, "receipt", &[("order_sn", &waiting[0])]).await.contains("待收货"));
    assert!(refusal(&h, "receipt", &[("order_sn", &unshipped[0])]).await.contains("待收货"));
    let wrong = [("order_sn", waiting[1].as_str()), ("purchase_sn", "CK0")];
    assert!(refusal(&h, "receipt", &wrong).await.contains("purchase_sn"));
    // Without purchase_sn the receipt covers the whole order.
    data(&h, "receipt", &[("order_sn", &waiting[1])]).await;
    assert_eq!(sim.applied_pushes().len(), 2);
}

#[tokio::test]
async fn faults_are_seeded_and_behave_as_documented() {
    let (sim, h) = start(10, 60, 5).await;
    let pending = sim.order_sns_where(TOKEN, 1, None);
    let cancel = [("order_sn", pending[0].as_str())];

    sim.set_faults(Faults { http_500: 1.0, ..Faults::default() });
    assert_eq!(post_raw(&h, "cancel", Some(TOKEN), &cancel).await.0, 500);
    assert!(sim.applied_pushes().is_empty());
    assert_eq!(sim.requests().last().and_then(|r| r.fault), Some("http_500"));

    sim.set_faults(Faults { http_429: 1.0, retry_after_secs: 7, ..Faults::default() });
    let resp = reqwest::Client::new()
        .post(format!("{}/api/liangben/v1/order/get_order_list", h.base_url()))
        .bearer_auth(TOKEN)
        .form(&[("page", "1")])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");

    // A cut body is ambiguous: the cancel was applied although the answer is not JSON.
    sim.set_faults(Faults { cut_body: 1.0, ..Faults::default() });
    let (status, body) = post_raw(&h, "cancel", Some(TOKEN), &cancel).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err(), "cut body parsed: {body}");
    assert_eq!(sim.applied_pushes().len(), 1);
    assert!(sim.order_sns_where(TOKEN, 7, None).contains(&pending[0]));

    sim.set_faults(Faults { slow: 1.0, slow_ms: 150, ..Faults::default() });
    let started = std::time::Instant::now();
    assert_eq!(post_raw(&h, "refund_list", Some(TOKEN), &[]).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(sim.requests().last().and_then(|r| r.fault), Some("slow"));

    // Same seed, same requests → same faults.
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (sim, h) = start(42, 5, 1).await;
        sim.set_faults(Faults { http_500: 0.3, http_429: 0.3, slow: 0.2, slow_ms: 1, ..Faults::default() });
        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(post_raw(&h, "get_order_list", Some(TOKEN), &[]).await.0);
        }
        let faults: Vec<_> = sim.requests().iter().map(|r| r.fault).collect();
        assert!(statuses.contains(&200) && statuses.contains(&500) && statuses.contains(&429));
        runs.push((statuses, faults));
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn supplier_hooks_and_activity() {
    let (sim, h) = start(11, 40, 5).await;
    // Same seed, same data.
    let twin = LbSim::new(11);
    twin.add_shop(TOKEN, 40, 5);
    let strip = |v: Vec<LbTruthOrder>| v.into_iter().map(|t| (t.order_sn, t.amount_fen, t.lines)).collect::<Vec<_>>();
    assert_eq!(strip(sim.truth_orders(TOKEN)), strip(twin.truth_orders(TOKEN)));

    let new = sim.add_orders(TOKEN, 3);
    assert_eq!(new.len(), 3);
    let truth = sim.truth_orders(TOKEN);
    for t in truth.iter().filter(|t| new.contains(&t.order_sn)) {
        assert!(matches!(t.order_status, 1 | 4) && t.shipment_status == 1);
        assert_eq!(t.update_time, t.create_time);
    }
    assert!(sim.add_orders("nope", 2).is_empty());

    // Supplier ships part of an order, then the rest: outbound records follow.
    let sn = truth.iter().find(|t| t.order_status == 4 && t.shipment_status == 1 && t.lines.len() >= 2);
    let sn = sn.expect("an unshipped order with two lines").order_sn.clone();
    assert!(sim.set_order_status(TOKEN, &sn, 4, 2));
    let records = |sim: &LbSim| sim.truth_outbound(TOKEN).into_iter().filter(|b| b.order_sn == sn).count();
    assert_eq!(records(&sim), 1);
    assert!(sim.set_order_status(TOKEN, &sn, 5, 3));
    assert_eq!(records(&sim), 2);
    let d = data(&h, "out_info", &[("order_sn", &sn)]).await;
    let shipped: i64 = list(&d)
        .iter()
        .flat_map(|r| r["products"].as_array().cloned().unwrap_or_default())
        .map(|p| int(&p, "num"))
        .sum();
    let t = sim.truth_orders(TOKEN).into_iter().find(|t| t.order_sn == sn).expect("order");
    assert_eq!(shipped, t.lines.iter().map(|l| l.num).sum::<i64>());
    assert!(!sim.set_order_status(TOKEN, "nope", 5, 3));
    assert!(sim.order_sns_where(TOKEN, 5, Some(3)).contains(&sn));

    let refund_sn = sim.add_refund(TOKEN, &sn);
    let r = sim.truth_refunds(TOKEN).into_iter().find(|r| r.refund_sn == refund_sn).expect("refund");
    assert_eq!((r.refund_status, r.examine_status, &*r.order_sn), (0, 0, &*sn));
    assert!(sim.set_refund(TOKEN, &refund_sn, 1, 1));
    let d = data(&h, "refund_list", &[("order_sn", &sn)]).await;
    assert_eq!((int(&list(&d)[0], "refund_status"), int(&list(&d)[0], "examine_status")), (1, 1));
    assert_eq!(sim.add_refund(TOKEN, "nope"), "");
    assert!(!sim.set_refund(TOKEN, "nope", 1, 1));

    let count = sim.truth_orders(TOKEN).len();
    let activity = sim.spawn_activity(TOKEN, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    activity.abort();
    // At least two ticks, even on a busy machine (the first tick is immediate).
    assert!(sim.truth_orders(TOKEN).len() >= count + 2);

    let base = h.base_url();
    h.shutdown().await;
    let gone = reqwest::Client::new().post(format!("{base}/api/liangben/v1/order/get_order_list")).send().await;
    assert!(gone.is_err(), "server still answers after shutdown");
}

#[tokio::test]
async fn list_rows_may_lack_lines_or_amounts_and_the_detail_has_them_in_every_nesting() {
    let (sim, h) = start(12, 80, 10).await;
    sim.set_options(LbOptions { omit_products: 0.3, omit_amounts: 0.3, ..LbOptions::default() });
    let lacking: BTreeSet<String> = sim.orders_without_full_rows(TOKEN).into_iter().collect();
    assert!(!lacking.is_empty() && lacking.len() < 80, "{}", lacking.len());
    let truth = sim.truth_orders(TOKEN);
    let rows = all_orders(&h, 100, &[]).await;
    let (mut no_products, mut no_amounts) = (0, 0);
    for (row, t) in rows.iter().zip(&truth) {
        let lines_gone = row.get("products").is_none();
        let amounts_gone = row["order_amount"].is_null() && row.get("freight").is_none();
        assert_eq!(lines_gone || amounts_gone, lacking.contains(&t.order_sn), "{row}");
        no_products += usize::from(lines_gone);
        no_amounts += usize::from(amounts_gone);
    }
    assert!(no_products > 0 && no_amounts > 0);
    // The same rows lack the same parts on every read.
    assert_eq!(all_orders(&h, 100, &[]).await, rows);

    let t = truth.iter().find(|t| lacking.contains(&t.order_sn)).expect("an incomplete row");
    for (nesting, at) in
        [(LbDetailNesting::Data, ""), (LbDetailNesting::Order, "/order"), (LbDetailNesting::Info, "/info")]
    {
        sim.set_options(LbOptions {
            omit_products: 1.0,
            omit_amounts: 1.0,
            detail_nesting: nesting,
            ..LbOptions::default()
        });
        let d = data(&h, "get_order_info", &[("order_sn", &t.order_sn)]).await;
        assert_row_is_truth(d.pointer(at).expect("the order where the nesting puts it"), t);
    }
    let ext = truth.iter().find_map(|t| t.external_order_sn.clone()).expect("an external number");
    let d = data(&h, "get_order_info", &[("external_order_sn", &ext)]).await;
    assert_eq!(d["info"]["external_order_sn"], ext.as_str());
    assert_eq!(sim.detail_requests(TOKEN).len(), 4);
    assert!(refusal(&h, "get_order_info", &[("order_sn", "0000")]).await.contains("0000"));
    assert!(refusal(&h, "get_order_info", &[]).await.contains("order_sn"));
}

#[tokio::test]
async fn times_are_served_in_the_form_the_options_say() {
    let (sim, h) = start(13, 40, 10).await;
    let t = sim.truth_orders(TOKEN).into_iter().find(|t| t.shipment_status == 3).expect("a shipped order");
    let b = sim.truth_outbound(TOKEN).into_iter().find(|b| b.order_sn == t.order_sn).expect("its record");
    let r = sim.truth_refunds(TOKEN).remove(0);
    let rfc = |unix: i64| DateTime::from_timestamp(unix, 0).expect("time").format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let forms: [(LbTimeForm, &dyn Fn(i64) -> Value); 3] = [
        (LbTimeForm::Cst, &|u| json!(cst(u))),
        (LbTimeForm::Rfc3339Z, &|u| json!(rfc(u))),
        (LbTimeForm::UnixMillis, &|u| json!(u * 1000)),
    ];
    for (form, write) in forms {
        sim.set_options(LbOptions { time_form: form, ..LbOptions::default() });
        let d = data(&h, "get_order_list", &[("order_sn", &t.order_sn)]).await;
        let row = &list(&d)[0];
        assert_eq!((&row["create_time"], &row["update_time"]), (&write(t.create_time), &write(t.update_time)));
        let d = data(&h, "out_info", &[("order_sn", &t.order_sn)]).await;
        let record = list(&d).iter().find(|x| x["purchase_sn"] == b.purchase_sn.as_str()).expect("record");
        assert_eq!(record["out_time"], write(b.out_time));
        let d = data(&h, "refund_list", &[("order_sn", &r.order_sn), ("page_size", "100")]).await;
        let refund = list(&d).iter().find(|x| x["refund_sn"] == r.refund_sn.as_str()).expect("refund");
        assert_eq!((&refund["create_time"], &refund["update_time"]), (&write(r.create_time), &write(r.update_time)));
    }
}

#[tokio::test]
async fn a_total_beside_has_next_counts_orders_an_under_serving_answer_leaves_out() {
    let (sim, h) = start(14, 30, 5).await;
    let truth: Vec<String> = sim.truth_orders(TOKEN).into_iter().map(|t| t.order_sn).collect();
    sim.set_options(LbOptions { total_with_has_next: true, ..LbOptions::default() });
    let form = [("page_size", "100"), ("use_has_next", "true")];
    let d = data(&h, "get_order_list", &form).await;
    assert_eq!((int(&d, "total"), &d["has_next"], list(&d).len()), (30, &json!(false), 30));

    assert!(sim.hide_order(TOKEN, &truth[3], 1));
    assert!(!sim.hide_order(TOKEN, "nope", 1));
    let d = data(&h, "get_order_list", &form).await;
    assert_eq!((int(&d, "total"), list(&d).len()), (30, 29));
    assert!(!sns(list(&d)).contains(&truth[3]));
    // Only one answer: the next one has it again.
    assert_eq!(list(&data(&h, "get_order_list", &form).await).len(), 30);

    // Hidden for good, it also shifts the pages after it.
    sim.hide_order(TOKEN, &truth[3], usize::MAX);
    for _ in 0..3 {
        let d = data(&h, "get_order_list", &[("page_size", "10"), ("use_has_next", "true")]).await;
        assert_eq!(sns(list(&d)), [&truth[..3], &truth[4..11]].concat());
        assert_eq!(int(&d, "total"), 30);
    }
    sim.hide_order(TOKEN, &truth[3], 0);
    assert_eq!(sns(&all_orders_with_total(&h).await), truth);
}

/// Every order through `use_has_next` paging while `total` is sent too.
async fn all_orders_with_total(h: &SimHandle) -> Vec<Value> {
    let mut rows = Vec::new();
    for page in 1.. {
        let page = page.to_string();
        let d = data(h, "get_order_list", &[("page", &page), ("page_size", "7"), ("use_has_next", "true")]).await;
        rows.extend(list(&d).iter().cloned());
        if d["has_next"] == false {
            break;
        }
    }
    rows
}

#[tokio::test]
async fn a_per_record_receipt_completes_the_order_once_every_record_is_confirmed() {
    let (sim, h) = start(15, 300, 20).await;
    sim.set_options(LbOptions { receipt: LbReceipt::PerRecord, ..LbOptions::default() });
    let outbound = sim.truth_outbound(TOKEN);
    let several: Vec<(String, Vec<String>)> = sim
        .order_sns_where(TOKEN, 5, Some(3))
        .into_iter()
        .map(|sn| {
            let records = outbound.iter().filter(|b| b.order_sn == sn).map(|b| b.purchase_sn.clone()).collect();
            (sn, records)
        })
        .filter(|(_, records): &(String, Vec<String>)| records.len() >= 2)
        .collect();
    assert!(several.len() >= 3, "orders with several outbound records: {}", several.len());
    let status = |sn: &str| sim.truth_orders(TOKEN).into_iter().find(|t| t.order_sn == sn).map(|t| t.order_status);

    let (sn, records) = &several[0];
    let first = [("order_sn", sn.as_str()), ("purchase_sn", records[0].as_str())];
    let d = data(&h, "receipt", &first).await;
    assert_eq!((d["order_status"].clone(), status(sn)), (json!(5), Some(5)), "one record confirmed, not the order");
    assert!(refusal(&h, "receipt", &first).await.contains("已确认"));
    for p in &records[1..] {
        data(&h, "receipt", &[("order_sn", sn.as_str()), ("purchase_sn", p.as_str())]).await;
    }
    assert_eq!(status(sn), Some(6));
    assert_eq!(&sim.confirmed_records(TOKEN, sn), records);

    // A record the supplier will not confirm yet.
    let (sn, records) = &several[1];
    sim.refuse_receipt(TOKEN, &records[0], true);
    assert!(refusal(&h, "receipt", &[("order_sn", sn.as_str()), ("purchase_sn", records[0].as_str())])
        .await
        .contains("暂不能"));
    sim.refuse_receipt(TOKEN, &records[0], false);
    data(&h, "receipt", &[("order_sn", sn.as_str()), ("purchase_sn", records[0].as_str())]).await;
    assert_eq!(status(sn), Some(5));

    // Without purchase_sn the receipt confirms every record.
    let (sn, records) = &several[2];
    assert_eq!(data(&h, "receipt", &[("order_sn", sn.as_str())]).await["order_status"], 6);
    assert_eq!(&sim.confirmed_records(TOKEN, sn), records);

    // The whole-order reading: the first receipt completes it.
    sim.set_options(LbOptions::default());
    let (sn, records) = &several[1];
    data(&h, "receipt", &[("order_sn", sn.as_str()), ("purchase_sn", records[1].as_str())]).await;
    assert_eq!(status(sn), Some(6));
}

/// PLATFORMS.md §3 written out by hand: (order_status, shipment_status) → unified status.
fn contract_order_status(order: u8, shipment: u8) -> &'static str {
    match (order, shipment) {
        (4, 2) => "partially_shipped",
        (1, 1..=3) => "pending",
        (4, 1..=3) => "awaiting_fulfillment",
        (5, 1..=3) => "shipped",
        (6, 1..=3) => "completed",
        (7, 1..=3) => "cancelled",
        _ => "unknown",
    }
}

/// PLATFORMS.md §3 by hand: every (refund_status, examine_status) pair → unified refund status.
const CONTRACT_REFUND_STATUS: [((u8, u8), &str); 12] = [
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

#[tokio::test]
async fn the_truth_states_the_contracts_unified_statuses_and_keeps_them_current() {
    let (sim, h) = start(16, 200, 20).await;
    let truth = sim.truth_orders(TOKEN);
    for t in &truth {
        assert_eq!(t.unified_status, contract_order_status(t.order_status, t.shipment_status), "{}", t.order_sn);
        assert_eq!(t.payment_status, ["unpaid", "paid"][usize::from(t.pay_status)], "{}", t.order_sn);
    }
    let refunds = sim.truth_refunds(TOKEN);
    let pairs: BTreeMap<(u8, u8), &str> =
        refunds.iter().map(|r| ((r.refund_status, r.examine_status), r.unified_status)).collect();
    assert_eq!(pairs, BTreeMap::from(CONTRACT_REFUND_STATUS), "every refund pair, stated as the contract says");

    // Every way the supplier changes an order restates it: hooks, cancel and receipt.
    let unified = |sn: &str| {
        let t = sim.truth_orders(TOKEN).into_iter().find(|t| t.order_sn == sn).expect("order");
        (t.unified_status, t.payment_status)
    };
    let unpaid = truth.iter().find(|t| t.order_status == 1 && t.pay_status == 0).expect("an unpaid order");
    let sn = unpaid.order_sn.as_str();
    assert_eq!(unified(sn), ("pending", "unpaid"));
    sim.set_order_status(TOKEN, sn, 4, 1);
    assert_eq!(unified(sn), ("awaiting_fulfillment", "paid"));
    sim.set_order_status(TOKEN, sn, 4, 2);
    assert_eq!(unified(sn).0, "partially_shipped");
    sim.set_order_status(TOKEN, sn, 5, 3);
    assert_eq!(unified(sn).0, "shipped");
    data(&h, "receipt", &[("order_sn", sn)]).await;
    assert_eq!(unified(sn).0, "completed");
    let pending = sim.order_sns_where(TOKEN, 1, None);
    data(&h, "cancel", &[("order_sn", &pending[0])]).await;
    assert_eq!(unified(&pending[0]).0, "cancelled");
    sim.set_order_status(TOKEN, &pending[1], 9, 1);
    assert_eq!(unified(&pending[1]).0, "unknown", "a code the contract does not list");

    let refund = &refunds[0];
    for ((r, e), want) in CONTRACT_REFUND_STATUS {
        assert!(sim.set_refund(TOKEN, &refund.refund_sn, r, e));
        let now = sim.truth_refunds(TOKEN).into_iter().find(|x| x.refund_sn == refund.refund_sn).expect("refund");
        assert_eq!(now.unified_status, want, "{r}/{e}");
    }
}
