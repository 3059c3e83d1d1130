//! Links: a supplier (buyer-side) shop's shipments forwarded to the storefront (seller-side)
//! orders they fulfil, and supplier cancels raised on them (docs/links.md).
//!
//! This module turns `[[links]]` and the platforms' [`Capabilities`] into [`LinkPlan`]s — plain
//! data the store applies inside each supplier commit — and holds the rules `check` applies and
//! the pure pieces of matching (message patterns, carrier names). It does no I/O.

use crate::config::{Config, LinkConfig, LinkMatch, Problem, NUMBER_MARK};
use crate::model::OrderStatus;
use crate::platforms::{self, Capabilities, Forward, Side};
use std::collections::BTreeMap;

/// One configured link, resolved against its platforms: what the store needs to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    /// The supplier shop.
    pub from: String,
    /// The storefront shop.
    pub to: String,
    /// How a supplier order finds its storefront order.
    pub matching: Matching,
    /// Supplier carrier name → storefront carrier name.
    pub carriers: BTreeMap<String, String>,
    /// How a shipment reaches a storefront order.
    pub forward: Forward,
    /// Cancel the storefront order when the supplier cancels (else only an alert).
    pub cancel_storefront: bool,
}

/// A resolved `match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matching {
    /// `orders.external_ref` of the supplier order is the storefront number.
    ExternalRef,
    /// The supplier order's raw `field` holds the number, found by `pattern`.
    Message {
        /// The vendor field (ShopSuite's `order_message`).
        field: &'static str,
        /// The pattern around the number.
        pattern: Pattern,
    },
    /// `order_links` rows name the storefront order.
    Table,
}

impl LinkPlan {
    /// The carrier name pushed for a supplier carrier name: mapped, else passed through.
    pub fn carrier(&self, supplier: &str) -> String {
        self.carriers.get(supplier).cloned().unwrap_or_else(|| supplier.to_string())
    }
}

/// A message pattern: literal text before and after `{no}`; the number is the run of letters,
/// digits, `-` and `_` that starts right after the text before and is followed by the text after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    before: String,
    after: String,
    text: String,
}

impl Pattern {
    /// Parses `text` (`config` has checked it holds `{no}` once); `None` otherwise.
    pub fn new(text: &str) -> Option<Pattern> {
        let (before, after) = text.split_once(NUMBER_MARK)?;
        Some(Pattern { before: before.to_string(), after: after.to_string(), text: text.to_string() })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first storefront number `message` holds by this pattern.
    pub fn find(&self, message: &str) -> Option<String> {
        let is_number = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        let mut rest = message;
        loop {
            let start = if self.before.is_empty() {
                rest.find(is_number)?
            } else {
                rest.find(&self.before)? + self.before.len()
            };
            let tail = &rest[start..];
            let len = tail.find(|c: char| !is_number(c)).unwrap_or(tail.len());
            if len > 0 && tail[len..].starts_with(&self.after) {
                return Some(tail[..len].to_string());
            }
            // Not here: look further on (past one character, kept on a char boundary).
            let skip = tail.chars().next().map_or(1, char::len_utf8).max(len);
            rest = rest.get(start + skip..)?;
        }
    }
}

fn caps(config: &Config, shop: &str) -> Option<&'static Capabilities> {
    config.shop(shop).and_then(|s| platforms::platform(&s.platform)).map(|p| p.capabilities)
}

/// The platform rules of `[[links]]`: a buyer-side `from`, a seller-side `to` that can take a
/// shipment (and a cancel, when asked for), a match the supplier platform can read.
pub fn rules(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (i, link) in config.links.iter().enumerate() {
        let key = |name: &str| format!("links[{i}].{name}");
        // Unknown shops are reported by `config`; an unknown platform by the shop rules.
        let (Some(from), Some(to)) = (caps(config, &link.from), caps(config, &link.to)) else {
            continue;
        };
        if from.side != Side::Buyer {
            let both = if to.side == Side::Seller { "; both ends are seller-side shops" } else { "" };
            problems.push(Problem::new(
                key("from"),
                format!(
                    "shop `{}` ({}) is seller-side: a link runs from the shop the merchant buys on{both}",
                    link.from, from.platform
                ),
            ));
        }
        if to.side != Side::Seller {
            problems.push(Problem::new(
                key("to"),
                format!("shop `{}` ({}) is buyer-side: a link runs to the storefront shop", link.to, to.platform),
            ));
        }
        if to.forward == Forward::Nothing {
            problems.push(Problem::new(
                key("to"),
                format!("{} cannot take a forwarded shipment (no ship push, no status push to shipped)", to.platform),
            ));
        }
        if link.cancel_storefront && !to.push_statuses.contains(&OrderStatus::Cancelled) {
            problems.push(Problem::new(
                key("on_supplier_cancel"),
                format!(
                    "{} cannot cancel an order (its status pushes: {}); use \"alert\"",
                    to.platform,
                    to.push_statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if let Err(why) = matching(link, from) {
            problems.push(Problem::new(key("match"), why));
        }
    }
    problems
}

/// The match a link uses on its supplier platform, or why it cannot.
fn matching(link: &LinkConfig, from: &Capabilities) -> Result<Matching, String> {
    let platform = from.platform;
    match link.matching {
        None if from.external_ref => Ok(Matching::ExternalRef),
        None => Err(format!(
            "required: {platform} orders carry no external order number; use match = \"message\" or \"table\""
        )),
        Some(LinkMatch::ExternalRef) if from.external_ref => Ok(Matching::ExternalRef),
        Some(LinkMatch::ExternalRef) => {
            Err(format!("{platform} orders carry no external order number; use match = \"message\" or \"table\""))
        }
        Some(LinkMatch::Message) => match (from.message_field, Pattern::new(&link.pattern)) {
            (Some(field), Some(pattern)) => Ok(Matching::Message { field, pattern }),
            (None, _) => Err(format!("{platform} orders carry no message; use match = \"external_ref\" or \"table\"")),
            (_, None) => Err(format!("pattern must hold `{NUMBER_MARK}`")),
        },
        Some(LinkMatch::Table) => Ok(Matching::Table),
    }
}

/// The plans of every valid link of `config` (one that breaks a rule is left out; `check` and
/// loading refuse such a file, so this only matters for a config built by hand).
pub fn plans(config: &Config) -> Vec<LinkPlan> {
    let mut out = Vec::new();
    for link in &config.links {
        let (Some(from), Some(to)) = (caps(config, &link.from), caps(config, &link.to)) else {
            continue;
        };
        let Ok(matching) = matching(link, from) else { continue };
        if from.side != Side::Buyer || to.side != Side::Seller || to.forward == Forward::Nothing {
            continue;
        }
        out.push(LinkPlan {
            from: link.from.clone(),
            to: link.to.clone(),
            matching,
            carriers: link.carriers.clone(),
            forward: to.forward,
            cancel_storefront: link.cancel_storefront,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_finds_the_number_between_its_texts() {
        let p = |text: &str| Pattern::new(text).unwrap();
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("{no}", "SY20240101-1001", Some("SY20240101-1001")),
            ("{no}", "  请尽快发货 SY7 ", Some("SY7")),
            ("{no}", "请尽快发货", None),
            ("单号:{no}", "周末送货 单号:SY-42，谢谢", Some("SY-42")),
            ("单号:{no}", "单号: SY-42", None),
            ("[{no}]", "a [x y] then [SY9]", Some("SY9")),
            ("PO{no};", "PO12 PO34;", Some("34")),
            ("PO{no}", "", None),
        ];
        for (pattern, message, want) in cases {
            assert_eq!(p(pattern).find(message).as_deref(), *want, "{pattern} in {message:?}");
        }
        assert!(Pattern::new("no mark").is_none());
    }

    #[test]
    fn carriers_are_mapped_or_passed_through() {
        let plan = LinkPlan {
            from: "lb".into(),
            to: "ym".into(),
            matching: Matching::Table,
            carriers: [("中通".to_string(), "ZTO".to_string())].into(),
            forward: Forward::Nothing,
            cancel_storefront: false,
        };
        assert_eq!(plan.carrier("中通"), "ZTO");
        assert_eq!(plan.carrier("顺丰"), "顺丰");
    }

    /// What a platform says it takes as a storefront is a push its capabilities allow.
    #[test]
    fn every_storefront_forward_is_a_push_the_platform_takes() {
        use crate::model::PushKind;
        for p in platforms::REGISTRY {
            let c = p.capabilities;
            match (c.side, c.forward) {
                (Side::Buyer, f) => assert_eq!(f, Forward::Nothing, "{}", c.platform),
                (Side::Seller, Forward::Nothing) => panic!("{}: a storefront that takes nothing", c.platform),
                (Side::Seller, Forward::Ship { accepts, .. }) => {
                    assert!(c.pushes.contains(&PushKind::Ship) && !accepts.is_empty(), "{}", c.platform)
                }
                (Side::Seller, Forward::Status { to, accepts }) => {
                    assert!(c.push_statuses.contains(&to) && !accepts.is_empty(), "{}", c.platform)
                }
            }
        }
    }
}
