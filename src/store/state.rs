//! Sync cursors, run records, the figures `ordersync status` shows, and retention pruning.

use super::db::{args, Row};
use super::{records::BatchCounts, ts, Store, StoreError};
use crate::model::Stream;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Rows deleted per statement when pruning.
const PRUNE_BATCH: usize = 500;

/// How a pass ended, as `sync_runs` and `sync_state` record it.
#[derive(Debug, Clone, Copy)]
pub struct RunEnd<'a> {
    /// Row counts over the pass.
    pub counts: BatchCounts,
    /// The error that ended it, if it failed.
    pub error: Option<&'a str>,
    /// Its shortfalls (queries short of the vendor's total), if any.
    pub incomplete: Option<&'a str>,
}

/// One shop × stream as `status` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamStatus {
    /// Shop.
    pub shop_id: String,
    /// Stream.
    pub stream: String,
    /// Saved cursor.
    pub cursor: Option<String>,
    /// Start of the last pass.
    pub last_started_at: Option<String>,
    /// End of the last pass.
    pub last_finished_at: Option<String>,
    /// End of the last pass that succeeded.
    pub last_success_at: Option<String>,
    /// The last pass's error, if it failed.
    pub last_error: Option<String>,
    /// The last pass's shortfalls (rows fewer than the vendor's total), if any.
    pub incomplete: Option<String>,
}

/// Outbox depth of one shop.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShopOutbox {
    /// Shop.
    pub shop_id: String,
    /// Entries waiting.
    pub pending: u64,
    /// Entries being sent.
    pub in_flight: u64,
    /// Dead letters: refused or out of attempts.
    pub failed: u64,
    /// Delivered (until pruned).
    pub done: u64,
    /// When the oldest entry still waiting was enqueued.
    pub oldest_pending_at: Option<String>,
    /// Delivered pushes a later sync has not shown yet (status not observed, tracking not stored).
    pub unconfirmed: u64,
    /// Backwards status moves recorded for the shop's orders and refunds (filled by `status`).
    pub regressions: u64,
}

impl Store {
    /// The saved cursor of a stream.
    pub fn cursor(&self, shop_id: &str, stream: Stream) -> Result<Option<String>, StoreError> {
        self.row(
            "SELECT cursor FROM sync_state WHERE shop_id = ?1 AND stream = ?2",
            args![shop_id, stream.as_str()],
            |mut r| r.opt_text(0),
        )
        .map(Option::flatten)
    }

    /// Replaces a stream's cursor (for `resync`); `None` makes the next pass a backfill.
    pub fn set_cursor(&mut self, shop_id: &str, stream: Stream, cursor: Option<&str>) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO sync_state (shop_id, stream, cursor) VALUES (?1, ?2, ?3)
             ON CONFLICT (shop_id, stream) DO UPDATE SET cursor = excluded.cursor",
            args![shop_id, stream.as_str(), cursor],
        )
        .map(drop)
    }

    /// Records the start of a pass; returns the run id.
    pub fn run_started(&mut self, shop_id: &str, stream: Stream, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let now = ts(now);
        self.execute(
            "INSERT INTO sync_state (shop_id, stream, last_started_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (shop_id, stream) DO UPDATE SET last_started_at = excluded.last_started_at",
            args![shop_id, stream.as_str(), now],
        )?;
        let id = self.row(
            "INSERT INTO sync_runs (shop_id, stream, started_at) VALUES (?1, ?2, ?3) RETURNING id",
            args![shop_id, stream.as_str(), now],
            |mut r| r.int(0),
        )?;
        id.ok_or_else(|| StoreError::BadRow { path: self.path.clone(), what: "sync_runs: no id returned".into() })
    }

    /// Records the end of a pass.
    pub fn run_finished(
        &mut self,
        run_id: i64,
        shop_id: &str,
        stream: Stream,
        now: DateTime<Utc>,
        end: RunEnd<'_>,
    ) -> Result<(), StoreError> {
        let RunEnd { counts, error, incomplete } = end;
        let now = ts(now);
        self.execute(
            "UPDATE sync_state SET last_finished_at = ?3, last_error = ?4, incomplete = ?5,
                last_success_at = CASE WHEN CAST(?4 AS TEXT) IS NULL THEN ?3 ELSE last_success_at END
             WHERE shop_id = ?1 AND stream = ?2",
            args![shop_id, stream.as_str(), now, error, incomplete],
        )?;
        self.execute(
            "UPDATE sync_runs SET finished_at = ?2, ok = ?3, rows_seen = ?4, rows_changed = ?5, error = ?6,
                shortfall = ?7 WHERE id = ?1",
            args![run_id, now, error.is_none(), counts.seen, counts.changed(), error, incomplete],
        )
        .map(drop)
    }

    /// Every stream's state.
    pub fn stream_statuses(&self) -> Result<Vec<StreamStatus>, StoreError> {
        self.rows(
            "SELECT shop_id, stream, cursor, last_started_at, last_finished_at, last_success_at, last_error, incomplete
             FROM sync_state ORDER BY shop_id, stream",
            &[],
            |mut r| {
                Ok(StreamStatus {
                    shop_id: r.text(0)?,
                    stream: r.text(1)?,
                    cursor: r.opt_text(2)?,
                    last_started_at: r.opt_text(3)?,
                    last_finished_at: r.opt_text(4)?,
                    last_success_at: r.opt_text(5)?,
                    last_error: r.opt_text(6)?,
                    incomplete: r.opt_text(7)?,
                })
            },
        )
    }

    /// Outbox depth per shop, with the confirmation and regression figures `status` shows.
    pub fn outbox_depths(&self) -> Result<Vec<ShopOutbox>, StoreError> {
        let (status, tracking) = (self.json_field("o.payload", "status"), self.json_field("o.payload", "tracking"));
        let count = |cond: &str| format!("CAST(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS BIGINT)");
        let sql = format!(
            "SELECT o.shop_id, {pending}, {in_flight}, {failed}, {done},
                MIN(CASE WHEN o.state IN ('pending', 'in_flight') THEN o.created_at END), {unconfirmed}
             FROM outbox o GROUP BY o.shop_id ORDER BY o.shop_id",
            pending = count("o.state = 'pending'"),
            in_flight = count("o.state = 'in_flight'"),
            failed = count("o.state = 'failed'"),
            done = count("o.state = 'done'"),
            unconfirmed = count(&format!(
                "o.state = 'done' AND (
                    (o.kind = 'status' AND NOT EXISTS (SELECT 1 FROM status_changes c WHERE c.shop_id = o.shop_id
                        AND c.entity = 'order' AND c.entity_key = o.order_no
                        AND c.to_status = {status} AND c.observed_at >= o.created_at))
                    OR (o.kind = 'ship' AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.shop_id = o.shop_id
                        AND s.order_no = o.order_no AND s.tracking_no = {tracking})))"
            )),
        );
        let n = |r: &mut Row, i| r.int(i).map(|v| u64::try_from(v).unwrap_or(0));
        self.rows(&sql, &[], |mut r| {
            Ok(ShopOutbox {
                shop_id: r.text(0)?,
                pending: n(&mut r, 1)?,
                in_flight: n(&mut r, 2)?,
                failed: n(&mut r, 3)?,
                done: n(&mut r, 4)?,
                oldest_pending_at: r.opt_text(5)?,
                unconfirmed: n(&mut r, 6)?,
                regressions: 0,
            })
        })
    }

    /// Backwards status moves recorded for a shop's orders and refunds.
    pub fn regressions(&self, shop_id: &str) -> Result<u64, StoreError> {
        let n = self.row(
            "SELECT COUNT(*) FROM status_changes WHERE shop_id = ?1 AND regression = 1",
            args![shop_id],
            |mut r| r.int(0),
        )?;
        Ok(n.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// Failed passes of a stream since its last success.
    pub fn consecutive_failures(&self, shop_id: &str, stream: &str) -> Result<u32, StoreError> {
        let n = self.row(
            "SELECT COUNT(*) FROM sync_runs WHERE shop_id = ?1 AND stream = ?2 AND ok = 0
             AND id > COALESCE((SELECT MAX(id) FROM sync_runs WHERE shop_id = ?1 AND stream = ?2 AND ok = 1), 0)",
            args![shop_id, stream],
            |mut r| r.int(0),
        )?;
        Ok(n.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    /// Deletes delivered outbox rows and run records older than `retention_days`, in batches of
    /// `PRUNE_BATCH` rows so a large backlog never holds the write lock for long; returns how many.
    /// Orders, shipments, refunds and their status history are never pruned.
    pub fn prune(&mut self, retention_days: u32, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = ts(now - Duration::days(i64::from(retention_days)));
        let mut total = 0;
        for sql in [
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state = 'done' AND done_at < ?1 LIMIT ?2)",
            "DELETE FROM sync_runs WHERE id IN (SELECT id FROM sync_runs WHERE started_at < ?1 LIMIT ?2)",
            // Holders of other hosts are never proven dead; once silent that long, they are gone.
            "DELETE FROM holders WHERE id IN (SELECT h.id FROM holders h WHERE h.seen_at < ?1
                AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.holder = h.id) LIMIT ?2)",
        ] {
            loop {
                let n = self.execute(sql, args![cutoff, PRUNE_BATCH])?;
                total += n;
                if n < PRUNE_BATCH {
                    break;
                }
            }
        }
        Ok(total)
    }
}
