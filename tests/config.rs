//! The configuration file as an admin meets it: a valid file, each kind of mistake, and the
//! promise that secrets never show. Each test that sets an environment variable uses its own
//! name, since tests run in parallel in one process.

use ordersync::config::{load, parse_str, Config, ConfigError, Problem, ShopConfig};
use ordersync::model::Stream;
use std::path::{Path, PathBuf};
use std::time::Duration;

const FILE: &str = "/etc/ordersync/ordersync.toml";

/// What the platform registry will check, written out for the tests: known names, the
/// credentials each needs, and refunds only where a refund list exists.
fn rules(shop: &ShopConfig, prefix: &str) -> Vec<Problem> {
    let (needs, refunds): (&[&str], bool) = match shop.platform.as_str() {
        "ymcart" => (&["token"], false),
        "guanmai" => (&["access_id", "secret"], false),
        "liangben" | "shopsuite" => (&["token"], true),
        other => return vec![Problem::new(format!("{prefix}.platform"), format!("unknown platform `{other}`"))],
    };
    let mut problems: Vec<Problem> = needs
        .iter()
        .filter(|key| !shop.credentials.contains_key(**key))
        .map(|key| Problem::new(format!("{prefix}.{key}"), format!("{} needs `{key}`", shop.platform)))
        .collect();
    if !refunds && shop.schedule.contains_key(&Stream::Refunds) {
        let message = format!("{} cannot sync refunds", shop.platform);
        problems.push(Problem::new(format!("{prefix}.schedule.refunds"), message));
    }
    problems
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_str(text, Path::new(FILE), &rules)
}

fn problems(result: Result<Config, ConfigError>) -> Vec<Problem> {
    match result {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("unexpected error {e}"),
        Ok(config) => panic!("unexpectedly valid: {config:?}"),
    }
}

/// The one problem of `text`, which must be at `key`; its message.
fn only_problem(text: &str, key: &str) -> String {
    let problems = problems(parse(text));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].key, key, "{problems:#?}");
    problems[0].message.clone()
}

/// A valid file with one ymcart shop whose token comes from `token_var`, then `extra` lines
/// inside that shop.
fn one_shop(token_var: &str, extra: &str) -> String {
    std::env::set_var(token_var, "tok-secret-value");
    format!(
        "[daemon]\ndatabase = \"/var/lib/ordersync/o.db\"\n\n[[shops]]\nid = \"ym-main\"\n\
         platform = \"ymcart\"\nbase_url = \"https://shop.example.com\"\ntoken = \"${{{token_var}}}\"\n{extra}"
    )
}

#[test]
fn the_design_example_parses_with_defaults() {
    std::env::set_var("OS_IT_EXAMPLE_TOKEN", "ym-token-1");
    std::env::set_var("OS_IT_EXAMPLE_ID", "gm-id");
    std::env::set_var("OS_IT_EXAMPLE_SECRET", "gm-secret");
    let text = r#"
[daemon]
database = "/var/lib/ordersync/ordersync.db"
timezone = "Asia/Shanghai"          # schedules are read in this zone

[push]
schedule = "*/30 * * * * *"         # when the outbox is flushed
max_attempts = 10

[[shops]]
id = "ym-main"
platform = "ymcart"
base_url = "https://shop.example.com/"
token = "${OS_IT_EXAMPLE_TOKEN}"
rate_limit_per_sec = 5
backfill_days = 30
lookback_days = 3
[shops.schedule]
orders = "0 */5 * * * *"
shipments = "*/10 * * * *"
[shops.options]
warehouse = "WH-1"
page_size = 50

[[shops]]
id = "gm.north_1"
platform = "guanmai"
base_url = "http://127.0.0.1:8080/api"
access_id = "${OS_IT_EXAMPLE_ID}"
secret = "${OS_IT_EXAMPLE_SECRET}"
"#;
    let config = parse(text).expect("the example is valid");
    assert_eq!(config.path, PathBuf::from(FILE));
    assert_eq!(
        config.daemon.database,
        ordersync::config::Database::Sqlite(PathBuf::from("/var/lib/ordersync/ordersync.db"))
    );
    assert_eq!(config.daemon.timezone, chrono_tz::Asia::Shanghai);
    assert_eq!(config.daemon.drain_timeout, Duration::from_secs(30));
    assert_eq!(config.push.schedule.cron, "*/30 * * * * *");
    assert_eq!(config.push.lease, Duration::from_secs(120));
    assert_eq!(config.http.request_timeout, Duration::from_secs(60));

    let ym = config.shop("ym-main").expect("ym-main");
    assert_eq!(ym.base_url, "https://shop.example.com");
    assert_eq!(ym.credentials["token"].expose(), "ym-token-1");
    assert_eq!(ym.schedule[&Stream::Orders].cron, "0 */5 * * * *");
    let shipments = &ym.schedule[&Stream::Shipments];
    assert_eq!((shipments.text.as_str(), shipments.cron.as_str()), ("*/10 * * * *", "0 */10 * * * *"));
    assert!(!ym.schedule.contains_key(&Stream::Refunds));
    assert_eq!(ym.options["page_size"], "50");

    let gm = &config.shops[1];
    assert_eq!((gm.id.as_str(), gm.rate_limit_per_sec, gm.backfill_days, gm.lookback_days), ("gm.north_1", 5, 30, 3));
    assert_eq!(gm.credentials["secret"].expose(), "gm-secret");
    assert!(gm.schedule.is_empty());
}

#[test]
fn zero_shops_are_allowed() {
    let config = parse("[daemon]\ndatabase = \"/x.db\"\n").expect("valid");
    assert!(config.shops.is_empty());
}

#[test]
fn an_unknown_platform_is_reported_by_the_rules() {
    let text = one_shop("OS_IT_PLATFORM_TOKEN", "").replace("\"ymcart\"", "\"ymkart\"");
    assert_eq!(only_problem(&text, "shops[0].platform"), "unknown platform `ymkart`");
}

#[test]
fn a_stream_the_platform_cannot_sync_is_reported_even_with_a_bad_line() {
    let text = one_shop("OS_IT_STREAM_TOKEN", "[shops.schedule]\nrefunds = \"0 0 * * * * * *\"\n");
    let problems = problems(parse(&text));
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["shops[0].schedule.refunds", "shops[0].schedule.refunds"]);
    assert!(problems[0].message.starts_with("bad cron line `0 0 * * * * * *`"));
    assert_eq!(problems[1].message, "ymcart cannot sync refunds");
}

#[test]
fn a_bad_cron_line_names_the_stream_and_the_reason() {
    let text = one_shop("OS_IT_CRON_TOKEN", "[shops.schedule]\norders = \"0 61 * * * *\"\n");
    let message = only_problem(&text, "shops[0].schedule.orders");
    assert!(message.starts_with("bad cron line `0 61 * * * *`: "), "{message}");
    assert!(message.contains("out of bounds"), "{message}");
    let text = one_shop("OS_IT_CRON_TOKEN", "[shops.schedule]\nweekly = \"0 0 * * 1\"\n");
    assert!(only_problem(&text, "shops[0].schedule.weekly").contains("orders, shipments, refunds"));
}

#[test]
fn a_missing_environment_secret_names_the_variable_only() {
    let text = one_shop("OS_IT_UNUSED_TOKEN", "").replace("OS_IT_UNUSED_TOKEN", "OS_IT_NEVER_SET_TOKEN");
    let message = only_problem(&text, "shops[0].token");
    assert_eq!(message, "environment variable OS_IT_NEVER_SET_TOKEN is not set");
}

#[test]
fn an_inline_secret_is_refused_without_quoting_it() {
    let text = one_shop("OS_IT_INLINE_TOKEN", "").replace("${OS_IT_INLINE_TOKEN}", "plain-inline-secret");
    let err = parse(&text).expect_err("inline secret");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("plain-inline-secret"), "{shown}");
    let message = only_problem(&text, "shops[0].token");
    assert_eq!(message, "secret written inline; use \"${ENV_VAR}\" or token_file = \"/path\"");
}

#[test]
fn a_wrong_type_says_what_was_expected_and_found() {
    let text = one_shop("OS_IT_TYPE_TOKEN", "rate_limit_per_sec = \"five\"\n");
    assert_eq!(only_problem(&text, "shops[0].rate_limit_per_sec"), "expected an integer, found string \"five\"");
    let text = one_shop("OS_IT_TYPE_TOKEN", "rate_limit_per_sec = 0\n");
    assert_eq!(only_problem(&text, "shops[0].rate_limit_per_sec"), "must be at least 1, found 0");
}

#[test]
fn an_unknown_key_is_named_with_a_hint() {
    let text = one_shop("OS_IT_UNKNOWN_TOKEN", "ratelimit = 5\n");
    assert_eq!(
        only_problem(&text, "shops[0].ratelimit"),
        "unknown key `ratelimit` (did you mean `rate_limit_per_sec`?)"
    );
}

#[test]
fn a_duplicate_shop_id_names_both_entries() {
    let shop = one_shop("OS_IT_DUP_TOKEN", "");
    let second = shop.split_once("[[shops]]").map(|(_, s)| s).unwrap_or_default().to_string();
    let text = format!("{shop}[[shops]]{second}");
    let message = only_problem(&text, "shops[1].id");
    assert_eq!(message, "duplicate shop id `ym-main`, already used by shops[0]");
}

#[test]
fn every_problem_is_listed_at_once() {
    let text = r#"
[daemon]
timezone = "Mars/Olympus"
colour = "blue"

[push]
max_attempts = 0

[[shops]]
id = "bad id"
platform = "ymcart"
base_url = "ftp://files.example.com"
token = "inline"
token_file = "/run/credentials/ordersync.service/ym"

[[shops]]
platform = "nowhere"
base_url = "https://x.example?q=1"
"#;
    let err = parse(text).expect_err("broken");
    let ConfigError::Invalid { problems, .. } = &err else { panic!("{err}") };
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    let expected = [
        "daemon.database",
        "daemon.timezone",
        "daemon.colour",
        "push.max_attempts",
        "shops[0].id",
        "shops[0].base_url",
        "shops[0].token",
        "shops[1].id",
        "shops[1].base_url",
        "shops[1].platform",
    ];
    assert_eq!(keys, expected, "{err}");
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), expected.len());
    assert!(shown.lines().all(|line| line.starts_with(FILE)), "{shown}");
    assert!(shown.contains(&format!("{FILE}: daemon.database: missing required key")), "{shown}");
    assert!(shown.contains("both `token` and `token_file` are set"), "{shown}");
}

#[test]
fn the_environment_overrides_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ordersync.toml");
    std::fs::write(&path, "[daemon]\ndatabase = \"/from/the/file.db\"\n").expect("write");
    // The only test that sets this variable, and the only one that loads a valid file.
    std::env::set_var("ORDERSYNC__DAEMON__DATABASE", "/from/the/environment.db");
    let config = load(&path, &rules);
    std::env::remove_var("ORDERSYNC__DAEMON__DATABASE");
    assert_eq!(
        config.expect("valid").daemon.database,
        ordersync::config::Database::Sqlite(PathBuf::from("/from/the/environment.db"))
    );
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let err = load(Path::new("/nonexistent/ordersync.toml"), &rules).expect_err("missing");
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().starts_with("/nonexistent/ordersync.toml: cannot read"), "{err}");
}

#[test]
fn a_relative_database_is_relative_to_the_file() {
    let config = parse_str("[daemon]\ndatabase = \"data/o.db\"\n", Path::new("/etc/ordersync/o.toml"), &rules);
    assert_eq!(
        config.expect("valid").daemon.database,
        ordersync::config::Database::Sqlite(PathBuf::from("/etc/ordersync/data/o.db"))
    );
}

#[test]
fn debug_output_never_shows_a_secret() {
    let config = parse(&one_shop("OS_IT_DEBUG_TOKEN", "")).expect("valid");
    let shown = format!("{config:?} {config:#?}");
    assert!(!shown.contains("tok-secret-value"), "{shown}");
    assert!(shown.contains("[redacted]"));
    assert_eq!(config.shops[0].credentials["token"].expose(), "tok-secret-value");
}

#[test]
fn secrets_can_come_from_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("id"), "gm-access-id\n").expect("write");
    std::fs::write(dir.path().join("empty"), " \n").expect("write");
    let secret_path = dir.path().join("secret");
    std::fs::write(&secret_path, "gm-file-secret\n\n").expect("write");
    let text = format!(
        "[daemon]\ndatabase = \"o.db\"\n[[shops]]\nid = \"gm\"\nplatform = \"guanmai\"\n\
         base_url = \"https://gm.example\"\naccess_id_file = \"id\"\nsecret_file = {:?}\n",
        secret_path.display()
    );
    // `id` is relative, so it is found next to the config file.
    let file = dir.path().join("ordersync.toml");
    let config = parse_str(&text, &file, &rules).expect("valid");
    let shop = &config.shops[0];
    assert_eq!(shop.credentials["access_id"].expose(), "gm-access-id");
    assert_eq!(shop.credentials["secret"].expose(), "gm-file-secret");
    assert_eq!(config.daemon.database, ordersync::config::Database::Sqlite(dir.path().join("o.db")));

    let broken = text.replace("\"id\"", "\"missing\"").replace(&format!("{:?}", secret_path.display()), "\"empty\"");
    let problems = problems(parse_str(&broken, &file, &rules));
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["shops[0].access_id_file", "shops[0].secret_file"], "{problems:#?}");
    assert!(problems[0].message.starts_with("cannot read secret file") && problems[0].message.contains("missing"));
    assert!(problems[1].message.ends_with("is empty"));
}
