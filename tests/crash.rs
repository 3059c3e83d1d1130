//! SIGKILL at random moments (seeded) while the daemon syncs four platforms and delivers pushes
//! being enqueued: afterwards every order, line, shipment and refund equals the simulators' own
//! truth (their status tables, not the product's), the database is sound, every planned push
//! ended `done` and was applied exactly once at its simulator — an entry whose lease expired is
//! read back before it is sent again.

mod common;

use chrono::Utc;
use common::{count, stored_order, stored_refunds, stored_shipments, TestDir};
use ordersync::model::OrderStatus;
use ordersync::platforms::PushPayload;
use ordersync::sim::{guanmai::GmSim, liangben::LbSim, shopsuite::SsSim, ymcart::YmSim, Faults, Simulator};
use ordersync::store::NewEntry;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const YM: &str = "crash-ym";
const GM_ID: &str = "crash-gm";
const GM_SECRET: &str = "crash-gm-secret";
const LB: &str = "crash-lb";
const SS: &str = "crash-ss";
const KILLS: usize = 6;

fn status_push(shop: &str, order: &str, status: OrderStatus) -> NewEntry {
    NewEntry { shop_id: shop.into(), order_no: order.into(), payload: PushPayload::Status { status } }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_loses_nothing_and_applies_each_push_once() {
    killed_at_random(1, 2026).await;
}

/// Two daemons share the database (and the shops); a random one is killed each round.
#[tokio::test(flavor = "multi_thread")]
async fn two_instances_killed_at_random_never_run_one_pass_twice_at_once() {
    killed_at_random(2, 2027).await;
}

/// Three daemons share the database (and the shops); a random one is killed each round.
#[tokio::test(flavor = "multi_thread")]
async fn three_instances_killed_at_random_never_run_one_pass_twice_at_once() {
    killed_at_random(3, 2028).await;
}

/// `instances` daemons on one database; each round one of them, drawn from `seed`, is SIGKILLed
/// and started again. Afterwards the data equals the simulators' truth, every push was applied
/// exactly once, and no simulator saw two passes of one shop and stream sending at once.
async fn killed_at_random(instances: usize, seed: u64) {
    let ym = YmSim::new(101);
    ym.add_shop(YM, 150, 3);
    let gm = GmSim::new(102);
    gm.add_shop(GM_ID, GM_SECRET, 150, 3);
    let lb = LbSim::new(103);
    lb.add_shop(LB, 150, 3);
    let ss = SsSim::new(104);
    ss.add_shop(SS, 150, 3);
    // Half the answers come 300 ms after the work is done: a kill in that gap leaves a push
    // applied at the vendor but unsettled here, which only a read-back can settle once.
    let slow = Faults { slow: 0.5, slow_ms: 300, slow_after: true, ..Faults::default() };
    ym.set_faults(slow.clone());
    gm.set_faults(slow.clone());
    lb.set_faults(slow.clone());
    ss.set_faults(slow.clone());
    let servers =
        (ym.serve().await.unwrap(), gm.serve().await.unwrap(), lb.serve().await.unwrap(), ss.serve().await.unwrap());

    let dir = TestDir::new();
    let every = "\"* * * * * *\"";
    dir.write_config(&format!(
        r#"
[[shops]]
id = "ym"
platform = "ymcart"
base_url = "{ym_url}"
token_file = "{ym_token}"
rate_limit_per_sec = 50
backfill_days = 5
[shops.schedule]
orders = {every}
shipments = {every}

[[shops]]
id = "gm"
platform = "guanmai"
base_url = "{gm_url}"
access_id_file = "{gm_id}"
secret_file = "{gm_secret}"
rate_limit_per_sec = 50
backfill_days = 5
lookback_days = 5
[shops.schedule]
orders = {every}

[[shops]]
id = "lb"
platform = "liangben"
base_url = "{lb_url}"
token_file = "{lb_token}"
rate_limit_per_sec = 50
backfill_days = 5
[shops.schedule]
orders = {every}
shipments = {every}
refunds = {every}

[[shops]]
id = "ss"
platform = "shopsuite"
base_url = "{ss_url}"
token_file = "{ss_token}"
rate_limit_per_sec = 50
backfill_days = 5
lookback_days = 5
[shops.schedule]
orders = {every}
refunds = {every}
"#,
        ym_url = servers.0.base_url(),
        ym_token = dir.secret("ym", YM),
        gm_url = servers.1.base_url(),
        gm_id = dir.secret("gm.id", GM_ID),
        gm_secret = dir.secret("gm.secret", GM_SECRET),
        lb_url = servers.2.base_url(),
        lb_token = dir.secret("lb", LB),
        ss_url = servers.3.base_url(),
        ss_token = dir.secret("ss", SS),
    ));

    // What the warehouse and the buyer will ask for, decided up front and enqueued while the
    // daemon runs and dies.
    let mut plan: Vec<NewEntry> = Vec::new();
    for (i, o) in ym.order_nos_in_status(YM, 200).iter().take(25).enumerate() {
        let payload = PushPayload::Ship { carrier: "SF".into(), tracking: format!("CRASH{i:03}") };
        plan.push(NewEntry { shop_id: "ym".into(), order_no: o.clone(), payload });
    }
    plan.extend(
        gm.order_ids_in_status(GM_ID, 1).iter().take(10).map(|o| status_push("gm", o, OrderStatus::Processing)),
    );
    plan.extend(lb.order_sns_where(LB, 1, None).iter().take(10).map(|o| status_push("lb", o, OrderStatus::Cancelled)));
    plan.extend(ss.order_ids_in_state(SS, 2020).iter().take(6).map(|o| status_push("ss", o, OrderStatus::Cancelled)));
    plan.extend(ss.order_ids_in_state(SS, 2040).iter().take(6).map(|o| status_push("ss", o, OrderStatus::Completed)));
    assert!(plan.len() >= 50, "enough pushes planned: {}", plan.len());

    let mut rng = StdRng::seed_from_u64(seed);
    let mut kills_in_flight = 0;
    let chunk = plan.len().div_ceil(KILLS);
    let mut running: Vec<Child> = Vec::new();
    for round in 0..KILLS {
        while running.len() < instances {
            running.push(dir.spawn_daemon());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if dir.database_exists() {
            let mut store = dir.store();
            for entry in plan.iter().skip(round * chunk).take(chunk) {
                store.enqueue(entry, Utc::now()).expect("enqueue");
            }
        }
        // Odd rounds die at a seeded random moment; even ones as soon as a push is on the wire
        // (within a few seconds), so the worst moment is hit whatever the machine's speed.
        let in_flight = |dir: &TestDir| {
            dir.database_exists() && count(&dir.store(), "SELECT COUNT(*) FROM outbox WHERE state = 'in_flight'") > 0
        };
        if round % 2 == 1 {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(700..2500))).await;
        } else {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !in_flight(&dir) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        kills_in_flight += usize::from(in_flight(&dir));
        let mut victim = running.swap_remove(rng.gen_range(0..running.len()));
        victim.kill().expect("SIGKILL");
        victim.wait().unwrap();
    }
    // Whatever was not enqueued yet (a round that died before its database existed).
    {
        let mut store = dir.store();
        for entry in &plan {
            store.enqueue(entry, Utc::now()).unwrap();
        }
    }

    // The vendors calm down; one last daemon runs until everything converged.
    for f in [&ym as &dyn Simulator, &gm, &lb, &ss] {
        f.set_faults(Faults::default());
    }
    while running.len() < instances {
        running.push(dir.spawn_daemon());
    }
    let converged = |dir: &TestDir| {
        let store = dir.store();
        let open = count(&store, "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'in_flight')");
        let orders = count(&store, "SELECT COUNT(*) FROM orders");
        open == 0 && orders == 600 && differences(dir, &ym, &gm, &lb, &ss).is_empty()
    };
    let start = Instant::now();
    while !converged(&dir) {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "not converged: {:?}",
            differences(&dir, &ym, &gm, &lb, &ss)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // One more second of passes, then a clean stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for mut child in running {
        Command::new("sh").arg("-c").arg(format!("kill -TERM {}", child.id())).status().unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0), "a clean stop exits 0");
    }
    // Independent of the database: the vendors saw each shop × stream pass alone.
    for (name, sim) in [("ymcart", &ym as &dyn Simulator), ("guanmai", &gm), ("liangben", &lb), ("shopsuite", &ss)] {
        assert!(sim.core().pass_count() > 0, "{name}: passes name themselves");
        let overlaps = sim.core().overlapping_passes();
        assert!(overlaps.is_empty(), "{name}: passes of one shop and stream sent at once: {overlaps:?}");
    }

    let store = dir.store();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert!(kills_in_flight >= 1, "at least one kill landed while pushes were in flight");
    let mismatches = differences(&dir, &ym, &gm, &lb, &ss);
    assert!(mismatches.is_empty(), "every row equals the truth: {mismatches:?}");

    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox"), plan.len() as i64, "dedupe: each planned push once");
    // Every planned push is valid: each must end done, and be applied exactly once.
    let not_done: Vec<String> = store
        .outbox_list(None)
        .unwrap()
        .into_iter()
        .filter(|r| r.state != "done")
        .map(|r| format!("#{} {} {} {}: {:?}", r.id, r.shop_id, r.order_no, r.state, r.last_error))
        .collect();
    assert!(not_done.is_empty(), "every planned push ends done: {not_done:?}");
    let mut applied: HashMap<(String, String), usize> = HashMap::new();
    for (shop, sim) in [("ym", &ym as &dyn Simulator), ("gm", &gm), ("lb", &lb), ("ss", &ss)] {
        for p in sim.applied_pushes() {
            *applied.entry((shop.to_string(), p.order_no)).or_default() += 1;
        }
    }
    let total: usize = applied.values().sum();
    assert!(total >= plan.len(), "at least as many pushes applied ({total}) as planned ({})", plan.len());
    for entry in &plan {
        let n = applied.get(&(entry.shop_id.clone(), entry.order_no.clone())).copied().unwrap_or(0);
        assert_eq!(n, 1, "{} {} applied {n} times", entry.shop_id, entry.order_no);
    }
    assert_eq!(total, plan.len(), "nothing applied that was not planned");
}

/// Everything stored that differs from the simulators' own truth, as "shop/key: what".
/// Orders are compared by status, amounts and lines; shipments by order and tracking number;
/// refunds by order, status and amount. Expected statuses come from each simulator's table.
fn differences(dir: &TestDir, ym: &YmSim, gm: &GmSim, lb: &LbSim, ss: &SsSim) -> Vec<String> {
    type Line = (String, String, i64);
    let store = dir.store();
    let mut wrong = Vec::new();
    let mut order = |shop: &str, no: &str, status: &str, amounts: (i64, i64), lines: Vec<Line>| {
        let Some(row) = stored_order(&store, shop, no) else {
            wrong.push(format!("{shop}/{no}: not stored"));
            return;
        };
        let got_lines: Vec<Line> = row.lines.iter().map(|(sku, _, q, p)| (sku.clone(), q.clone(), *p)).collect();
        let got = (row.status.as_str(), (row.total_minor, row.shipping_minor), got_lines);
        if got != (status, amounts, lines.clone()) {
            wrong.push(format!("{shop}/{no}: stored {got:?}, truth {:?}", (status, amounts, lines)));
        }
    };
    for t in ym.truth_orders(YM) {
        let lines = t.lines.iter().map(|l| (l.sku.clone(), l.quantity.to_string(), l.unit_price_fen)).collect();
        order("ym", &t.itemno, t.unified_status, (t.total_fen, t.shipping_fen), lines);
    }
    for t in gm.truth_orders(GM_ID) {
        let lines = t.lines.iter().map(|l| (l.sku_id.clone(), l.quantity_exact.clone(), l.sale_price_fen)).collect();
        order("gm", &t.order_id, t.unified_status, (t.total_pay_fen, t.freight_fen), lines);
    }
    for t in lb.truth_orders(LB) {
        let lines = t.lines.iter().map(|l| (l.sku_id.clone(), l.num.to_string(), l.price_fen)).collect();
        order("lb", &t.order_sn, t.unified_status, (t.amount_fen, t.freight_fen), lines);
    }
    for t in ss.truth_orders(SS) {
        let lines = t.lines.iter().map(|l| (l.sku.clone(), l.quantity.to_string(), l.price_fen)).collect();
        order("ss", &t.order_id, t.unified_status, (t.total_fen, t.shipping_fen), lines);
    }
    // Shipments: id → (order, tracking number).
    let mut shipments = |shop: &str, truth: BTreeMap<String, (String, String)>| {
        let got: BTreeMap<String, (String, String)> = stored_shipments(&store, shop)
            .into_iter()
            .map(|(id, (o, _, t))| (id, (o.unwrap_or_default(), t.unwrap_or_default())))
            .collect();
        if got != truth {
            wrong.push(format!("{shop} shipments: {} stored, {} in truth, or fields differ", got.len(), truth.len()));
        }
    };
    shipments(
        "ym",
        ym.truth_deliveries(YM).into_iter().map(|d| (d.id.to_string(), (d.itemno, d.delivery_no))).collect(),
    );
    shipments("lb", lb.truth_outbound(LB).into_iter().map(|r| (r.purchase_sn, (r.order_sn, r.express_sn))).collect());
    shipments(
        "ss",
        ss.truth_orders(SS)
            .into_iter()
            .flat_map(|o| {
                let id = o.order_id.clone();
                o.logistics.into_iter().map(move |l| (l.id.to_string(), (id.clone(), l.tracking)))
            })
            .collect(),
    );
    shipments("gm", BTreeMap::new());
    // Refunds: id → (order, unified status, amount).
    let mut refunds = |shop: &str, truth: BTreeMap<String, (String, String, i64)>| {
        let got = stored_refunds(&store, shop);
        if got != truth {
            wrong.push(format!("{shop} refunds: {} stored, {} in truth, or fields differ", got.len(), truth.len()));
        }
    };
    refunds(
        "lb",
        lb.truth_refunds(LB)
            .into_iter()
            .map(|r| (r.refund_sn, (r.order_sn, r.unified_status.to_string(), r.amount_fen)))
            .collect(),
    );
    refunds(
        "ss",
        ss.truth_returns(SS)
            .into_iter()
            .map(|r| (r.return_id, (r.order_id, r.unified_status.to_string(), r.amount_fen)))
            .collect(),
    );
    wrong
}
