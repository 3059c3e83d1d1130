//! The binary as an admin uses it: `check` on broken files, and a daemon that survives a bad
//! reload and drains on SIGTERM.

mod common;

use common::{count, spawn_ymcart};
use ordersync::sim::Simulator;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ordersync(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ordersync")).arg("--config").arg(config).args(args).output().expect("binary runs")
}

fn check_file(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ordersync.toml");
    std::fs::write(&path, text).unwrap();
    let out = ordersync(&path, &["check"]);
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

const GOOD_SHOP: &str = r#"
[daemon]
database = "x.db"
[[shops]]
id = "ym-main"
platform = "ymcart"
base_url = "http://127.0.0.1:9"
token = "${ORDERSYNC_CLI_TEST_TOKEN}"
[shops.schedule]
orders = "0 */5 * * * *"
"#;

#[test]
fn check_names_the_key_of_each_problem() {
    std::env::set_var("ORDERSYNC_CLI_TEST_TOKEN", "secret-value-123");
    let (code, err) = check_file(GOOD_SHOP);
    assert_eq!(code, 0, "{err}");

    let cases = [
        (GOOD_SHOP.replace("\"ymcart\"", "\"amazon\""), "shops[0].platform"),
        (GOOD_SHOP.replace("0 */5 * * * *", "0 */5 * * * * * *"), "shops[0].schedule.orders"),
        (GOOD_SHOP.replace("ORDERSYNC_CLI_TEST_TOKEN", "ORDERSYNC_CLI_TEST_UNSET"), "shops[0].token"),
        (
            GOOD_SHOP.replace("id = \"ym-main\"", "id = \"ym-main\"\nrate_limit_per_sec = \"five\""),
            "shops[0].rate_limit_per_sec",
        ),
        (GOOD_SHOP.replace("orders = ", "refunds = "), "shops[0].schedule.refunds"),
    ];
    for (text, key) in cases {
        let (code, err) = check_file(&text);
        assert_eq!(code, 1, "broken file must fail for {key}: {err}");
        assert!(err.contains(key), "error must name `{key}`: {err}");
        assert!(!err.contains("secret-value-123"), "secrets never print");
    }
}

fn spawn_daemon(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ordersync"))
        .arg("--config")
        .arg(config)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("daemon starts")
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("sh").arg("-c").arg(format!("kill -{sig} {}", child.id())).status().unwrap().success();
    assert!(ok);
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_reload_keeps_the_old_schedule_and_sigterm_exits_zero() {
    let env = spawn_ymcart(50, 5, 2).await;
    let mut child = spawn_daemon(&env.config_path);
    let runs = |env: &common::TestEnv| count(&env.store(), "SELECT COUNT(*) FROM sync_runs WHERE ok = 1");
    wait_until("first passes", Duration::from_secs(30), || env.test_dir.database_exists() && runs(&env) >= 2);

    std::fs::write(&env.config_path, "[daemon]\ndatabase = 5\n[[shops]]\nplatform = \"nope\"\n").unwrap();
    signal(&child, "HUP");
    let before = runs(&env);
    wait_until("passes after the refused reload", Duration::from_secs(30), || runs(&env) >= before + 2);
    assert!(child.try_wait().unwrap().is_none(), "daemon still running");

    signal(&child, "TERM");
    let status = child.wait().unwrap();
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(log.contains("configuration refused"), "the refusal is logged: {log}");
    assert!(log.contains("daemon.database"), "the refusal names the key: {log}");
    assert_eq!(status.code(), Some(0), "SIGTERM drains and exits 0");
}

#[tokio::test(flavor = "multi_thread")]
async fn push_refuses_what_the_platform_cannot_take_and_dedupes() {
    let env = spawn_ymcart(20, 5, 6).await;
    let cfg = &env.config_path;
    let out = ordersync(cfg, &["push", "status", "--shop", common::SHOP, "--order", "SY1", "--status", "shipped"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be moved to `shipped`"), "{err}");

    let out =
        ordersync(cfg, &["push", "ship", "--shop", "nope", "--order", "SY1", "--carrier", "SF", "--tracking", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no shop `nope`"));

    let args = ["push", "ship", "--shop", common::SHOP, "--order", "SY1", "--carrier", "SF", "--tracking", "T1"];
    assert!(String::from_utf8_lossy(&ordersync(cfg, &args).stdout).contains("enqueued as outbox #1"));
    assert!(String::from_utf8_lossy(&ordersync(cfg, &args).stdout).contains("already enqueued as outbox #1"));

    // The order does not exist at the platform: the flush leaves a dead letter, which --check reports.
    let out = ordersync(cfg, &["flush"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ordersync(cfg, &["status", "--json", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(report["dead_letters"], 1);
    let out = ordersync(cfg, &["outbox", "list", "--state", "failed"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("order_404"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_fails_one_shop_clearly_while_the_other_syncs() {
    let env = spawn_ymcart(120, 10, 12).await;
    std::fs::write(env.dir.join("bad.token"), "wrong").unwrap();
    let mut text = std::fs::read_to_string(&env.config_path).unwrap();
    text.push_str(&format!(
        "\n[[shops]]\nid = \"ym-bad\"\nplatform = \"ymcart\"\nbase_url = \"{}\"\ntoken_file = \"{}\"\n[shops.schedule]\norders = \"0 * * * * *\"\n",
        env.handle.base_url(),
        env.dir.join("bad.token").display()
    ));
    std::fs::write(&env.config_path, text).unwrap();
    let out = ordersync(&env.config_path, &["sync", "--stream", "orders"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shop `ym-bad`") && err.contains("credentials refused"), "{err}");
    assert!(!err.contains("wrong"), "the token never prints: {err}");
    assert_eq!(count(&env.store(), "SELECT COUNT(*) FROM orders WHERE shop_id = 'ym-test'"), 120);
    // One request for the bad shop: a refused token is not retried.
    let bad = env.sim.requests().iter().filter(|r| r.shop == "wrong").count();
    assert_eq!(bad, 1);
    let out = ordersync(&env.config_path, &["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("credentials refused"));
}

#[test]
fn capabilities_lists_each_platform_and_its_gaps() {
    let out = Command::new(env!("CARGO_BIN_EXE_ordersync")).arg("capabilities").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("ymcart") && text.contains("no refunds: YMCart has no refund list"), "{text}");
}

/// A good file for the malformed-file tests: every platform, options, env and file secrets.
fn good_file(dir: &std::path::Path) -> String {
    let secret = dir.join("s.token");
    std::fs::write(&secret, "x").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    format!(
        r#"[daemon]
database = "x.db"
timezone = "Asia/Shanghai"
[push]
schedule = "*/30 * * * * *"
[[shops]]
id = "ym"
platform = "ymcart"
base_url = "http://127.0.0.1:9"
token = "${{ORDERSYNC_CLI_TEST_TOKEN}}"
rate_limit_per_sec = 5
[shops.schedule]
orders = "0 */5 * * * *"
[[shops]]
id = "ss"
platform = "shopsuite"
base_url = "http://127.0.0.1:9"
token_file = "{}"
[shops.options]
cancel_reason = "dup"
[shops.schedule]
orders = "*/5 * * * *"
"#,
        secret.display()
    )
}

#[test]
fn each_malformed_file_gives_one_clear_error_naming_the_key() {
    std::env::set_var("ORDERSYNC_CLI_TEST_TOKEN", "secret-value-123");
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let cases: Vec<(String, &str, &str)> = vec![
        (
            good.replace("rate_limit_per_sec = 5", "rate_limit_per_sec = \"five\""),
            "shops[0].rate_limit_per_sec",
            "integer",
        ),
        (good.replace("rate_limit_per_sec = 5", "rate_limit_per_sec = -5"), "shops[0].rate_limit_per_sec", ""),
        (good.replace("id = \"ss\"", "id = \"ym\""), "shops[1].id", "ym"),
        (good.replace("rate_limit_per_sec = 5", "rate_limt_per_sec = 5"), "rate_limt_per_sec", "rate_limit_per_sec"),
        (good.replace("orders = \"0 */5 * * * *\"", "orders = \"0 0 0 30 2 *\""), "shops[0].schedule.orders", "never"),
        (good.replace("Asia/Shanghai", "Asia/Shanghia"), "daemon.timezone", "Asia/Shanghia"),
        (good.replace("http://127.0.0.1:9\"\ntoken =", "ftp://x\"\ntoken ="), "shops[0].base_url", ""),
        (good.replace("cancel_reason", "cancel_reasn"), "shops[1].options.cancel_reasn", "cancel_reason"),
        (
            good.replace("orders = \"*/5 * * * *\"", "shipments = \"*/5 * * * *\""),
            "shops[1].schedule.shipments",
            "orders stream",
        ),
        (good.replace("[push]", "[pusch]"), "pusch", ""),
    ];
    for (text, key, hint) in cases {
        assert_ne!(text, good, "the case for {key} changes the file");
        let (code, err) = check_file(&text);
        assert_eq!(code, 1, "{key}: {err}");
        let problems: Vec<&str> =
            err.lines().filter(|l| !l.ends_with("problem(s)") && !l.contains("warning")).collect();
        assert_eq!(problems.len(), 1, "one problem for {key}: {err}");
        assert!(problems[0].contains(key) && problems[0].contains(hint), "names `{key}` (and `{hint}`): {err}");
    }
}

#[test]
fn random_damage_to_a_good_file_never_crashes_check() {
    use rand::{Rng, SeedableRng};
    std::env::set_var("ORDERSYNC_CLI_TEST_TOKEN", "secret-value-123");
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let lines: Vec<&str> = good.lines().collect();
    let junk = ["", "\"", "= =", "[[shops]]", "7", "\"${NOPE}\"", "true", "[daemon]", "x = [1,", "é\u{0}"];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..40 {
        let mut damaged: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let i = rng.gen_range(0..damaged.len());
        let j = rng.gen_range(0..junk.len());
        match rng.gen_range(0..3) {
            0 => damaged[i] = junk[j].to_string(),
            1 => damaged[i] = format!("{} {}", damaged[i], junk[j]),
            _ => {
                damaged.remove(i);
            }
        }
        let (code, err) = check_file(&damaged.join("\n"));
        assert!(code == 0 || code == 1, "check exits 0 or 1, got {code}: {err}");
        if code == 1 {
            assert!(err.lines().all(|l| l.contains("ordersync.toml")), "every line names the file: {err}");
            assert!(!err.contains("secret-value-123"));
        }
    }
}

#[test]
fn check_warns_when_a_secret_file_is_readable_by_others() {
    std::env::set_var("ORDERSYNC_CLI_TEST_TOKEN", "secret-value-123");
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let (code, err) = check_file(&good);
    assert_eq!((code, err.contains("warning")), (0, false), "{err}");
    std::fs::set_permissions(dir.path().join("s.token"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let (code, err) = check_file(&good);
    assert_eq!(code, 0, "a warning, not an error");
    assert!(
        err.contains("warning") && err.contains("shops[1].token_file") && err.contains("readable by other users"),
        "{err}"
    );
}
