//! `ordersync flush`: deliver every outbox entry that is due now, then exit.

use crate::push::flush_all;
use crate::runtime::Runtime;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Flushes once; exit 1 when an entry was left for a retry.
pub async fn run(rt: &Runtime) -> anyhow::Result<ExitCode> {
    let r = flush_all(rt, &CancellationToken::new()).await?;
    println!(
        "{} requests: {} done, {} found applied on read-back, {} failed, {} to retry",
        r.requests, r.done, r.read_back, r.failed, r.retried
    );
    if r.held > 0 {
        println!("{} shops left to another process that is flushing them now (see `ordersync status`)", r.held);
    }
    Ok(if r.retried == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
