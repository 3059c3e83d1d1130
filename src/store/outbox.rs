//! The durable outbox: enqueue with a dedupe key, claim with a lease, settle exactly once.
//!
//! A claim bumps `attempts`, and settling requires the same `attempts`: it is a fencing token, so
//! a process whose lease expired cannot settle an entry another process has claimed since.

use super::{ts, Store, StoreError};
use crate::model::PushKind;
use crate::platforms::PushPayload;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use std::time::Duration;

/// A push to enqueue.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The shop.
    pub shop_id: String,
    /// The order.
    pub order_no: String,
    /// What to push.
    pub payload: PushPayload,
}

impl NewEntry {
    /// The dedupe key: (shop, order, what). The same request twice gives one row.
    pub fn dedupe_key(&self) -> String {
        format!("{}|{}|{}", self.shop_id, self.order_no, self.payload.dedupe_suffix())
    }
}

/// The result of an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The row's id.
    pub id: i64,
    /// False when an identical entry already existed.
    pub created: bool,
}

/// An entry claimed by this process.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// The order.
    pub order_no: String,
    /// The payload, or why the stored row cannot be read.
    pub payload: Result<PushPayload, String>,
    /// Attempts including this claim; also the fencing token for [`Store::settle`].
    pub attempts: u32,
    /// True when an earlier send may have landed: read back before sending.
    pub needs_read_back: bool,
}

/// How a claimed entry ends this attempt.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// Applied. `read_back` is true when it was found applied without sending.
    Done {
        /// Settled by reading back rather than by sending.
        read_back: bool,
    },
    /// Refused for good, with the reason.
    Failed(String),
    /// Try again at `at`.
    Retry {
        /// Why this attempt failed.
        reason: String,
        /// When it is due again.
        at: DateTime<Utc>,
        /// The failed send may have landed.
        may_have_applied: bool,
    },
}

/// An outbox row as `outbox list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// Shop.
    pub shop_id: String,
    /// `ship`, `status` or `remark`.
    pub kind: String,
    /// Order.
    pub order_no: String,
    /// Payload JSON.
    pub payload: String,
    /// State.
    pub state: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When it is due.
    pub next_attempt_at: String,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: String,
    /// When it was settled done.
    pub done_at: Option<String>,
    /// For done rows: `sent`, or `read_back` when found applied without sending.
    pub settled_by: Option<String>,
}

impl Store {
    /// Enqueues a push; an identical pending or finished entry is not enqueued twice.
    pub fn enqueue(&mut self, entry: &NewEntry, now: DateTime<Utc>) -> Result<Enqueued, StoreError> {
        enqueue_in(&self.conn, entry, &ts(now)).map_err(|e| match e {
            rusqlite::Error::ToSqlConversionFailure(e) => {
                StoreError::BadRow { path: self.path.clone(), what: e.to_string() }
            }
            e => self.err(e),
        })
    }

    /// Claims up to `limit` due entries of `shop_id`: pending ones whose time has come, and
    /// in-flight ones whose lease expired (their holder died; they must be read back).
    pub fn claim_due(
        &mut self,
        shop_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite { path: path.clone(), source };
        let now_text = ts(now);
        let lease_until = ts(now + ChronoDuration::from_std(lease).unwrap_or(ChronoDuration::seconds(120)));
        // IMMEDIATE takes the write lock up front, so two claimers never pick the same rows.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(e)?;
        let mut claimed = Vec::new();
        {
            let mut select = tx
                .prepare_cached(
                    "SELECT id, order_no, kind, payload, attempts, needs_read_back, state FROM outbox
                     WHERE shop_id = ?1 AND ((state = 'pending' AND next_attempt_at <= ?2)
                        OR (state = 'in_flight' AND lease_until <= ?2))
                     ORDER BY id LIMIT ?3",
                )
                .map_err(e)?;
            let rows = select
                .query_map(params![shop_id, now_text, limit as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, u32>(4)?,
                        r.get::<_, bool>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                })
                .map_err(e)?;
            for row in rows {
                let (id, order_no, kind, payload, attempts, needs_read_back, state) = row.map_err(e)?;
                let expired_lease = state == "in_flight";
                if expired_lease {
                    tracing::warn!(
                        id,
                        order_no,
                        "outbox entry's lease expired (its holder died?); reading back before resending"
                    );
                }
                claimed.push(Claimed {
                    id,
                    payload: parse_payload(id, &kind, &payload),
                    order_no,
                    attempts: attempts + 1,
                    needs_read_back: needs_read_back || expired_lease,
                });
            }
        }
        for c in &claimed {
            tx.execute(
                "UPDATE outbox SET state = 'in_flight', lease_until = ?2, attempts = ?3, needs_read_back = ?4 WHERE id = ?1",
                params![c.id, lease_until, c.attempts, c.needs_read_back],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(claimed)
    }

    /// Settles a claimed entry; a no-op (returning false) when the claim is no longer ours.
    pub fn settle(&mut self, claim: &Claimed, how: &Settlement, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let now = ts(now);
        let n = match how {
            Settlement::Done { read_back } => self.conn.execute(
                "UPDATE outbox SET state = 'done', done_at = ?3, lease_until = NULL, needs_read_back = 0, settled_by = ?4, last_error = NULL
                 WHERE id = ?1 AND state = 'in_flight' AND attempts = ?2",
                params![claim.id, claim.attempts, now, if *read_back { "read_back" } else { "sent" }],
            ),
            Settlement::Failed(reason) => self.conn.execute(
                "UPDATE outbox SET state = 'failed', last_error = ?3, lease_until = NULL WHERE id = ?1 AND state = 'in_flight' AND attempts = ?2",
                params![claim.id, claim.attempts, reason],
            ),
            Settlement::Retry { reason, at, may_have_applied } => self.conn.execute(
                "UPDATE outbox SET state = 'pending', last_error = ?3, next_attempt_at = ?4, lease_until = NULL,
                    needs_read_back = needs_read_back OR ?5
                 WHERE id = ?1 AND state = 'in_flight' AND attempts = ?2",
                params![claim.id, claim.attempts, reason, ts(*at), may_have_applied],
            ),
        }
        .map_err(|e| self.err(e))?;
        if n == 0 {
            tracing::warn!(
                id = claim.id,
                "outbox entry was claimed by another process meanwhile; leaving its state to that process"
            );
        }
        Ok(n > 0)
    }

    /// Shops with entries due at `now` (pending and due, or with an expired lease).
    pub fn shops_with_due(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT shop_id FROM outbox WHERE (state = 'pending' AND next_attempt_at <= ?1)
                    OR (state = 'in_flight' AND lease_until <= ?1) ORDER BY shop_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![ts(now)], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<String>>>().map_err(|e| self.err(e))
    }

    /// Outbox rows, optionally only those in `state`, oldest first.
    pub fn outbox_list(&self, state: Option<&str>) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, shop_id, kind, order_no, payload, state, attempts, next_attempt_at, last_error, created_at, done_at,
                    settled_by FROM outbox WHERE ?1 IS NULL OR state = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![state], |r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    shop_id: r.get(1)?,
                    kind: r.get(2)?,
                    order_no: r.get(3)?,
                    payload: r.get(4)?,
                    state: r.get(5)?,
                    attempts: r.get(6)?,
                    next_attempt_at: r.get(7)?,
                    last_error: r.get(8)?,
                    created_at: r.get(9)?,
                    done_at: r.get(10)?,
                    settled_by: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Puts failed entries back to pending with a fresh attempt count: one id, or all with `None`.
    pub fn outbox_retry(&mut self, id: Option<i64>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?2, needs_read_back = 1
                 WHERE state = 'failed' AND (?1 IS NULL OR id = ?1)",
                params![id, ts(now)],
            )
            .map_err(|e| self.err(e))
    }

    /// Deletes a pending or failed entry (an in-flight one may be on the wire; wait for it).
    pub fn outbox_cancel(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        let state: Option<String> = self
            .conn
            .query_row("SELECT state FROM outbox WHERE id = ?1", params![id], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        if matches!(state.as_deref(), Some("pending" | "failed")) {
            let path = self.path.clone();
            let e = |source| StoreError::Sqlite { path: path.clone(), source };
            let tx = self.conn.transaction().map_err(e)?;
            tx.execute("DELETE FROM outbox WHERE id = ?1", params![id]).map_err(e)?;
            // A forwarded supplier shipment whose push is cancelled is given up, not forwarded:
            // without this its missing row would read as delivered and pruned.
            tx.execute(
                "UPDATE link_forwards SET state = 'skipped', outbox_id = NULL,
                    note = 'its push was cancelled (ordersync outbox cancel)' WHERE outbox_id = ?1",
                params![id],
            )
            .map_err(e)?;
            tx.commit().map_err(e)?;
        }
        Ok(state)
    }
}

fn parse_payload(id: i64, kind: &str, payload: &str) -> Result<PushPayload, String> {
    let kind: PushKind = kind.parse().map_err(|e| format!("outbox row {id}: `kind`: {e}"))?;
    let parsed: PushPayload = serde_json::from_str(payload)
        .map_err(|e| format!("outbox row {id}: `payload` is not a valid {kind} push: {e}"))?;
    if parsed.kind() != kind {
        return Err(format!("outbox row {id}: `kind` is {kind} but the payload is a {} push", parsed.kind()));
    }
    match &parsed {
        PushPayload::Ship { carrier, tracking } if carrier.trim().is_empty() || tracking.trim().is_empty() => {
            Err(format!("outbox row {id}: a ship push needs a non-empty carrier and tracking number"))
        }
        PushPayload::Remark { text } if text.trim().is_empty() => {
            Err(format!("outbox row {id}: a remark push needs text"))
        }
        _ => Ok(parsed),
    }
}

/// [`Store::enqueue`] on a connection or inside a caller's transaction (links forward in the
/// supplier's commit): the dedupe key makes a repeat return the existing row.
pub(super) fn enqueue_in(conn: &rusqlite::Connection, entry: &NewEntry, now: &str) -> rusqlite::Result<Enqueued> {
    let key = entry.dedupe_key();
    let payload =
        serde_json::to_string(&entry.payload).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let created = conn
        .prepare_cached(
            "INSERT INTO outbox (shop_id, kind, order_no, payload, dedupe_key, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (dedupe_key) DO NOTHING",
        )?
        .execute(params![entry.shop_id, entry.payload.kind().as_str(), entry.order_no, payload, key, now])?
        > 0;
    let id =
        conn.prepare_cached("SELECT id FROM outbox WHERE dedupe_key = ?1")?.query_row(params![key], |r| r.get(0))?;
    Ok(Enqueued { id, created })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OrderStatus;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        (dir, store)
    }

    fn entry(order: &str) -> NewEntry {
        NewEntry {
            shop_id: "s".into(),
            order_no: order.into(),
            payload: PushPayload::Status { status: OrderStatus::Completed },
        }
    }

    #[test]
    fn the_same_push_twice_is_one_row() {
        let (_d, mut s) = store();
        let a = s.enqueue(&entry("1"), Utc::now()).unwrap();
        let b = s.enqueue(&entry("1"), Utc::now()).unwrap();
        assert_eq!((a.id, a.created, b.created), (b.id, true, false));
    }

    #[test]
    fn a_holder_whose_lease_expired_cannot_undo_the_next_holders_settlement() {
        let (_d, mut s) = store();
        s.enqueue(&entry("1"), Utc::now()).unwrap();
        let t0 = Utc::now();
        let first = s.claim_due("s", t0, Duration::from_secs(1), 10).unwrap().remove(0);
        assert!(!first.needs_read_back, "a first claim has nothing to read back");
        // While the lease holds nobody else gets it; after it, the next claim must read back.
        assert!(s.claim_due("s", t0, Duration::from_secs(1), 10).unwrap().is_empty());
        let later = t0 + ChronoDuration::seconds(2);
        let second = s.claim_due("s", later, Duration::from_secs(1), 10).unwrap().remove(0);
        assert!(second.needs_read_back && second.attempts == first.attempts + 1);
        // The first holder wakes up while the second is sending and tries to put it back:
        // refused, or a third process could send it again.
        let stale = Settlement::Retry { reason: "late".into(), at: later, may_have_applied: true };
        assert!(!s.settle(&first, &stale, later).unwrap());
        assert!(s.claim_due("s", later, Duration::from_secs(1), 10).unwrap().is_empty());
        assert!(s.settle(&second, &Settlement::Done { read_back: true }, later).unwrap());
        assert!(!s.settle(&first, &stale, later).unwrap());
        assert!(!s.settle(&first, &Settlement::Done { read_back: false }, later).unwrap());
        let rows = s.outbox_list(None).unwrap();
        assert_eq!((rows[0].state.as_str(), rows[0].attempts), ("done", 2));
    }

    fn state_of(s: &Store, id: i64) -> Option<String> {
        s.connection().query_row("SELECT state FROM outbox WHERE id = ?1", [id], |r| r.get(0)).ok()
    }

    /// `outbox retry` puts back failed entries only (one, or all), fresh and to be read back;
    /// `outbox cancel` deletes pending or failed ones, never one on the wire, and says what it was.
    #[test]
    fn retry_and_cancel_touch_only_what_they_may() {
        let (_d, mut s) = store();
        let now = Utc::now();
        let ids: Vec<i64> = (1..=4).map(|i| s.enqueue(&entry(&i.to_string()), now).unwrap().id).collect();
        let claimed = s.claim_due("s", now, Duration::from_secs(60), 10).unwrap();
        for c in &claimed[..3] {
            assert!(s.settle(c, &Settlement::Failed("refused".into()), now).unwrap());
        }
        // ids[3] stays in flight.
        assert_eq!(s.outbox_retry(Some(ids[0]), now).unwrap(), 1);
        assert_eq!(state_of(&s, ids[0]).as_deref(), Some("pending"));
        assert_eq!(state_of(&s, ids[1]).as_deref(), Some("failed"));
        let (attempts, read_back): (u32, bool) = s
            .connection()
            .query_row("SELECT attempts, needs_read_back FROM outbox WHERE id = ?1", [ids[0]], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((attempts, read_back), (0, true));
        assert_eq!(s.outbox_retry(None, now).unwrap(), 2, "the two still failed; not the in-flight one");
        assert_eq!(s.outbox_retry(None, now).unwrap(), 0);

        assert_eq!(s.outbox_cancel(ids[3]).unwrap().as_deref(), Some("in_flight"));
        assert_eq!(state_of(&s, ids[3]).as_deref(), Some("in_flight"), "never deleted while on the wire");
        assert_eq!(s.outbox_cancel(ids[0]).unwrap().as_deref(), Some("pending"));
        assert_eq!(state_of(&s, ids[0]), None, "deleted");
        assert_eq!(s.outbox_cancel(ids[0]).unwrap(), None, "no such entry any more");
    }

    #[test]
    fn payloads_without_what_the_platform_needs_are_refused() {
        let ship = |c: &str, t: &str| serde_json::json!({"kind": "ship", "carrier": c, "tracking": t}).to_string();
        assert!(parse_payload(1, "ship", &ship("SF", "1")).is_ok());
        for (c, t) in [(" ", "1"), ("SF", ""), ("", "")] {
            let err = parse_payload(1, "ship", &ship(c, t)).unwrap_err();
            assert!(err.contains("carrier and tracking"), "{c:?}/{t:?}: {err}");
        }
        let remark = |t: &str| serde_json::json!({"kind": "remark", "text": t}).to_string();
        assert!(parse_payload(2, "remark", &remark("call first")).is_ok());
        assert!(parse_payload(2, "remark", &remark("  ")).unwrap_err().contains("needs text"));
        assert!(parse_payload(3, "status", &remark("x")).unwrap_err().contains("`kind` is status"));
    }
}
