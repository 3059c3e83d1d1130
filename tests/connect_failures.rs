//! A vendor that cannot be reached: a closed port (refused at once) and a port whose listener never
//! completes a handshake (the connect timeout). Each is retried `http.retries` times, then reported
//! as a clear pass error naming the path; nothing reaches any address but 127.0.0.1.

mod common;

use common::{TestDir, SHOP};
use ordersync::model::Stream;
use ordersync::sync::run_pass;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const RETRIES: u32 = 2;

fn config(dir: &TestDir, addr: SocketAddr) {
    let token = dir.secret("ym.token", "t");
    dir.write_config_with(
        &format!("[http]\nretries = {RETRIES}\nretry_initial_ms = 10\nconnect_timeout_secs = 1\nrequest_timeout_secs = 5\n"),
        &format!(
            "[[shops]]\nid = \"{SHOP}\"\nplatform = \"ymcart\"\nbase_url = \"http://{addr}\"\ntoken_file = \"{token}\"\n\
             [shops.schedule]\norders = \"0 * * * * *\"\n"
        ),
    );
}

/// Attempts this process made to `shop` that ended with `outcome`, from the request counter.
fn attempts(outcome: &str) -> u64 {
    let m = &ordersync::metrics::METRICS;
    m.requests.with_label_values(&[SHOP, "/api-erp-orderList.html", outcome]).get()
}

async fn failing_pass(dir: &TestDir) -> (String, Duration) {
    let rt = dir.runtime();
    let shop = rt.shop(SHOP).expect("shop").clone();
    let started = Instant::now();
    let err = run_pass(&rt, &shop, Stream::Orders, &CancellationToken::new()).await.expect_err("unreachable");
    (err.to_string(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_vendors_are_retried_then_reported() {
    // A closed port: bound, then released, so nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = TestDir::new();
    config(&dir, closed);
    let before = attempts("connect");
    let (err, _) = failing_pass(&dir).await;
    assert!(err.contains("cannot connect") && err.contains("/api-erp-orderList.html"), "{err}");
    assert_eq!(attempts("connect") - before, u64::from(RETRIES) + 1, "retried, then reported");

    // A listener with a one-slot backlog that never accepts: once the slot is taken, new
    // handshakes get no answer and only the connect timeout (1 s) ends them.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    let full = loop {
        match tokio::time::timeout(Duration::from_millis(300), tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) if held.len() < 64 => held.push(stream),
            Ok(_) => break false,
            Err(_) => break true,
        }
    };
    if !full {
        common::skip("this kernel completes every loopback handshake, so no connect can time out");
        return;
    }
    let dir = TestDir::new();
    config(&dir, addr);
    let before = attempts("timeout");
    let (err, took) = failing_pass(&dir).await;
    assert!(err.contains("timed out") && err.contains("/api-erp-orderList.html"), "{err}");
    assert_eq!(attempts("timeout") - before, u64::from(RETRIES) + 1, "retried, then reported");
    assert!(took >= Duration::from_secs(u64::from(RETRIES) + 1), "each attempt waited out connect_timeout_secs");
    drop((held, listener));
}
