//! The durable outbox: enqueue with a dedupe key, claim with a lease, settle exactly once.
//!
//! A claim bumps `attempts`, and settling requires the same `attempts`: it is a fencing token, so
//! a process whose lease expired cannot settle an entry another process has claimed since.

use super::db::{args, DbError, Exec};
use super::{ts, Store, StoreError};
use crate::model::PushKind;
use crate::platforms::PushPayload;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
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
        let mut conn = self.conn.borrow_mut();
        enqueue_in(&mut *conn, entry, &ts(now)).map_err(|e| Store::error_at(&self.path, e))
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
        let now_text = ts(now);
        let lease_until = ts(now + ChronoDuration::from_std(lease).unwrap_or(ChronoDuration::seconds(120)));
        let me = crate::holder::this();
        self.write(|tx| {
            // SQLite's write lock, or PostgreSQL's row locks skipped by other claimers: two
            // claimers never pick the same rows.
            let select = format!(
                "SELECT id, order_no, kind, payload, attempts, needs_read_back, state FROM outbox
                 WHERE shop_id = ?1 AND ((state = 'pending' AND next_attempt_at <= ?2)
                    OR (state = 'in_flight' AND lease_until <= ?2))
                 ORDER BY id LIMIT ?3{}",
                tx.skip_locked()
            );
            let mut claimed = Vec::new();
            for mut r in tx.query(&select, args![shop_id, now_text, limit])? {
                let (id, order_no, kind, payload) = (r.int(0)?, r.text(1)?, r.text(2)?, r.text(3)?);
                let attempts = u32::try_from(r.int(4)?).unwrap_or(u32::MAX - 1);
                let (needs_read_back, state) = (r.flag(5)?, r.text(6)?);
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
            for c in &claimed {
                tx.execute(
                    "UPDATE outbox SET state = 'in_flight', lease_until = ?2, attempts = ?3, needs_read_back = ?4, holder = ?5
                     WHERE id = ?1",
                    args![c.id, lease_until, c.attempts, c.needs_read_back, me.id],
                )?;
            }
            if !claimed.is_empty() {
                // The claims name this process; record who that is, so a later start can prove it dead.
                super::claims::record_holder(tx, me, &now_text)?;
            }
            Ok(claimed)
        })
    }

    /// Settles a claimed entry; a no-op (returning false) when the claim is no longer ours.
    pub fn settle(&mut self, claim: &Claimed, how: &Settlement, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let now = ts(now);
        let n = match how {
            Settlement::Done { read_back } => self.execute(
                "UPDATE outbox SET state = 'done', done_at = ?3, lease_until = NULL, needs_read_back = 0, settled_by = ?4, last_error = NULL
                 WHERE id = ?1 AND state = 'in_flight' AND attempts = ?2",
                args![claim.id, claim.attempts, now, if *read_back { "read_back" } else { "sent" }],
            ),
            Settlement::Failed(reason) => self.execute(
                "UPDATE outbox SET state = 'failed', last_error = ?3, lease_until = NULL WHERE id = ?1 AND state = 'in_flight' AND attempts = ?2",
                args![claim.id, claim.attempts, reason],
            ),
            Settlement::Retry { reason, at, may_have_applied } => self.execute(
                "UPDATE outbox SET state = 'pending', last_error = ?3, next_attempt_at = ?4, lease_until = NULL,
                    needs_read_back = CASE WHEN ?5 = 1 THEN 1 ELSE needs_read_back END
                 WHERE id = ?1 AND state = 'in_flight' AND attempts = ?2",
                args![claim.id, claim.attempts, reason, ts(*at), may_have_applied],
            ),
        }?;
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
        self.rows(
            "SELECT DISTINCT shop_id FROM outbox WHERE (state = 'pending' AND next_attempt_at <= ?1)
                OR (state = 'in_flight' AND lease_until <= ?1) ORDER BY shop_id",
            args![ts(now)],
            |mut r| r.text(0),
        )
    }

    /// Outbox rows, optionally only those in `state`, oldest first.
    pub fn outbox_list(&self, state: Option<&str>) -> Result<Vec<OutboxRow>, StoreError> {
        self.rows(
            "SELECT id, shop_id, kind, order_no, payload, state, attempts, next_attempt_at, last_error, created_at, done_at,
                settled_by FROM outbox WHERE CAST(?1 AS TEXT) IS NULL OR state = ?1 ORDER BY id",
            args![state],
            |mut r| {
                Ok(OutboxRow {
                    id: r.int(0)?,
                    shop_id: r.text(1)?,
                    kind: r.text(2)?,
                    order_no: r.text(3)?,
                    payload: r.text(4)?,
                    state: r.text(5)?,
                    attempts: u32::try_from(r.int(6)?).unwrap_or(u32::MAX),
                    next_attempt_at: r.text(7)?,
                    last_error: r.opt_text(8)?,
                    created_at: r.text(9)?,
                    done_at: r.opt_text(10)?,
                    settled_by: r.opt_text(11)?,
                })
            },
        )
    }

    /// Puts failed entries back to pending with a fresh attempt count: one id, or all with `None`.
    pub fn outbox_retry(&mut self, id: Option<i64>, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?2, needs_read_back = 1
             WHERE state = 'failed' AND (CAST(?1 AS BIGINT) IS NULL OR id = ?1)",
            args![id, ts(now)],
        )
    }

    /// Deletes a pending or failed entry (an in-flight one may be on the wire; wait for it).
    pub fn outbox_cancel(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        let state = self.row("SELECT state FROM outbox WHERE id = ?1", args![id], |mut r| r.text(0))?;
        if matches!(state.as_deref(), Some("pending" | "failed")) {
            self.write(|tx| {
                let deleted =
                    tx.execute("DELETE FROM outbox WHERE id = ?1 AND state IN ('pending', 'failed')", args![id])?;
                if deleted > 0 {
                    // A forwarded supplier shipment whose push is cancelled is given up, not
                    // forwarded: without this its missing row would read as delivered and pruned.
                    tx.execute(
                        "UPDATE link_forwards SET state = 'skipped', outbox_id = NULL,
                            note = 'its push was cancelled (ordersync outbox cancel)' WHERE outbox_id = ?1",
                        args![id],
                    )?;
                }
                Ok(())
            })?;
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
pub(super) fn enqueue_in(c: &mut impl Exec, entry: &NewEntry, now: &str) -> Result<Enqueued, DbError> {
    let key = entry.dedupe_key();
    let payload = serde_json::to_string(&entry.payload).map_err(|e| DbError::Value(e.to_string()))?;
    let created = c.execute(
        "INSERT INTO outbox (shop_id, kind, order_no, payload, dedupe_key, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (dedupe_key) DO NOTHING",
        args![entry.shop_id, entry.payload.kind().as_str(), entry.order_no, payload, key, now],
    )? > 0;
    let id =
        c.query_opt("SELECT id FROM outbox WHERE dedupe_key = ?1", args![key])?.map(|mut r| r.int(0)).transpose()?;
    let id = id.ok_or_else(|| {
        DbError::Value(format!("outbox entry `{key}` vanished right after it was enqueued (cancelled meanwhile?)"))
    })?;
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
