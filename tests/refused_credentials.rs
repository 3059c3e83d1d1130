//! A refused Guanmai secret is one clear error per pass, never a retry storm: the token call is
//! made once, nothing else is asked, and the next pass (after the admin fixed the file) syncs.

mod common;

use common::{count, TestDir, SHOP};
use ordersync::model::Stream;
use ordersync::sim::guanmai::GmSim;
use ordersync::sim::Simulator;
use ordersync::sync::run_pass;
use tokio_util::sync::CancellationToken;

const ACCESS_ID: &str = "gm-refused";
const SECRET: &str = "the-right-secret";

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_guanmai_secret_is_one_clear_error_and_no_retry_storm() {
    let sim = GmSim::new(811);
    sim.add_shop(ACCESS_ID, SECRET, 30, 3);
    let server = sim.serve().await.unwrap();
    let dir = TestDir::new();
    let write = |secret: &str| {
        let (id, secret) = (dir.secret("gm.id", ACCESS_ID), dir.secret("gm.secret", secret));
        dir.write_config(&format!(
            "[[shops]]\nid = \"{SHOP}\"\nplatform = \"guanmai\"\nbase_url = \"{}\"\naccess_id_file = \"{id}\"\n\
             secret_file = \"{secret}\"\nrate_limit_per_sec = 100\n[shops.schedule]\norders = \"0 * * * * *\"\n",
            server.base_url()
        ));
    };
    write("a-wrong-secret");
    for pass in 1..=2 {
        sim.clear_requests();
        let rt = dir.runtime();
        let shop = rt.shop(SHOP).expect("shop").clone();
        let err = run_pass(&rt, &shop, Stream::Orders, &CancellationToken::new()).await.expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("credentials refused") && text.contains(SHOP), "pass {pass}: {text}");
        assert!(!text.contains("a-wrong-secret"), "the secret is never shown: {text}");
        let asked: Vec<String> = sim.requests().into_iter().map(|r| r.endpoint).collect();
        assert_eq!(asked, ["/openapi/auth/access_token"], "pass {pass}: one token call, no retries, nothing else");
    }
    write(SECRET);
    let rt = dir.runtime();
    let shop = rt.shop(SHOP).expect("shop").clone();
    run_pass(&rt, &shop, Stream::Orders, &CancellationToken::new()).await.expect("the fixed secret syncs");
    assert_eq!(count(&dir.store(), "SELECT COUNT(*) FROM orders"), 30);
}
