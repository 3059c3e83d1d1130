//! Unit tests of the parts the integration tests cannot reach: environment overrides fed from
//! a private variable list (the process environment is shared by parallel tests), and the
//! value-reading corners.

use super::*;

fn no_rules(_: &ShopConfig, _: &str) -> Vec<Problem> {
    Vec::new()
}

const MINIMAL: &str = "[daemon]\ndatabase = \"/var/lib/ordersync/o.db\"\n";

fn with_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = vars.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect();
    parse(text, Path::new("/etc/ordersync/ordersync.toml"), Some(env), (&no_rules, &|_| Vec::new()))
}

fn problems(result: Result<Config, ConfigError>) -> Vec<Problem> {
    match result {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("unexpected error {e}"),
        Ok(config) => panic!("unexpectedly valid: {config:?}"),
    }
}

fn only(result: Result<Config, ConfigError>, key: &str) -> String {
    let problems = problems(result);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, key, "{problems:?}");
    problems[0].message.clone()
}

#[test]
fn environment_overrides_the_file_and_integers_may_be_strings() {
    let env = [
        ("ORDERSYNC__DAEMON__DATABASE", "/srv/o.db"),
        ("ordersync__push__max_attempts", "3"),
        ("ORDERSYNC_CONFIG", "/etc/other.toml"),
        ("PATH", "/usr/bin"),
    ];
    let config = with_env(MINIMAL, &env).expect("valid");
    assert_eq!(config.daemon.database, super::Database::Sqlite(PathBuf::from("/srv/o.db")));
    assert_eq!(config.push.max_attempts, 3);
}

#[test]
fn bad_environment_values_name_their_variable() {
    let message = only(with_env(MINIMAL, &[("ORDERSYNC__HTTP__RETRIES", "many")]), "http.retries");
    assert_eq!(message, "expected an integer, found string \"many\" (from ORDERSYNC__HTTP__RETRIES)");
    let message = only(with_env(MINIMAL, &[("ORDERSYNC__DAEMON__DATABSE", "/x")]), "daemon.databse");
    assert!(message.contains("did you mean `database`") && message.contains("ORDERSYNC__DAEMON__DATABSE"));
}

#[test]
fn shops_cannot_be_overridden_from_the_environment() {
    let text = format!("{MINIMAL}[[shops]]\nid = \"a\"\nplatform = \"p\"\nbase_url = \"https://a.example\"\n");
    let message = only(with_env(&text, &[("ORDERSYNC__SHOPS__0__TOKEN", "hunter2")]), "shops");
    assert!(message.contains("ORDERSYNC__SHOPS__0__TOKEN") && !message.contains("hunter2"));
}

#[test]
fn integers_refuse_floats_negatives_and_words() {
    let parse = |extra: &str| parse_str(&format!("{MINIMAL}{extra}"), Path::new("o.toml"), &no_rules);
    let float = only(parse("drain_timeout_secs = 2.5\n"), "daemon.drain_timeout_secs");
    assert_eq!(float, "expected an integer, found float 2.5");
    let negative = only(parse("retention_days = -1\n"), "daemon.retention_days");
    assert_eq!(negative, "must not be negative, found -1");
    assert_eq!(only(parse("retention_days = 0\n"), "daemon.retention_days"), "must be at least 1, found 0");
    let word = only(parse("[push]\nlease_secs = \"five\"\n"), "push.lease_secs");
    assert_eq!(word, "expected an integer, found string \"five\"");
    assert_eq!(parse("[push]\nlease_secs = \"7\"\n").expect("digits").push.lease, Duration::from_secs(7));
    let database = parse_str("[daemon]\ndatabase = 5\n", Path::new("o.toml"), &no_rules);
    assert_eq!(only(database, "daemon.database"), "expected a string, found integer 5");
    let flag = only(parse("[http]\nretries = true\n"), "http.retries");
    assert_eq!(flag, "expected an integer, found boolean true");
    let none = only(parse("parallel_passes = 0\n"), "daemon.parallel_passes");
    assert_eq!(none, "must be at least 1, found 0");
    assert_eq!(parse("parallel_passes = 64\n").expect("64").daemon.parallel_passes, 64);
}

#[test]
fn defaults_fill_every_optional_key() {
    let config = parse_str(MINIMAL, Path::new("/etc/o.toml"), &no_rules).expect("valid");
    assert_eq!(config.daemon.timezone, chrono_tz::Asia::Shanghai);
    assert_eq!(config.daemon.drain_timeout, Duration::from_secs(30));
    assert_eq!(config.daemon.retention_days, 30);
    assert_eq!(config.daemon.parallel_passes, 32);
    assert_eq!(config.push.schedule.cron, "*/30 * * * * *");
    assert_eq!((config.push.max_attempts, config.push.lease), (10, Duration::from_secs(120)));
    assert_eq!((config.push.retry_base, config.push.retry_max), (Duration::from_secs(30), Duration::from_secs(3600)));
    assert_eq!(
        (config.http.connect_timeout, config.http.request_timeout),
        (Duration::from_secs(10), Duration::from_secs(60))
    );
    assert_eq!((config.http.max_body_bytes, config.http.retries), (32 << 20, 4));
    assert_eq!(config.http.retry_initial, Duration::from_millis(500));
    assert!(config.shops.is_empty());
}

#[test]
fn retry_base_may_not_exceed_retry_max() {
    let text = format!("{MINIMAL}[push]\nretry_max_secs = 10\n");
    let message = only(parse_str(&text, Path::new("o.toml"), &no_rules), "push.retry_base_ms");
    assert_eq!(message, "must not exceed retry_max_secs (10 s)");
}

#[test]
fn syntax_errors_keep_the_position_but_not_the_line() {
    let text = "[[shops]]\ntoken = \"hunter2\n";
    let message = only(parse_str(text, Path::new("o.toml"), &no_rules), "");
    assert!(message.starts_with("TOML parse error at line 2"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn unknown_keys_get_a_hint() {
    assert!(walk::looks_like("ratelimit", "rate_limit_per_sec"));
    assert!(walk::looks_like("timezon", "timezone"));
    assert!(!walk::looks_like("colour", "database"));
}

#[test]
fn plain_http_is_for_loopback_unless_the_shop_allows_it() {
    let shop = |url: &str, extra: &str| {
        let text = format!("{MINIMAL}[[shops]]\nid = \"a\"\nplatform = \"p\"\nbase_url = \"{url}\"\n{extra}");
        parse_str(&text, Path::new("o.toml"), &no_rules)
    };
    let message = only(shop("http://shop.example.com", ""), "shops[0].base_url");
    assert!(message.contains("in clear") && message.contains("allow_insecure_http"), "{message}");
    for local in ["http://127.0.0.1:8080", "http://localhost/x", "http://[::1]:9", "https://shop.example.com"] {
        let config = shop(local, "").unwrap_or_else(|e| panic!("{local}: {e}"));
        assert!(config.warnings().is_empty(), "{local}");
    }
    let config = shop("http://10.0.0.5", "allow_insecure_http = true\n").expect("allowed by the shop");
    assert!(config.shops[0].allow_insecure_http);
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("shops[0].base_url") && warnings[0].contains("in clear"));
    let message = only(shop("https://a.example", "allow_insecure_http = \"maybe\"\n"), "shops[0].allow_insecure_http");
    assert!(message.contains("expected true or false"), "{message}");
}

/// `[[links]]` keep carrier names exactly as written (case, spaces, Chinese), default to an
/// alert and the `{no}` pattern, and refuse a link from a shop to itself and a repeated link.
#[test]
fn links_are_read_with_their_carrier_names_as_written() {
    let shops = "[[shops]]\nid = \"a\"\nplatform = \"p\"\nbase_url = \"https://a.example\"\n\
                 [[shops]]\nid = \"b\"\nplatform = \"p\"\nbase_url = \"https://b.example\"\n";
    let text = format!(
        "{MINIMAL}{shops}[[links]]\nfrom = \"a\"\nto = \"b\"\ncarriers = {{ \"SF Express\" = \"SF\", \"中通\" = \"ZTO\" }}\n"
    );
    let config = parse_str(&text, Path::new("o.toml"), &no_rules).unwrap();
    let link = &config.links[0];
    let carriers: Vec<(&str, &str)> = link.carriers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(carriers, [("SF Express", "SF"), ("中通", "ZTO")]);
    assert_eq!((link.matching, link.pattern.as_str(), link.cancel_storefront), (None, "{no}", false));

    let text = format!("{MINIMAL}{shops}[[links]]\nfrom = \"a\"\nto = \"a\"\n");
    assert!(only(parse_str(&text, Path::new("o.toml"), &no_rules), "links[0].to").contains("both ends"));
    let text = format!("{MINIMAL}{shops}[[links]]\nfrom = \"a\"\nto = \"b\"\n[[links]]\nfrom = \"a\"\nto = \"b\"\n");
    assert!(only(parse_str(&text, Path::new("o.toml"), &no_rules), "links[1].to").contains("duplicate link"));
    let text = format!("{MINIMAL}{shops}[[links]]\nfrom = \"a\"\nto = \"b\"\npattern = \"x{{no}}\"\nfrom_shop = 1\n");
    let problems = problems(parse_str(&text, Path::new("o.toml"), &no_rules));
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["links[0].pattern", "links[0].from_shop"], "{problems:?}");
}
