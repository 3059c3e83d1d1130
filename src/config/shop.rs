//! One `[[shops]]` entry: its identity, credentials, limits, schedules and options.
//!
//! Only what holds for every platform is checked here; the platform name, the credentials it
//! needs and the streams it can sync are checked by the rules callback the caller passes in,
//! so this module never names a platform.

use super::cron::schedule;
use super::secret::{credential, CREDENTIAL_KEYS};
use super::walk::{found, table, Problems, Section};
use super::{Schedule, ShopConfig, MAX_DAYS};
use crate::model::Stream;
use reqwest::Url;
use std::collections::BTreeMap;
use std::path::Path;

/// Reads one shop. Values that were wrong are left empty (the problems are recorded, so the
/// shop is never used); the flag says whether `platform` was read, which is what the rules
/// callback needs to say anything useful.
pub(super) fn read(mut s: Section, p: &mut Problems, folder: &Path) -> (ShopConfig, bool) {
    let id = s.required_string(p, "id").map(|(key, id)| {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
            p.add(&key, format!("bad shop id {id:?}: use only letters, digits, `_`, `.` and `-`"));
        }
        id
    });
    let platform = s.required_string(p, "platform").map(|(key, name)| {
        if name.is_empty() {
            p.add(&key, "must not be empty");
        }
        name
    });
    let url = s.required_string(p, "base_url");
    let allow_insecure_http = s.bool(p, "allow_insecure_http", false);
    let base_url = url.map(|(key, url)| base_url(p, &key, url, allow_insecure_http));
    let mut credentials = BTreeMap::new();
    let mut secret_files = Vec::new();
    for name in CREDENTIAL_KEYS {
        if let Some((secret, file)) = credential(&mut s, p, name, folder) {
            credentials.insert(name.to_string(), secret);
            secret_files.extend(file.map(|f| (format!("{name}_file"), f)));
        }
    }
    let mut shop = ShopConfig {
        id: id.unwrap_or_default(),
        platform: platform.clone().unwrap_or_default(),
        base_url: base_url.unwrap_or_default(),
        allow_insecure_http,
        credentials,
        secret_files,
        rate_limit_per_sec: s.u32(p, "rate_limit_per_sec", 5, 1, u32::MAX),
        backfill_days: s.u32(p, "backfill_days", 30, 0, MAX_DAYS),
        lookback_days: s.u32(p, "lookback_days", 3, 0, MAX_DAYS),
        schedule: BTreeMap::new(),
        options: BTreeMap::new(),
    };
    if let Some(mut t) = s.take("schedule").and_then(|(key, v)| table(p, &key, v)) {
        shop.schedule = schedules(&mut t, p);
    }
    if let Some(mut t) = s.take("options").and_then(|(key, v)| table(p, &key, v)) {
        shop.options = options(&mut t, p);
    }
    s.finish(p);
    (shop, platform.is_some())
}

/// Checks a base URL; trailing slashes are dropped so connectors can append `/path`. The URL
/// is never quoted back, since a refused one may carry a password. Plain `http://` would carry
/// tokens in clear across the network: it is taken for loopback hosts only, unless the shop says
/// `allow_insecure_http = true` (`check` then warns).
fn base_url(p: &mut Problems, key: &str, text: String, allow_insecure_http: bool) -> String {
    match Url::parse(&text) {
        Err(e) => p.add(key, format!("not a valid URL: {e}")),
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            p.add(key, format!("scheme must be http or https, not `{}`", url.scheme()))
        }
        Ok(url) if !url.has_host() => p.add(key, "URL has no host"),
        Ok(url) if !url.username().is_empty() || url.password().is_some() => {
            p.add(key, "URL must not carry a user name or password; use the credential keys")
        }
        Ok(url) if url.query().is_some() || url.fragment().is_some() => {
            p.add(key, "URL must not have a query (`?…`) or fragment (`#…`)")
        }
        Ok(url) if url.scheme() == "http" && !allow_insecure_http && !is_loopback(&url) => p.add(
            key,
            "plain http:// to a host other than this machine would send the shop's credentials in clear; \
             use https://, or set `allow_insecure_http = true` for this shop if the network is trusted",
        ),
        Ok(_) => {}
    }
    text.trim().trim_end_matches('/').to_string()
}

/// True for `localhost` and loopback addresses (127.0.0.0/8, ::1).
pub(super) fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `[shops.schedule]`: stream name → cron line. A stream whose line is bad keeps an entry with
/// an empty `cron`, so the rules can still refuse a stream the platform cannot sync.
fn schedules(t: &mut Section, p: &mut Problems) -> BTreeMap<Stream, Schedule> {
    let mut out = BTreeMap::new();
    for (name, key, v) in t.drain() {
        let stream = match name.parse::<Stream>() {
            Ok(stream) => stream,
            Err(e) => {
                p.at(&key, &v, e);
                continue;
            }
        };
        if let Some(schedule) = schedule(p, &key, &v) {
            out.insert(stream, schedule);
        }
    }
    out
}

/// `[shops.options]`: free-form, platform-specific; scalars are kept as their text.
fn options(t: &mut Section, p: &mut Problems) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, key, v) in t.drain() {
        if let Ok(text) = v.clone().into_string() {
            out.insert(name, text);
        } else {
            p.at(&key, &v, format!("expected a text value, found {}", found(&v)));
        }
    }
    out
}
