//! The YMCart simulator against its contract (PLATFORMS.md §1), driven over HTTP on 127.0.0.1
//! exactly as a connector would: PHP-style rows, paging, date filters in UTC+8, push limits and
//! per-entry results, and reproducible faults.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::{json, Value};

use ordersync::sim::ymcart::YmSim;
use ordersync::sim::Simulator;
use ordersync::sim::{Faults, SimHandle};

const TOKEN: &str = "tok-main";

/// A simulator with one shop of `orders` orders over `days` days, served on loopback.
async fn start(seed: u64, orders: usize, days: u32) -> (YmSim, SimHandle) {
    let sim = YmSim::new(seed);
    sim.add_shop(TOKEN, orders, days);
    let handle = sim.serve().await.expect("bind 127.0.0.1");
    (sim, handle)
}

/// POSTs a form and returns (HTTP status, body text).
async fn post_raw(h: &SimHandle, name: &str, form: &[(&str, &str)]) -> (u16, String) {
    let url = format!("{}/api-erp-{name}.html", h.base_url());
    let resp = reqwest::Client::new().post(url).form(form).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// POSTs a form with the shop's token and parses the JSON answer.
async fn call(h: &SimHandle, name: &str, form: &[(&str, &str)]) -> Value {
    let mut full = vec![("token", TOKEN)];
    full.extend_from_slice(form);
    let (status, text) = post_raw(h, name, &full).await;
    assert_eq!(status, 200, "{name}: {text}");
    serde_json::from_str(&text).expect("JSON body")
}

fn str_of<'a>(row: &'a Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {row}"))
}

fn int_of(row: &Value, key: &str) -> i64 {
    str_of(row, key).parse().expect("integer string")
}

/// Every scalar is a string or null, and every numeric key repeats a named one.
fn assert_php_row(row: &Value) {
    let map = row.as_object().expect("row is an object");
    let numbered = map.keys().filter(|k| k.parse::<usize>().is_ok()).count();
    assert!(numbered > 3, "no numeric keys in {row}");
    for (k, v) in map {
        match v {
            Value::String(_) | Value::Null => {}
            Value::Array(rows) => rows.iter().for_each(assert_php_row),
            other => panic!("{k} is {other}, not a string or null"),
        }
        if k.parse::<usize>().is_ok() {
            assert!(map.iter().any(|(name, w)| name.parse::<usize>().is_err() && w == v), "{k}");
        }
    }
    assert_eq!(map["0"], map["id"]);
}

/// Non-negative yuan string with up to 4 decimals → 1/10000 units, integers only.
fn units(yuan: &str) -> i64 {
    let (int, frac) = yuan.split_once('.').unwrap_or((yuan, "0"));
    int.parse::<i64>().expect("yuan") * 10_000 + format!("{frac:0<4}").parse::<i64>().expect("frac")
}

/// Non-negative yuan string → fen, half away from zero.
fn fen(yuan: &str) -> i64 {
    (units(yuan) + 50) / 100
}

fn ship_entry(itemno: &str, no: &str) -> Value {
    json!({"itemno": itemno, "delivery_no": no, "shipping_corp_codeno": "",
           "shipping_corp_name": "DHL", "remark": "", "remark_user": ""})
}

#[tokio::test]
async fn rows_are_php_style_and_match_the_truth() {
    let (sim, h) = start(1, 60, 10).await;
    let body = call(&h, "orderList", &[("page_size", "100")]).await;
    assert_eq!(body["code"], 0);
    assert_eq!(body["count"], "60");
    let rows = body["data"].as_array().expect("data");
    let truth = sim.truth_orders(TOKEN);
    assert_eq!(rows.len(), truth.len());
    for (row, t) in rows.iter().zip(&truth) {
        assert_php_row(row);
        assert_eq!(int_of(row, "id"), t.id);
        assert_eq!(str_of(row, "itemno"), t.itemno);
        assert_eq!(row["outer_itemno"].as_str(), t.outer_itemno.as_deref());
        assert_eq!(fen(str_of(row, "total_amount")), t.total_fen);
        assert_eq!(fen(str_of(row, "cost_shipping")), t.shipping_fen);
        assert_eq!(str_of(row, "currency_code"), "CNY");
        let items = row["item"].as_array().expect("item[]");
        assert_eq!(items.len(), t.lines.len());
        let product: i64 = items.iter().map(|i| int_of(i, "buy_num") * units(str_of(i, "price"))).sum();
        assert_eq!(product, units(str_of(row, "cost_product")));
        assert_eq!(str_of(row, "order_status"), t.order_status.to_string());
        assert_eq!(str_of(row, "payment_status"), t.payment_status.to_string());
        // The buyer is reached at the shipping address, else at the billing one (PLATFORMS.md §1).
        let addresses = row["address"].as_array().expect("address[]");
        let of_type = |kind: &str| addresses.iter().find(|a| a["address_type"] == kind);
        let ship = of_type("0").or_else(|| of_type("1"));
        assert_eq!(ship.map(|a| str_of(a, "mobilephone")), t.ship_phone.as_deref());
        let name = ship.map(|a| format!("{} {}", str_of(a, "first_name"), str_of(a, "last_name")));
        assert_eq!(name, t.ship_name);
        let shipped = matches!(t.order_status, 301 | 700);
        assert_eq!(row["delivery"].is_array(), shipped, "delivery of {}", t.itemno);
    }
    let ids: Vec<i64> = truth.iter().map(|t| t.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend");
    assert!(truth.windows(2).all(|w| w[0].create_time <= w[1].create_time), "ids follow creation");
    // Some amounts must have 3–4 decimals so clients exercise rounding.
    let odd = rows
        .iter()
        .flat_map(|r| r["item"].as_array().into_iter().flatten())
        .filter(|i| !str_of(i, "price").ends_with("00"));
    assert!(odd.count() > 0, "no price with 3–4 decimals");
}

/// The truth's unified values, walked over every code of the page's order_status list: the
/// simulator's own table agrees with PLATFORMS.md §1 as written out here by hand.
#[tokio::test]
async fn truth_states_the_unified_status_of_every_vendor_code() {
    let (sim, _h) = start(11, 1, 1).await;
    let no = sim.truth_orders(TOKEN)[0].itemno.clone();
    let payment = |code: u16| match code {
        100 | 102 => Some("unpaid"),
        101 => Some("failed"),
        200 => Some("paid"),
        _ => None,
    };
    for (code, unified) in [
        (100, "pending"),
        (101, "pending"),
        (102, "pending"),
        (200, "awaiting_fulfillment"),
        (301, "shipped"),
        (600, "cancelled"),
        (700, "completed"),
        (999, "unknown"),
    ] {
        assert!(sim.touch_order(TOKEN, &no, code));
        let t = sim.truth_orders(TOKEN).remove(0);
        assert_eq!((t.order_status, t.unified_status), (code, unified));
        assert_eq!(t.unified_payment, payment(t.payment_status), "payment_status {}", t.payment_status);
    }
    // Each payment code occurs: 101 and 102 come with their order codes.
    for (order_code, payment_code) in [(101, 101), (102, 102), (200, 200), (100, 100)] {
        assert!(sim.touch_order(TOKEN, &no, order_code));
        assert_eq!(sim.truth_orders(TOKEN)[0].payment_status, payment_code);
    }
}

#[tokio::test]
async fn unknown_or_missing_token_is_40001() {
    let (_sim, h) = start(2, 5, 3).await;
    for name in ["orderList", "deliveryList", "orderShip", "orderStatus", "orderRemark"] {
        for form in [vec![("token", "nope")], vec![("page_no", "1")]] {
            let (status, text) = post_raw(&h, name, &form).await;
            assert_eq!(status, 200);
            let body: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(body, json!({"code": 40001, "msg": "token error"}), "{name}");
        }
    }
}

#[tokio::test]
async fn paging_walks_every_order_once() {
    let (sim, h) = start(3, 30, 5).await;
    let mut seen = Vec::new();
    for page in 1..=6 {
        let body =
            call(&h, "orderList", &[("page_no", &page.to_string()), ("page_size", "7"), ("order_by", "0")]).await;
        assert_eq!(body["count"], "30");
        let rows = body["data"].as_array().expect("data");
        assert_eq!(rows.len(), [7, 7, 7, 7, 2, 0][page - 1]);
        seen.extend(rows.iter().map(|r| int_of(r, "id")));
    }
    let truth: Vec<i64> = sim.truth_orders(TOKEN).iter().map(|t| t.id).collect();
    assert_eq!(seen, truth);
    let body = call(&h, "orderList", &[("page_size", "101")]).await;
    assert_eq!(body, json!({"code": 1, "msg": "page_size too large"}));
    let body = call(&h, "orderList", &[("page_size", "ten")]).await;
    assert_eq!(body["code"], 1);
    assert!(body["msg"].as_str().unwrap_or_default().contains("page_size"));
}

fn cst_date(unix: i64) -> NaiveDate {
    let cst = FixedOffset::east_opt(8 * 3600).expect("offset");
    DateTime::from_timestamp(unix, 0).expect("time").with_timezone(&cst).date_naive()
}

#[tokio::test]
async fn date_filters_are_whole_days_in_utc8_inclusive() {
    let (sim, h) = start(4, 200, 10).await;
    let truth = sim.truth_orders(TOKEN);
    let first = cst_date(truth[truth.len() / 3].create_time);
    let last = first + chrono::Days::new(2);
    // Non-padded and padded forms are both accepted.
    let (start_s, end_s) = (first.format("%Y-%-m-%-d").to_string(), last.format("%Y-%m-%d").to_string());
    let form = [("page_size", "100"), ("start_time", start_s.as_str()), ("end_time", end_s.as_str())];
    let body = call(&h, "orderList", &form).await;
    let got: BTreeSet<i64> = body["data"].as_array().expect("data").iter().map(|r| int_of(r, "id")).collect();
    let want: BTreeSet<i64> =
        truth.iter().filter(|t| (first..=last).contains(&cst_date(t.create_time))).map(|t| t.id).collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    assert_eq!(body["count"], want.len().to_string());

    let body = call(&h, "orderList", &[("start_time", "2024-13-01")]).await;
    assert_eq!(body["code"], 1);
    assert!(body["msg"].as_str().unwrap_or_default().contains("start_time"));
}

#[tokio::test]
async fn act_time_filter_skips_untouched_orders() {
    let (sim, h) = start(5, 90, 5).await;
    let truth = sim.truth_orders(TOKEN);
    let untouched = truth.iter().filter(|t| t.act_time == 0).count();
    assert!(untouched > 10 && untouched < 60, "about a third untouched: {untouched}");
    let today = cst_date(chrono::Utc::now().timestamp());
    let (from, to) = ((today - chrono::Days::new(30)).to_string(), today.to_string());
    let window = [("page_size", "100"), ("start_time", from.as_str()), ("end_time", to.as_str())];
    let by_create = call(&h, "orderList", &window).await;
    assert_eq!(by_create["count"], "90");
    let mut by_act = window.to_vec();
    by_act.push(("time_type", "2"));
    let body = call(&h, "orderList", &by_act).await;
    assert_eq!(body["count"], (90 - untouched).to_string());
    assert!(body["data"].as_array().expect("data").iter().all(|r| r["act_time"] != "0"));
}

#[tokio::test]
async fn ship_push_reports_each_entry_and_applies_once() {
    let (sim, h) = start(6, 80, 5).await;
    let paid = sim.order_nos_in_status(TOKEN, 200);
    let new = sim.order_nos_in_status(TOKEN, 100);
    let before = sim.truth_deliveries(TOKEN);
    let max_id = before.last().map_or(0, |d| d.id).to_string();

    let too_many: Vec<Value> = (0..21).map(|i| ship_entry(&paid[0], &format!("T{i}"))).collect();
    let body = call(&h, "orderShip", &[("shipno_res", &Value::from(too_many).to_string())]).await;
    assert_eq!(body, json!({"code": 1, "msg": "too many entries"}));
    assert!(sim.applied_pushes().is_empty());
    assert_eq!(sim.requests().last().map(|r| r.items), Some(21));
    let body = call(&h, "orderShip", &[("shipno_res", "[{not json")]).await;
    assert_eq!(body["code"], 1);

    let entries = json!([
        ship_entry(&paid[0], "SF123"),
        ship_entry("SY20000101-1", "SF124"),
        ship_entry(&new[0], "SF125"),
        ship_entry(&paid[1], ""),
    ]);
    let body = call(&h, "orderShip", &[("shipno_res", &entries.to_string())]).await;
    let msgs: Vec<&str> = body["msg"].as_array().expect("msg[]").iter().map(|m| str_of(m, "msg")).collect();
    assert_eq!(msgs, ["success", "order_404", "order_status_limit", "delivery_no_empty"]);
    assert_eq!(body["msg"][0]["itemno"], paid[0].as_str());

    let pushes = sim.applied_pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].shop, TOKEN);
    assert_eq!(pushes[0].entry, entries[0]);
    assert_eq!((pushes[0].kind, pushes[0].order_no.as_str()), ("ship", paid[0].as_str()));
    let row = &call(&h, "orderList", &[("itemno", &paid[0])]).await["data"][0];
    assert_eq!((str_of(row, "order_status"), str_of(row, "shipping_status")), ("301", "301"));
    assert_eq!(row["delivery"][0]["delivery_no"], "SF123");
    assert_ne!(row["act_time"], "0");

    // The deliveryList cursor returns just the new shipment, keyed by the order's numeric id.
    let body = call(&h, "deliveryList", &[("max_id", &max_id), ("page_size", "100")]).await;
    assert_eq!(body["count"], (before.len() + 1).to_string(), "count is every delivery of the shop");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["data"][0]["order_id"], row["id"]);
    assert_php_row(&body["data"][0]);
}

#[tokio::test]
async fn status_and_remark_pushes() {
    let (sim, h) = start(7, 80, 5).await;
    let paid = sim.order_nos_in_status(TOKEN, 200);
    let void = sim.order_nos_in_status(TOKEN, 600);
    let entries = json!([
        {"itemno": paid[0], "status": 700},
        {"itemno": void[0], "status": "200"},
        {"itemno": paid[1], "status": 301},
        {"itemno": "nope", "status": 200},
    ]);
    let body = call(&h, "orderStatus", &[("status_res", &entries.to_string())]).await;
    let msgs: Vec<&str> = body["msg"].as_array().expect("msg[]").iter().map(|m| str_of(m, "msg")).collect();
    assert_eq!(msgs, ["success", "order_status_limit", "status_error", "order_404"]);
    assert_eq!(sim.order_nos_in_status(TOKEN, 700).iter().filter(|n| **n == paid[0]).count(), 1);

    let entries = json!([{"itemno": paid[1], "remark": "call first"}, {"itemno": paid[1], "remark": " "}]);
    let body = call(&h, "orderRemark", &[("remark_res", &entries.to_string())]).await;
    assert_eq!(body["msg"][1]["msg"], "remark_empty");
    let row = &call(&h, "orderList", &[("itemno", &paid[1])]).await["data"][0];
    assert_eq!(row["order_remark"][0]["remark"], "call first");
    let kinds: Vec<&str> = sim.applied_pushes().iter().map(|p| p.kind).collect();
    assert_eq!(kinds, ["status", "remark"]);
}

#[tokio::test]
async fn deliveries_page_by_max_id_cursor() {
    let (sim, h) = start(8, 120, 10).await;
    let truth = sim.truth_deliveries(TOKEN);
    assert!(truth.len() > 10);
    let (mut cursor, mut seen) = (0i64, Vec::new());
    loop {
        let body = call(&h, "deliveryList", &[("max_id", &cursor.to_string()), ("page_size", "7")]).await;
        let rows = body["data"].as_array().expect("data").clone();
        // `count` is every delivery of the shop, as in the page's sample (32 with 2 rows shown).
        assert_eq!(body["count"], truth.len().to_string());
        let Some(last) = rows.last() else { break };
        cursor = int_of(last, "id");
        seen.extend(rows.iter().map(|r| int_of(r, "id")));
    }
    assert_eq!(seen, truth.iter().map(|d| d.id).collect::<Vec<_>>());
}

#[tokio::test]
async fn faults_are_seeded_and_behave_as_documented() {
    let (sim, h) = start(9, 40, 5).await;
    let paid = sim.order_nos_in_status(TOKEN, 200);
    let push = json!([ship_entry(&paid[0], "CUT1")]).to_string();

    sim.set_faults(Faults { http_500: 1.0, ..Faults::default() });
    let (status, _) = post_raw(&h, "orderShip", &[("token", TOKEN), ("shipno_res", &push)]).await;
    assert_eq!(status, 500);
    assert!(sim.applied_pushes().is_empty());
    assert_eq!(sim.requests().last().and_then(|r| r.fault), Some("http_500"));

    sim.set_faults(Faults { http_429: 1.0, retry_after_secs: 7, ..Faults::default() });
    let url = format!("{}/api-erp-orderList.html", h.base_url());
    let resp = reqwest::Client::new().post(url).form(&[("token", TOKEN)]).send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");

    // A cut body is ambiguous: the push was applied although the answer is not JSON.
    sim.set_faults(Faults { cut_body: 1.0, ..Faults::default() });
    let (status, text) = post_raw(&h, "orderShip", &[("token", TOKEN), ("shipno_res", &push)]).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&text).is_err(), "cut body parsed: {text}");
    assert_eq!(sim.applied_pushes().len(), 1);
    assert_eq!(sim.order_nos_in_status(TOKEN, 301).iter().filter(|n| **n == paid[0]).count(), 1);

    sim.set_faults(Faults { slow: 1.0, slow_ms: 150, ..Faults::default() });
    let started = std::time::Instant::now();
    let (status, _) = post_raw(&h, "orderList", &[("token", TOKEN)]).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(sim.requests().last().and_then(|r| r.fault), Some("slow"));

    // Same seed, same requests → same faults.
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (sim, h) = start(42, 5, 1).await;
        sim.set_faults(Faults { http_500: 0.3, http_429: 0.3, slow: 0.2, slow_ms: 1, ..Faults::default() });
        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(post_raw(&h, "orderList", &[("token", TOKEN)]).await.0);
        }
        let faults: Vec<_> = sim.requests().iter().map(|r| r.fault).collect();
        assert!(statuses.contains(&200) && statuses.contains(&500) && statuses.contains(&429));
        runs.push((statuses, faults));
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn merchant_hooks_and_activity() {
    let (sim, h) = start(10, 20, 3).await;
    let new = sim.add_orders(TOKEN, 3);
    assert_eq!(new.len(), 3);
    let truth = sim.truth_orders(TOKEN);
    assert!(truth.iter().filter(|t| new.contains(&t.itemno)).all(|t| t.act_time == 0));
    let paid = sim.order_nos_in_status(TOKEN, 200);
    let deliveries = sim.truth_deliveries(TOKEN).len();
    assert!(sim.touch_order(TOKEN, &paid[0], 301));
    assert!(!sim.touch_order(TOKEN, "nope", 301));
    assert_eq!(sim.truth_deliveries(TOKEN).len(), deliveries + 1);
    assert!(sim.unpaid_order_nos(TOKEN).iter().all(|n| !paid.contains(n)));

    let activity = sim.spawn_activity(TOKEN, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    activity.abort();
    // At least two ticks, even on a busy machine (the first tick is immediate).
    assert!(sim.truth_orders(TOKEN).len() >= truth.len() + 2);

    let base = h.base_url();
    h.shutdown().await;
    let gone = reqwest::Client::new().post(format!("{base}/api-erp-orderList.html")).send().await;
    assert!(gone.is_err(), "server still answers after shutdown");
}
