//! SIGKILL of the real daemon between a supplier sync and the pushes it causes: the supplier's
//! shipments (some in two parcels, one tracking number corrected) still reach the storefront
//! simulator exactly once each, the corrected number as a push of its own. Forwards commit with
//! the supplier's rows, so a kill can leave rows only with their pushes, and the outbox's dedupe
//! key and read-back keep a push from landing twice.

mod common;

use common::{count, TestDir};
use ordersync::sim::{liangben::LbSim, ymcart::YmSim, Faults, Simulator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

const YM: &str = "lkc-ym";
const LB: &str = "lkc-lb";
const ROUNDS: usize = 6;

/// Every ship push the storefront applied: (order, carrier, tracking) → times.
fn applied(ym: &YmSim) -> BTreeMap<(String, String, String), usize> {
    let mut out = BTreeMap::new();
    for p in ym.applied_pushes().into_iter().filter(|p| p.kind == "ship") {
        let field = |k: &str| p.entry.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        *out.entry((p.order_no.clone(), field("shipping_corp_name"), field("delivery_no"))).or_default() += 1;
    }
    out
}

/// What the storefront must have received: each supplier tracking number of a linked order once.
fn expected(lb: &LbSim, linked: &BTreeMap<String, String>) -> BTreeMap<(String, String, String), usize> {
    let mut out = BTreeMap::new();
    for r in lb.truth_outbound(LB) {
        if let Some(to) = linked.get(&r.order_sn) {
            out.insert((to.clone(), r.express_company, r.express_sn), 1);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_between_supplier_sync_and_push_loses_nothing_and_forwards_nothing_twice() {
    let ym = YmSim::new(301);
    ym.add_shop(YM, 0, 1);
    let storefront = ym.add_orders(YM, 60);
    for no in &storefront {
        assert!(ym.touch_order(YM, no, 200));
    }
    let lb = LbSim::new(302);
    lb.add_shop(LB, 0, 1);
    let linked: BTreeMap<String, String> =
        storefront.iter().map(|no| (lb.add_order_for(LB, Some(no)), no.clone())).collect();
    // Half the answers come 300 ms after the work is done: a kill in that gap leaves a push
    // applied but unsettled, which only a read-back settles once.
    let slow = Faults { slow: 0.5, slow_ms: 300, slow_after: true, ..Faults::default() };
    ym.set_faults(slow.clone());
    lb.set_faults(slow);
    let servers = (ym.serve().await.unwrap(), lb.serve().await.unwrap());
    let dir = TestDir::new();
    let every = "\"* * * * * *\"";
    dir.write_config(&format!(
        r#"
[[shops]]
id = "ym"
platform = "ymcart"
base_url = "{ym_url}"
token_file = "{ym_token}"
rate_limit_per_sec = 100
backfill_days = 2
[shops.schedule]
orders = {every}

[[shops]]
id = "lb"
platform = "liangben"
base_url = "{lb_url}"
token_file = "{lb_token}"
rate_limit_per_sec = 100
backfill_days = 2
[shops.schedule]
orders = {every}
shipments = {every}

[[links]]
from = "lb"
to = "ym"
"#,
        ym_url = servers.0.base_url(),
        ym_token = dir.secret("ym", YM),
        lb_url = servers.1.base_url(),
        lb_token = dir.secret("lb", LB),
    ));

    let suppliers: Vec<String> = linked.keys().cloned().collect();
    let chunk = suppliers.len().div_ceil(ROUNDS);
    let mut rng = StdRng::seed_from_u64(2027);
    let mut kills_with_pending = 0;
    // The number before the correction, when a pass had queued it already (it is then delivered
    // too: a forward once queued is never withdrawn); None when the correction came first.
    let mut superseded: Option<(String, String, String)> = None;
    let mut corrected = false;
    for round in 0..ROUNDS {
        // The supplier ships the next orders, one in four in two parcels.
        for (i, sn) in suppliers.iter().skip(round * chunk).take(chunk).enumerate() {
            let parcels = if i % 4 == 0 { 2 } else { 1 };
            assert_eq!(lb.ship_parcels(LB, sn, parcels, "中通").len(), parcels);
        }
        // and corrects a number shipped in an earlier round (it may have been forwarded already).
        if round == 3 {
            let r = lb.truth_outbound(LB).into_iter().next().expect("shipped");
            let queued = count(
                dir.reader(),
                &format!(
                    "SELECT COUNT(*) FROM link_forwards WHERE tracking_no = '{}' AND state = 'queued'",
                    r.express_sn
                ),
            );
            if queued == 1 {
                superseded = Some((linked[&r.order_sn].clone(), r.express_company.clone(), r.express_sn.clone()));
            }
            assert!(lb.correct_tracking(LB, &r.purchase_sn, "CORRECTED-LKC"));
            corrected = true;
        }
        let mut child = dir.spawn_daemon();
        let pending = |dir: &TestDir| {
            dir.database_exists()
                && count(dir.reader(), "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'in_flight')") > 0
        };
        if round % 2 == 0 {
            // As soon as a supplier pass has queued forwards that are not delivered yet.
            let deadline = Instant::now() + Duration::from_secs(8);
            while !pending(&dir) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(500..2500))).await;
        }
        kills_with_pending += usize::from(pending(&dir));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
    }
    assert!(corrected);

    // The vendors calm down; one last daemon runs until every shipment is forwarded.
    ym.set_faults(Faults::default());
    lb.set_faults(Faults::default());
    let mut want = expected(&lb, &linked);
    assert_eq!(want.len(), 60 + 18, "60 orders, 18 in two parcels");
    assert!(want.keys().any(|k| k.2 == "CORRECTED-LKC"), "the corrected number is expected");
    eprintln!("number before the correction forwarded too: {superseded:?}");
    want.extend(superseded.map(|k| (k, 1)));
    let mut child = dir.spawn_daemon();
    let start = Instant::now();
    loop {
        let open = count(dir.reader(), "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'in_flight')");
        if open == 0 && applied(&ym).len() == want.len() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "not converged: {} of {} applied",
            applied(&ym).len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Command::new("sh").arg("-c").arg(format!("kill -TERM {}", child.id())).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));

    assert!(kills_with_pending >= 1, "at least one kill landed with forwards queued but not delivered");
    let got = applied(&ym);
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "applied more than once: {twice:?}");
    assert_eq!(got, want, "every supplier shipment reached the storefront exactly once");
    let store = dir.store();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox WHERE kind = 'ship' AND state = 'done'"), want.len() as i64);
    let figures = store.link_figures("lb", "ym").unwrap();
    assert_eq!((figures.matched, figures.forwarded, figures.waiting, figures.failed), (60, want.len() as u64, 0, 0));
}
