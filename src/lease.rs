//! Holding a shop's job across processes: take its lease, keep the lease renewed while working,
//! give it back; and take back at once what a provably dead process on this host held.
//!
//! A job is a shop × stream pass or a shop's flush. One process at a time holds each, whether it
//! is this daemon, an admin's `ordersync sync`, or another instance on the same database.

use crate::holder::{self, Liveness};
use crate::runtime::Runtime;
use crate::store::{HolderRow, Lease, Store, StoreError, TakenBack};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What to do when another process holds the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenHeld {
    /// Wait until it is free (the command line: the admin asked for this pass now).
    Wait,
    /// Leave it to the holder (the daemon's schedule: the holder is doing this tick's work).
    /// With the schedule tick the run is for, a tick another process has already run is left
    /// too: every instance schedules every shop, and one of them runs each tick.
    Skip(Option<DateTime<Utc>>),
}

/// The outcome of [`take`].
#[derive(Debug)]
pub enum Hold {
    /// This process holds the job.
    Taken(Lease),
    /// Another process holds it; how `status` would name that process.
    Skipped(String),
    /// Cancelled while waiting.
    Cancelled,
}

/// How often a waiting taker looks again.
const WAIT_STEP: Duration = Duration::from_millis(250);

/// Takes the lease on `shop_id` × `job`, taking back first what a provably dead holder held.
pub async fn take(
    rt: &Runtime,
    store: &mut Store,
    shop_id: &str,
    job: &str,
    when: WhenHeld,
    cancel: &CancellationToken,
) -> Result<Hold, StoreError> {
    let me = holder::this();
    store.register_holder(me, Utc::now())?;
    let tick = match when {
        WhenHeld::Skip(tick) => tick,
        WhenHeld::Wait => None,
    };
    let mut waiting_logged = false;
    loop {
        let held = match store.take_lease(shop_id, job, &me.id, Utc::now(), rt.config.push.lease, tick)? {
            Ok(lease) => return Ok(Hold::Taken(lease)),
            Err(held) => held,
        };
        if let Some(h) = &held.holder {
            if let Liveness::Dead(why) = holder::liveness(&h.host, h.pid, &h.started) {
                take_back(store, h, why)?;
                continue;
            }
        }
        let by = held.held_by();
        match when {
            WhenHeld::Skip(_) => return Ok(Hold::Skipped(by)),
            WhenHeld::Wait => {
                if !waiting_logged {
                    tracing::info!(
                        shop = shop_id,
                        job,
                        holder = by,
                        until = held.lease_until,
                        "waiting: another process holds this job"
                    );
                    waiting_logged = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(WAIT_STEP) => {}
                    () = cancel.cancelled() => return Ok(Hold::Cancelled),
                }
            }
        }
    }
}

/// Runs `work` while renewing `lease` every third of its length (the caller gives it back with
/// [`give_back`]). Returns `None` when the lease was lost meanwhile (this process stalled past
/// it and another took the job): `work` is then dropped at its next await, before another commit.
pub async fn renewing<F: Future>(rt: &Runtime, lease: &Lease, work: F) -> Option<F::Output> {
    let length = rt.config.push.lease;
    let renew = async {
        let mut store = None;
        let mut tick = tokio::time::interval((length / 3).max(Duration::from_millis(100)));
        tick.tick().await;
        loop {
            tick.tick().await;
            if store.is_none() {
                store = rt
                    .store()
                    .map_err(|e| tracing::warn!(error = %e, "cannot open the database to renew a lease"))
                    .ok();
            }
            let Some(s) = store.as_mut() else { continue };
            match s.renew_lease(lease, Utc::now(), length) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(shop = lease.shop_id, job = lease.job, error = %e, "cannot renew the lease; retrying")
                }
            }
        }
    };
    tokio::select! {
        out = work => Some(out),
        () = renew => {
            tracing::error!(shop = lease.shop_id, job = lease.job, "lost the lease to another process; stopping this job");
            None
        }
    }
}

/// Gives a lease back through the job's own connection (a no-op when it is no longer ours).
pub fn give_back(store: &mut Store, lease: &Lease) {
    if let Err(e) = store.drop_lease(lease, Utc::now()) {
        tracing::warn!(shop = lease.shop_id, job = lease.job, error = %e, "cannot give the lease back; it ends by itself");
    }
}

/// Takes back what every provably dead holder on this host held; what was taken back in all.
pub fn reap_dead(store: &mut Store) -> Result<TakenBack, StoreError> {
    let mut all = TakenBack::default();
    for h in store.holders()? {
        if h.id == holder::this().id {
            continue;
        }
        if let Liveness::Dead(why) = holder::liveness(&h.host, h.pid, &h.started) {
            let t = take_back(store, &h, why)?;
            all.pushes += t.pushes;
            all.leases += t.leases;
        }
    }
    Ok(all)
}

fn take_back(store: &mut Store, h: &HolderRow, why: &str) -> Result<TakenBack, StoreError> {
    let t = store.take_back(&h.id, Utc::now())?;
    tracing::warn!(
        holder = h.describe(),
        why,
        pushes = t.pushes,
        leases = t.leases,
        "took back the claims of a dead process; its pushes are read back before any resend"
    );
    Ok(t)
}

/// Gives back everything this process still holds, as it exits.
pub fn retire(store: &mut Store) -> Result<TakenBack, StoreError> {
    store.take_back(&holder::this().id, Utc::now())
}
