//! Sync cursors, run records, the figures `ordersync status` shows, and retention pruning.

use super::{records::BatchCounts, ts, Store, StoreError};
use crate::model::Stream;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

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
        counts: BatchCounts,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = ts(now);
        self.conn
            .execute(
                "UPDATE sync_state SET last_finished_at = ?3, last_error = ?4,
                    last_success_at = CASE WHEN ?4 IS NULL THEN ?3 ELSE last_success_at END
                 WHERE shop_id = ?1 AND stream = ?2",
                params![shop_id, stream.as_str(), now, error],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "UPDATE sync_runs SET finished_at = ?2, ok = ?3, rows_seen = ?4, rows_changed = ?5, error = ?6 WHERE id = ?1",
                params![run_id, now, error.is_none(), counts.seen as i64, counts.changed() as i64, error],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Every stream's state.
    pub fn stream_statuses(&self) -> Result<Vec<StreamStatus>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT shop_id, stream, cursor, last_started_at, last_finished_at, last_success_at, last_error FROM sync_state ORDER BY shop_id, stream")
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
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Outbox depth per shop.
    pub fn outbox_depths(&self) -> Result<Vec<ShopOutbox>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT shop_id, SUM(state = 'pending'), SUM(state = 'in_flight'), SUM(state = 'failed'), SUM(state = 'done')
                 FROM outbox GROUP BY shop_id ORDER BY shop_id",
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
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Deletes delivered outbox rows and run records older than `retention_days`; returns how many.
    pub fn prune(&mut self, retention_days: u32, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = ts(now - Duration::days(i64::from(retention_days)));
        let done = self
            .conn
            .execute("DELETE FROM outbox WHERE state = 'done' AND done_at < ?1", params![cutoff])
            .map_err(|e| self.err(e))?;
        let runs = self
            .conn
            .execute("DELETE FROM sync_runs WHERE started_at < ?1", params![cutoff])
            .map_err(|e| self.err(e))?;
        Ok(done + runs)
    }
}
