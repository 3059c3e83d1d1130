//! Sync cursors, run records, the figures `ordersync status` shows, and retention pruning.

use super::{records::BatchCounts, ts, Store, StoreError};
use crate::model::Stream;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};
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
        self.conn
            .query_row(
                "SELECT cursor FROM sync_state WHERE shop_id = ?1 AND stream = ?2",
                params![shop_id, stream.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// Replaces a stream's cursor (for `resync`); `None` makes the next pass a backfill.
    pub fn set_cursor(&mut self, shop_id: &str, stream: Stream, cursor: Option<&str>) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO sync_state (shop_id, stream, cursor) VALUES (?1, ?2, ?3)
                 ON CONFLICT (shop_id, stream) DO UPDATE SET cursor = excluded.cursor",
                params![shop_id, stream.as_str(), cursor],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Records the start of a pass; returns the run id.
    pub fn run_started(&mut self, shop_id: &str, stream: Stream, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let now = ts(now);
        self.conn
            .execute(
                "INSERT INTO sync_state (shop_id, stream, last_started_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (shop_id, stream) DO UPDATE SET last_started_at = excluded.last_started_at",
                params![shop_id, stream.as_str(), now],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "INSERT INTO sync_runs (shop_id, stream, started_at) VALUES (?1, ?2, ?3)",
                params![shop_id, stream.as_str(), now],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
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
        self.conn
            .execute(
                "UPDATE sync_state SET last_finished_at = ?3, last_error = ?4, incomplete = ?5,
                    last_success_at = CASE WHEN ?4 IS NULL THEN ?3 ELSE last_success_at END
                 WHERE shop_id = ?1 AND stream = ?2",
                params![shop_id, stream.as_str(), now, error, incomplete],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "UPDATE sync_runs SET finished_at = ?2, ok = ?3, rows_seen = ?4, rows_changed = ?5, error = ?6,
                    shortfall = ?7 WHERE id = ?1",
                params![run_id, now, error.is_none(), counts.seen as i64, counts.changed() as i64, error, incomplete],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Every stream's state.
    pub fn stream_statuses(&self) -> Result<Vec<StreamStatus>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT shop_id, stream, cursor, last_started_at, last_finished_at, last_success_at, last_error, incomplete FROM sync_state ORDER BY shop_id, stream")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StreamStatus {
                    shop_id: r.get(0)?,
                    stream: r.get(1)?,
                    cursor: r.get(2)?,
                    last_started_at: r.get(3)?,
                    last_finished_at: r.get(4)?,
                    last_success_at: r.get(5)?,
                    last_error: r.get(6)?,
                    incomplete: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Outbox depth per shop, with the confirmation and regression figures `status` shows.
    pub fn outbox_depths(&self) -> Result<Vec<ShopOutbox>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT o.shop_id, SUM(o.state = 'pending'), SUM(o.state = 'in_flight'), SUM(o.state = 'failed'),
                    SUM(o.state = 'done'), MIN(CASE WHEN o.state IN ('pending', 'in_flight') THEN o.created_at END),
                    SUM(o.state = 'done' AND (
                        (o.kind = 'status' AND NOT EXISTS (SELECT 1 FROM status_changes c WHERE c.shop_id = o.shop_id
                            AND c.entity = 'order' AND c.entity_key = o.order_no
                            AND c.to_status = json_extract(o.payload, '$.status') AND c.observed_at >= o.created_at))
                        OR (o.kind = 'ship' AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.shop_id = o.shop_id
                            AND s.order_no = o.order_no AND s.tracking_no = json_extract(o.payload, '$.tracking')))))
                 FROM outbox o GROUP BY o.shop_id ORDER BY o.shop_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ShopOutbox {
                    shop_id: r.get(0)?,
                    pending: r.get(1)?,
                    in_flight: r.get(2)?,
                    failed: r.get(3)?,
                    done: r.get(4)?,
                    oldest_pending_at: r.get(5)?,
                    unconfirmed: r.get(6)?,
                    regressions: 0,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Backwards status moves recorded for a shop's orders and refunds.
    pub fn regressions(&self, shop_id: &str) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM status_changes WHERE shop_id = ?1 AND regression = 1",
                params![shop_id],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Failed passes of a stream since its last success.
    pub fn consecutive_failures(&self, shop_id: &str, stream: &str) -> Result<u32, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM sync_runs WHERE shop_id = ?1 AND stream = ?2 AND ok = 0
                 AND id > COALESCE((SELECT MAX(id) FROM sync_runs WHERE shop_id = ?1 AND stream = ?2 AND ok = 1), 0)",
                params![shop_id, stream],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
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
        ] {
            loop {
                let n = self.conn.execute(sql, params![cutoff, PRUNE_BATCH]).map_err(|e| self.err(e))?;
                total += n;
                if n < PRUNE_BATCH {
                    break;
                }
            }
        }
        Ok(total)
    }
}
