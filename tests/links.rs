//! Links end to end: supplier orders on Liangben (by external number), on ShopSuite (by the
//! number in the order's message) and through the `order_links` table find their YMCart
//! storefront orders; every supplier shipment reaches the storefront simulator exactly once (a
//! corrected tracking number as a new push), unmatched supplier orders are listed with why, and
//! a supplier cancel raises an alert and cancels the storefront order only when configured.

mod common;

use common::{count, text, TestDir};
use ordersync::model::Stream;
use ordersync::runtime::Runtime;
use ordersync::sim::{liangben::LbSim, shopsuite::SsSim, ymcart::YmSim, SimHandle, Simulator};
use ordersync::store::Param;
use std::collections::BTreeMap;
use std::process::Command;
use tokio_util::sync::CancellationToken;

const YM: &str = "links-ym";
const LB: &str = "links-lb";
const SS: &str = "links-ss";

/// The simulators, their servers and the test folder.
struct World {
    dir: TestDir,
    ym: YmSim,
    lb: LbSim,
    ss: SsSim,
    urls: (String, String, String),
    _servers: Vec<SimHandle>,
    /// The storefront order numbers, all paid (YMCart 200).
    storefront: Vec<String>,
}

impl World {
    /// A YMCart storefront with `orders` paid orders, an empty Liangben and ShopSuite supplier.
    async fn new(orders: usize, seed: u64) -> World {
        let ym = YmSim::new(seed);
        ym.add_shop(YM, 0, 1);
        let storefront = ym.add_orders(YM, orders);
        for no in &storefront {
            assert!(ym.touch_order(YM, no, 200), "storefront order {no} paid");
        }
        let lb = LbSim::new(seed + 1);
        lb.add_shop(LB, 0, 1);
        let ss = SsSim::new(seed + 2);
        ss.add_shop(SS, 0, 1);
        let servers = vec![ym.serve().await.unwrap(), lb.serve().await.unwrap(), ss.serve().await.unwrap()];
        let urls = (servers[0].base_url(), servers[1].base_url(), servers[2].base_url());
        World { dir: TestDir::new(), ym, lb, ss, urls, _servers: servers, storefront }
    }

    /// Writes the config: the three shops and `links` (TOML `[[links]]` blocks).
    fn write_config(&self, links: &str) {
        // Hourly: passes here are run by the test; `status` then judges lateness on an hour.
        let every = "\"0 0 * * * *\"";
        self.dir.write_config(&format!(
            r#"
[[shops]]
id = "ym"
platform = "ymcart"
base_url = "{ym}"
token_file = "{ym_token}"
rate_limit_per_sec = 100
backfill_days = 2
[shops.schedule]
orders = {every}
shipments = {every}

[[shops]]
id = "lb"
platform = "liangben"
base_url = "{lb}"
token_file = "{lb_token}"
rate_limit_per_sec = 100
backfill_days = 2
[shops.schedule]
orders = {every}
shipments = {every}
refunds = {every}

[[shops]]
id = "ss"
platform = "shopsuite"
base_url = "{ss}"
token_file = "{ss_token}"
rate_limit_per_sec = 100
backfill_days = 2
lookback_days = 2
[shops.schedule]
orders = {every}
refunds = {every}

{links}
"#,
            ym = self.urls.0,
            lb = self.urls.1,
            ss = self.urls.2,
            ym_token = self.dir.secret("ym.token", YM),
            lb_token = self.dir.secret("lb.token", LB),
            ss_token = self.dir.secret("ss.token", SS),
        ));
    }

    fn runtime(&self) -> Runtime {
        self.dir.runtime()
    }

    /// Every ship push the storefront simulator applied: (order, carrier, tracking) → times.
    fn applied_ships(&self) -> BTreeMap<(String, String, String), usize> {
        let mut out = BTreeMap::new();
        for p in self.ym.applied_pushes().into_iter().filter(|p| p.kind == "ship") {
            let field = |k: &str| p.entry.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            *out.entry((p.order_no.clone(), field("shipping_corp_name"), field("delivery_no"))).or_default() += 1;
        }
        out
    }

    /// Runs `ordersync ARGS` against the test config; (exit code, stdout, stderr).
    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ordersync"))
            .arg("--config")
            .arg(&self.dir.config_path)
            .args(args)
            .output()
            .expect("ordersync runs");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }
}

/// Asserts two maps are equal, printing only what differs (they hold hundreds of entries).
fn assert_same<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    got: &BTreeMap<K, V>,
    want: &BTreeMap<K, V>,
    what: &str,
) {
    let extra: Vec<_> = got.iter().filter(|(k, v)| want.get(k) != Some(v)).collect();
    let missing: Vec<_> = want.iter().filter(|(k, v)| got.get(k) != Some(v)).collect();
    assert!(extra.is_empty() && missing.is_empty(), "{what}: unexpected {extra:?}; missing {missing:?}");
}

/// One pass of `stream` of `shop`, which must succeed.
async fn pass(rt: &Runtime, shop: &str, stream: Stream) {
    let shop = rt.shop(shop).expect("shop configured");
    ordersync::sync::run_pass(rt, shop, stream, &CancellationToken::new()).await.expect("pass succeeds");
}

/// Flushes the outbox until nothing is due (retries of a flaky answer included).
async fn flush(rt: &Runtime) {
    for _ in 0..5 {
        let r = ordersync::push::flush_all(rt, &CancellationToken::new()).await.expect("flush");
        if r.retried == 0 {
            return;
        }
    }
    panic!("entries still retried after five flushes");
}

/// The expected ship pushes: each (storefront order, carrier as mapped, tracking number) once.
fn expected_ships(
    lb: &LbSim,
    linked: &BTreeMap<String, String>,
    carriers: &[(&str, &str)],
) -> BTreeMap<(String, String, String), usize> {
    let map: BTreeMap<&str, &str> = carriers.iter().copied().collect();
    lb.truth_outbound(LB)
        .into_iter()
        .filter_map(|r| {
            let to = linked.get(&r.order_sn)?;
            let carrier = map.get(r.express_company.as_str()).copied().unwrap_or(&r.express_company).to_string();
            Some(((to.clone(), carrier, r.express_sn), 1))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn liangben_shipments_reach_the_storefront_once_and_a_corrected_number_is_a_new_push() {
    let w = World::new(200, 41).await;
    w.write_config(
        r#"
[[links]]
from = "lb"
to = "ym"
carriers = { "中通" = "ZTO" }
"#,
    );
    // 150 storefront orders bought from the supplier, each under the storefront's number; ten
    // supplier orders name none (stock for the warehouse) or a number the storefront lacks.
    let mut linked: BTreeMap<String, String> = BTreeMap::new();
    for (i, no) in w.storefront.iter().take(150).enumerate() {
        let sn = w.lb.add_order_for(LB, Some(no));
        let carrier = if i % 2 == 0 { "中通" } else { "顺丰" };
        // One order in five ships in two parcels.
        let parcels = if i % 5 == 0 { 2 } else { 1 };
        assert_eq!(w.lb.ship_parcels(LB, &sn, parcels, carrier).len(), parcels, "{sn} ships in {parcels}");
        linked.insert(sn, no.clone());
    }
    let mut unmatched = Vec::new();
    for i in 0..10 {
        let external = (i % 2 == 1).then(|| format!("NOPE-{i}"));
        let sn = w.lb.add_order_for(LB, external.as_deref());
        w.lb.ship_parcels(LB, &sn, 1, "韵达");
        unmatched.push(sn);
    }

    let rt = w.runtime();
    // The supplier is read first: its shipments wait for storefront orders not stored yet.
    pass(&rt, "lb", Stream::Orders).await;
    pass(&rt, "lb", Stream::Shipments).await;
    assert_eq!(
        count(w.dir.reader(), "SELECT COUNT(*) FROM outbox"),
        0,
        "nothing forwarded before the storefront is known"
    );
    pass(&rt, "ym", Stream::Orders).await;
    flush(&rt).await;
    let want = expected_ships(&w.lb, &linked, &[("中通", "ZTO")]);
    assert_eq!(want.len(), 150 + 30, "150 orders, 30 of them in two parcels");
    assert_same(&w.applied_ships(), &want, "every supplier shipment reached the storefront exactly once");

    // The same passes again forward nothing twice.
    pass(&rt, "lb", Stream::Orders).await;
    pass(&rt, "lb", Stream::Shipments).await;
    pass(&rt, "ym", Stream::Orders).await;
    pass(&rt, "ym", Stream::Shipments).await;
    flush(&rt).await;
    assert_same(&w.applied_ships(), &want, "repeated passes forward nothing again");

    // The supplier corrects one tracking number: a new push, the old one stays applied once.
    let first = w.lb.truth_outbound(LB).into_iter().find(|r| linked.contains_key(&r.order_sn)).unwrap();
    assert!(w.lb.correct_tracking(LB, &first.purchase_sn, "CORRECTED0001"));
    pass(&rt, "lb", Stream::Orders).await;
    pass(&rt, "lb", Stream::Shipments).await;
    flush(&rt).await;
    let mut want_after = want.clone();
    let carrier = if first.express_company == "中通" { "ZTO".to_string() } else { first.express_company.clone() };
    want_after.insert((linked[&first.order_sn].clone(), carrier, "CORRECTED0001".into()), 1);
    assert_same(&w.applied_ships(), &want_after, "the corrected number is one new push");

    // `links` lists the figures and every unmatched supplier order with why.
    let figures = w.dir.reader().link_figures("lb", "ym").unwrap();
    assert_eq!(figures.matched, 150);
    assert_eq!((figures.forwarded, figures.waiting, figures.failed, figures.skipped), (181, 0, 0, 0));
    assert_eq!(figures.oldest_unforwarded_at, None);
    let listed: Vec<&str> = figures.unmatched.iter().map(|u| u.from_order.as_str()).collect();
    let mut sorted = unmatched.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "every unmatched supplier order is listed");
    assert!(figures.unmatched.iter().any(|u| u.why.contains("no external order number")), "{:?}", figures.unmatched);
    assert!(
        figures.unmatched.iter().any(|u| u.why.contains("`NOPE-1` is not in shop `ym`")),
        "{:?}",
        figures.unmatched
    );
    let (code, out, err) = w.cli(&["links"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("lb → ym") && out.contains("181"), "{out}");
    for sn in &unmatched {
        assert!(out.contains(sn.as_str()), "{sn} listed as unmatched: {out}");
    }
}

/// Every scheduled stream once, so that `status --check` judges only what the test is about.
async fn every_stream(rt: &Runtime) {
    for (shop, streams) in [
        ("ym", &[Stream::Orders, Stream::Shipments][..]),
        ("lb", &[Stream::Orders, Stream::Shipments, Stream::Refunds][..]),
        ("ss", &[Stream::Orders, Stream::Refunds][..]),
    ] {
        for stream in streams {
            pass(rt, shop, *stream).await;
        }
    }
}

/// A shipment for a storefront order that cannot take it yet (unpaid) waits; `status --check`
/// fails once it has waited past three supplier schedule periods (its first sighting is moved
/// back in the database rather than waited for), and passes again once it is forwarded.
#[tokio::test(flavor = "multi_thread")]
async fn a_shipment_waiting_past_three_periods_fails_status_check() {
    let w = World::new(2, 81).await;
    w.write_config("[[links]]\nfrom = \"lb\"\nto = \"ym\"\n");
    let unpaid = w.storefront[0].clone();
    assert!(w.ym.touch_order(YM, &unpaid, 100), "storefront order back to unpaid");
    let sn = w.lb.add_order_for(LB, Some(&unpaid));
    w.lb.ship_parcels(LB, &sn, 1, "中通");
    let rt = w.runtime();
    every_stream(&rt).await;
    flush(&rt).await;
    let figures = w.dir.reader().link_figures("lb", "ym").unwrap();
    assert_eq!((figures.matched, figures.waiting, figures.forwarded), (1, 1, 0));
    let note = text(w.dir.reader(), "SELECT note FROM link_forwards").expect("a note");
    assert!(note.contains("pending"), "{note}");
    let (code, out, err) = w.cli(&["status", "--check"]);
    assert_eq!(code, 0, "waiting, but not for long: {out}{err}");

    w.dir.reader().execute("UPDATE link_forwards SET first_seen_at = '2000-01-01T00:00:00.000Z'", &[]).unwrap();
    let (code, out, _) = w.cli(&["status", "--check"]);
    assert_eq!(code, 1, "overdue: {out}");
    assert!(out.contains("lb → ym") && out.contains("OVERDUE"), "{out}");
    let (_, out, _) = w.cli(&["links"]);
    assert!(out.contains("OVERDUE"), "{out}");

    // Paid: the storefront sync lets the waiting shipment through.
    assert!(w.ym.touch_order(YM, &unpaid, 200));
    every_stream(&rt).await;
    flush(&rt).await;
    let figures = w.dir.reader().link_figures("lb", "ym").unwrap();
    assert_eq!((figures.waiting, figures.forwarded), (0, 1));
    assert_eq!(w.applied_ships().len(), 1);
    let (code, out, err) = w.cli(&["status", "--check"]);
    assert_eq!(code, 0, "forwarded: {out}{err}");

    // A forward the storefront refuses (the merchant completed the order before the supplier's
    // number reached it) is a failed forward and a dead letter, not lost from sight.
    let done = w.storefront[1].clone();
    let sn = w.lb.add_order_for(LB, Some(&done));
    w.lb.ship_parcels(LB, &sn, 1, "中通");
    every_stream(&rt).await;
    assert!(w.ym.touch_order(YM, &done, 700), "completed at the storefront meanwhile");
    flush(&rt).await;
    let figures = w.dir.reader().link_figures("lb", "ym").unwrap();
    assert_eq!((figures.forwarded, figures.waiting, figures.failed), (1, 0, 1));
    assert!(figures.oldest_unforwarded_at.is_some(), "a failed forward is not forwarded");
    let (code, out, _) = w.cli(&["links"]);
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with("lb → ym") && l.contains(" 1 ")), "{out}");
    let (code, out, _) = w.cli(&["status", "--check"]);
    assert_eq!(code, 1, "a dead letter: {out}");
    // The operator gives it up: cancelled, it is skipped, no longer failed, and the check passes.
    let id = count(w.dir.reader(), "SELECT id FROM outbox WHERE state = 'failed'");
    let (code, out, err) = w.cli(&["outbox", "cancel", &id.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    let figures = w.dir.reader().link_figures("lb", "ym").unwrap();
    assert_eq!((figures.forwarded, figures.failed, figures.skipped), (1, 0, 1));
    let (code, out, err) = w.cli(&["status", "--check"]);
    assert_eq!(code, 0, "given up: {out}{err}");
    let metrics = ordersync::metrics::render(&rt);
    let gauge = |state: &str| {
        metrics.lines().find(|l| l.starts_with("ordersync_link_shipments") && l.contains(&format!("state=\"{state}\"")))
    };
    for (state, n) in [("forwarded", "1"), ("failed", "0"), ("skipped", "1"), ("waiting", "0")] {
        let line = gauge(state).unwrap_or_else(|| panic!("no {state} gauge: {metrics}"));
        assert!(line.contains("from=\"lb\"") && line.ends_with(&format!(" {n}")), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shopsuite_orders_find_the_storefront_by_their_message() {
    let w = World::new(40, 51).await;
    w.write_config(
        r#"
[[links]]
from = "ss"
to = "ym"
match = "message"
pattern = "店铺单号:{no}"
"#,
    );
    let orders = w.ss.add_orders(SS, 34);
    let mut linked = BTreeMap::new();
    for (i, id) in orders.iter().enumerate() {
        match i {
            // Two without a number, two with one the storefront lacks.
            30 | 31 => assert!(w.ss.set_message(SS, id, "请尽快发货")),
            32 | 33 => assert!(w.ss.set_message(SS, id, "店铺单号:SY-MISSING 谢谢")),
            _ => {
                let no = &w.storefront[i];
                assert!(w.ss.set_message(SS, id, &format!("请尽快发货 店铺单号:{no}，谢谢")));
                linked.insert(id.clone(), no.clone());
            }
        }
        assert!(w.ss.set_order_state(SS, id, 2040), "{id} shipped");
    }
    let rt = w.runtime();
    pass(&rt, "ym", Stream::Orders).await;
    pass(&rt, "ss", Stream::Orders).await;
    flush(&rt).await;
    let want: BTreeMap<(String, String, String), usize> =
        w.ss.truth_orders(SS)
            .into_iter()
            .filter_map(|o| linked.get(&o.order_id).map(|to| (to.clone(), o.logistics)))
            .flat_map(|(to, parcels)| parcels.into_iter().map(move |l| ((to.clone(), l.express, l.tracking), 1)))
            .collect();
    assert!(want.len() > linked.len(), "every linked order shipped, some in two parcels: {}", want.len());
    pass(&rt, "ss", Stream::Orders).await;
    flush(&rt).await;
    assert_same(&w.applied_ships(), &want, "every ShopSuite parcel reached the storefront once");
    let figures = w.dir.reader().link_figures("ss", "ym").unwrap();
    assert_eq!(figures.matched, 30);
    assert_eq!(figures.forwarded, want.len() as u64);
    let why: BTreeMap<&str, &str> = figures.unmatched.iter().map(|u| (u.from_order.as_str(), u.why.as_str())).collect();
    assert_eq!(why.len(), 4, "{why:?}");
    assert!(why[orders[30].as_str()].contains("holds no number by pattern `店铺单号:{no}`"), "{why:?}");
    assert!(why[orders[32].as_str()].contains("`SY-MISSING` is not in shop `ym`"), "{why:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_order_links_table_links_what_the_numbers_cannot() {
    let w = World::new(20, 61).await;
    w.write_config(
        r#"
[[links]]
from = "lb"
to = "ym"
match = "table"
"#,
    );
    // The supplier orders carry no storefront number at all.
    let sns: Vec<String> = (0..12).map(|_| w.lb.add_order_for(LB, None)).collect();
    for sn in &sns {
        w.lb.ship_parcels(LB, sn, 1, "圆通");
    }
    let rt = w.runtime();
    pass(&rt, "ym", Stream::Orders).await;
    pass(&rt, "lb", Stream::Orders).await;
    pass(&rt, "lb", Stream::Shipments).await;
    // Eight linked by the command (after the sync: it forwards at once), two by an ERP's rows
    // (read at the supplier's next commit), two not at all.
    for (sn, no) in sns.iter().zip(&w.storefront).take(8) {
        let (code, out, err) = w.cli(&["link", "add", "--from", &format!("lb:{sn}"), "--to", &format!("ym:{no}")]);
        assert_eq!(code, 0, "{out}{err}");
    }
    {
        let store = w.dir.reader();
        for (sn, no) in sns.iter().zip(&w.storefront).skip(8).take(2) {
            store
                .execute(
                    "INSERT INTO order_links (from_shop, from_order, to_shop, to_order) VALUES ('lb', ?1, 'ym', ?2)",
                    &[Param::Text(sn), Param::Text(no)],
                )
                .unwrap();
        }
    }
    pass(&rt, "lb", Stream::Orders).await;
    flush(&rt).await;
    let linked: BTreeMap<String, String> = sns.iter().cloned().zip(w.storefront.iter().cloned()).take(10).collect();
    let want = expected_ships(&w.lb, &linked, &[]);
    assert_eq!(want.len(), 10);
    assert_same(&w.applied_ships(), &want, "each table-linked shipment reached the storefront once");
    // One more row, naming a storefront order that does not exist: recorded, listed unmatched.
    let (code, out, err) = w.cli(&["link", "add", "--from", &format!("lb:{}", sns[10]), "--to", "ym:SY-NOPE"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("not matched yet") && out.contains("`SY-NOPE` is not in shop `ym`"), "{out}");
    let figures = w.dir.reader().link_figures("lb", "ym").unwrap();
    assert_eq!((figures.matched, figures.forwarded, figures.unmatched.len()), (10, 10, 2));
    let why: Vec<(&str, &str)> = figures.unmatched.iter().map(|u| (u.from_order.as_str(), u.why.as_str())).collect();
    assert!(why[0].1.contains("SY-NOPE") || why[1].1.contains("SY-NOPE"), "{why:?}");
    let no_row = why.iter().find(|(no, _)| *no == sns[11]).expect("listed");
    assert!(no_row.1.contains("no order_links row"), "{why:?}");
    // A bad argument is refused naming it.
    let (code, _, err) = w.cli(&["link", "add", "--from", "lb", "--to", "ym:1"]);
    assert_ne!(code, 0);
    assert!(err.contains("--from") && err.contains("SHOP:ORDER_NO"), "{err}");
}

/// The supplier cancels two orders: with `on_supplier_cancel` unset, each raises an alert
/// (shown by `status`) and nothing is pushed; configured `cancel`, the storefront order is
/// cancelled by one push, whatever the number of passes.
#[tokio::test(flavor = "multi_thread")]
async fn a_supplier_cancel_raises_an_alert_and_cancels_only_when_configured() {
    let w = World::new(4, 71).await;
    let link = |extra: &str| format!("[[links]]\nfrom = \"lb\"\nto = \"ym\"\n{extra}\n");
    w.write_config(&link(""));
    let sns: Vec<String> = w.storefront.iter().map(|no| w.lb.add_order_for(LB, Some(no))).collect();
    let rt = w.runtime();
    pass(&rt, "ym", Stream::Orders).await;
    pass(&rt, "lb", Stream::Orders).await;
    assert!(w.lb.set_order_status(LB, &sns[0], 7, 1), "supplier cancels");
    let refund = w.lb.add_refund(LB, &sns[1]);
    assert!(!refund.is_empty());
    pass(&rt, "lb", Stream::Orders).await;
    pass(&rt, "lb", Stream::Refunds).await;
    flush(&rt).await;
    let store = w.dir.reader();
    assert_eq!(count(store, "SELECT COUNT(*) FROM outbox"), 0, "an alert only: nothing pushed");
    let alerts = store.link_alerts().unwrap();
    let kinds: Vec<(&str, &str)> = alerts.iter().map(|a| (a.to_order.as_str(), a.kind.as_str())).collect();
    assert_eq!(
        kinds,
        [(w.storefront[1].as_str(), "supplier_refund"), (w.storefront[0].as_str(), "supplier_cancelled")]
    );
    let (code, out, err) = w.cli(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("LINK ALERTS") && out.contains(&format!("ym:{}", w.storefront[0])), "{out}");
    assert!(w.ym.applied_pushes().is_empty());

    // Configured to cancel: the next cancel cancels its storefront order, once.
    w.write_config(&link("on_supplier_cancel = \"cancel\""));
    let rt = w.runtime();
    assert!(w.lb.set_order_status(LB, &sns[2], 7, 1));
    for _ in 0..3 {
        pass(&rt, "lb", Stream::Orders).await;
        flush(&rt).await;
        pass(&rt, "ym", Stream::Orders).await;
    }
    let cancels: Vec<String> =
        w.ym.applied_pushes()
            .into_iter()
            .filter(|p| p.kind == "status")
            .map(|p| {
                format!(
                    "{} {}",
                    p.order_no,
                    p.entry.get("status").map(|s| s.to_string()).unwrap_or_default().trim_matches('"')
                )
            })
            .collect();
    // sns[0]'s cancel was seen under "alert": it stays an alert, the new setting is not retroactive.
    assert_eq!(
        cancels,
        [format!("{} 600", w.storefront[2])],
        "the cancelled supplier order cancels its storefront order once"
    );
    let truth = w.ym.truth_orders(YM);
    let status = |no: &str| truth.iter().find(|t| t.itemno == no).map(|t| t.order_status);
    assert_eq!(status(&w.storefront[2]), Some(600));
    assert_eq!(status(&w.storefront[1]), Some(200), "a refund cancels nothing");
    assert_eq!(status(&w.storefront[3]), Some(200));
}

/// `check` refuses a link with an unknown shop, two seller-side shops, a buyer-side storefront,
/// a cancel the storefront cannot take, a match the supplier cannot read; each names its key.
#[test]
fn check_refuses_bad_links_naming_the_key() {
    let dir = TestDir::new();
    let token = dir.secret("t", "x");
    let shops = format!(
        r#"
[[shops]]
id = "ym"
platform = "ymcart"
base_url = "http://127.0.0.1:9"
token_file = "{token}"
[[shops]]
id = "gm"
platform = "guanmai"
base_url = "http://127.0.0.1:9"
access_id_file = "{token}"
secret_file = "{token}"
[[shops]]
id = "lb"
platform = "liangben"
base_url = "http://127.0.0.1:9"
token_file = "{token}"
[[shops]]
id = "ss"
platform = "shopsuite"
base_url = "http://127.0.0.1:9"
token_file = "{token}"
"#
    );
    let check = |links: &str| {
        dir.write_config(&format!("{shops}\n{links}"));
        let out = Command::new(env!("CARGO_BIN_EXE_ordersync"))
            .arg("--config")
            .arg(&dir.config_path)
            .arg("check")
            .output()
            .expect("check runs");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let cases: &[(&str, &str, &str)] = &[
        ("from = \"nope\"\nto = \"ym\"", "links[0].from", "unknown shop `nope`"),
        ("from = \"ym\"\nto = \"gm\"", "links[0].from", "both ends are seller-side shops"),
        ("from = \"lb\"\nto = \"ss\"", "links[0].to", "cannot take a forwarded shipment"),
        (
            "from = \"lb\"\nto = \"gm\"\non_supplier_cancel = \"cancel\"",
            "links[0].on_supplier_cancel",
            "guanmai cannot cancel",
        ),
        ("from = \"ss\"\nto = \"ym\"", "links[0].match", "shopsuite orders carry no external order number"),
        ("from = \"lb\"\nto = \"ym\"\nmatch = \"message\"", "links[0].match", "liangben orders carry no message"),
        ("from = \"ss\"\nto = \"ym\"\nmatch = \"message\"\npattern = \"no mark\"", "links[0].pattern", "`{no}`"),
        ("from = \"lb\"\nto = \"ym\"\nmatch = \"fuzzy\"", "links[0].match", "unknown match `fuzzy`"),
        ("from = \"lb\"\nto = \"ym\"\ncarriers = { \"中通\" = 5 }", "links[0].carriers.中通", "expected a string"),
    ];
    for (link, key, what) in cases {
        let (code, err) = check(&format!("[[links]]\n{link}\n"));
        assert_eq!(code, Some(1), "refused: {link}\n{err}");
        let named = err.lines().any(|l| l.contains(&format!(": {key}: ")) && l.contains(what));
        assert!(named, "{key}: {what}: {err}");
    }
    // A link's problem is listed with the file's other problems, not after they are fixed.
    let (code, err) = check("[[links]]\nfrom = \"ym\"\nto = \"gm\"\n[reports]\nevery = 1\n");
    assert_eq!(code, Some(1));
    assert!(err.contains(": links[0].from: ") && err.contains(": reports: unknown key"), "{err}");
    // The good ones pass, a Guanmai storefront (moved to shipped) included.
    let (code, err) = check(
        "[[links]]\nfrom = \"lb\"\nto = \"ym\"\ncarriers = { \"中通\" = \"ZTO\" }\non_supplier_cancel = \"cancel\"\n\
         [[links]]\nfrom = \"ss\"\nto = \"gm\"\nmatch = \"message\"\npattern = \"PO{no}\"\n\
         [[links]]\nfrom = \"lb\"\nto = \"gm\"\nmatch = \"table\"\n",
    );
    assert_eq!(code, Some(0), "{err}");
}

/// A Guanmai storefront takes no ship push: its order is moved to shipped (status 10), once for
/// all parcels, where that move is legal (from 1 waiting for outbound or 5 sorting); an order
/// already delivering or signed for is left alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_guanmai_storefront_is_moved_to_shipped_where_legal() {
    use ordersync::sim::guanmai::GmSim;
    let gm = GmSim::new(91);
    gm.add_shop("lk-gm", "lk-gm-secret", 0, 1);
    let ids = gm.add_orders("lk-gm", 5);
    for (id, status) in ids.iter().zip([1, 5, 10, 15, 1]) {
        assert!(gm.set_status("lk-gm", id, status));
    }
    let lb = LbSim::new(92);
    lb.add_shop(LB, 0, 1);
    for (i, id) in ids.iter().enumerate() {
        let sn = lb.add_order_for(LB, Some(id));
        lb.ship_parcels(LB, &sn, if i == 4 { 2 } else { 1 }, "中通");
    }
    let servers = (gm.serve().await.unwrap(), lb.serve().await.unwrap());
    let dir = TestDir::new();
    dir.write_config(&format!(
        r#"
[[shops]]
id = "gm"
platform = "guanmai"
base_url = "{gm_url}"
access_id_file = "{gm_id}"
secret_file = "{gm_secret}"
rate_limit_per_sec = 100
backfill_days = 2
lookback_days = 2
[shops.schedule]
orders = "0 0 * * * *"

[[shops]]
id = "lb"
platform = "liangben"
base_url = "{lb_url}"
token_file = "{lb_token}"
rate_limit_per_sec = 100
backfill_days = 2
[shops.schedule]
orders = "0 0 * * * *"
shipments = "0 0 * * * *"

[[links]]
from = "lb"
to = "gm"
"#,
        gm_url = servers.0.base_url(),
        gm_id = dir.secret("gm.id", "lk-gm"),
        gm_secret = dir.secret("gm.secret", "lk-gm-secret"),
        lb_url = servers.1.base_url(),
        lb_token = dir.secret("lb.token", LB),
    ));
    let rt = dir.runtime();
    pass(&rt, "gm", Stream::Orders).await;
    pass(&rt, "lb", Stream::Orders).await;
    pass(&rt, "lb", Stream::Shipments).await;
    flush(&rt).await;
    pass(&rt, "gm", Stream::Orders).await;
    pass(&rt, "lb", Stream::Shipments).await;
    flush(&rt).await;
    let mut moved: Vec<(String, String)> = gm
        .applied_pushes()
        .into_iter()
        .map(|p| (p.order_no, p.entry.get("status").map(|s| s.to_string()).unwrap_or_default()))
        .collect();
    moved.sort();
    let mut want: Vec<(String, String)> =
        [&ids[0], &ids[1], &ids[4]].into_iter().map(|id| (id.clone(), "\"10\"".to_string())).collect();
    want.sort();
    assert_eq!(moved, want, "moved to shipped once each, where legal");
    let truth = gm.truth_orders("lk-gm");
    for id in [&ids[0], &ids[1], &ids[4]] {
        assert_eq!(truth.iter().find(|t| t.order_id == *id).map(|t| t.status), Some(10), "{id} delivering");
    }
    let figures = dir.reader().link_figures("lb", "gm").unwrap();
    assert_eq!((figures.matched, figures.forwarded, figures.skipped, figures.waiting), (5, 4, 2, 0));
}
