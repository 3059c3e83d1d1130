//! Date windows for list endpoints that filter on whole days: the span a pass must cover,
//! split into windows no longer than a platform allows.

use super::values::cst;
use super::SyncRequest;
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Days a later pass re-reads before its saved cursor day, so edits late on that day are seen.
pub const OVERLAP_DAYS: u32 = 1;
/// How a day appears in cursors and in vendors' date parameters.
const DAY: &str = "%Y-%m-%d";

/// The days an orders pass covers in China Standard Time: from the saved day cursor (minus the
/// overlap), or `backfill_days` back on the first pass, through today; with `lookback`, widened
/// to start no later than `lookback_days` ago (platforms without a modified-time filter).
pub fn pass_span(req: &SyncRequest, lookback: bool) -> DayWindow {
    let cursor = req.cursor.as_deref().and_then(|c| match NaiveDate::parse_from_str(c, DAY) {
        Ok(day) => Some(day),
        Err(_) => {
            tracing::warn!(cursor = c, "unreadable day cursor; starting over from the backfill");
            None
        }
    });
    let span = span(cursor, req.now, cst(), req.backfill_days, OVERLAP_DAYS);
    if lookback {
        span.reach_back(req.lookback_days)
    } else {
        span
    }
}

/// The day cursor that makes the next pass start at `since`.
pub fn resync_cursor(since: NaiveDate) -> String {
    (since + Duration::days(i64::from(OVERLAP_DAYS))).format(DAY).to_string()
}

/// A day as vendors' date parameters write it.
pub fn day(d: NaiveDate) -> String {
    d.format(DAY).to_string()
}

/// An inclusive span of calendar days (in the vendor's zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayWindow {
    /// First day, inclusive.
    pub start: NaiveDate,
    /// Last day, inclusive.
    pub end: NaiveDate,
}

/// The days a pass covers: from the saved cursor day minus `overlap_days` (or `backfill_days`
/// before today on the first run) through today, all in `zone`-local days.
pub fn span(
    cursor: Option<NaiveDate>,
    now: DateTime<Utc>,
    zone: chrono::FixedOffset,
    backfill_days: u32,
    overlap_days: u32,
) -> DayWindow {
    let today = now.with_timezone(&zone).date_naive();
    let start = match cursor {
        Some(day) => day - Duration::days(i64::from(overlap_days)),
        None => today - Duration::days(i64::from(backfill_days)),
    };
    DayWindow { start: start.min(today), end: today }
}

impl DayWindow {
    /// Widens the span to start no later than `days` before its end: platforms that filter on
    /// creation date re-read a look-back window on every pass to see changes to older orders.
    pub fn reach_back(self, days: u32) -> DayWindow {
        DayWindow { start: self.start.min(self.end - Duration::days(i64::from(days))), end: self.end }
    }

    /// Splits the span into consecutive windows of at most `max_days` days each, oldest first.
    pub fn split(self, max_days: u32) -> Vec<DayWindow> {
        let step = i64::from(max_days.max(1));
        let mut out = Vec::new();
        let mut start = self.start;
        while start <= self.end {
            let end = (start + Duration::days(step - 1)).min(self.end);
            out.push(DayWindow { start, end });
            start = end + Duration::days(1);
        }
        out
    }

    /// The cursor saved once this window is committed: its last day.
    pub fn cursor(&self) -> String {
        day(self.end)
    }

    /// Days in the window, inclusive.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::values::cst;
    use chrono::TimeZone;

    #[test]
    fn first_run_reaches_back_and_later_runs_overlap() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 20, 0, 0).unwrap(); // 04:00 on the 26th in CST
        let first = span(None, now, cst(), 30, 1);
        assert_eq!(first.end, NaiveDate::from_ymd_opt(2026, 11, 26).unwrap());
        assert_eq!(first.days(), 31);
        let later = span(Some(first.end), now, cst(), 30, 1);
        assert_eq!(later.start, NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
    }

    #[test]
    fn split_covers_every_day_once() {
        let w = DayWindow {
            start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
        };
        let parts = w.split(7);
        assert_eq!(parts.len(), 5);
        assert!(parts.iter().all(|p| p.days() <= 7));
        assert_eq!(parts.iter().map(DayWindow::days).sum::<i64>(), 31);
        assert_eq!(parts[4].end, w.end);
    }
}
