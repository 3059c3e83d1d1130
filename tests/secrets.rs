//! Secrets never appear in output, logs (even at `trace`), the database or `status --json`.

mod common;

use common::{snapshot, TestDir};
use ordersync::sim::{guanmai::GmSim, liangben::LbSim, shopsuite::SsSim, ymcart::YmSim};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const YM: &str = "SECRET-ym-7f3a91";
const GM_ID: &str = "SECRET-gm-id-55c2";
const GM_SECRET: &str = "SECRET-gm-key-0b8e";
const LB: &str = "SECRET-lb-d41d8c";
const SS: &str = "SECRET-ss-9e107d";
const ALL: [&str; 5] = [YM, GM_ID, GM_SECRET, LB, SS];

fn run(dir: &TestDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&dir.config_path)
        .args(args)
        .env("RUST_LOG", "trace")
        .env("ORDERSYNC_SECRET_LB", LB)
        .output()
        .expect("binary runs")
}

fn assert_clean(what: &str, text: &str) {
    for secret in ALL {
        assert!(
            !text.contains(secret),
            "{what} shows a secret: {}",
            &text[text.find(secret).unwrap_or(0).saturating_sub(200)..]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_command_shows_a_secret_anywhere() {
    let ym = YmSim::new(91);
    ym.add_shop(YM, 40, 5);
    let gm = GmSim::new(92);
    gm.add_shop(GM_ID, GM_SECRET, 40, 5);
    let lb = LbSim::new(93);
    lb.add_shop(LB, 40, 5);
    let ss = SsSim::new(94);
    ss.add_shop(SS, 40, 5);
    let (ym_h, gm_h, lb_h, ss_h) =
        (ym.serve().await.unwrap(), gm.serve().await.unwrap(), lb.serve().await.unwrap(), ss.serve().await.unwrap());
    let dir = TestDir::new();
    let shops = format!(
        r#"
[[shops]]
id = "ym"
platform = "ymcart"
base_url = "{}"
token_file = "{}"
[shops.schedule]
orders = "* * * * * *"
shipments = "* * * * * *"

[[shops]]
id = "gm"
platform = "guanmai"
base_url = "{}"
access_id_file = "{}"
secret_file = "{}"
[shops.schedule]
orders = "* * * * * *"

[[shops]]
id = "lb"
platform = "liangben"
base_url = "{}"
token = "${{ORDERSYNC_SECRET_LB}}"
[shops.schedule]
orders = "* * * * * *"
shipments = "* * * * * *"
refunds = "* * * * * *"

[[shops]]
id = "ss"
platform = "shopsuite"
base_url = "{}"
token_file = "{}"
[shops.schedule]
orders = "* * * * * *"
refunds = "* * * * * *"
"#,
        ym_h.base_url(),
        dir.secret("ym", YM),
        gm_h.base_url(),
        dir.secret("gm.id", GM_ID),
        dir.secret("gm.secret", GM_SECRET),
        lb_h.base_url(),
        ss_h.base_url(),
        dir.secret("ss", SS),
    );
    dir.write_config(&shops);

    let mut outputs = Vec::new();
    outputs.push(("check", run(&dir, &["check"])));
    outputs.push(("sync", run(&dir, &["sync"])));
    let ym_order = ym.order_nos_in_status(YM, 200)[0].clone();
    let gm_order = gm.order_ids_in_status(GM_ID, 1)[0].clone();
    let lb_order = lb.order_sns_where(LB, 1, None)[0].clone();
    let ss_order = ss.order_ids_in_state(SS, 2011)[0].clone();
    outputs.push((
        "push ship",
        run(&dir, &["push", "ship", "--shop", "ym", "--order", &ym_order, "--carrier", "SF", "--tracking", "T1"]),
    ));
    outputs.push((
        "push gm",
        run(&dir, &["push", "status", "--shop", "gm", "--order", &gm_order, "--status", "processing"]),
    ));
    outputs.push((
        "push lb",
        run(&dir, &["push", "status", "--shop", "lb", "--order", &lb_order, "--status", "cancelled"]),
    ));
    outputs.push((
        "push ss",
        run(&dir, &["push", "status", "--shop", "ss", "--order", &ss_order, "--status", "cancelled"]),
    ));
    outputs.push(("flush", run(&dir, &["flush"])));
    outputs.push(("status", run(&dir, &["status"])));
    outputs.push(("status --json", run(&dir, &["status", "--json"])));
    outputs.push(("outbox list", run(&dir, &["outbox", "list", "--json"])));
    outputs.push(("resync", run(&dir, &["resync", "--shop", "gm", "--since", "2026-01-01"])));
    outputs.push(("capabilities", run(&dir, &["capabilities"])));

    // The daemon for two seconds, then SIGTERM.
    let child = Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(&dir.config_path)
        .arg("run")
        .env("RUST_LOG", "trace")
        .env("ORDERSYNC_SECRET_LB", LB)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    Command::new("sh").arg("-c").arg(format!("kill -TERM {}", child.id())).status().unwrap();
    outputs.push(("run", child.wait_with_output().unwrap()));

    // A broken file while the secrets are set: the errors name keys, never values.
    std::fs::write(
        &dir.config_path,
        std::fs::read_to_string(&dir.config_path).unwrap().replace("platform = \"guanmai\"", "platform = 7"),
    )
    .unwrap();
    outputs.push(("check (broken)", run(&dir, &["check"])));

    let mut trace_lines = 0;
    for (what, out) in &outputs {
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        trace_lines += text.lines().filter(|l| l.contains("TRACE")).count();
        assert_clean(what, &text);
        // Guanmai's short-lived access token travels in the query string: no URL with it is logged.
        assert!(!text.contains("access_token="), "{what} logs a URL with the access token");
    }
    assert!(trace_lines > 0, "the commands really logged at trace level");
    let synced = outputs.iter().find(|(w, _)| *w == "sync").map(|(_, o)| o.status.success());
    assert_eq!(synced, Some(true), "the sync worked, so the secrets were really used");

    let store = dir.store();
    for table in [
        "orders",
        "order_lines",
        "shipments",
        "refunds",
        "status_changes",
        "sync_state",
        "sync_runs",
        "outbox",
        "rejected_records",
    ] {
        assert_clean(table, &snapshot(&store, table).join("\n"));
    }
}
