//! `ordersync status [--json] [--check]`: per shop and stream the last success, lag against the
//! schedule, consecutive failures and the last error; per shop the outbox depth, the oldest
//! waiting entry, dead letters, pushes not yet confirmed by a sync, and backwards status moves.

use crate::runtime::Runtime;
use crate::scheduler::next_ticks;
use crate::store::{HolderRow, LeaseRow, ShopOutbox, StreamStatus};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::process::ExitCode;

/// Output options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when a stream is late or incomplete, a shop's credentials are refused, dead letters
    /// exist, or a supplier shipment stays unforwarded past three supplier schedule periods.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    state: StreamStatus,
    schedule: String,
    lag_secs: Option<i64>,
    late: bool,
    consecutive_failures: u32,
    credentials_refused: bool,
    /// The process holding this pass right now (a live lease), as `kind pid N on HOST`.
    held_by: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    streams: Vec<Row>,
    shops: Vec<ShopOutbox>,
    late: usize,
    credentials_refused: usize,
    dead_letters: u64,
    incomplete: usize,
    links: Vec<crate::store::LinkFigures>,
    /// Links whose oldest unforwarded shipment is older than three supplier schedule periods.
    links_overdue: Vec<String>,
    link_alerts: Vec<crate::store::LinkAlert>,
    /// Processes that hold or held claims on this database.
    holders: Vec<HolderRow>,
}

/// A stream is late when it has not succeeded within three of its schedule's periods.
fn late(schedule: &str, tz: chrono_tz::Tz, last_success: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    let Some(last) = last_success else {
        return true;
    };
    let period = match next_ticks(schedule, tz, now, 2).as_deref() {
        Ok([a, b]) => *b - *a,
        _ => Duration::hours(1),
    };
    now - last > period * 3
}

/// Who holds `shop` × `job` now: a lease that has not run out.
fn live_holder(leases: &[LeaseRow], shop: &str, job: &str, now: DateTime<Utc>) -> Option<String> {
    let l = leases.iter().find(|l| l.shop_id == shop && l.job == job)?;
    (parse(Some(&l.lease_until))? > now).then(|| l.held_by())
}

fn parse(t: Option<&str>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

/// Prints the report; with `--check`, exit 1 when something needs attention.
pub fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let store = rt.store()?;
    let now = Utc::now();
    let states = store.stream_statuses()?;
    let outbox = store.outbox_depths()?;
    let leases = store.leases(None)?;
    let mut rows = Vec::new();
    let mut shops = Vec::new();
    for shop in &rt.shops {
        let id = &shop.config.id;
        for (stream, schedule) in &shop.config.schedule {
            let state = states.iter().find(|s| s.shop_id == *id && s.stream == stream.as_str()).cloned().unwrap_or(
                StreamStatus {
                    shop_id: id.clone(),
                    stream: stream.to_string(),
                    cursor: None,
                    last_started_at: None,
                    last_finished_at: None,
                    last_success_at: None,
                    last_error: None,
                    incomplete: None,
                },
            );
            let success = parse(state.last_success_at.as_deref());
            rows.push(Row {
                lag_secs: success.map(|t| (now - t).num_seconds()),
                late: late(&schedule.cron, rt.config.daemon.timezone, success, now),
                consecutive_failures: store.consecutive_failures(id, stream.as_str())?,
                credentials_refused: state.last_error.as_deref().is_some_and(|e| e.contains("credentials refused")),
                schedule: schedule.text.clone(),
                held_by: live_holder(&leases, id, stream.as_str(), now),
                state,
            });
        }
        let mut figures = outbox
            .iter()
            .find(|o| o.shop_id == *id)
            .cloned()
            .unwrap_or_else(|| ShopOutbox { shop_id: id.clone(), ..ShopOutbox::default() });
        figures.regressions = store.regressions(id)?;
        shops.push(figures);
    }
    let link_figures = super::links::figures(rt, now)?;
    let links_overdue =
        link_figures.iter().filter(|(_, overdue)| *overdue).map(|(f, _)| format!("{} → {}", f.from, f.to)).collect();
    let report = Report {
        links: link_figures.into_iter().map(|(f, _)| f).collect(),
        links_overdue,
        link_alerts: store.link_alerts()?,
        late: rows.iter().filter(|r| r.late).count(),
        credentials_refused: rows.iter().filter(|r| r.credentials_refused).count(),
        dead_letters: shops.iter().map(|o| o.failed).sum(),
        incomplete: rows.iter().filter(|r| r.state.incomplete.is_some()).count(),
        streams: rows,
        shops,
        holders: store.holders()?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report, now);
    }
    let healthy = report.late == 0
        && report.dead_letters == 0
        && report.credentials_refused == 0
        && report.incomplete == 0
        && report.links_overdue.is_empty();
    Ok(if args.check && !healthy { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Link alerts the table shows; they are kept, so a busy year holds thousands.
const ALERTS_SHOWN: usize = 50;

fn print_table(r: &Report, now: DateTime<Utc>) {
    println!(
        "{:<16} {:<10} {:<20} {:>8} {:<5} {:>5}  {:<28} LAST ERROR",
        "SHOP", "STREAM", "LAST SUCCESS", "LAG", "LATE", "FAILS", "HELD BY"
    );
    for row in &r.streams {
        let s = &row.state;
        println!(
            "{:<16} {:<10} {:<20} {:>8} {:<5} {:>5}  {:<28} {}",
            s.shop_id,
            s.stream,
            s.last_success_at.as_deref().map(|t| t.get(..19).unwrap_or(t)).unwrap_or("never"),
            row.lag_secs.map(|l| format!("{l}s")).unwrap_or_else(|| "-".into()),
            if row.late { "yes" } else { "no" },
            row.consecutive_failures,
            row.held_by.as_deref().unwrap_or("-"),
            match (&s.last_error, &s.incomplete) {
                (Some(e), _) => e.clone(),
                (None, Some(short)) => format!("INCOMPLETE: {short}"),
                (None, None) => String::new(),
            }
        );
    }
    println!();
    println!(
        "{:<16} {:>8} {:>9} {:>14} {:>8} {:>13} {:>12} {:>12}",
        "SHOP", "PENDING", "IN FLIGHT", "OLDEST WAITING", "DONE", "DEAD LETTERS", "UNCONFIRMED", "REGRESSIONS"
    );
    for o in &r.shops {
        let oldest = parse(o.oldest_pending_at.as_deref()).map(|t| format!("{}s", (now - t).num_seconds()));
        println!(
            "{:<16} {:>8} {:>9} {:>14} {:>8} {:>13} {:>12} {:>12}",
            o.shop_id,
            o.pending,
            o.in_flight,
            oldest.as_deref().unwrap_or("-"),
            o.done,
            o.failed,
            o.unconfirmed,
            o.regressions
        );
    }
    if !r.links.is_empty() {
        println!();
        println!("{:<28} {:>9} {:>7} {:>6}  OLDEST UNFORWARDED", "LINK", "FORWARDED", "WAITING", "FAILED");
        for f in &r.links {
            let link = format!("{} → {}", f.from, f.to);
            let oldest = parse(f.oldest_unforwarded_at.as_deref()).map(|t| format!("{}s", (now - t).num_seconds()));
            let overdue = if r.links_overdue.contains(&link) { " OVERDUE" } else { "" };
            println!(
                "{link:<28} {:>9} {:>7} {:>6}  {}{overdue}",
                f.forwarded,
                f.waiting,
                f.failed,
                oldest.as_deref().unwrap_or("-")
            );
        }
    }
    if !r.link_alerts.is_empty() {
        println!();
        println!("LINK ALERTS (storefront order ← supplier order), newest first");
        for a in r.link_alerts.iter().take(ALERTS_SHOWN) {
            let cancel = a.cancel_state.as_deref().map(|s| format!(" [cancel push: {s}]")).unwrap_or_default();
            println!(
                "{} {}:{} ← {}:{}  {}: {}{cancel}",
                a.raised_at.get(..19).unwrap_or(&a.raised_at),
                a.to_shop,
                a.to_order,
                a.from_shop,
                a.from_order,
                a.kind,
                a.detail
            );
        }
        if r.link_alerts.len() > ALERTS_SHOWN {
            println!("… and {} older (`status --json` lists them all)", r.link_alerts.len() - ALERTS_SHOWN);
        }
    }
    if !r.holders.is_empty() {
        println!();
        println!("{:<10} {:>8} {:<24} {:<24} ID", "PROCESS", "PID", "HOST", "LAST SEEN");
        for h in &r.holders {
            println!("{:<10} {:>8} {:<24} {:<24} {}", h.kind, h.pid, h.host, h.seen_at, h.id);
        }
    }
    println!();
    println!(
        "{} late stream(s), {} incomplete, {} with refused credentials, {} dead letter(s), {} overdue link(s), {} link alert(s)",
        r.late,
        r.incomplete,
        r.credentials_refused,
        r.dead_letters,
        r.links_overdue.len(),
        r.link_alerts.len()
    );
}
