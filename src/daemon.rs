//! `ordersync run`: the long-running daemon — scheduler, signals, reload, drain.
//!
//! SIGHUP re-reads the file: a valid file swaps the jobs; an invalid one is refused with its
//! problems logged and the old jobs keep running. SIGTERM (or SIGINT) stops new runs, lets
//! running ones finish within `daemon.drain_timeout_secs`, and returns so the process exits 0.

use crate::runtime::{self, Runtime};
use crate::scheduler::Scheduler;
use crate::store::Store;
use crate::{holder, lease};
use crate::{metrics, notify};
use anyhow::Context;
use chrono::Utc;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Runs the daemon on the file at `config_path` until a stop signal or `stop` is cancelled.
pub async fn run(config_path: &Path, stop: CancellationToken) -> anyhow::Result<()> {
    let config = runtime::load_config(config_path)?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let database = config.daemon.database.clone();
    let mut store =
        Store::connect(&database, config.daemon.busy_timeout).with_context(|| "cannot open the database")?;
    let me = holder::init("daemon");
    store.register_holder(me, Utc::now()).context("cannot record this daemon as a holder")?;
    // A daemon that died on this host (SIGKILL, OOM, power cut of a VM) cannot have finished its
    // sends: what it held is taken back now rather than after its leases.
    let taken = lease::reap_dead(&mut store).context("cannot take back a dead process's claims")?;
    let mut rt = Arc::new(Runtime::new(config, None).map_err(anyhow::Error::msg)?);
    let jobs_cancel = CancellationToken::new();
    let mut sched = Scheduler::start(Arc::clone(&rt), jobs_cancel.clone()).await?;
    if taken.pushes > 0 {
        sched.flush_now(Arc::clone(&rt));
    }
    tracing::info!(config = %config_path.display(), %database, shops = rt.shops.len(), jobs = sched.job_count(), "ordersync running");

    let mut hup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    // The metrics server reads whichever runtime is current, across reloads.
    let shared = Arc::new(std::sync::RwLock::new(Arc::clone(&rt)));
    let metrics_stop = CancellationToken::new();
    if let Some(addr) = rt.config.daemon.metrics_listen {
        let (shared, stop) = (Arc::clone(&shared), metrics_stop.clone());
        tokio::spawn(async move {
            if let Err(e) = metrics::serve(addr, shared, stop).await {
                tracing::error!(%addr, error = %e, "cannot serve metrics");
            }
        });
    }
    let mut zone_check = tokio::time::interval(Duration::from_secs(60));
    // The watchdog is pinged from this loop, so a wedged loop gets the daemon restarted; without
    // a watchdog the timer still refreshes the status line now and then.
    let mut watchdog = tokio::time::interval(notify::watchdog_interval().unwrap_or(Duration::from_secs(30)));
    notify::ready(&status_line(&rt));
    loop {
        tokio::select! {
            _ = hup.recv() => {
                notify::reloading();
                reload(config_path, &mut rt, &mut sched).await;
                if let Ok(mut current) = shared.write() {
                    *current = Arc::clone(&rt);
                }
                notify::ready(&status_line(&rt));
            }
            _ = watchdog.tick() => {
                notify::ping();
                if let Err(e) = store.register_holder(me, Utc::now()) {
                    tracing::warn!(error = %e, "cannot refresh this daemon's holder record");
                }
                notify::status(&status_line(&rt));
            }
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); break }
            _ = int.recv() => { tracing::info!("SIGINT: draining"); break }
            _ = stop.cancelled() => { tracing::info!("stop requested: draining"); break }
            _ = zone_check.tick() => {
                if sched.zone_shifted(rt.config.daemon.timezone) {
                    tracing::info!(zone = %rt.config.daemon.timezone, "the zone's UTC offset changed (DST); rebuilding jobs");
                    if let Err(e) = sched.replace(Arc::clone(&rt)).await {
                        tracing::error!(error = %e, "rebuilding jobs failed; keeping the old ones");
                    }
                }
            }
        }
    }
    notify::stopping();
    metrics_stop.cancel();
    let drain = rt.config.daemon.drain_timeout;
    if sched.shutdown(drain).await {
        tracing::info!("all running jobs finished; exiting");
    } else {
        tracing::warn!(
            timeout_secs = drain.as_secs(),
            "drain timeout: leaving unfinished runs; their outbox leases let the next start pick them up"
        );
    }
    // Whatever is still claimed (a drain that timed out) is due again at once, read back first.
    if let Err(e) = lease::retire(&mut store) {
        tracing::warn!(error = %e, "cannot give back this daemon's claims; they end with their leases");
    }
    Ok(())
}

/// One line for `systemctl status`: shops, outbox depth, dead letters, the latest pass error.
fn status_line(rt: &Runtime) -> String {
    let figures = rt.store().and_then(|s| Ok((s.outbox_depths()?, s.stream_statuses()?)));
    match figures {
        Ok((outbox, streams)) => {
            let pending: u64 = outbox.iter().map(|o| o.pending + o.in_flight).sum();
            let dead: u64 = outbox.iter().map(|o| o.failed).sum();
            let failing: Vec<String> = streams
                .iter()
                .filter(|s| s.last_error.is_some())
                .map(|s| format!("{}/{}", s.shop_id, s.stream))
                .collect();
            let errors =
                if failing.is_empty() { "no errors".to_string() } else { format!("failing: {}", failing.join(", ")) };
            format!("{} shops; outbox {pending} pending, {dead} dead letters; {errors}", rt.shops.len())
        }
        Err(e) => format!("{} shops; database unreadable: {e}", rt.shops.len()),
    }
}

async fn reload(config_path: &Path, rt: &mut Arc<Runtime>, sched: &mut Scheduler) {
    let fresh = runtime::load_config(config_path).map_err(|e| e.to_string()).and_then(|c| Runtime::new(c, Some(rt)));
    match fresh {
        Ok(new_rt) => {
            let new_rt = Arc::new(new_rt);
            match sched.replace(Arc::clone(&new_rt)).await {
                Ok(()) => {
                    tracing::info!(
                        shops = new_rt.shops.len(),
                        jobs = sched.job_count(),
                        "SIGHUP: configuration reloaded"
                    );
                    *rt = new_rt;
                }
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: new jobs refused; the old schedule keeps running")
                }
            }
        }
        Err(e) => {
            tracing::error!("SIGHUP: configuration refused; the old schedule keeps running:\n{e}")
        }
    }
}
