//! `ordersync outbox list|retry|cancel`: look at and manage the outbox.

use crate::runtime::Runtime;
use anyhow::bail;
use chrono::Utc;
use std::process::ExitCode;

/// Outbox subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum OutboxCommand {
    /// List entries, oldest first.
    List {
        /// Only entries in this state (pending, in_flight, done, failed).
        #[arg(long, value_parser = ["pending", "in_flight", "done", "failed"])]
        state: Option<String>,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Put a failed entry (or all of them) back in the queue.
    Retry {
        /// The entry id.
        id: Option<i64>,
        /// Every failed entry.
        #[arg(long, conflicts_with = "id")]
        all_failed: bool,
    },
    /// Delete a pending or failed entry.
    Cancel {
        /// The entry id.
        id: i64,
    },
}

/// Runs an outbox subcommand.
pub fn run(rt: &Runtime, cmd: OutboxCommand) -> anyhow::Result<ExitCode> {
    let mut store = rt.store()?;
    match cmd {
        OutboxCommand::List { state, json } => {
            for row in store.outbox_list(state.as_deref())? {
                if json {
                    println!("{}", serde_json::to_string(&row)?);
                } else {
                    println!(
                        "#{:<6} {:<12} {:<7} {:<20} {:<9} attempts={} {}{}",
                        row.id,
                        row.shop_id,
                        row.kind,
                        row.order_no,
                        row.state,
                        row.attempts,
                        row.payload,
                        row.last_error.map(|e| format!("  error: {e}")).unwrap_or_default()
                    );
                }
            }
        }
        OutboxCommand::Retry { id, all_failed } => {
            if id.is_none() && !all_failed {
                bail!("give an entry id or --all-failed");
            }
            let n = store.outbox_retry(id, Utc::now())?;
            if n == 0 && id.is_some() {
                bail!("entry #{} is not failed (or does not exist)", id.unwrap_or_default());
            }
            println!("{n} entr{} queued again", if n == 1 { "y" } else { "ies" });
        }
        OutboxCommand::Cancel { id } => match store.outbox_cancel(id)?.as_deref() {
            Some("pending" | "failed") => println!("entry #{id} cancelled"),
            Some(state) => {
                bail!("entry #{id} is {state}; only pending or failed entries can be cancelled")
            }
            None => bail!("no outbox entry #{id}"),
        },
    }
    Ok(ExitCode::SUCCESS)
}
