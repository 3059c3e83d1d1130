//! `ordersync links`: per configured link, supplier orders matched and unmatched (with why),
//! shipments forwarded, waiting, failed and skipped, the oldest one not forwarded; and
//! `ordersync link add --from SHOP:NO --to SHOP:NO`, a link the order numbers cannot show.

use crate::links::Matching;
use crate::model::Stream;
use crate::runtime::Runtime;
use crate::scheduler::next_ticks;
use crate::store::LinkFigures;
use anyhow::{bail, Context};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::process::ExitCode;

/// Output options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `link …` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum LinkCommand {
    /// Record that supplier order SHOP:NO fulfils storefront order SHOP:NO (an `order_links` row).
    Add {
        /// The supplier order, as SHOP:NO.
        #[arg(long)]
        from: String,
        /// The storefront order, as SHOP:NO.
        #[arg(long)]
        to: String,
    },
}

/// Unmatched supplier orders the table lists per link; stock orders can be thousands.
const UNMATCHED_SHOWN: usize = 200;

#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    figures: LinkFigures,
    matching: &'static str,
    /// The oldest unforwarded shipment is older than three supplier schedule periods.
    overdue: bool,
}

/// The figures of every configured link, each with whether it is overdue at `now`.
pub(super) fn figures(rt: &Runtime, now: DateTime<Utc>) -> anyhow::Result<Vec<(LinkFigures, bool)>> {
    let store = rt.store()?;
    let mut out = Vec::new();
    for link in rt.links.iter() {
        let figures = store.link_figures(&link.from, &link.to)?;
        let overdue = figures.oldest_unforwarded_at.as_deref().is_some_and(|t| overdue(rt, &link.from, t, now));
        out.push((figures, overdue));
    }
    Ok(out)
}

/// A shipment first seen at `seen` is overdue when three periods of the supplier's shipment
/// schedule (its `shipments` stream, else `orders`, which embeds them on some platforms) passed.
fn overdue(rt: &Runtime, supplier: &str, seen: &str, now: DateTime<Utc>) -> bool {
    let Ok(seen) = DateTime::parse_from_rfc3339(seen) else { return true };
    let schedule = rt.config.shop(supplier).and_then(|s| {
        s.schedule.get(&Stream::Shipments).or_else(|| s.schedule.get(&Stream::Orders)).map(|s| s.cron.clone())
    });
    let period = schedule
        .and_then(|cron| match next_ticks(&cron, rt.config.daemon.timezone, now, 2).as_deref() {
            Ok([a, b]) => Some(*b - *a),
            _ => None,
        })
        .unwrap_or_else(|| Duration::hours(1));
    now - seen.with_timezone(&Utc) > period * 3
}

fn matching_name(m: &Matching) -> &'static str {
    match m {
        Matching::ExternalRef => "external_ref",
        Matching::Message { .. } => "message",
        Matching::Table => "table",
    }
}

/// Prints the links report.
pub fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    let rows: Vec<Row> = figures(rt, now)?
        .into_iter()
        .zip(rt.links.iter())
        .map(|((figures, overdue), link)| Row { figures, matching: matching_name(&link.matching), overdue })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no [[links]] in {}", rt.config.path.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<28} {:<12} {:>7} {:>9} {:>9} {:>7} {:>6} {:>7} {:>6}  OLDEST UNFORWARDED",
        "LINK", "MATCH", "MATCHED", "UNMATCHED", "FORWARDED", "WAITING", "FAILED", "SKIPPED", "ALERTS"
    );
    for r in &rows {
        let f = &r.figures;
        let oldest = f.oldest_unforwarded_at.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| {
            let age = format!("{}s", (now - t.with_timezone(&Utc)).num_seconds());
            if r.overdue {
                format!("{age} OVERDUE")
            } else {
                age
            }
        });
        println!(
            "{:<28} {:<12} {:>7} {:>9} {:>9} {:>7} {:>6} {:>7} {:>6}  {}",
            format!("{} → {}", f.from, f.to),
            r.matching,
            f.matched,
            f.unmatched.len(),
            f.forwarded,
            f.waiting,
            f.failed,
            f.skipped,
            f.alerts,
            oldest.as_deref().unwrap_or("-")
        );
    }
    for r in rows.iter().filter(|r| !r.figures.unmatched.is_empty()) {
        let unmatched = &r.figures.unmatched;
        println!();
        println!("unmatched supplier orders of {} → {}:", r.figures.from, r.figures.to);
        for u in unmatched.iter().take(UNMATCHED_SHOWN) {
            println!("  {:<24} {}", u.from_order, u.why);
        }
        if unmatched.len() > UNMATCHED_SHOWN {
            println!("  … and {} more (`ordersync links --json` lists them all)", unmatched.len() - UNMATCHED_SHOWN);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `SHOP:NO` split at its first colon (order numbers may hold colons; shop ids may not).
fn shop_order<'a>(flag: &str, text: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    match text.split_once(':') {
        Some((shop, no)) if !shop.is_empty() && !no.trim().is_empty() => Ok((shop, no.trim())),
        _ => bail!("--{flag} {text:?}: expected SHOP:ORDER_NO"),
    }
}

/// Runs a `link` subcommand.
pub fn run_link(rt: &Runtime, cmd: LinkCommand) -> anyhow::Result<ExitCode> {
    let LinkCommand::Add { from, to } = cmd;
    let (from_shop, from_order) = shop_order("from", &from)?;
    let (to_shop, to_order) = shop_order("to", &to)?;
    for (flag, shop) in [("from", from_shop), ("to", to_shop)] {
        if rt.shop(shop).is_none() {
            bail!("--{flag}: no shop `{shop}` in {}", rt.config.path.display());
        }
    }
    let Some(link) = rt.links.iter().find(|l| l.from == from_shop && l.to == to_shop) else {
        bail!("no [[links]] entry from `{from_shop}` to `{to_shop}` in {}", rt.config.path.display());
    };
    if link.matching != Matching::Table {
        bail!(
            "the link {from_shop} → {to_shop} matches by {}; order_links rows are read only by match = \"table\"",
            matching_name(&link.matching)
        );
    }
    let mut store = rt.store()?;
    let changed = store
        .link_add((from_shop, from_order), (to_shop, to_order), Utc::now())
        .with_context(|| format!("link add {from} → {to}"))?;
    let state = match store.link_state(from_shop, from_order, to_shop)? {
        None => "; the supplier order is not synced yet: it is matched when it is".to_string(),
        Some(Err(why)) => format!("; not matched yet: {why}"),
        Some(Ok(_)) => String::new(),
    };
    println!("{from} → {to}: {}{state}", if changed { "linked" } else { "already linked" });
    Ok(ExitCode::SUCCESS)
}
