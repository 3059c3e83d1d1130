//! `ordersync status [--json] [--check]`: per shop and stream, last run, lag, errors, outbox depth.

use crate::runtime::Runtime;
use crate::scheduler::next_ticks;
use crate::store::{ShopOutbox, StreamStatus};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::process::ExitCode;

/// Output options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit non-zero when a stream is late or dead letters exist (for monitoring).
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
}

#[derive(Debug, Serialize)]
struct Report {
    streams: Vec<Row>,
    outbox: Vec<ShopOutbox>,
    late: usize,
    dead_letters: u64,
}

/// A stream is late when it has not succeeded within two schedule intervals plus a minute.
fn late(schedule: &str, tz: chrono_tz::Tz, last_success: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    let Some(last) = last_success else {
        return true;
    };
    let interval = match next_ticks(schedule, tz, now, 2).as_deref() {
        Ok([a, b]) => *b - *a,
        _ => Duration::hours(1),
    };
    now - last > interval * 2 + Duration::minutes(1)
}

/// Prints the report; with `--check`, exit 1 when something needs attention.
pub fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let store = rt.store()?;
    let now = Utc::now();
    let states = store.stream_statuses()?;
    let mut rows = Vec::new();
    for shop in &rt.shops {
        for (stream, schedule) in &shop.config.schedule {
            let state =
                states.iter().find(|s| s.shop_id == shop.config.id && s.stream == stream.as_str()).cloned().unwrap_or(
                    StreamStatus {
                        shop_id: shop.config.id.clone(),
                        stream: stream.to_string(),
                        cursor: None,
                        last_started_at: None,
                        last_finished_at: None,
                        last_success_at: None,
                        last_error: None,
                    },
                );
            let success = state
                .last_success_at
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            rows.push(Row {
                lag_secs: success.map(|t| (now - t).num_seconds()),
                late: late(&schedule.cron, rt.config.daemon.timezone, success, now),
                schedule: schedule.text.clone(),
                state,
            });
        }
    }
    let outbox = store.outbox_depths()?;
    let report = Report {
        late: rows.iter().filter(|r| r.late).count(),
        dead_letters: outbox.iter().map(|o| o.failed).sum(),
        streams: rows,
        outbox,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    let healthy = report.late == 0 && report.dead_letters == 0;
    Ok(if args.check && !healthy { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_table(r: &Report) {
    println!("{:<16} {:<10} {:<21} {:>8}  {:<5} LAST ERROR", "SHOP", "STREAM", "LAST SUCCESS", "LAG", "LATE");
    for row in &r.streams {
        let s = &row.state;
        println!(
            "{:<16} {:<10} {:<21} {:>8}  {:<5} {}",
            s.shop_id,
            s.stream,
            s.last_success_at.as_deref().map(|t| t.get(..19).unwrap_or(t)).unwrap_or("never"),
            row.lag_secs.map(|l| format!("{l}s")).unwrap_or_else(|| "-".into()),
            if row.late { "yes" } else { "no" },
            s.last_error.as_deref().unwrap_or("")
        );
    }
    println!();
    println!("{:<16} {:>8} {:>9} {:>8} {:>13}", "OUTBOX", "PENDING", "IN FLIGHT", "DONE", "DEAD LETTERS");
    for o in &r.outbox {
        println!("{:<16} {:>8} {:>9} {:>8} {:>13}", o.shop_id, o.pending, o.in_flight, o.done, o.failed);
    }
    println!();
    println!("{} late stream(s), {} dead letter(s)", r.late, r.dead_letters);
}
