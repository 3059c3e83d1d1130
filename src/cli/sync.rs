//! `ordersync sync`: one pass now, then exit (0 = every pass succeeded).

use crate::model::Stream;
use crate::runtime::Runtime;
use crate::sync::run_pass;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Which shops and streams to sync.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this shop.
    #[arg(long)]
    pub shop: Option<String>,
    /// Only this stream (orders, shipments, refunds).
    #[arg(long)]
    pub stream: Option<Stream>,
}

/// Runs the selected passes; shops in parallel, each shop's streams in turn.
pub async fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(id) = &args.shop {
        anyhow::ensure!(rt.shop(id).is_some(), "no shop `{id}` in {}", rt.config.path.display());
    }
    let cancel = CancellationToken::new();
    let shops = rt.shops.iter().filter(|s| args.shop.as_deref().is_none_or(|id| id == s.config.id));
    let passes = shops.map(|shop| {
        let cancel = cancel.clone();
        let streams: Vec<Stream> = match args.stream {
            Some(s) => vec![s],
            None => shop.config.schedule.keys().copied().collect(),
        };
        async move {
            let mut ok = true;
            for stream in streams {
                if !shop.connector.capabilities().streams.contains(&stream) {
                    eprintln!("shop `{}`: {} cannot sync `{stream}`", shop.config.id, shop.config.platform);
                    ok = false;
                    continue;
                }
                match run_pass(rt, shop, stream, &cancel).await {
                    Ok(r) => println!(
                        "{} {stream}: {} seen, {} new, {} changed, {} kept raw",
                        shop.config.id, r.counts.seen, r.counts.inserted, r.counts.updated, r.counts.rejected
                    ),
                    Err(e) => {
                        eprintln!("{e}");
                        ok = false;
                    }
                }
            }
            ok
        }
    });
    let results = futures_util::future::join_all(passes).await;
    Ok(if results.iter().all(|ok| *ok) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
