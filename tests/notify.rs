//! The daemon speaks systemd's notify protocol: READY=1 once the schedule is armed, WATCHDOG=1
//! from its main loop, a STATUS= line, STOPPING=1 on SIGTERM. A socket here stands in for systemd.

mod common;

use common::spawn_ymcart;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn ready_watchdog_status_and_stopping_reach_the_notify_socket() {
    let env = spawn_ymcart(20, 3, 111).await;
    let socket_path = env.dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&env.config_path)
        .arg("run")
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut messages: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let receive = |messages: &mut Vec<String>, buf: &mut [u8], until: Duration, done: &dyn Fn(&[String]) -> bool| {
        let start = Instant::now();
        while start.elapsed() < until && !done(messages) {
            if let Ok(n) = socket.recv(buf) {
                messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    };
    let pings = |m: &[String]| m.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    receive(&mut messages, &mut buf, Duration::from_secs(15), &|m| {
        m.iter().any(|x| x.contains("READY=1")) && pings(m) >= 3
    });
    assert!(messages.iter().any(|m| m.contains("READY=1") && m.contains("STATUS=1 shops")), "{messages:?}");
    assert!(pings(&messages) >= 3, "the watchdog is pinged every 200 ms (half of WATCHDOG_USEC): {messages:?}");
    assert!(messages.iter().any(|m| m.contains("STATUS=") && m.contains("outbox")), "{messages:?}");

    Command::new("sh").arg("-c").arg(format!("kill -TERM {}", child.id())).status().unwrap();
    receive(&mut messages, &mut buf, Duration::from_secs(10), &|m| m.iter().any(|x| x.contains("STOPPING=1")));
    assert!(messages.iter().any(|m| m.contains("STOPPING=1")), "{messages:?}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
