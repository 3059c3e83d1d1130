//! The ShopSuite simulator against its contract (PLATFORMS.md §4), driven over HTTP on 127.0.0.1
//! exactly as a connector would: bearer auth, the envelope, paging with records/total, the
//! millisecond time filter, times in the page's form and the two other forms, line names, amounts
//! as JSON floats, returns (list and get), under-served lists, the cancel/receive rules,
//! reproducible faults, and the unified statuses its truth states.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde_json::Value;

use ordersync::sim::shopsuite::{SsSim, SsTimeForm, UNIFIED_ORDER_STATUS, UNIFIED_RETURN_STATUS};
use ordersync::sim::Simulator;
use ordersync::sim::{Faults, SimHandle};

const TOKEN: &str = "ss-token-main";
const ORDERS: &str = "/front/trade/order/list";
const DETAIL: &str = "/front/trade/order/detail";
const RETURNS: &str = "/front/trade/orderReturn/list";
const CANCEL: &str = "/front/trade/order/cancel";
const RECEIVE: &str = "/front/trade/order/receive";
const RETURN_GET: &str = "/front/trade/orderReturn/get";

/// Unix milliseconds as the page's samples write a time: RFC 3339 UTC, whole seconds.
fn rfc(ms: i64) -> Value {
    DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339_opts(SecondsFormat::Secs, true).into()
}

/// Unix milliseconds as China Standard Time text.
fn cst_text(ms: i64) -> Value {
    let cst = FixedOffset::east_opt(8 * 3600).unwrap();
    DateTime::from_timestamp_millis(ms).unwrap().with_timezone(&cst).format("%Y-%m-%d %H:%M:%S").to_string().into()
}

/// A simulator with one shop of `orders` orders over `days` days, served on loopback.
async fn start(seed: u64, orders: usize, days: u32) -> (SsSim, SimHandle) {
    let sim = SsSim::new(seed);
    sim.add_shop(TOKEN, orders, days);
    let handle = sim.serve().await.expect("bind 127.0.0.1");
    (sim, handle)
}

/// A request with the route's method: POST for pushes, GET for the rest.
fn request(h: &SimHandle, path: &str) -> reqwest::RequestBuilder {
    let url = format!("{}{path}", h.base_url());
    if path == CANCEL || path == RECEIVE {
        reqwest::Client::new().post(url)
    } else {
        reqwest::Client::new().get(url)
    }
}

/// Sends GET (lists, detail) or POST (pushes) with `query` in the URL; (HTTP status, body text).
async fn send(h: &SimHandle, path: &str, auth: Option<&str>, query: &[(&str, &str)]) -> (u16, String) {
    let mut req = request(h, path).query(query);
    if let Some(token) = auth {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// Calls with the shop's token and parses the JSON answer (HTTP 200 expected).
async fn call(h: &SimHandle, path: &str, query: &[(&str, &str)]) -> Value {
    let (status, text) = send(h, path, Some(TOKEN), query).await;
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).expect("JSON body")
}

/// The `data` of a successful answer.
fn data(body: &Value) -> &Value {
    assert_eq!((&body["code"], &body["status"]), (&0.into(), &200.into()), "{body}");
    assert_eq!((&body["msg"], &body["error"]), (&"".into(), &"".into()));
    &body["data"]
}

/// The `msg` of a refusal (`code` ≠ 0).
fn refusal(body: &Value) -> &str {
    assert_ne!(body["code"], 0, "not refused: {body}");
    body["msg"].as_str().expect("msg")
}

fn items(data: &Value) -> &Vec<Value> {
    data["items"].as_array().expect("items[]")
}

fn str_of<'a>(row: &'a Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {row}"))
}

/// A yuan JSON number → exact 1/10000 units, read from its text (never through f64 arithmetic).
fn units(v: &Value) -> i64 {
    assert!(v.is_f64(), "{v} is not a float number");
    let text = v.to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, "0"));
    assert!(frac.len() <= 4, "{text} has more than 4 decimals");
    int.parse::<i64>().expect("yuan") * 10_000 + format!("{frac:0<4}").parse::<i64>().expect("frac")
}

/// A non-negative yuan JSON number → fen, half away from zero.
fn fen(v: &Value) -> i64 {
    (units(v) + 50) / 100
}

fn decimals(v: &Value) -> usize {
    v.to_string().split_once('.').map_or(0, |(_, f)| f.len())
}

#[tokio::test]
async fn missing_or_bad_token_is_401() {
    let (sim, h) = start(1, 5, 3).await;
    sim.add_shop("ss-token-other", 3, 3);
    for path in [ORDERS, DETAIL, RETURNS, CANCEL, RECEIVE] {
        let basic = request(&h, path).header("Authorization", format!("Basic {TOKEN}"));
        let basic = basic.send().await.expect("request").status().as_u16();
        assert_eq!(basic, 401, "{path}");
        for auth in [None, Some("nope"), Some("")] {
            let (status, text) = send(&h, path, auth, &[("order_id", "x")]).await;
            assert_eq!(status, 401, "{path} {auth:?}");
            let body: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(body["code"], 401);
        }
    }
    assert!(sim.requests().iter().any(|r| r.shop == "nope"));
    assert!(sim.applied_pushes().is_empty());
    // Shops are told apart by token.
    let (_, text) = send(&h, ORDERS, Some("ss-token-other"), &[]).await;
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(data(&body)["records"], 3);
}

#[tokio::test]
async fn pages_report_records_and_total() {
    let (sim, h) = start(2, 23, 5).await;
    let truth: Vec<String> = sim.truth_orders(TOKEN).into_iter().map(|t| t.order_id).collect();
    let mut seen = Vec::new();
    for page in 1..=4 {
        let p = page.to_string();
        let query = [("page", p.as_str()), ("size", "10")];
        let asc = [query.as_slice(), &[("sidx", "order_time"), ("sort", "asc")]].concat();
        let body = call(&h, ORDERS, &asc).await;
        let d = data(&body);
        assert_eq!((&d["records"], &d["total"]), (&23.into(), &3.into()));
        assert_eq!((&d["page"], &d["size"]), (&page.into(), &10.into()));
        assert_eq!(items(d).len(), [10, 10, 3, 0][page - 1]);
        seen.extend(items(d).iter().map(|r| str_of(r, "order_id").to_string()));
    }
    assert_eq!(seen, truth);
    // Without sort=asc the mall answers newest first, 10 to a page.
    let body = call(&h, ORDERS, &[]).await;
    let newest: Vec<&str> = items(data(&body)).iter().map(|r| str_of(r, "order_id")).collect();
    let want: Vec<&str> = truth.iter().rev().take(10).map(String::as_str).collect();
    assert_eq!(newest, want);

    let body = call(&h, ORDERS, &[("size", "100")]).await;
    assert_eq!(items(data(&body)).len(), 23);
    for bad in [[("size", "101")], [("size", "0")], [("size", "ten")], [("page", "0")]] {
        let body = call(&h, ORDERS, &bad).await;
        assert!(refusal(&body).contains(bad[0].0), "{body}");
        assert_eq!(body["status"], 250);
    }
    let body = call(&h, RETURNS, &[("size", "101")]).await;
    assert!(refusal(&body).contains("size"));
    let body = call(&h, ORDERS, &[("sidx", "order_id")]).await;
    assert!(refusal(&body).contains("sidx"));
}

#[tokio::test]
async fn create_time_filter_is_milliseconds_inclusive() {
    let (sim, h) = start(3, 200, 10).await;
    let truth = sim.truth_orders(TOKEN);
    let (a, b) = (truth[50].order_time_ms, truth[120].order_time_ms);
    let ids = |body: &Value| -> BTreeSet<String> {
        items(data(body)).iter().map(|r| str_of(r, "order_id").to_string()).collect()
    };
    let want = |lo: i64, hi: i64| -> BTreeSet<String> {
        truth.iter().filter(|t| (lo..=hi).contains(&t.order_time_ms)).map(|t| t.order_id.clone()).collect()
    };
    for (lo, hi) in [(a, b), (a + 1, b), (a, b - 1)] {
        let (lo_s, hi_s) = (lo.to_string(), hi.to_string());
        let query = [("createTimeStart", lo_s.as_str()), ("createTimeEnd", hi_s.as_str()), ("size", "100")];
        let body = call(&h, ORDERS, &query).await;
        assert_eq!(ids(&body), want(lo, hi));
        assert_eq!(data(&body)["records"], want(lo, hi).len());
    }
    // The lower bound alone, oldest first: the boundary order opens the first page.
    let a_s = a.to_string();
    let query = [("createTimeStart", a_s.as_str()), ("sort", "asc")];
    let body = call(&h, ORDERS, &query).await;
    assert_eq!(items(data(&body))[0]["order_id"], truth[50].order_id.as_str());
    let body = call(&h, ORDERS, &[("createTimeStart", "2024-01-01")]).await;
    assert!(refusal(&body).contains("createTimeStart"));

    let shipped = truth.iter().filter(|t| t.state == 2040).count();
    let body = call(&h, ORDERS, &[("orderStateId", "2040"), ("size", "100")]).await;
    assert_eq!(data(&body)["records"], shipped);
    assert!(items(data(&body)).iter().all(|r| r["order_state_id"] == 2040));
}

#[tokio::test]
async fn amounts_are_json_floats_with_the_intended_decimals() {
    let (sim, h) = start(4, 100, 10).await;
    let (status, raw) =
        send(&h, ORDERS, Some(TOKEN), &[("size", "100"), ("sidx", "order_time"), ("sort", "asc")]).await;
    assert_eq!(status, 200);
    assert!(raw.contains("\"item_unit_price\":2.675"), "no 2.675 in the body");
    assert!(raw.contains("\"order_shipping_fee\":1.005"), "no 1.005 in the body");
    let body: Value = serde_json::from_str(&raw).expect("JSON");
    let rows = items(data(&body));
    let truth = sim.truth_orders(TOKEN);
    assert_eq!((truth[0].lines[0].price_fen, truth[1].shipping_fen), (268, 101));
    assert_eq!(rows.len(), truth.len());
    let mut three_decimals = 0;
    let mut mixes = BTreeSet::new();
    for (row, t) in rows.iter().zip(&truth) {
        assert_eq!(str_of(row, "order_id"), t.order_id);
        assert_eq!(row["order_state_id"], t.state);
        assert_eq!(row["order_time"], rfc(t.order_time_ms));
        assert_eq!(t.order_time_ms % 1000, 0, "times fall on whole seconds");
        assert_eq!(fen(&row["order_payment_amount"]), t.total_fen);
        assert_eq!(fen(&row["order_shipping_fee"]), t.shipping_fen);
        let delivery = &row["delivery"];
        assert_eq!(str_of(delivery, "da_name"), t.buyer_name);
        assert_eq!(str_of(delivery, "da_mobile"), t.buyer_phone);
        assert_eq!(str_of(delivery, "da_address"), t.address);
        assert_eq!(str_of(delivery, "da_city"), t.city);
        assert!(row["buyer_mobile"].is_i64(), "buyer_mobile is a number");
        let lines = row["items"].as_array().expect("items[]");
        assert_eq!(lines.len(), t.lines.len());
        let mut goods = 0;
        for (l, tl) in lines.iter().zip(&t.lines) {
            assert_eq!(l["item_id"].to_string(), tl.sku);
            // PLATFORMS.md §4: the name is item_name, else product_name (else the spec);
            // product_item_name is the spec.
            let filled = |k: &str| l[k].as_str().filter(|v| !v.is_empty());
            let name = filled("item_name").or(filled("product_name")).or(filled("product_item_name"));
            assert_eq!(name, Some(tl.name.as_str()));
            assert_eq!(filled("product_item_name"), tl.spec.as_deref());
            mixes.insert((filled("item_name").is_some(), filled("product_name").is_some(), tl.spec.is_some()));
            assert_eq!(l["order_item_quantity"], tl.quantity);
            assert_eq!(fen(&l["item_unit_price"]), tl.price_fen);
            goods += units(&l["item_unit_price"]) * tl.quantity;
            three_decimals += usize::from(decimals(&l["item_unit_price"]) == 3);
        }
        assert_eq!(goods, units(&row["order_item_amount"]));
        assert_eq!(
            units(&row["order_payment_amount"]),
            goods + units(&row["order_shipping_fee"]) - units(&row["order_discount_amount"])
        );
        for key in ["order_payment_amount", "order_shipping_fee"] {
            assert!(decimals(&row[key]) <= 3, "{key} {}", row[key]);
        }
        let logistics = row["logistics"].as_array().expect("logistics[]");
        assert_eq!(logistics.len(), t.logistics.len());
        assert_eq!(matches!(t.state, 2040 | 2060), (1..=2).contains(&logistics.len()));
        for (l, tl) in logistics.iter().zip(&t.logistics) {
            assert_eq!(l["order_logistics_id"], tl.id);
            assert_eq!(str_of(l, "order_tracking_number"), tl.tracking);
            assert_eq!(str_of(l, "express_name"), tl.express);
            // An integer-typed time: unix seconds in the page's form.
            assert_eq!(l["logistics_time"], tl.time_ms / 1000);
        }
    }
    assert!(three_decimals > 0, "no price with 3 decimals");
    let want = BTreeSet::from([(true, true, true), (false, true, true), (false, false, true), (true, true, false)]);
    assert_eq!(mixes, want, "every mix of line names occurs");
}

#[tokio::test]
async fn detail_is_the_order_object() {
    let (sim, h) = start(5, 30, 5).await;
    let body = call(&h, ORDERS, &[("size", "5")]).await;
    for row in items(data(&body)) {
        let id = str_of(row, "order_id");
        let detail = call(&h, DETAIL, &[("order_id", id)]).await;
        assert_eq!(data(&detail), row);
    }
    let body = call(&h, DETAIL, &[("order_id", "DD-20000101-1")]).await;
    assert_eq!(refusal(&body), "订单不存在");
    let body = call(&h, DETAIL, &[("orderId", &sim.truth_orders(TOKEN)[0].order_id)]).await;
    assert!(refusal(&body).contains("order_id"));
}

#[tokio::test]
async fn returns_list_matches_the_truth() {
    let (sim, h) = start(6, 120, 10).await;
    let truth = sim.truth_returns(TOKEN);
    assert!((10..=20).contains(&truth.len()), "{} returns", truth.len());
    for state in [3100, 3105, 3110, 3115, 3120, 3125] {
        assert!(truth.iter().any(|r| r.state == state), "no return in {state}");
    }
    let orders: BTreeSet<String> = sim.truth_orders(TOKEN).into_iter().map(|t| t.order_id).collect();
    let body = call(&h, RETURNS, &[("size", "100"), ("sort", "asc")]).await;
    let rows = items(data(&body));
    assert_eq!(data(&body)["records"], truth.len());
    for (row, t) in rows.iter().zip(&truth) {
        assert_eq!(str_of(row, "return_id"), t.return_id);
        assert_eq!(str_of(row, "order_id"), t.order_id);
        assert!(orders.contains(&t.order_id));
        assert_eq!(row["return_state_id"], t.state);
        assert_eq!(fen(&row["return_refund_amount"]), t.amount_fen);
        assert_eq!(str_of(row, "return_buyer_message"), t.reason);
        assert_eq!(row["return_add_time"], t.add_time_ms / 1000);
        assert_eq!(row["return_store_time"], t.store_time_ms.map_or(Value::Null, rfc));
        assert_eq!(row["return_finish_time"], t.finish_time_ms.map_or(Value::Null, rfc));
        let got = call(&h, RETURN_GET, &[("return_id", &t.return_id)]).await;
        assert_eq!(data(&got), row, "orderReturn/get answers the list row");
    }
    let body = call(&h, RETURN_GET, &[("return_id", "TD-nope")]).await;
    assert_eq!(refusal(&body), "退单不存在");
    let body = call(&h, RETURNS, &[("returnStateId", "3125"), ("size", "100")]).await;
    let done = items(data(&body));
    assert_eq!(done.len(), truth.iter().filter(|r| r.state == 3125).count());
    assert!(done.iter().all(|r| r["return_finish_time"].is_string()));
    // The creation window (unix ms, inclusive) filters on return_add_time.
    let (lo, hi) = (truth[2].add_time_ms, truth[truth.len() - 3].add_time_ms);
    let (lo_s, hi_s) = (lo.to_string(), hi.to_string());
    let query = [("createTimeStart", lo_s.as_str()), ("createTimeEnd", hi_s.as_str()), ("size", "100")];
    let body = call(&h, RETURNS, &query).await;
    let want = truth.iter().filter(|r| (lo..=hi).contains(&r.add_time_ms)).count();
    assert_eq!((items(data(&body)).len(), &data(&body)["records"]), (want, &Value::from(want)));
    // Newest first by default.
    let body = call(&h, RETURNS, &[("size", "1")]).await;
    let newest = truth.iter().max_by_key(|r| r.add_time_ms).expect("a return");
    assert_eq!(str_of(&items(data(&body))[0], "return_id"), newest.return_id);
}

#[tokio::test]
async fn cancel_and_receive_follow_the_rules() {
    let (sim, h) = start(7, 150, 10).await;
    let first_in = |state: u16| sim.order_ids_in_state(TOKEN, state).remove(0);
    let (waiting, fresh) = (first_in(2030), first_in(2011));
    let (shipped, received) = (first_in(2040), first_in(2060));

    let query = [("orderId", waiting.as_str()), ("orderCancelReason", "买错了")];
    let body = call(&h, CANCEL, &query).await;
    assert_eq!(data(&body)["orderId"][0], waiting.as_str());
    assert!(data(&call(&h, CANCEL, &[("orderId", &fresh)]).await).is_object());
    let detail = call(&h, DETAIL, &[("order_id", &waiting)]).await;
    let row = data(&detail);
    assert_eq!(row["order_state_id"], 2070);
    assert_eq!(row["order_cancel_reason"], "买错了");
    assert!(row["order_cancel_time"].is_string());
    assert_eq!(row["if_buyer_cancel"], false);

    let cases = [
        (CANCEL, shipped.as_str(), "订单已发货，不能取消"),
        (CANCEL, received.as_str(), "订单已完成，不能取消"),
        (CANCEL, waiting.as_str(), "订单已取消，请勿重复操作"),
        (RECEIVE, waiting.as_str(), "订单已取消，不能确认收货"),
        (RECEIVE, fresh.as_str(), "订单已取消，不能确认收货"),
        (RECEIVE, received.as_str(), "订单已确认收货，请勿重复操作"),
        (RECEIVE, "DD-20000101-1", "订单不存在"),
    ];
    for (path, id, msg) in cases {
        let body = call(&h, path, &[("orderId", id)]).await;
        assert_eq!(refusal(&body), msg, "{path} {id}");
    }
    let picking = first_in(2020);
    let body = call(&h, RECEIVE, &[("orderId", &picking)]).await;
    assert_eq!(refusal(&body), "订单未发货，不能确认收货");
    let body = call(&h, RECEIVE, &[]).await;
    assert!(refusal(&body).contains("orderId"));

    let body = call(&h, RECEIVE, &[("orderId", &shipped)]).await;
    assert_eq!(data(&body)["orderId"][0], shipped.as_str());
    let detail = call(&h, DETAIL, &[("order_id", &shipped)]).await;
    assert_eq!(data(&detail)["order_state_id"], 2060);
    assert_eq!(data(&detail)["order_is_received"], true);
    assert!(data(&detail)["order_received_time"].is_string());

    // Parameters are read from the query string only, as the vendor page shows.
    let resp = reqwest::Client::new()
        .post(format!("{}{CANCEL}", h.base_url()))
        .bearer_auth(TOKEN)
        .form(&[("orderId", picking.as_str())])
        .send()
        .await
        .expect("request");
    let body: Value = resp.json().await.expect("JSON");
    assert!(refusal(&body).contains("orderId"));
    let (status, _) = send(&h, DETAIL, Some(TOKEN), &[]).await;
    assert_eq!(status, 200);
    let get_cancel = reqwest::Client::new()
        .get(format!("{}{CANCEL}", h.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(get_cancel.status().as_u16(), 405);

    let pushes = sim.applied_pushes();
    let applied: Vec<(&str, &str, &str)> =
        pushes.iter().map(|p| (p.shop.as_str(), p.kind, p.order_no.as_str())).collect();
    assert_eq!(
        applied,
        [(TOKEN, "status", waiting.as_str()), (TOKEN, "status", fresh.as_str()), (TOKEN, "status", shipped.as_str()),]
    );
    assert_eq!(pushes[0].entry["orderCancelReason"], "买错了");
    let states: Vec<u16> = [&waiting, &fresh, &shipped]
        .iter()
        .map(|id| {
            let truth = sim.truth_orders(TOKEN);
            truth.iter().find(|t| &&t.order_id == id).expect("order").state
        })
        .collect();
    assert_eq!(states, [2070, 2070, 2060]);
}

#[tokio::test]
async fn faults_are_seeded_and_behave_as_documented() {
    let (sim, h) = start(8, 60, 5).await;
    let shipped = sim.order_ids_in_state(TOKEN, 2040);
    let receive = [("orderId", shipped[0].as_str())];

    sim.set_faults(Faults { http_500: 1.0, ..Faults::default() });
    let (status, _) = send(&h, RECEIVE, Some(TOKEN), &receive).await;
    assert_eq!(status, 500);
    assert!(sim.applied_pushes().is_empty());
    let last = sim.requests().pop().expect("logged");
    assert_eq!((last.fault, last.endpoint.as_str()), (Some("http_500"), RECEIVE));
    assert_eq!((last.shop.as_str(), last.items), (TOKEN, 1));

    sim.set_faults(Faults { http_429: 1.0, retry_after_secs: 7, ..Faults::default() });
    let resp = reqwest::Client::new()
        .get(format!("{}{ORDERS}", h.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");

    // A cut body is ambiguous: the push was applied although the answer is not JSON.
    sim.set_faults(Faults { cut_body: 1.0, ..Faults::default() });
    let (status, text) = send(&h, RECEIVE, Some(TOKEN), &receive).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert_eq!(sim.applied_pushes().len(), 1);
    assert!(sim.order_ids_in_state(TOKEN, 2060).contains(&shipped[0]));

    sim.set_faults(Faults { slow: 1.0, slow_ms: 150, ..Faults::default() });
    let started = std::time::Instant::now();
    let (status, _) = send(&h, ORDERS, Some(TOKEN), &[]).await;
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
            statuses.push(send(&h, ORDERS, Some(TOKEN), &[]).await.0);
        }
        let faults: Vec<_> = sim.requests().iter().map(|r| r.fault).collect();
        assert!(statuses.contains(&200) && statuses.contains(&500) && statuses.contains(&429));
        runs.push((statuses, faults));
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn mall_hooks_and_activity() {
    let (sim, h) = start(9, 40, 3).await;
    let waiting = sim.order_ids_in_state(TOKEN, 2030);
    assert!(sim.set_order_state(TOKEN, &waiting[0], 2040));
    assert!(!sim.set_order_state(TOKEN, "nope", 2040));
    let detail = call(&h, DETAIL, &[("order_id", &waiting[0])]).await;
    let logistics = data(&detail)["logistics"].as_array().expect("logistics");
    assert!((1..=2).contains(&logistics.len()));
    assert_eq!(data(&detail)["order_is_shipped"], 3032);

    let rid = sim.add_return(TOKEN, &waiting[0]);
    assert!(rid.starts_with("TD-"), "{rid}");
    assert_eq!(sim.add_return(TOKEN, "nope"), "");
    let body = call(&h, RETURNS, &[("returnStateId", "3100"), ("size", "100")]).await;
    assert!(items(data(&body)).iter().any(|r| r["return_id"] == rid.as_str()));
    let detail = call(&h, DETAIL, &[("order_id", &waiting[0])]).await;
    assert_eq!(data(&detail)["order_lock_status"], true);
    assert!(sim.set_return_state(TOKEN, &rid, 3125));
    assert!(!sim.set_return_state(TOKEN, "nope", 3125));
    let r = sim.truth_returns(TOKEN).into_iter().find(|r| r.return_id == rid).expect("return");
    assert_eq!(r.state, 3125);
    assert!(r.store_time_ms.is_some() && r.finish_time_ms.is_some());

    let new = sim.add_orders(TOKEN, 3);
    assert_eq!(new.len(), 3);
    let open: Vec<String> = [2011, 2013, 2020].iter().flat_map(|&s| sim.order_ids_in_state(TOKEN, s)).collect();
    assert!(new.iter().all(|id| open.contains(id)));
    assert!(sim.add_orders("nope", 2).is_empty());

    sim.clear_requests();
    call(&h, ORDERS, &[]).await;
    let log = sim.requests();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].shop.as_str(), log[0].endpoint.as_str()), (TOKEN, ORDERS));

    let before = sim.truth_orders(TOKEN).len();
    let activity = sim.spawn_activity(TOKEN, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    activity.abort();
    // At least two ticks, even on a busy machine (the first tick is immediate).
    assert!(sim.truth_orders(TOKEN).len() >= before + 2);

    let base = h.base_url();
    h.shutdown().await;
    let gone = reqwest::Client::new().get(format!("{base}{ORDERS}")).send().await;
    assert!(gone.is_err(), "server still answers after shutdown");
}

/// Writes a unix-ms instant the way one time form does.
type Writer = fn(i64) -> Value;

#[tokio::test]
async fn time_forms_write_the_same_instants() {
    let (sim, h) = start(10, 60, 10).await;
    let truth = sim.truth_orders(TOKEN);
    let t = truth.iter().find(|t| !t.logistics.is_empty()).expect("a shipped order");
    let r = sim.truth_returns(TOKEN).into_iter().find(|r| r.store_time_ms.is_some()).expect("a handled return");
    for form in [SsTimeForm::Rfc3339, SsTimeForm::Millis, SsTimeForm::CstText] {
        sim.set_time_form(form);
        // String-typed times in the form; integer-typed ones as integers (seconds in the page's form).
        let (text, int): (Writer, Writer) = match form {
            SsTimeForm::Rfc3339 => (rfc, |ms| Value::from(ms / 1000)),
            SsTimeForm::Millis => (Value::from, Value::from),
            SsTimeForm::CstText => (cst_text, Value::from),
        };
        let detail = call(&h, DETAIL, &[("order_id", &t.order_id)]).await;
        let row = data(&detail);
        assert_eq!(row["order_time"], text(t.order_time_ms), "{form:?}");
        assert_eq!(row["delivery"]["da_time"], text(t.order_time_ms), "{form:?}");
        let last = row["log_items"].as_array().expect("log_items").last().expect("a state log");
        assert_eq!(last["order_state_time"], text(t.last_state_ms), "{form:?}");
        assert_eq!(row["logistics"][0]["logistics_time"], int(t.logistics[0].time_ms), "{form:?}");
        let got = call(&h, RETURN_GET, &[("return_id", &r.return_id)]).await;
        let row = data(&got);
        assert_eq!(row["return_add_time"], int(r.add_time_ms), "{form:?}");
        assert_eq!(row["return_store_time"], text(r.store_time_ms.unwrap()), "{form:?}");
        assert_eq!(row["return_finish_time"], r.finish_time_ms.map_or(Value::Null, text), "{form:?}");
    }
    // CST text is eight hours ahead of UTC: 2019-08-24T14:15:22Z is 22:15:22 on the same day.
    assert_eq!(cst_text(1_566_656_122_000), "2019-08-24 22:15:22");
    assert_eq!(rfc(1_566_656_122_000), "2019-08-24T14:15:22Z");
}

#[tokio::test]
async fn under_served_lists_keep_reporting_every_row() {
    let (sim, h) = start(11, 30, 5).await;
    let truth = sim.truth_orders(TOKEN);
    let hidden = vec![truth[3].order_id.clone(), truth[7].order_id.clone()];
    let list = [("size", "100"), ("sort", "asc")];
    sim.under_serve(TOKEN, &hidden, Some(1));
    let ids =
        |body: &Value| -> Vec<String> { items(data(body)).iter().map(|r| str_of(r, "order_id").to_string()).collect() };
    let body = call(&h, ORDERS, &list).await;
    assert_eq!((data(&body)["records"].clone(), data(&body)["total"].clone()), (Value::from(30), Value::from(1)));
    let first = ids(&body);
    assert_eq!(first.len(), 28);
    assert!(hidden.iter().all(|id| !first.contains(id)));
    // One answer only: the next one is whole.
    assert_eq!(ids(&call(&h, ORDERS, &list).await).len(), 30);
    // Without a budget every answer is short; detail still serves the row.
    sim.under_serve(TOKEN, &hidden[..1], None);
    for _ in 0..2 {
        let body = call(&h, ORDERS, &list).await;
        assert_eq!((ids(&body).len(), &data(&body)["records"]), (29, &Value::from(30)));
    }
    assert_eq!(data(&call(&h, DETAIL, &[("order_id", &hidden[0])]).await)["order_id"], hidden[0].as_str());
    // Returns too.
    let returns = sim.truth_returns(TOKEN);
    sim.under_serve(TOKEN, &[returns[0].return_id.clone()], None);
    let body = call(&h, RETURNS, &list).await;
    assert_eq!((items(data(&body)).len(), &data(&body)["records"]), (returns.len() - 1, &Value::from(returns.len())));
    sim.under_serve(TOKEN, &[], None);
    assert_eq!(ids(&call(&h, ORDERS, &list).await).len(), 30);

    // The query log: parameters as sent and the keys answered.
    sim.clear_queries();
    call(&h, ORDERS, &[("size", "2"), ("sort", "asc")]).await;
    call(&h, RETURN_GET, &[("return_id", &returns[1].return_id)]).await;
    let log = sim.queries();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].path.as_str(), log[0].params.get("size").map(String::as_str)), (ORDERS, Some("2")));
    assert_eq!(log[0].keys, vec![truth[0].order_id.clone(), truth[1].order_id.clone()]);
    assert_eq!((log[1].path.as_str(), log[1].keys.clone()), (RETURN_GET, vec![returns[1].return_id.clone()]));
    assert_eq!(log[1].shop, TOKEN);
}

/// PLATFORMS.md "Unified states", in lifecycle order (hand-copied; `cancelled` and the terminal
/// refund states branch off).
const ORDER_LIFECYCLE: &[&str] =
    &["pending", "awaiting_fulfillment", "processing", "partially_shipped", "shipped", "delivered", "completed"];
const REFUND_LIFECYCLE: &[&str] = &["requested", "approved", "returning", "refunding", "refunded", "closed"];

fn rank(lifecycle: &[&str], status: &str) -> Option<usize> {
    lifecycle.iter().position(|s| *s == status)
}

#[test]
fn the_truths_unified_tables_name_every_code_of_the_contract_with_its_unified_names() {
    let codes = |t: &[(u16, &str)]| t.iter().map(|(c, _)| *c).collect::<Vec<_>>();
    assert_eq!(codes(UNIFIED_ORDER_STATUS), [2011, 2013, 2020, 2030, 2040, 2060, 2070]);
    assert_eq!(codes(UNIFIED_RETURN_STATUS), [3100, 3105, 3110, 3115, 3120, 3125]);
    // Names from PLATFORMS.md's unified lists only (a typo would pass any test that reads the
    // truth), moving forward along each lifecycle as the codes do.
    let ranks: Vec<Option<usize>> = UNIFIED_ORDER_STATUS[..6].iter().map(|(_, s)| rank(ORDER_LIFECYCLE, s)).collect();
    assert!(ranks.iter().all(Option::is_some) && ranks.is_sorted(), "{UNIFIED_ORDER_STATUS:?}");
    assert_eq!(UNIFIED_ORDER_STATUS[6].1, "cancelled");
    let ranks: Vec<Option<usize>> = UNIFIED_RETURN_STATUS.iter().map(|(_, s)| rank(REFUND_LIFECYCLE, s)).collect();
    assert!(ranks.iter().all(Option::is_some) && ranks.is_sorted(), "{UNIFIED_RETURN_STATUS:?}");
}

#[tokio::test]
async fn the_truth_states_each_rows_unified_status_and_unknown_outside_the_contract() {
    let (sim, _h) = start(12, 300, 20).await;
    let unified = |t: &[(u16, &'static str)], code: u16| t.iter().find(|(c, _)| *c == code).map(|(_, s)| *s);
    let orders = sim.truth_orders(TOKEN);
    for t in &orders {
        assert_eq!(Some(t.unified_status), unified(UNIFIED_ORDER_STATUS, t.state), "{}", t.order_id);
    }
    let returns = sim.truth_returns(TOKEN);
    for r in &returns {
        assert_eq!(Some(r.unified_status), unified(UNIFIED_RETURN_STATUS, r.state), "{}", r.return_id);
    }
    // A hook moving a row follows it; a code the contract does not list is `unknown`.
    let id = &orders[0].order_id;
    let status_of = |id: &str| sim.truth_orders(TOKEN).into_iter().find(|t| t.order_id == id).map(|t| t.unified_status);
    assert!(sim.set_order_state(TOKEN, id, 2040));
    assert_eq!(status_of(id), Some("shipped"));
    assert!(sim.set_order_state(TOKEN, id, 2099));
    assert_eq!(status_of(id), Some("unknown"));
    let rid = &returns[0].return_id;
    let refund_of =
        |id: &str| sim.truth_returns(TOKEN).into_iter().find(|r| r.return_id == id).map(|r| r.unified_status);
    assert!(sim.set_return_state(TOKEN, rid, 3125));
    assert_eq!(refund_of(rid), Some("closed"));
    assert!(sim.set_return_state(TOKEN, rid, 3199));
    assert_eq!(refund_of(rid), Some("unknown"));
}
