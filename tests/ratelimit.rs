//! A shop's rate limit holds across all its streams and its pushes at once.

mod common;

use chrono::Utc;
use common::{spawn_ymcart, SHOP, TOKEN};
use ordersync::model::Stream;
use ordersync::platforms::PushPayload;
use ordersync::push::flush_all;
use ordersync::sim::Simulator;
use ordersync::store::NewEntry;
use ordersync::sync::run_pass;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread")]
async fn five_per_second_is_never_exceeded_by_streams_and_pushes_together() {
    let env = spawn_ymcart(400, 20, 13).await;
    env.write_config(5, "");
    let paid = env.sim.order_nos_in_status(TOKEN, 200);
    let mut store = env.store();
    // Distinct orders in separate kinds make several push requests.
    for (i, order) in paid.iter().take(60).enumerate() {
        let payload = PushPayload::Remark { text: format!("note {i}") };
        store.enqueue(&NewEntry { shop_id: SHOP.into(), order_no: order.clone(), payload }, Utc::now()).unwrap();
    }
    let rt = env.runtime();
    let shop = rt.shop(SHOP).unwrap().clone();
    let cancel = CancellationToken::new();
    let (a, b, c) = tokio::join!(
        run_pass(&rt, &shop, Stream::Orders, &cancel),
        run_pass(&rt, &shop, Stream::Shipments, &cancel),
        flush_all(&rt, &cancel)
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();

    let times: Vec<_> = env.sim.requests().iter().map(|r| r.at).collect();
    assert!(times.len() >= 15, "enough requests to test the limit ({})", times.len());
    let mut worst = 0;
    for t in &times {
        let in_second = times.iter().filter(|u| **u >= *t && u.duration_since(*t) < Duration::from_secs(1)).count();
        worst = worst.max(in_second);
    }
    assert!(worst <= 5, "{worst} requests within one second");
}
