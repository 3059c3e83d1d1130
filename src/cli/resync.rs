//! `ordersync resync --shop ID [--since DATE]`: make the next passes re-read a period.

use crate::runtime::Runtime;
use anyhow::bail;
use chrono::NaiveDate;
use std::process::ExitCode;

/// Which shop and from when.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shop.
    #[arg(long)]
    pub shop: String,
    /// First day to re-read (YYYY-MM-DD); without it, the next pass is a full backfill.
    #[arg(long)]
    pub since: Option<NaiveDate>,
}

/// Rewinds the cursors of every stream of the shop.
pub fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let Some(shop) = rt.shop(&args.shop) else { bail!("no shop `{}` in {}", args.shop, rt.config.path.display()) };
    let mut store = rt.store()?;
    for stream in shop.connector.capabilities().streams {
        let cursor = args.since.and_then(|d| shop.connector.resync_cursor(*stream, d));
        store.set_cursor(&shop.config.id, *stream, cursor.as_deref())?;
        println!(
            "{} {stream}: the next pass re-reads from {}",
            shop.config.id,
            cursor
                .as_deref()
                .map_or("the backfill start".into(), |_| args.since.map(|d| d.to_string()).unwrap_or_default())
        );
    }
    Ok(ExitCode::SUCCESS)
}
