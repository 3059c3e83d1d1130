//! The configuration file: reading it, checking every key, and typing it into [`Config`].
//!
//! The file is TOML (DESIGN.md, "The configuration file"), read with the `config` crate and
//! overlaid with `ORDERSYNC__SECTION__KEY` environment variables. The resulting value tree is
//! walked key by key rather than deserialized in one go, so that `ordersync check` and a
//! refused reload list every problem at once, each naming the file, the key and what is wrong
//! (invariant 6). Credentials come from the environment or from files, never from the file
//! alone, and no message or `Debug` output ever shows one (invariant 7).
//!
//! This module knows no platform: the checks that depend on one (its name, the credentials it
//! needs, the streams it can sync) come in through the `rules` callback of [`load`].

mod cron;
mod links;
mod secret;
mod shop;
mod walk;

pub use cron::normalize_cron;
pub use links::NUMBER_MARK;
pub use secret::Secret;

use crate::model::Stream;
use config::{Environment, File, FileFormat, Value, ValueKind};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use walk::{string, table, Problems, Section};

/// Environment variables starting with this (any case) override keys of the file.
const ENV_PREFIX: &str = "ORDERSYNC__";
/// A generous cap on day counts, so that date arithmetic on them cannot overflow.
const MAX_DAYS: u32 = 36_500;
/// The push schedule when `[push]` names none: every 30 seconds.
const DEFAULT_PUSH_SCHEDULE: &str = "*/30 * * * * *";

/// The whole configuration, checked and typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it was read from, as given; a reload reads it again.
    pub path: PathBuf,
    /// `[daemon]`: where the database lives and how the process behaves.
    pub daemon: DaemonConfig,
    /// `[push]`: when and how the outbox is delivered.
    pub push: PushConfig,
    /// `[http]`: limits for every request to a platform.
    pub http: HttpConfig,
    /// `[[shops]]`, in file order; ids are unique.
    pub shops: Vec<ShopConfig>,
    /// `[[links]]`, in file order: supplier shipments forwarded to storefront orders.
    pub links: Vec<LinkConfig>,
}

impl Config {
    /// What is allowed but weakens the shops' secrets: plain http:// to another host (the shop
    /// said `allow_insecure_http`), and secret files other users may read.
    pub fn warnings(&self) -> Vec<String> {
        use std::os::unix::fs::PermissionsExt;
        let mut out = Vec::new();
        for (i, shop) in self.shops.iter().enumerate() {
            let insecure =
                reqwest::Url::parse(&shop.base_url).is_ok_and(|u| u.scheme() == "http" && !shop::is_loopback(&u));
            if insecure {
                out.push(format!(
                    "shops[{i}].base_url: plain http:// to another host (allow_insecure_http = true): \
                     the shop's credentials cross the network in clear"
                ));
            }
            for (key, file) in &shop.secret_files {
                let Ok(meta) = std::fs::metadata(file) else { continue };
                let mode = meta.permissions().mode();
                if mode & 0o077 != 0 {
                    out.push(format!(
                        "shops[{i}].{key}: {} is readable by other users (mode {:o}); run chmod 600 on it",
                        file.display(),
                        mode & 0o777
                    ));
                }
            }
        }
        out
    }

    /// The shop with this id.
    pub fn shop(&self, id: &str) -> Option<&ShopConfig> {
        self.shops.iter().find(|shop| shop.id == id)
    }
}

/// `[daemon]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The SQLite file (absolute: a relative path is resolved against the config file's folder),
    /// or a PostgreSQL server.
    pub database: Database,
    /// The zone schedules are read in (`timezone`, default Asia/Shanghai).
    pub timezone: chrono_tz::Tz,
    /// How long SIGTERM waits for running jobs (`drain_timeout_secs`, default 30).
    pub drain_timeout: Duration,
    /// How long done outbox rows and old run records are kept (default 30, at least 1: the done
    /// rows are what stops the same update being enqueued twice).
    pub retention_days: u32,
    /// How long a write waits for another writer before failing (`busy_timeout_ms`, default 10 s).
    pub busy_timeout: Duration,
    /// Most sync passes running at once in this process (`parallel_passes`, default 32, 1–1024):
    /// with slow vendors, what bounds an instance's passes per second.
    pub parallel_passes: usize,
    /// `log_format = "json"`: one JSON object per line, for log shippers (default `text`).
    pub json_logs: bool,
    /// `metrics_listen = "127.0.0.1:9464"`: serve Prometheus metrics there (default: off).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Where the data lives (`[daemon] database`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file, absolute.
    Sqlite(PathBuf),
    /// A PostgreSQL server, shared by several instances.
    Postgres {
        /// `postgres://user@host/db`, never with a password in it.
        url: String,
        /// From `database_password` (`"${ENV}"`) or `database_password_file`.
        password: Option<Secret>,
    },
}

impl Default for Database {
    fn default() -> Self {
        Database::Sqlite(PathBuf::new())
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres { url, .. } => f.write_str(url),
        }
    }
}

impl Database {
    /// The SQLite file, when the database is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres { .. } => None,
        }
    }
}

/// `[push]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// When the outbox is flushed (default every 30 seconds).
    pub schedule: Schedule,
    /// Attempts before an entry is failed for good (default 10, at least 1).
    pub max_attempts: u32,
    /// How long a claimed entry stays claimed (`lease_secs`, default 120, at least 1).
    pub lease: Duration,
    /// The first retry delay, doubled per attempt (`retry_base_ms`, default 30000).
    pub retry_base: Duration,
    /// The longest retry delay (`retry_max_secs`, default 3600; not below `retry_base`).
    pub retry_max: Duration,
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `connect_timeout_secs`, default 10, at least 1.
    pub connect_timeout: Duration,
    /// `request_timeout_secs`, default 60, at least 1.
    pub request_timeout: Duration,
    /// The largest response body read (default 32 MiB).
    pub max_body_bytes: u64,
    /// Retries of one request after a transient failure (default 4).
    pub retries: u32,
    /// The first of those retries' delays (`retry_initial_ms`, default 500).
    pub retry_initial: Duration,
}

/// One `[[shops]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopConfig {
    /// Unique id: letters, digits, `_`, `.` and `-`.
    pub id: String,
    /// The platform name, as written; the rules callback decides whether it is known.
    pub platform: String,
    /// An http(s) URL with a host and no query, without trailing `/`.
    pub base_url: String,
    /// `allow_insecure_http`: plain `http://` to a host other than loopback is accepted (default false).
    pub allow_insecure_http: bool,
    /// Resolved credentials (`token`, `access_id`, `secret`) under their bare key names.
    pub credentials: BTreeMap<String, Secret>,
    /// The files credentials were read from (`<key>_file`, path), for permission warnings.
    pub secret_files: Vec<(String, PathBuf)>,
    /// Requests per second this shop may receive, shared by all its streams and pushes (default 5).
    pub rate_limit_per_sec: u32,
    /// How far back the first run reaches (default 30).
    pub backfill_days: u32,
    /// The re-read window for platforms without an updated-since filter (default 3).
    pub lookback_days: u32,
    /// `[shops.schedule]`: when each stream is synced; a stream not listed is not synced.
    pub schedule: BTreeMap<Stream, Schedule>,
    /// `[shops.options]`: free-form, platform-specific settings, as text.
    pub options: BTreeMap<String, String>,
}

/// One `[[links]]` entry (docs/links.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// The supplier (buyer-side) shop whose shipments are forwarded.
    pub from: String,
    /// The storefront (seller-side) shop they are forwarded to.
    pub to: String,
    /// `match`; `None` takes the supplier platform's default (`external_ref` where it has one).
    pub matching: Option<LinkMatch>,
    /// `pattern` for `match = "message"`: text around `{no}`, the storefront number (default `{no}`).
    pub pattern: String,
    /// `carriers`: the supplier's carrier name → the storefront's; unmapped names pass through.
    pub carriers: BTreeMap<String, String>,
    /// `on_supplier_cancel = "cancel"` (default `alert`): cancel the storefront order too.
    pub cancel_storefront: bool,
}

/// How a supplier order finds its storefront order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMatch {
    /// The supplier order's external number (`orders.external_ref`) is the storefront number.
    ExternalRef,
    /// The supplier order's message holds the storefront number (`pattern`).
    Message,
    /// A row of `order_links` names it.
    Table,
}

/// A cron line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// As written in the file.
    pub text: String,
    /// The 6-field form with seconds that the scheduler takes.
    pub cron: String,
}

/// One thing wrong with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a key path like `shops[1].rate_limit_per_sec`; empty for the file as a whole.
    pub key: String,
    /// What is wrong; it never quotes a secret.
    pub message: String,
}

impl Problem {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { key: key.into(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{}: cannot read the configuration file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// The file was read, and is wrong; displayed one `<file>: <key>: <message>` line per problem.
    #[error("{}", lines(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found, in file order roughly; never empty.
        problems: Vec<Problem>,
    },
}

/// One `<file>: <key>: <message>` line per problem.
fn lines(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("{}: {p}", path.display())).collect();
    lines.join("\n")
}

/// Reads, overrides from the environment, and checks the file at `path`. `rules(shop, prefix)`
/// adds the platform-specific problems of each shop whose `platform` could be read (`prefix` is
/// like `shops[0]`). A credential or schedule entry that is written but broken is already
/// reported, and reaches `rules` as a placeholder (an empty secret, an empty `cron`) so that
/// the rules see which keys were given without reporting them again.
pub fn load(path: &Path, rules: &dyn Fn(&ShopConfig, &str) -> Vec<Problem>) -> Result<Config, ConfigError> {
    load_with_links(path, rules, &|_| Vec::new())
}

/// [`load`], with `link_rules` adding the platform-specific problems of `[[links]]`; they see
/// the whole file (wrong values as placeholders), so they are listed with every other problem.
pub fn load_with_links(
    path: &Path,
    rules: &dyn Fn(&ShopConfig, &str) -> Vec<Problem>,
    link_rules: &dyn Fn(&Config) -> Vec<Problem>,
) -> Result<Config, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&text, path, Some(std::env::vars_os().collect()), (rules, link_rules))
}

/// Like [`load`], from text, for tests: `path` names the file in messages and anchors relative
/// paths. Environment overrides are not applied, so that a test is not at the mercy of the
/// environment it runs in; `"${ENV_VAR}"` credentials are still resolved.
pub fn parse_str(
    text: &str,
    path: &Path,
    rules: &dyn Fn(&ShopConfig, &str) -> Vec<Problem>,
) -> Result<Config, ConfigError> {
    parse(text, path, None, (rules, &|_| Vec::new()))
}

/// The platform rules of one shop (see [`load`]).
type ShopRules<'a> = &'a dyn Fn(&ShopConfig, &str) -> Vec<Problem>;
/// The platform rules of `[[links]]` (see [`load_with_links`]).
type LinkRules<'a> = &'a dyn Fn(&Config) -> Vec<Problem>;

/// The common path: `env` holds the environment to override from, if any.
fn parse(
    text: &str,
    path: &Path,
    env: Option<Vec<(OsString, OsString)>>,
    (rules, link_rules): (ShopRules<'_>, LinkRules<'_>),
) -> Result<Config, ConfigError> {
    let mut p = Problems::default();
    let mut builder = config::Config::builder().add_source(File::from_str(text, FileFormat::Toml));
    if let Some(env) = env {
        let overrides = overrides(env, &mut p);
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX.trim_end_matches('_')).separator("__").source(Some(overrides)),
        );
    }
    let config = match builder.build() {
        Ok(tree) => {
            let config = build(tree.cache, path, &mut p, rules);
            p.0.extend(link_rules(&config));
            Some(config)
        }
        Err(e) => {
            p.add("", without_excerpt(&e.to_string()));
            None
        }
    };
    match config {
        Some(config) if p.0.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid { path: path.to_path_buf(), problems: p.0 }),
    }
}

/// The `ORDERSYNC__…` variables the `config` crate may apply. Overrides inside `[[shops]]` are
/// refused: the crate would replace the whole list with a table, and per-shop secrets have
/// `"${ENV_VAR}"` anyway.
fn overrides(env: Vec<(OsString, OsString)>, p: &mut Problems) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (name, value) in env {
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.get(ENV_PREFIX.len()..) else {
            continue;
        };
        if rest.is_empty() || !name[..ENV_PREFIX.len()].eq_ignore_ascii_case(ENV_PREFIX) {
            continue;
        }
        let key = rest.to_lowercase().replace("__", ".");
        if key == "shops" || key.starts_with("shops.") {
            p.add("shops", format!("{name} cannot override [[shops]]; write \"${{ENV_VAR}}\" in the file instead"));
        } else if let Ok(value) = value.into_string() {
            out.insert(name.to_string(), value);
        } else {
            p.add(&key, format!("{name} is not valid UTF-8"));
        }
    }
    out
}

/// The parser's message without its excerpt of the file: that excerpt quotes the offending
/// line, which may hold a secret. What is left reads "TOML parse error at line 2, column 13:
/// invalid basic string".
fn without_excerpt(message: &str) -> String {
    let is_excerpt = |line: &str| line.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start().starts_with('|');
    let kept: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty() && !is_excerpt(l)).collect();
    kept.join(": ")
}

/// Walks the whole tree; every problem lands in `p`, and the result is only used when none did.
fn build(tree: Value, path: &Path, p: &mut Problems, rules: &dyn Fn(&ShopConfig, &str) -> Vec<Problem>) -> Config {
    let folder = path.parent().unwrap_or(Path::new(""));
    let mut root = table(p, "", tree).unwrap_or_else(|| Section::new("", []));
    let config = Config {
        path: path.to_path_buf(),
        daemon: daemon(root.section(p, "daemon"), p, folder),
        push: push(root.section(p, "push"), p),
        http: http(root.section(p, "http"), p),
        shops: shops(root.take("shops"), p, folder, rules),
        links: Vec::new(),
    };
    let config = Config { links: links::read(root.take("links"), p, &config.shops), ..config };
    root.finish(p);
    config
}

/// Reads `[daemon]`.
fn daemon(mut s: Section, p: &mut Problems, folder: &Path) -> DaemonConfig {
    let database = s.required(p, "database").and_then(|(key, v)| {
        let text = string(p, &key, &v)?;
        if text.trim().is_empty() {
            p.at(&key, &v, "must not be empty");
            return None;
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return postgres_url(p, &key, &v, &text);
        }
        std::path::absolute(folder.join(&text))
            .map(Database::Sqlite)
            .map_err(|e| p.at(&key, &v, format!("cannot make {text} absolute: {e}")))
            .ok()
    });
    let password = secret::credential(&mut s, p, "database_password", folder).map(|(secret, _)| secret);
    let database = match database {
        Some(Database::Postgres { url, .. }) => Some(Database::Postgres { url, password }),
        Some(sqlite) => {
            if password.is_some() {
                p.add("daemon.database_password", "only a PostgreSQL database takes a password");
            }
            Some(sqlite)
        }
        None => None,
    };
    let timezone = s.take("timezone").and_then(|(key, v)| {
        let name = string(p, &key, &v)?;
        let zone = name.parse::<chrono_tz::Tz>().ok();
        if zone.is_none() {
            p.at(&key, &v, format!("unknown time zone `{name}`; use an IANA name such as Asia/Shanghai"));
        }
        zone
    });
    let json_logs = s.take("log_format").and_then(|(key, v)| match string(p, &key, &v)?.as_str() {
        "text" => Some(false),
        "json" => Some(true),
        other => {
            p.at(&key, &v, format!("unknown log format `{other}` (expected text or json)"));
            None
        }
    });
    let metrics_listen = s.take("metrics_listen").and_then(|(key, v)| {
        let text = string(p, &key, &v)?;
        let addr = text.parse::<std::net::SocketAddr>().ok();
        if addr.is_none() {
            p.at(&key, &v, format!("`{text}` is not an address like 127.0.0.1:9464"));
        }
        addr
    });
    let daemon = DaemonConfig {
        json_logs: json_logs.unwrap_or(false),
        metrics_listen,
        database: database.unwrap_or_default(),
        timezone: timezone.unwrap_or(chrono_tz::Asia::Shanghai),
        drain_timeout: s.secs(p, "drain_timeout_secs", 30, 0),
        retention_days: s.u32(p, "retention_days", 30, 1, MAX_DAYS),
        busy_timeout: s.millis(p, "busy_timeout_ms", 10_000),
        parallel_passes: s.u32(p, "parallel_passes", crate::scheduler::PARALLEL_PASSES as u32, 1, 1024) as usize,
    };
    s.finish(p);
    daemon
}

/// Checks a PostgreSQL URL as the driver will read it; a password in it is refused, as every
/// secret written inline is.
fn postgres_url(p: &mut Problems, key: &str, v: &Value, text: &str) -> Option<Database> {
    match text.parse::<postgres::Config>() {
        Err(e) => {
            p.at(key, v, format!("not a PostgreSQL URL: {e}"));
            None
        }
        Ok(c) if c.get_password().is_some() => {
            p.at(
                key,
                v,
                "password written in the URL; use database_password = \"${ENV_VAR}\" or database_password_file = \"/path\"",
            );
            None
        }
        Ok(_) => Some(Database::Postgres { url: text.to_string(), password: None }),
    }
}

/// Reads `[push]`.
fn push(mut s: Section, p: &mut Problems) -> PushConfig {
    let schedule = s.take("schedule").and_then(|(k, v)| cron::schedule(p, &k, &v));
    let push = PushConfig {
        schedule: schedule.unwrap_or_else(|| Schedule {
            text: DEFAULT_PUSH_SCHEDULE.to_string(),
            cron: DEFAULT_PUSH_SCHEDULE.to_string(),
        }),
        max_attempts: s.u32(p, "max_attempts", 10, 1, u32::MAX),
        lease: s.secs(p, "lease_secs", 120, 1),
        retry_base: s.millis(p, "retry_base_ms", 30_000),
        retry_max: s.secs(p, "retry_max_secs", 3600, 1),
    };
    if push.retry_base > push.retry_max {
        let max = push.retry_max.as_secs();
        p.add(&s.key("retry_base_ms"), format!("must not exceed retry_max_secs ({max} s)"));
    }
    s.finish(p);
    push
}

/// Reads `[http]`.
fn http(mut s: Section, p: &mut Problems) -> HttpConfig {
    let http = HttpConfig {
        connect_timeout: s.secs(p, "connect_timeout_secs", 10, 1),
        request_timeout: s.secs(p, "request_timeout_secs", 60, 1),
        max_body_bytes: s.uint(p, "max_body_bytes", 32 * 1024 * 1024, 1, u64::MAX),
        retries: s.u32(p, "retries", 4, 0, u32::MAX),
        retry_initial: s.millis(p, "retry_initial_ms", 500),
    };
    s.finish(p);
    http
}

/// Reads `[[shops]]`, checks that ids are unique, and runs the rules on each shop.
fn shops(
    entry: Option<(String, Value)>,
    p: &mut Problems,
    folder: &Path,
    rules: &dyn Fn(&ShopConfig, &str) -> Vec<Problem>,
) -> Vec<ShopConfig> {
    let Some((key, v)) = entry else {
        return Vec::new();
    };
    let ValueKind::Array(items) = v.kind else {
        p.at(&key, &v, format!("expected [[shops]] tables, found {}", walk::found(&v)));
        return Vec::new();
    };
    let mut shops: Vec<ShopConfig> = Vec::new();
    let mut first_index: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("{key}[{i}]");
        let Some(section) = table(p, &prefix, item) else {
            continue;
        };
        let (shop, platform_read) = shop::read(section, p, folder);
        if !shop.id.is_empty() {
            if let Some(first) = first_index.get(&shop.id) {
                let message = format!("duplicate shop id `{}`, already used by {key}[{first}]", shop.id);
                p.add(&format!("{prefix}.id"), message);
            } else {
                first_index.insert(shop.id.clone(), i);
            }
        }
        if platform_read {
            p.0.extend(rules(&shop, &prefix));
        }
        shops.push(shop);
    }
    shops
}

#[cfg(test)]
mod tests;
