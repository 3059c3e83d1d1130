//! `[[links]]`: which supplier (buyer-side) shop forwards its shipments to which storefront
//! (seller-side) shop, and how a supplier order finds its storefront order.
//!
//! Only what holds whatever the platforms are is checked here (shops exist, keys are known,
//! the pattern is well formed); the sides, the default match and what the storefront can take
//! depend on the platforms and are checked by `links::rules`.

use super::walk::{found, string, table, Problems, Section};
use super::{LinkConfig, LinkMatch, ShopConfig};
use config::{Value, ValueKind};
use std::collections::BTreeMap;

/// The placeholder a message pattern marks the storefront number with.
pub const NUMBER_MARK: &str = "{no}";

/// The `match` values and what each reads.
const MATCHES: &[(&str, LinkMatch)] =
    &[("external_ref", LinkMatch::ExternalRef), ("message", LinkMatch::Message), ("table", LinkMatch::Table)];

/// Reads `[[links]]`; `shops` are the shops already read, to check the ids against.
pub(super) fn read(entry: Option<(String, Value)>, p: &mut Problems, shops: &[ShopConfig]) -> Vec<LinkConfig> {
    let Some((key, v)) = entry else {
        return Vec::new();
    };
    let ValueKind::Array(items) = v.kind else {
        p.at(&key, &v, format!("expected [[links]] tables, found {}", found(&v)));
        return Vec::new();
    };
    let mut links: Vec<LinkConfig> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("{key}[{i}]");
        let Some(section) = table(p, &prefix, item) else {
            continue;
        };
        let link = one(section, p, shops);
        if !link.from.is_empty() && link.from == link.to {
            p.add(&format!("{prefix}.to"), format!("a link joins two shops; `{}` is both ends", link.to));
        }
        if let Some(first) = links.iter().position(|l| l.from == link.from && l.to == link.to && !l.from.is_empty()) {
            p.add(
                &format!("{prefix}.to"),
                format!("duplicate link {} → {}, already {key}[{first}]", link.from, link.to),
            );
        }
        links.push(link);
    }
    links
}

/// Reads one link; wrong values are left empty (the problem is recorded).
fn one(mut s: Section, p: &mut Problems, shops: &[ShopConfig]) -> LinkConfig {
    let shop = |s: &mut Section, p: &mut Problems, name: &str| {
        let (key, id) = s.required_string(p, name)?;
        if shops.iter().any(|shop| shop.id == id) {
            Some(id)
        } else {
            let known: Vec<&str> = shops.iter().map(|s| s.id.as_str()).collect();
            p.add(&key, format!("unknown shop `{id}` (shops: {})", known.join(", ")));
            None
        }
    };
    let from = shop(&mut s, p, "from").unwrap_or_default();
    let to = shop(&mut s, p, "to").unwrap_or_default();
    let matching = s.take("match").and_then(|(key, v)| {
        let text = string(p, &key, &v)?;
        let found = MATCHES.iter().find(|(name, _)| *name == text).map(|(_, m)| *m);
        if found.is_none() {
            let names: Vec<&str> = MATCHES.iter().map(|(n, _)| *n).collect();
            p.at(&key, &v, format!("unknown match `{text}` (expected one of: {})", names.join(", ")));
        }
        found
    });
    let pattern = s.take("pattern").and_then(|(key, v)| {
        let text = string(p, &key, &v)?;
        if text.matches(NUMBER_MARK).count() != 1 {
            p.at(&key, &v, format!("must hold `{NUMBER_MARK}` exactly once, where the storefront number stands"));
            return None;
        }
        if matching != Some(LinkMatch::Message) {
            p.add(&key, "only read with match = \"message\"");
        }
        Some(text)
    });
    let carriers = match s.take("carriers").and_then(|(key, v)| table(p, &key, v)) {
        Some(mut t) => carriers(&mut t, p),
        None => BTreeMap::new(),
    };
    let cancel_storefront = s.take("on_supplier_cancel").and_then(|(key, v)| match string(p, &key, &v)?.as_str() {
        "alert" => Some(false),
        "cancel" => Some(true),
        other => {
            p.at(&key, &v, format!("unknown action `{other}` (expected alert or cancel)"));
            None
        }
    });
    s.finish(p);
    LinkConfig {
        from,
        to,
        matching,
        pattern: pattern.unwrap_or_else(|| NUMBER_MARK.to_string()),
        carriers,
        cancel_storefront: cancel_storefront.unwrap_or(false),
    }
}

/// `carriers = { "中通" = "ZTO" }`: the supplier's carrier name → the storefront's.
fn carriers(t: &mut Section, p: &mut Problems) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, key, v) in t.drain() {
        match string(p, &key, &v) {
            Some(to) if to.trim().is_empty() => p.at(&key, &v, "must not be empty"),
            Some(to) => {
                out.insert(name, to);
            }
            None => {}
        }
    }
    out
}
