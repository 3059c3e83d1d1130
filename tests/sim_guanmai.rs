//! The Guanmai simulator against its contract (PLATFORMS.md §2), driven over HTTP on 127.0.0.1
//! exactly as a connector would: access tokens and code 10, the 7-day list window, offset paging
//! without a total, list and detail amounts that agree, status moves, and reproducible faults.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Value};

use ordersync::sim::guanmai::{GmSim, GmTimeForm};
use ordersync::sim::Simulator;
use ordersync::sim::{Faults, SimHandle};

const ACCESS_ID: &str = "station-main";
const SECRET: &str = "s3cret";
const TOKEN_PATH: &str = "/openapi/auth/access_token";
const ORDERS: &str = "/openapi/orders";
const DETAIL: &str = "/openapi/order/get";

/// Query parameters as reqwest takes them.
type Query<'a> = &'a [(&'a str, &'a str)];

/// A simulator with one shop of `orders` orders over `days` days, served on loopback.
async fn start(seed: u64, orders: usize, days: u32) -> (GmSim, SimHandle) {
    let sim = GmSim::new(seed);
    sim.add_shop(ACCESS_ID, SECRET, orders, days);
    let handle = sim.serve().await.expect("bind 127.0.0.1");
    (sim, handle)
}

/// GETs `path` with `query` and returns (HTTP status, body text).
async fn get_raw(h: &SimHandle, path: &str, query: &[(&str, &str)]) -> (u16, String) {
    let resp =
        reqwest::Client::new().get(format!("{}{path}", h.base_url())).query(query).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

fn parse(status: u16, text: &str) -> Value {
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(text).expect("JSON body")
}

/// A fresh access token for the shop.
async fn token(h: &SimHandle) -> String {
    let (status, text) = get_raw(h, TOKEN_PATH, &[("access_id", ACCESS_ID), ("secret", SECRET)]).await;
    let body = parse(status, &text);
    assert_eq!(body["code"], 0, "{body}");
    body["data"]["access_token"].as_str().expect("access_token").to_string()
}

/// GETs `path` with the token added and parses the JSON answer.
async fn call(h: &SimHandle, tok: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let mut full = vec![("access_token", tok)];
    full.extend_from_slice(query);
    let (status, text) = get_raw(h, path, &full).await;
    parse(status, &text)
}

/// POSTs `order/update` with the token in the URL and `form` as the body: (status, text).
async fn update_raw(h: &SimHandle, tok: &str, form: &[(&str, &str)]) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("{}/openapi/order/update", h.base_url()))
        .query(&[("access_token", tok)])
        .form(form)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

async fn update(h: &SimHandle, tok: &str, order_id: &str, status: &str) -> Value {
    let (code, text) = update_raw(h, tok, &[("order_id", order_id), ("status", status)]).await;
    parse(code, &text)
}

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("offset")
}

fn cst_date(unix: i64) -> NaiveDate {
    DateTime::from_timestamp(unix, 0).expect("time").with_timezone(&cst()).date_naive()
}

/// Today in UTC+8 and the day `back` days earlier, as `YYYY-MM-DD`.
fn window(back: u64) -> (String, String) {
    let today = cst_date(Utc::now().timestamp());
    ((today - chrono::Days::new(back)).to_string(), today.to_string())
}

/// The list query for `start..=end` (by order date, ascending), `extra` added or replacing.
fn list_query<'a>(start: &'a str, end: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut q = vec![("query_type", "1"), ("start_date", start), ("end_date", end), ("sort_type", "date_asc")];
    q.retain(|(k, _)| extra.iter().all(|(e, _)| e != k));
    q.extend_from_slice(extra);
    q
}

fn rows(body: &Value) -> Vec<Value> {
    assert_eq!(body["code"], 0, "{body}");
    body["data"]["list"].as_array().expect("data.list").clone()
}

fn str_of<'a>(row: &'a Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {row}"))
}

/// A 2-decimal yuan string → fen, integers only.
fn fen(yuan: &str) -> i64 {
    let (int, frac) = yuan.split_once('.').expect("yuan has decimals");
    assert_eq!(frac.len(), 2, "two decimals: {yuan}");
    int.parse::<i64>().expect("yuan") * 100 + frac.parse::<i64>().expect("fen")
}

/// Decimal text with at most two places → hundredths.
fn hundredths(text: &str) -> i64 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(frac.len() <= 2, "{text}");
    whole.parse::<i64>().expect("whole") * 100 + format!("{frac:0<2}").parse::<i64>().expect("fraction")
}

/// A vendor time without a zone (UTC+8) → unix seconds.
fn cst_unix(text: &str, format: &str) -> i64 {
    NaiveDateTime::parse_from_str(text, format)
        .expect("vendor time")
        .and_local_timezone(cst())
        .single()
        .expect("unambiguous")
        .timestamp()
}

fn msg_of(body: &Value) -> &str {
    body["msg"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn token_flow_and_code_10_after_n_calls() {
    let (sim, h) = start(1, 20, 3).await;
    let (from, to) = window(2);
    let list = list_query(&from, &to, &[]);

    let (s, t) = get_raw(&h, TOKEN_PATH, &[("access_id", ACCESS_ID), ("secret", "wrong")]).await;
    assert_eq!(parse(s, &t), json!({"code": 2, "msg": "access_id or secret invalid"}));
    let (s, t) = get_raw(&h, TOKEN_PATH, &[("access_id", ACCESS_ID)]).await;
    let body = parse(s, &t);
    assert_eq!((body["code"].clone(), msg_of(&body)), (json!(1), "secret is required"));

    let (s, t) = get_raw(&h, TOKEN_PATH, &[("access_id", ACCESS_ID), ("secret", SECRET)]).await;
    let body = parse(s, &t);
    assert_eq!((&body["code"], &body["msg"]), (&json!(0), &json!("ok")));
    let first = str_of(&body["data"], "access_token").to_string();
    assert_eq!(first.len(), 32);
    let expires = cst_unix(str_of(&body["data"], "expire_time"), "%Y-%m-%d %H:%M:%S");
    assert!((expires - Utc::now().timestamp() - 3_600).abs() <= 5, "one hour ahead");

    // A token good for three calls answers code 10 on the fourth; a fresh one works again.
    sim.set_token_lifetime_calls(Some(3));
    for _ in 0..3 {
        assert_eq!(call(&h, &first, ORDERS, &list).await["code"], 0);
    }
    let invalid = json!({"code": 10, "msg": "access_token invalid"});
    assert_eq!(call(&h, &first, ORDERS, &list).await, invalid);
    let second = token(&h).await;
    assert_ne!(second, first);
    assert_eq!(call(&h, &second, ORDERS, &list).await["code"], 0);
    assert_eq!(sim.token_requests(ACCESS_ID), 3, "wrong secret + two tokens");
    assert_eq!(sim.token_requests("someone-else"), 0);
    sim.set_token_lifetime_calls(None);
    assert_eq!(call(&h, &first, ORDERS, &list).await["code"], 0);

    // Unknown or missing tokens, and a token in the POST body instead of the URL.
    assert_eq!(call(&h, "nope", ORDERS, &list).await, invalid);
    let (s, t) = get_raw(&h, DETAIL, &[("order_id", "PL1")]).await;
    assert_eq!(parse(s, &t), invalid);
    let resp = reqwest::Client::new()
        .post(format!("{}/openapi/order/update", h.base_url()))
        .form(&[("access_token", second.as_str()), ("order_id", "PL1"), ("status", "5")])
        .send()
        .await
        .expect("request");
    assert_eq!(parse(200, &resp.text().await.expect("body")), invalid);

    // The log names the shop behind each token; unknown tokens have none.
    let shops: Vec<(String, String)> = sim.requests().iter().map(|r| (r.endpoint.clone(), r.shop.clone())).collect();
    assert_eq!(shops[0], (TOKEN_PATH.to_string(), ACCESS_ID.to_string()));
    assert_eq!(shops[4], (ORDERS.to_string(), ACCESS_ID.to_string()));
    assert!(shops.iter().rev().take(3).all(|(_, shop)| shop.is_empty()));

    // Time-based expiry: a token that lives 0 s is refused at once.
    sim.set_token_ttl(Duration::ZERO);
    let dead = token(&h).await;
    assert_eq!(call(&h, &dead, ORDERS, &list).await, invalid);
}

#[tokio::test]
async fn list_parameters_are_checked() {
    let (_sim, h) = start(2, 10, 3).await;
    let tok = token(&h).await;
    let (d1, d7, d8) = ("2024-01-01", "2024-01-07", "2024-01-08");
    assert_eq!(call(&h, &tok, ORDERS, &list_query(d1, d7, &[])).await["code"], 0);
    assert_eq!(
        call(&h, &tok, ORDERS, &list_query(d1, d8, &[])).await,
        json!({"code": 1, "msg": "date range exceeds 7 days"})
    );
    let limit = call(&h, &tok, ORDERS, &list_query(d1, d7, &[("limit", "101")])).await;
    assert_eq!(limit, json!({"code": 1, "msg": "limit must be between 1 and 100"}));
    assert_eq!(call(&h, &tok, ORDERS, &list_query(d1, d7, &[("limit", "100")])).await["code"], 0);

    // Each bad input answers code 1 naming its field.
    let body = call(&h, &tok, ORDERS, &[("start_date", d1), ("end_date", d7)]).await;
    assert_eq!(body, json!({"code": 1, "msg": "query_type is required"}));
    let two = [("query_type", "2"), ("start_date", d1), ("end_date", d7)];
    let body = call(&h, &tok, ORDERS, &two).await;
    assert!(body["code"] == 1 && msg_of(&body).contains("query_type"), "{body}");
    #[rustfmt::skip]
    let cases: [(&str, &str, Query, &str); 8] = [
        ("2024-13-01", d7, &[], "start_date"),
        ("2024-1-1", d7, &[], "start_date"),
        (d1, "", &[], "end_date"),
        (d7, d1, &[], "end_date"),
        (d1, d7, &[("offset", "-1")], "offset"),
        (d1, d7, &[("limit", "ten")], "limit"),
        (d1, d7, &[("status", "x")], "status"),
        (d1, d7, &[("sort_type", "id")], "sort_type"),
    ];
    for (start, end, extra, name) in cases {
        let body = call(&h, &tok, ORDERS, &list_query(start, end, extra)).await;
        assert_eq!(body["code"], 1, "{start} {end} {extra:?}");
        assert!(msg_of(&body).contains(name), "{name}: {body}");
    }
}

#[tokio::test]
async fn offset_paging_ends_on_a_short_page() {
    let (sim, h) = start(3, 60, 6).await;
    let tok = token(&h).await;
    let (from, to) = window(6);
    let (mut seen, mut offset) = (Vec::new(), 0);
    loop {
        let off = offset.to_string();
        let body = call(&h, &tok, ORDERS, &list_query(&from, &to, &[("offset", &off), ("limit", "7")])).await;
        assert_eq!(body["data"]["pagination"], json!({"limit": 7, "offset": offset}));
        assert!(body["data"].get("total").is_none());
        let page = rows(&body);
        seen.extend(page.iter().map(|r| str_of(r, "id").to_string()));
        offset += 7;
        if page.len() < 7 {
            assert_eq!(page.len(), 60 % 7);
            break;
        }
    }
    let truth = sim.truth_orders(ACCESS_ID);
    let ids: Vec<String> = truth.iter().map(|t| t.order_id.clone()).collect();
    assert_eq!(seen, ids, "date_asc walks every order once, in id order");
    assert!(ids.iter().all(|id| id.starts_with("PL")));

    // The vendor's default order is newest first; the status filter keeps one status.
    let base = [("query_type", "1"), ("start_date", from.as_str()), ("end_date", to.as_str()), ("limit", "100")];
    let newest = rows(&call(&h, &tok, ORDERS, &base).await);
    assert_eq!(newest.first().map(|r| str_of(r, "id")), ids.last().map(String::as_str));
    let mut filtered = base.to_vec();
    filtered.push(("status", "5"));
    let got: BTreeSet<String> =
        rows(&call(&h, &tok, ORDERS, &filtered).await).iter().map(|r| str_of(r, "id").to_string()).collect();
    let want: BTreeSet<String> = sim.order_ids_in_status(ACCESS_ID, 5).into_iter().collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
}

#[tokio::test]
async fn list_and_detail_amounts_agree() {
    let (sim, h) = start(4, 90, 6).await;
    let tok = token(&h).await;
    let (from, to) = window(6);
    let list = rows(&call(&h, &tok, ORDERS, &list_query(&from, &to, &[("limit", "100")])).await);
    let truth = sim.truth_orders(ACCESS_ID);
    assert_eq!(list.len(), truth.len());
    let statuses: BTreeSet<i32> = truth.iter().map(|t| t.status).collect();
    assert_eq!(statuses, BTreeSet::from([-1, 1, 5, 10, 15, 100]));
    // The truth's unified values, read by hand from PLATFORMS.md §2 ("100 paid" is the only word
    // on payment).
    let unified: BTreeSet<(i32, &str, Option<&str>)> =
        truth.iter().map(|t| (t.status, t.unified_status, t.unified_payment_status)).collect();
    #[rustfmt::skip]
    let want = BTreeSet::from([
        (-1, "cancelled", None), (1, "awaiting_fulfillment", None), (5, "processing", None),
        (10, "shipped", None), (15, "delivered", None), (100, "completed", Some("paid")),
    ]);
    assert_eq!(unified, want);
    sim.clear_requests();
    for (row, t) in list.iter().zip(&truth) {
        assert_eq!(str_of(row, "id"), t.order_id);
        assert_eq!(row["status"], t.status);
        assert_eq!(str_of(row, "resname"), t.resname);
        assert_eq!(cst_unix(str_of(row, "date_time_str"), "%Y-%m-%d %H:%M:%S"), t.order_date);
        assert_eq!(fen(str_of(row, "total_price")), t.list_total_price_fen);
        assert!(row["receive_begin_time"].as_str().is_some_and(|b| b.len() == 16), "minutes only: {row}");
        assert_eq!(fen(str_of(row, "origin_total_price")), t.list_origin_total_price_fen);
        assert_eq!(fen(str_of(row, "freight")), t.list_freight_fen);

        let body = call(&h, &tok, DETAIL, &[("order_id", &t.order_id)]).await;
        assert_eq!((&body["code"], &body["msg"]), (&json!(0), &json!("ok")));
        let d = &body["data"];
        assert_eq!(d["status"], t.status);
        assert_eq!(d["real_price"], t.real_price_fen);
        assert_eq!(d["freight"], t.freight_fen);
        assert_eq!(d["total_pay"], t.real_price_fen + t.freight_fen);
        assert_eq!(t.total_pay_fen, t.real_price_fen + t.freight_fen);
        // The list's yuan strings and the detail's fen are the same amounts (the list's total at
        // the ordered quantities, the detail's at the weighed ones).
        assert_eq!(fen(str_of(row, "freight")), t.freight_fen);
        assert!(t.list_origin_total_price_fen >= t.list_total_price_fen);
        let c = &d["customer"];
        assert_eq!(str_of(c, "resname"), t.resname);
        assert_eq!(str_of(c, "receiver_name"), t.receiver_name);
        assert_eq!(str_of(c, "receiver_phone"), t.receiver_phone);
        assert_eq!(str_of(c, "address"), t.address);
        assert_eq!(cst_unix(str_of(d, "date_time"), "%Y-%m-%dT%H:%M:%S%.3f"), t.order_date);
        let details = d["details"].as_array().expect("details[]");
        assert!((1..=5).contains(&details.len()));
        assert_eq!(details.len(), t.lines.len());
        let (mut sum, mut ordered) = (0, 0);
        for (l, tl) in details.iter().zip(&t.lines) {
            let unit = fen(str_of(l, "sale_price"));
            assert_eq!((str_of(l, "id"), str_of(l, "name")), (tl.sku_id.as_str(), tl.name.as_str()));
            assert_eq!(unit, tl.sale_price_fen);
            // Quantities are JSON numbers written exactly as the truth's decimal text.
            assert_eq!(
                (l["quantity"].to_string(), l["real_quantity"].to_string()),
                (tl.quantity_exact.clone(), tl.real_quantity.clone())
            );
            assert_eq!(l["is_weight"], tl.is_weight);
            let (q, real) = (hundredths(&tl.quantity_exact), hundredths(&tl.real_quantity));
            if !tl.is_weight {
                assert_eq!((q % 100, real), (0, q), "packed goods come in whole units: {l}");
            }
            if !matches!(t.status, 10 | 15 | 100) {
                assert_eq!(real, q, "not weighed before delivery: {l}");
            }
            assert_eq!(tl.quantity, (q + 50) / 100, "whole units, half away from zero");
            assert_eq!(l["real_item_price"], (real * unit + 50) / 100);
            assert_eq!(l["real_item_price"], tl.real_item_price_fen);
            sum += (real * unit + 50) / 100;
            ordered += (q * unit + 50) / 100;
        }
        assert_eq!(sum, t.real_price_fen);
        assert_eq!(fen(str_of(row, "total_price")), ordered);
    }
    assert!(truth.iter().any(|t| t.list_origin_total_price_fen > t.list_total_price_fen));
    let lines: Vec<_> = truth.iter().flat_map(|t| &t.lines).collect();
    assert!(lines.iter().any(|l| l.quantity_exact.contains('.')), "some ordered weights are decimals");
    assert!(lines.iter().any(|l| l.real_quantity != l.quantity_exact), "some lines were weighed differently");
    assert!(truth.iter().any(|t| t.freight_fen > 0) && truth.iter().any(|t| t.freight_fen == 0));

    let body = call(&h, &tok, DETAIL, &[("order_id", "PL1")]).await;
    assert_eq!(body, json!({"code": 1, "msg": "order not found: PL1"}));
    let body = call(&h, &tok, DETAIL, &[]).await;
    assert_eq!(body, json!({"code": 1, "msg": "order_id is required"}));
    // Detail calls per shop are visible in the request log.
    let details = sim.requests().iter().filter(|r| r.endpoint == DETAIL && r.shop == ACCESS_ID).count();
    assert_eq!(details, truth.len() + 2);
}

#[tokio::test]
async fn update_moves_allowed_and_refused() {
    let (sim, h) = start(5, 80, 6).await;
    let tok = token(&h).await;
    let waiting = sim.order_ids_in_status(ACCESS_ID, 1);
    let sorting = sim.order_ids_in_status(ACCESS_ID, 5);
    let delivering = sim.order_ids_in_status(ACCESS_ID, 10);
    let signed = sim.order_ids_in_status(ACCESS_ID, 15);
    let ok = json!({"code": 0, "data": null, "msg": "ok"});
    assert_eq!(update(&h, &tok, &waiting[0], "5").await, ok);
    assert_eq!(update(&h, &tok, &waiting[0], "10").await, ok);
    assert_eq!(update(&h, &tok, &waiting[1], "10").await, ok);
    assert_eq!(update(&h, &tok, &sorting[0], "10").await, ok);
    assert_eq!(sim.requests().last().map(|r| r.items), Some(1));

    let refused =
        |from: i32, to: i32| json!({"code": 1, "msg": format!("status transition not allowed: {from} -> {to}")});
    assert_eq!(update(&h, &tok, &delivering[0], "5").await, refused(10, 5));
    assert_eq!(update(&h, &tok, &signed[0], "10").await, refused(15, 10));
    assert_eq!(update(&h, &tok, &waiting[2], "15").await, refused(1, 15));
    assert_eq!(update(&h, &tok, &waiting[0], "10").await, refused(10, 10));
    assert_eq!(update(&h, &tok, "PL1", "5").await, json!({"code": 1, "msg": "order not found: PL1"}));
    let body = update(&h, &tok, &waiting[2], "five").await;
    assert_eq!(body, json!({"code": 1, "msg": "status must be an integer"}));
    let (s, t) = update_raw(&h, &tok, &[("status", "5")]).await;
    assert_eq!(parse(s, &t), json!({"code": 1, "msg": "order_id is required"}));

    let pushes = sim.applied_pushes();
    let applied: Vec<(&str, &str, &str)> =
        pushes.iter().map(|p| (p.shop.as_str(), p.kind, p.order_no.as_str())).collect();
    let id = ACCESS_ID;
    assert_eq!(
        applied,
        [
            (id, "status", &*waiting[0]),
            (id, "status", &*waiting[0]),
            (id, "status", &*waiting[1]),
            (id, "status", &*sorting[0])
        ]
    );
    assert_eq!(pushes[0].entry, json!({"order_id": waiting[0], "status": "5"}));

    // A client re-reading the list and the detail sees the move.
    let (from, to) = window(6);
    let list = rows(&call(&h, &tok, ORDERS, &list_query(&from, &to, &[("limit", "100")])).await);
    let row = list.iter().find(|r| r["id"] == waiting[1].as_str()).expect("row");
    assert_eq!(row["status"], 10);
    assert!(row["sort_id"].is_i64(), "a sorted order has a sorting number");
    let detail = call(&h, &tok, DETAIL, &[("order_id", &waiting[0])]).await;
    assert_eq!(detail["data"]["status"], 10);
    assert!(sim.order_ids_in_status(ACCESS_ID, 10).contains(&sorting[0]));
}

#[tokio::test]
async fn faults_are_seeded_and_behave_as_documented() {
    let (sim, h) = start(6, 40, 5).await;
    let tok = token(&h).await;
    let waiting = sim.order_ids_in_status(ACCESS_ID, 1);

    sim.set_faults(Faults { http_500: 1.0, ..Faults::default() });
    let (status, _) = update_raw(&h, &tok, &[("order_id", &waiting[0]), ("status", "5")]).await;
    assert_eq!(status, 500);
    let (status, _) = get_raw(&h, TOKEN_PATH, &[("access_id", ACCESS_ID), ("secret", SECRET)]).await;
    assert_eq!(status, 500);
    assert_eq!(sim.token_requests(ACCESS_ID), 1, "a 500 never reached the handler");
    assert!(sim.applied_pushes().is_empty());
    assert_eq!(sim.requests().last().and_then(|r| r.fault), Some("http_500"));

    sim.set_faults(Faults { http_429: 1.0, retry_after_secs: 7, ..Faults::default() });
    let resp = reqwest::Client::new()
        .get(format!("{}{DETAIL}", h.base_url()))
        .query(&[("access_token", tok.as_str()), ("order_id", waiting[0].as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");

    // A cut body is ambiguous: the move was applied although the answer is not JSON.
    sim.set_faults(Faults { cut_body: 1.0, ..Faults::default() });
    let (status, text) = update_raw(&h, &tok, &[("order_id", &waiting[0]), ("status", "5")]).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&text).is_err(), "cut body parsed: {text}");
    assert_eq!(sim.applied_pushes().len(), 1);
    assert!(sim.order_ids_in_status(ACCESS_ID, 5).contains(&waiting[0]));

    sim.set_faults(Faults { slow: 1.0, slow_ms: 150, ..Faults::default() });
    let started = std::time::Instant::now();
    let (status, _) = get_raw(&h, DETAIL, &[("access_token", &tok), ("order_id", &waiting[0])]).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(sim.requests().last().and_then(|r| r.fault), Some("slow"));

    // Same seed, same requests → same faults.
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (sim, h) = start(42, 5, 1).await;
        let tok = token(&h).await;
        sim.set_faults(Faults { http_500: 0.3, http_429: 0.3, slow: 0.2, slow_ms: 1, ..Faults::default() });
        let (from, to) = window(0);
        let mut query = vec![("access_token", tok.as_str())];
        query.extend(list_query(&from, &to, &[]));
        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(get_raw(&h, ORDERS, &query).await.0);
        }
        let faults: Vec<_> = sim.requests().iter().map(|r| r.fault).collect();
        assert!(statuses.contains(&200) && statuses.contains(&500) && statuses.contains(&429));
        runs.push((tok, statuses, faults));
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn station_hooks_and_activity() {
    let (sim, h) = start(7, 20, 3).await;
    let new = sim.add_orders(ACCESS_ID, 3);
    assert_eq!(new.len(), 3);
    assert!(sim.add_orders("unknown", 2).is_empty());
    let truth = sim.truth_orders(ACCESS_ID);
    assert!(truth.iter().filter(|t| new.contains(&t.order_id)).all(|t| t.status == 1));
    assert!(sim.set_status(ACCESS_ID, &new[0], 100));
    assert!(!sim.set_status(ACCESS_ID, "PL1", 100));
    assert!(sim.order_ids_in_status(ACCESS_ID, 100).contains(&new[0]));
    // A code outside the contract's table is `unknown` in the truth, as PLATFORMS.md says.
    assert!(sim.set_status(ACCESS_ID, &new[1], 7));
    let t = sim.truth_orders(ACCESS_ID).into_iter().find(|t| t.order_id == new[1]).expect("truth");
    assert_eq!((t.unified_status, t.unified_payment_status), ("unknown", None));
    assert!(sim.set_status(ACCESS_ID, &new[1], 1));

    // New orders are dated today and listed.
    let tok = token(&h).await;
    let (from, to) = window(0);
    let listed: Vec<Value> = rows(&call(&h, &tok, ORDERS, &list_query(&from, &to, &[("limit", "100")])).await);
    assert!(new.iter().all(|id| listed.iter().any(|r| r["id"] == id.as_str())));

    let activity = sim.spawn_activity(ACCESS_ID, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    activity.abort();
    // At least two ticks, even on a busy machine (the first tick is immediate).
    assert!(sim.truth_orders(ACCESS_ID).len() >= truth.len() + 2);

    let base = h.base_url();
    h.shutdown().await;
    let gone = reqwest::Client::new().get(format!("{base}{ORDERS}")).send().await;
    assert!(gone.is_err(), "server still answers after shutdown");
}

#[tokio::test]
async fn times_in_the_pages_form_and_the_two_others() {
    let (sim, h) = start(8, 10, 2).await;
    let (from, to) = window(2);
    let list = list_query(&from, &to, &[("limit", "100")]);
    let list = &list;
    let h = &h;
    let read = |sim: &GmSim, form: GmTimeForm| {
        sim.set_time_form(form);
        async move {
            let body = get_raw(h, TOKEN_PATH, &[("access_id", ACCESS_ID), ("secret", SECRET)]).await;
            let body = parse(body.0, &body.1);
            let tok = str_of(&body["data"], "access_token").to_string();
            let row = rows(&call(h, &tok, ORDERS, list).await)[0].clone();
            let detail = call(h, &tok, DETAIL, &[("order_id", str_of(&row, "id"))]).await["data"].clone();
            (body["data"]["expire_time"].clone(), row, detail)
        }
    };
    let (expire, row, detail) = read(&sim, GmTimeForm::CstText).await;
    let t = sim.truth_orders(ACCESS_ID).into_iter().find(|t| t.order_id == str_of(&row, "id")).expect("truth");
    // The page's forms: CST text without a zone.
    let expire_at = cst_unix(expire.as_str().expect("text"), "%Y-%m-%d %H:%M:%S");
    assert_eq!(cst_unix(str_of(&row, "date_time_str"), "%Y-%m-%d %H:%M:%S"), t.order_date);
    let date_time = str_of(&detail, "date_time");
    assert_eq!((date_time.len(), &date_time[10..11]), (23, "T"), "{date_time}");
    assert_eq!(cst_unix(date_time, "%Y-%m-%dT%H:%M:%S%.3f"), t.order_date);
    let begin = cst_unix(str_of(&row, "receive_begin_time"), "%Y-%m-%d %H:%M");
    assert_eq!(begin, cst_unix(str_of(&detail["customer"], "receive_begin_time"), "%Y-%m-%d %H:%M"));

    // RFC 3339 UTC: the same instants, written with `Z`.
    let (expire, row, detail) = read(&sim, GmTimeForm::Rfc3339Utc).await;
    let rfc = |v: &Value| DateTime::parse_from_rfc3339(v.as_str().expect("text")).expect("RFC 3339");
    assert!(expire.as_str().is_some_and(|e| e.ends_with('Z')), "{expire}");
    assert!((rfc(&expire).timestamp() - expire_at).abs() <= 5, "a fresh token, one hour ahead");
    assert_eq!(rfc(&row["date_time_str"]).timestamp(), t.order_date);
    assert_eq!(rfc(&detail["date_time"]).timestamp(), t.order_date);
    assert!(str_of(&detail, "date_time").ends_with('Z'));
    assert_eq!(rfc(&row["receive_begin_time"]).timestamp(), begin);

    // Unix milliseconds, as numbers.
    let (expire, row, detail) = read(&sim, GmTimeForm::UnixMillis).await;
    let ms = |v: &Value| v.as_i64().unwrap_or_else(|| panic!("{v} is not a number"));
    assert!((ms(&expire) / 1_000 - expire_at).abs() <= 5);
    assert_eq!(ms(&row["date_time_str"]), t.order_date * 1_000);
    assert_eq!(ms(&detail["date_time"]).div_euclid(1_000), t.order_date);
    assert_eq!(ms(&detail["customer"]["receive_begin_time"]), begin * 1_000);
}

#[tokio::test]
async fn hooks_for_late_changes_weighed_orders_and_removal() {
    let (sim, h) = start(9, 5, 1).await;
    let tok = token(&h).await;
    // An order entered after the fact, dated 12 days ago, is listed on that day.
    let twelve_days_ago = Utc::now() - chrono::Duration::days(12);
    let late = sim.add_order_at(ACCESS_ID, twelve_days_ago, 15).expect("added");
    assert_eq!(sim.add_order_at("unknown", twelve_days_ago, 15), None);
    let day = cst_date(twelve_days_ago.timestamp()).to_string();
    let listed = rows(&call(&h, &tok, ORDERS, &list_query(&day, &day, &[])).await);
    assert_eq!(listed.iter().map(|r| str_of(r, "id")).collect::<Vec<_>>(), [late.as_str()]);
    assert_eq!(listed[0]["status"], 15);
    // A restaurant pays a month later; another order is deleted.
    assert!(sim.set_status(ACCESS_ID, &late, 100));
    assert_eq!(call(&h, &tok, DETAIL, &[("order_id", &late)]).await["data"]["status"], 100);

    // Weighed lines exactly as asked, weighed once the order is out for delivery.
    let weighed = sim.add_weighed_order(ACCESS_ID, &[("1.5", "1.52"), ("2.35", "2.4")], 10).expect("added");
    assert_eq!(sim.add_weighed_order(ACCESS_ID, &[("1.505", "1")], 10), None, "at most two places");
    assert_eq!(sim.add_weighed_order(ACCESS_ID, &[("x", "1")], 10), None);
    let d = call(&h, &tok, DETAIL, &[("order_id", &weighed)]).await["data"].clone();
    let details = d["details"].as_array().expect("details");
    let quantities: Vec<(String, String, bool)> = details
        .iter()
        .map(|l| (l["quantity"].to_string(), l["real_quantity"].to_string(), l["is_weight"] == true))
        .collect();
    let want = [("1.5", "1.52", true), ("2.35", "2.4", true)].map(|(q, r, w)| (q.to_string(), r.to_string(), w));
    assert_eq!(quantities, want);
    let t = sim.truth_orders(ACCESS_ID).into_iter().find(|t| t.order_id == weighed).expect("truth");
    for (l, tl) in details.iter().zip(&t.lines) {
        let unit = fen(str_of(l, "sale_price"));
        let real = hundredths(&tl.real_quantity);
        assert_eq!(l["real_item_price"], (real * unit + 50) / 100);
    }
    assert_eq!(d["real_price"], t.real_price_fen);

    // Removal: the vendor no longer knows the order.
    assert!(sim.remove_order(ACCESS_ID, &weighed));
    assert!(!sim.remove_order(ACCESS_ID, &weighed));
    let gone = call(&h, &tok, DETAIL, &[("order_id", &weighed)]).await;
    assert_eq!(gone, json!({"code": 1, "msg": format!("order not found: {weighed}")}));
    assert!(sim.set_status(ACCESS_ID, &late, -1), "the other orders are still found after a removal");
    assert_eq!(sim.detail_requests(), [late.clone(), weighed.clone(), weighed.clone()]);
}
