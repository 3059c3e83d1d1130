//! Cron jobs built from the configuration: one per shop × stream, plus the outbox flush.
//!
//! Architecture invariant: a job never runs twice at once. Each shop × stream has a busy flag
//! that outlives reloads, so a run still going from the old schedule blocks the new one too.
//!
//! tokio-cron-scheduler fixes a time-zone job's UTC offset when the job is created (upstream
//! issue #107), so across a DST change its ticks would drift by an hour. [`zone_offset`] lets the
//! daemon notice the zone's offset change and rebuild the jobs, which recomputes the offset.

use crate::lease::WhenHeld;
use crate::model::Stream;
use crate::platforms::SyncError;
use crate::push;
use crate::runtime::Runtime;
use crate::sync;
use chrono::{Offset, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// A scheduling failure (a cron line the library refused, or the scheduler itself).
#[derive(Debug, thiserror::Error)]
#[error("scheduler: {0}")]
pub struct SchedulerError(String);

/// The daemon's jobs and the work they started.
pub struct Scheduler {
    sched: JobScheduler,
    jobs: Vec<Uuid>,
    busy: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    offset_secs: i32,
    /// Permits for sync passes running at once (`[daemon] parallel_passes`, see [`PARALLEL_PASSES`]).
    passes: Arc<Semaphore>,
}

/// Most sync passes running at once unless `[daemon] parallel_passes` says otherwise. Hundreds
/// of shops on one schedule all tick in the same second; unbounded, every pass holds its
/// connection, buffers and rows at the same moment and the daemon's peak memory grows with the
/// number of shops. Commits queue on SQLite's one writer
/// anyway; 32 keep plenty of slow vendor calls in flight.
pub const PARALLEL_PASSES: usize = 32;

/// The current UTC offset of `tz`, in seconds.
pub fn zone_offset(tz: Tz) -> i32 {
    tz.offset_from_utc_datetime(&Utc::now().naive_utc()).fix().local_minus_utc()
}

impl Scheduler {
    /// Starts the scheduler with the jobs of `rt`. `cancel` stops new runs when cancelled.
    pub async fn start(rt: Arc<Runtime>, cancel: CancellationToken) -> Result<Scheduler, SchedulerError> {
        // Every job of a schedule fires in the same second; the library's channels (200 by
        // default) drop what does not fit ("Lagged"), and a dropped activation is a tick never
        // run. Room for every job twice over (and for shops a reload adds).
        let jobs: usize = rt.shops.iter().map(|s| s.config.schedule.len()).sum::<usize>() + 1;
        let sched = JobScheduler::new_with_channel_size((2 * jobs).max(4096))
            .await
            .map_err(|e| SchedulerError(e.to_string()))?;
        let mut s = Scheduler {
            sched,
            jobs: Vec::new(),
            busy: Arc::default(),
            tracker: TaskTracker::new(),
            cancel,
            offset_secs: zone_offset(rt.config.daemon.timezone),
            passes: Arc::new(Semaphore::new(rt.config.daemon.parallel_passes)),
        };
        s.install(rt).await?;
        s.sched.start().await.map_err(|e| SchedulerError(e.to_string()))?;
        Ok(s)
    }

    /// Replaces every job with those of `rt`; on error the old jobs stay.
    pub async fn replace(&mut self, rt: Arc<Runtime>) -> Result<(), SchedulerError> {
        let old = std::mem::take(&mut self.jobs);
        if let Err(e) = self.install(rt).await {
            for id in std::mem::replace(&mut self.jobs, old) {
                let _ = self.sched.remove(&id).await;
            }
            return Err(e);
        }
        for id in old {
            self.sched.remove(&id).await.map_err(|e| SchedulerError(e.to_string()))?;
        }
        Ok(())
    }

    /// True when the configured zone's UTC offset changed since the jobs were built (DST).
    pub fn zone_shifted(&self, tz: Tz) -> bool {
        zone_offset(tz) != self.offset_secs
    }

    /// Number of installed jobs.
    pub fn job_count(&self) -> usize {
        self.jobs.len()
    }

    async fn install(&mut self, rt: Arc<Runtime>) -> Result<(), SchedulerError> {
        let tz = rt.config.daemon.timezone;
        self.offset_secs = zone_offset(tz);
        for shop in &rt.shops {
            for (stream, schedule) in &shop.config.schedule {
                let key = format!("{}/{}", shop.config.id, stream);
                let work = Work {
                    passes: Some(Arc::clone(&self.passes)),
                    rt: Arc::clone(&rt),
                    target: Target::Sync { shop: shop.config.id.clone(), stream: *stream },
                };
                self.add(&key, &schedule.cron, tz, work).await?;
            }
        }
        let work = Work { rt: Arc::clone(&rt), target: Target::Flush, passes: None };
        self.add("outbox", &rt.config.push.schedule.cron, tz, work).await?;
        Ok(())
    }

    async fn add(&mut self, key: &str, cron: &str, tz: Tz, work: Work) -> Result<(), SchedulerError> {
        let busy = Arc::clone(
            self.busy
                .lock()
                .map_err(|_| SchedulerError("busy map poisoned".into()))?
                .entry(key.to_string())
                .or_default(),
        );
        let tracker = self.tracker.clone();
        let cancel = self.cancel.clone();
        let key_owned = key.to_string();
        let work = Arc::new(work);
        let job = Job::new_async_tz(cron, tz, move |_, _| {
            let (busy, tracker, cancel, key, work) =
                (Arc::clone(&busy), tracker.clone(), cancel.clone(), key_owned.clone(), Arc::clone(&work));
            Box::pin(async move {
                if cancel.is_cancelled() {
                    return;
                }
                if !start(busy, &tracker, cancel, work) {
                    tracing::info!(job = key, "skipped: the previous run is still going");
                }
            })
        })
        .map_err(|e| SchedulerError(format!("job `{key}`: cron line `{cron}`: {e}")))?;
        let id = self.sched.add(job).await.map_err(|e| SchedulerError(e.to_string()))?;
        self.jobs.push(id);
        Ok(())
    }

    /// Runs the outbox flush now, outside its schedule (unless a flush is already running):
    /// after taking back a dead process's pushes, they are due at once.
    pub fn flush_now(&self, rt: Arc<Runtime>) {
        let Ok(mut busy) = self.busy.lock() else { return };
        let busy = Arc::clone(busy.entry("outbox".to_string()).or_default());
        start(busy, &self.tracker, self.cancel.clone(), Arc::new(Work { rt, target: Target::Flush, passes: None }));
    }

    /// Stops new runs, waits up to `drain` for running ones; true when all finished in time.
    pub async fn shutdown(mut self, drain: Duration) -> bool {
        self.cancel.cancel();
        let _ = self.sched.shutdown().await;
        self.tracker.close();
        tokio::time::timeout(drain, self.tracker.wait()).await.is_ok()
    }
}

/// Runs `work` on `tracker` now, unless `busy` says the job's previous run is still going
/// (then false); `busy` is cleared when the run ends.
fn start(busy: Arc<AtomicBool>, tracker: &TaskTracker, cancel: CancellationToken, work: Arc<Work>) -> bool {
    if busy.swap(true, Ordering::SeqCst) {
        return false;
    }
    let fired = Utc::now();
    tracker.spawn(async move {
        work.run(&cancel, fired).await;
        busy.store(false, Ordering::SeqCst);
    });
    true
}

enum Target {
    Sync { shop: String, stream: Stream },
    Flush,
}

struct Work {
    rt: Arc<Runtime>,
    target: Target,
    /// Sync passes wait for a permit; the flush does not (it is one job).
    passes: Option<Arc<Semaphore>>,
}

impl Work {
    async fn run(&self, cancel: &CancellationToken, fired: chrono::DateTime<Utc>) {
        match &self.target {
            Target::Sync { shop, stream } => {
                let Some(shop) = self.rt.shop(shop) else {
                    return;
                };
                // Taken before waiting for a permit: the tick is when the schedule fired.
                let tick =
                    shop.config.schedule.get(stream).map(|s| tick_of(&s.cron, self.rt.config.daemon.timezone, fired));
                let _permit = match &self.passes {
                    Some(passes) => tokio::select! {
                        permit = passes.acquire() => permit.ok(),
                        () = cancel.cancelled() => return,
                    },
                    None => None,
                };
                match sync::run_pass_with(&self.rt, shop, *stream, cancel, WhenHeld::Skip(tick)).await {
                    Err(e) if matches!(e.source, SyncError::Interrupted) => {
                        tracing::info!(shop = shop.config.id, %stream, "sync pass stopped for shutdown; its committed pages stand")
                    }
                    Err(e) => tracing::error!(error = %e, "sync pass failed"),
                    Ok(_) => {}
                }
            }
            Target::Flush => {
                match push::flush_all(&self.rt, cancel).await {
                    Ok(r) if r.requests + r.read_back + r.failed > 0 => {
                        tracing::info!(
                            requests = r.requests,
                            done = r.done,
                            read_back = r.read_back,
                            failed = r.failed,
                            retried = r.retried,
                            "outbox flushed"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "outbox flush failed"),
                }
                let pruned =
                    self.rt.store().and_then(|mut s| s.prune(self.rt.config.daemon.retention_days, Utc::now()));
                match pruned {
                    Ok(n) if n > 0 => {
                        tracing::info!(rows = n, "pruned delivered outbox rows and old run records")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "pruning failed"),
                }
            }
        }
    }
}

/// The schedule tick a job that fired at `fired` runs for: the last tick of `cron` at or before
/// it (a job fires within moments of its tick; past 5 s late, the whole second it fired in).
/// Every instance computes the same tick, so one of them runs it.
pub fn tick_of(cron: &str, tz: Tz, fired: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    let whole = chrono::Timelike::with_nanosecond(&fired, 0).unwrap_or(fired);
    let recent = next_ticks(cron, tz, fired - chrono::Duration::seconds(5), 10).unwrap_or_default();
    recent.into_iter().take_while(|t| *t <= fired).last().unwrap_or(whole)
}

/// The next `n` ticks of a 6-field cron line read in `tz`, after `after` — parsed exactly as
/// tokio-cron-scheduler parses it. Used by `status` (is a stream late?) and by the tests.
pub fn next_ticks(
    cron: &str,
    tz: Tz,
    after: chrono::DateTime<Utc>,
    n: usize,
) -> Result<Vec<chrono::DateTime<Utc>>, String> {
    let parsed = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(cron)
        .map_err(|e| e.to_string())?;
    // Cron ticks fall on whole seconds; croner would otherwise carry `after`'s fraction along.
    let after = chrono::Timelike::with_nanosecond(&after, 0).unwrap_or(after);
    // One find_next_occurrence per tick, as the scheduler itself does: croner's iterator skips
    // every other tick of a per-second line.
    let mut ticks = Vec::with_capacity(n);
    let mut at = after.with_timezone(&tz);
    while ticks.len() < n {
        at = parsed.find_next_occurrence(&at, false).map_err(|e| e.to_string())?;
        ticks.push(at.with_timezone(&Utc));
    }
    Ok(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_job_fired_late_still_names_its_tick() {
        let tz = chrono_tz::Asia::Shanghai;
        let at = |h, m, s, ms| Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).unwrap() + chrono::Duration::milliseconds(ms);
        // Every minute: fired 1.7 s late, or at once, it is the minute's tick.
        assert_eq!(tick_of("0 * * * * *", tz, at(4, 10, 1, 700)), at(4, 10, 0, 0));
        assert_eq!(tick_of("0 * * * * *", tz, at(4, 10, 0, 3)), at(4, 10, 0, 0));
        // Every second: the second it fired in.
        assert_eq!(tick_of("* * * * * *", tz, at(4, 10, 7, 420)), at(4, 10, 7, 0));
        // Far too late for its tick: the whole second it fired in (never a later tick).
        assert_eq!(tick_of("0 * * * * *", tz, at(4, 10, 30, 500)), at(4, 10, 30, 0));
    }
}
