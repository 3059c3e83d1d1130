//! Schedules tick where an admin expects: in Asia/Shanghai, and across a DST change.

use chrono::{TimeZone, Utc};
use ordersync::config::normalize_cron;
use ordersync::scheduler::next_ticks;
use tokio_cron_scheduler::{Job, JobScheduler};

#[test]
fn shanghai_schedules_tick_in_shanghai_time() {
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let from = Utc.with_ymd_and_hms(2026, 11, 26, 1, 0, 0).unwrap();
    // 08:00 in Shanghai is 00:00 UTC; the next one after 01:00 UTC is tomorrow's.
    let ticks = next_ticks(&normalize_cron("0 8 * * *").unwrap(), tz, from, 2).unwrap();
    assert_eq!(
        ticks,
        vec![
            Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap()
        ]
    );
}

#[test]
fn a_dst_zone_keeps_local_wall_clock_time_across_the_change() {
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    // DST ends on 2026-11-01 at 02:00 local: 09:00 local is 13:00 UTC before, 14:00 UTC after.
    let from = Utc.with_ymd_and_hms(2026, 10, 31, 0, 0, 0).unwrap();
    let ticks = next_ticks("0 0 9 * * *", tz, from, 2).unwrap();
    assert_eq!(
        ticks,
        vec![
            Utc.with_ymd_and_hms(2026, 10, 31, 13, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 1, 14, 0, 0).unwrap()
        ]
    );
}

/// The pinned tokio-cron-scheduler must not fire a time-zone job at the UTC reading of its line
/// (upstream issue #105): its first tick must equal ours.
#[tokio::test]
async fn the_scheduler_library_agrees_on_the_first_tick_in_shanghai() {
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let mut sched = JobScheduler::new().await.unwrap();
    let cron = "0 0 8 * * *";
    let id = sched.add(Job::new_async_tz(cron, tz, |_, _| Box::pin(async {})).unwrap()).await.unwrap();
    let lib = sched.next_tick_for_job(id).await.unwrap().expect("a next tick");
    let ours = next_ticks(cron, tz, Utc::now(), 1).unwrap()[0];
    assert_eq!(lib, ours);
}

#[test]
fn an_every_second_schedule_ticks_every_second() {
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let ticks = next_ticks("* * * * * *", tz, Utc::now(), 2).unwrap();
    assert_eq!(ticks.len(), 2, "{ticks:?}");
    assert_eq!((ticks[1] - ticks[0]).num_seconds(), 1, "{ticks:?}");
}
