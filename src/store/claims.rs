//! Who holds what across processes: holders, pass and flush leases, and the shared rate budget.
//!
//! Each of these is one short transaction, so two processes (or two instances on other hosts
//! sharing one database) see the same answer: a lease is taken by exactly one, and a rate slot
//! is spent by exactly one.

use super::db::{args, DbError, Exec, Row};
use super::{ts, Store, StoreError};
use crate::holder::Holder;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Serialize;
use std::time::Duration;

/// A recorded holder, as `holders` stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderRow {
    /// Its id (claims name it).
    pub id: String,
    /// Its host.
    pub host: String,
    /// Its pid.
    pub pid: u32,
    /// `<boot id>/<start tick>`.
    pub started: String,
    /// `daemon`, `sync`, `flush`, …
    pub kind: String,
    /// When it last said it was alive.
    pub seen_at: String,
}

impl HolderRow {
    /// `daemon pid 42 on web-1`: how `status` and the logs name it.
    pub fn describe(&self) -> String {
        format!("{} pid {} on {}", self.kind, self.pid, self.host)
    }
}

/// A lease someone else holds.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseRow {
    /// Shop.
    pub shop_id: String,
    /// `orders`, `shipments`, `refunds` or `flush`.
    pub job: String,
    /// Until when it holds unless renewed.
    pub lease_until: String,
    /// When it was taken.
    pub taken_at: String,
    /// Its holder, when the holder is still recorded.
    pub holder: Option<HolderRow>,
    /// The holder's id.
    pub holder_id: String,
}

impl LeaseRow {
    /// Its holder as `status` and the logs name it (its id alone once the holder is forgotten).
    pub fn held_by(&self) -> String {
        self.holder.as_ref().map_or_else(|| format!("holder {}", self.holder_id), HolderRow::describe)
    }
}

/// What [`Store::take_back`] released of a dead holder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TakenBack {
    /// Outbox entries in flight, now due at once (and read back before any resend).
    pub pushes: usize,
    /// Pass and flush leases, now free.
    pub leases: usize,
}

/// A lease this process took: renew it while working, drop it when done.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Shop.
    pub shop_id: String,
    /// Job.
    pub job: String,
    /// The claim number that fences this take.
    pub claim: i64,
}

impl Store {
    /// Records `h` as a holder (again, with a fresh `seen_at`).
    pub fn register_holder(&mut self, h: &Holder, now: DateTime<Utc>) -> Result<(), StoreError> {
        let recorded = record_holder(&mut *self.conn.borrow_mut(), h, &ts(now));
        recorded.map_err(|e| self.err(e))
    }

    /// Every recorded holder.
    pub fn holders(&self) -> Result<Vec<HolderRow>, StoreError> {
        self.rows("SELECT id, host, pid, started, kind, seen_at FROM holders ORDER BY host, pid", &[], holder_row)
    }

    /// Takes back everything holder `id` claimed — its pushes in flight become due at once and
    /// must be read back first; its leases end — and forgets the holder. For a holder that is
    /// provably dead, or for this process as it exits cleanly.
    pub fn take_back(&mut self, id: &str, now: DateTime<Utc>) -> Result<TakenBack, StoreError> {
        self.write(|tx| {
            let pushes = tx.execute(
                "UPDATE outbox SET lease_until = ?2, needs_read_back = 1 WHERE state = 'in_flight' AND holder = ?1",
                args![id, ts(now)],
            )?;
            let leases = tx.execute("DELETE FROM leases WHERE holder = ?1", args![id])?;
            tx.execute("DELETE FROM holders WHERE id = ?1", args![id])?;
            Ok(TakenBack { pushes, leases })
        })
    }

    /// Takes the lease on `shop_id` × `job` for `lease` if it is free or expired — and, for work
    /// of a schedule `tick`, if no process has run that tick yet; otherwise returns who holds it
    /// (or held it for that tick).
    pub fn take_lease(
        &mut self,
        shop_id: &str,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
        tick: Option<DateTime<Utc>>,
    ) -> Result<Result<Lease, LeaseRow>, StoreError> {
        let claim = rand::random::<i64>();
        let until = ts(now + ChronoDuration::from_std(lease).unwrap_or(ChronoDuration::seconds(120)));
        let now_text = ts(now);
        let tick = tick.map(ts);
        // Instances tick at the same second but start their passes when they can: the first to
        // start runs the tick, the others find it run (a manual run, without a tick, always runs).
        let taken = self.execute(
            "INSERT INTO leases (shop_id, job, holder, claim, lease_until, taken_at, tick)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (shop_id, job) DO UPDATE SET holder = excluded.holder, claim = excluded.claim,
                lease_until = excluded.lease_until, taken_at = excluded.taken_at,
                tick = COALESCE(excluded.tick, leases.tick)
             WHERE leases.lease_until <= excluded.taken_at
                AND (CAST(?7 AS TEXT) IS NULL OR leases.tick IS NULL OR leases.tick < ?7)",
            args![shop_id, job, holder, claim, until, now_text, tick],
        )? > 0;
        if taken {
            return Ok(Ok(Lease { shop_id: shop_id.into(), job: job.into(), claim }));
        }
        let held = self.leases(Some((shop_id, job)))?.into_iter().next();
        // Freed between our insert and this read: say so as a lease that has just ended.
        Ok(Err(held.unwrap_or_else(|| LeaseRow {
            shop_id: shop_id.into(),
            job: job.into(),
            lease_until: now_text.clone(),
            taken_at: now_text,
            holder: None,
            holder_id: String::new(),
        })))
    }

    /// Extends a lease this process holds; false when it is no longer ours (it expired and
    /// someone else took it, or our holder was taken back).
    pub fn renew_lease(&mut self, lease: &Lease, now: DateTime<Utc>, length: Duration) -> Result<bool, StoreError> {
        let until = ts(now + ChronoDuration::from_std(length).unwrap_or(ChronoDuration::seconds(120)));
        let n = self.execute(
            "UPDATE leases SET lease_until = ?4 WHERE shop_id = ?1 AND job = ?2 AND claim = ?3",
            args![lease.shop_id, lease.job, lease.claim, until],
        )?;
        Ok(n > 0)
    }

    /// Ends a lease this process holds (a no-op when it is no longer ours). The row stays,
    /// expired, so the tick it ran for is remembered.
    pub fn drop_lease(&mut self, lease: &Lease, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.execute(
            "UPDATE leases SET lease_until = ?4 WHERE shop_id = ?1 AND job = ?2 AND claim = ?3",
            args![lease.shop_id, lease.job, lease.claim, ts(now)],
        )
        .map(drop)
    }

    /// Leases as recorded (expired ones, ended work included), optionally of one shop × job.
    pub fn leases(&self, only: Option<(&str, &str)>) -> Result<Vec<LeaseRow>, StoreError> {
        let (shop, job) = only.unzip();
        self.rows(
            "SELECT l.shop_id, l.job, l.lease_until, l.taken_at, l.holder,
                    h.id, h.host, h.pid, h.started, h.kind, h.seen_at
             FROM leases l LEFT JOIN holders h ON h.id = l.holder
             WHERE (CAST(?1 AS TEXT) IS NULL OR l.shop_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR l.job = ?2)
             ORDER BY l.shop_id, l.job",
            args![shop, job],
            |mut r| {
                let holder = match r.opt_text(5)? {
                    Some(id) => Some(HolderRow {
                        id,
                        host: r.text(6)?,
                        pid: pid(&mut r, 7)?,
                        started: r.text(8)?,
                        kind: r.text(9)?,
                        seen_at: r.text(10)?,
                    }),
                    None => None,
                };
                Ok(LeaseRow {
                    shop_id: r.text(0)?,
                    job: r.text(1)?,
                    lease_until: r.text(2)?,
                    taken_at: r.text(3)?,
                    holder_id: r.text(4)?,
                    holder,
                })
            },
        )
    }

    /// Spends one of `shop_id`'s `per_window` request slots at `now_ms` (Unix ms) if the oldest
    /// was spent at least `window_ms` ago; otherwise returns how many ms until it frees.
    ///
    /// The slots are the start times of the shop's last `per_window` requests, whoever sent them,
    /// so no window of `window_ms` ever holds more than `per_window` starts.
    pub fn take_rate_slot(
        &mut self,
        shop_id: &str,
        per_window: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        let per_window = i64::from(per_window.max(1));
        self.write(|tx| {
            // One spender per shop at a time, on every backend.
            tx.serialize_on(&format!("rate {shop_id}"))?;
            // A lowered limit leaves slots past the new count; they no longer belong to the budget.
            tx.execute("DELETE FROM rate_slots WHERE shop_id = ?1 AND slot >= ?2", args![shop_id, per_window])?;
            let used = tx.query_one("SELECT COUNT(*) FROM rate_slots WHERE shop_id = ?1", args![shop_id])?.int(0)?;
            if used < per_window {
                // Slots are only ever added at the end, so they are numbered 0..used.
                tx.execute(
                    "INSERT INTO rate_slots (shop_id, slot, sent_ms) VALUES (?1, ?2, ?3)",
                    args![shop_id, used, now_ms],
                )?;
                return Ok(None);
            }
            let mut oldest = tx.query_one(
                "SELECT slot, sent_ms FROM rate_slots WHERE shop_id = ?1 ORDER BY sent_ms, slot LIMIT 1",
                args![shop_id],
            )?;
            let (slot, sent) = (oldest.int(0)?, oldest.int(1)?);
            // A clock set back leaves slots "in the future": wait at most one window for them.
            let free_at = sent.min(now_ms) + window_ms;
            if free_at > now_ms {
                return Ok(Some((free_at - now_ms) as u64));
            }
            tx.execute(
                "UPDATE rate_slots SET sent_ms = ?3 WHERE shop_id = ?1 AND slot = ?2",
                args![shop_id, slot, now_ms],
            )?;
            Ok(None)
        })
    }
}

/// Records `h` in `holders` through `c` (a connection, or the transaction of a claim that names
/// it), refreshing its `seen_at`.
pub(super) fn record_holder(c: &mut impl Exec, h: &Holder, now: &str) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO holders (id, host, pid, started, kind, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        args![h.id, h.host, h.pid, h.started, h.kind, now],
    )
    .map(drop)
}

fn pid(r: &mut Row, i: usize) -> Result<u32, DbError> {
    let v = r.int(i)?;
    u32::try_from(v).map_err(|_| DbError::Value(format!("holder pid {v} is not a process id")))
}

fn holder_row(mut r: Row) -> Result<HolderRow, DbError> {
    Ok(HolderRow {
        id: r.text(0)?,
        host: r.text(1)?,
        pid: pid(&mut r, 2)?,
        started: r.text(3)?,
        kind: r.text(4)?,
        seen_at: r.text(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn a_lease_has_one_holder_until_it_ends_or_expires() {
        let (_d, mut s) = store();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let lease = Duration::from_secs(10);
        let a = s.take_lease("s", "orders", "a", t0, lease, None).unwrap().expect("free");
        let held = s.take_lease("s", "orders", "b", t0, lease, None).unwrap().expect_err("held by a");
        assert_eq!(held.holder_id, "a");
        // Another job of the same shop is its own lease.
        s.take_lease("s", "flush", "b", t0, lease, None).unwrap().expect("free");
        // Renewed, it outlives its first term; expired, another takes it and the old claim is void.
        assert!(s.renew_lease(&a, t0 + ChronoDuration::seconds(9), lease).unwrap());
        assert!(s.take_lease("s", "orders", "b", t0 + ChronoDuration::seconds(12), lease, None).unwrap().is_err());
        let b =
            s.take_lease("s", "orders", "b", t0 + ChronoDuration::seconds(19), lease, None).unwrap().expect("expired");
        assert!(!s.renew_lease(&a, t0 + ChronoDuration::seconds(19), lease).unwrap());
        s.drop_lease(&a, t0 + ChronoDuration::seconds(19)).unwrap();
        assert_eq!(s.leases(Some(("s", "orders"))).unwrap()[0].holder_id, "b");
        s.drop_lease(&b, t0 + ChronoDuration::seconds(20)).unwrap();
        s.take_lease("s", "orders", "c", t0 + ChronoDuration::seconds(20), lease, None).unwrap().expect("dropped");
    }

    #[test]
    fn a_schedule_tick_runs_once_whoever_starts_it_first() {
        let (_d, mut s) = store();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let (lease, tick) = (Duration::from_secs(10), Some(t0));
        let a = s.take_lease("s", "orders", "a", t0, lease, tick).unwrap().expect("first for this tick");
        s.drop_lease(&a, t0 + ChronoDuration::seconds(2)).unwrap();
        // Another instance's tick of the same second starts late: already run, not again.
        assert!(s.take_lease("s", "orders", "b", t0 + ChronoDuration::seconds(3), lease, tick).unwrap().is_err());
        // A manual run (no tick) runs; the next tick runs.
        let manual = s.take_lease("s", "orders", "cli", t0 + ChronoDuration::seconds(4), lease, None).unwrap();
        s.drop_lease(&manual.expect("a manual run is not a tick"), t0 + ChronoDuration::seconds(5)).unwrap();
        let next = Some(t0 + ChronoDuration::seconds(60));
        s.take_lease("s", "orders", "b", t0 + ChronoDuration::seconds(60), lease, next).unwrap().expect("next tick");
    }

    #[test]
    fn taking_back_a_holder_frees_its_pushes_and_leases_only() {
        let (_d, mut s) = store();
        let now = Utc::now();
        let h = Holder { id: "dead".into(), host: "h".into(), pid: 1, started: "b/1".into(), kind: "daemon".into() };
        s.register_holder(&h, now).unwrap();
        s.take_lease("s", "orders", "dead", now, Duration::from_secs(60), None).unwrap().unwrap();
        s.take_lease("s", "flush", "alive", now, Duration::from_secs(60), None).unwrap().unwrap();
        s.connection()
            .execute_batch(
                "INSERT INTO outbox (shop_id, kind, order_no, payload, dedupe_key, state, lease_until, holder)
                 VALUES ('s', 'remark', '1', '{}', 'k1', 'in_flight', '2999-01-01T00:00:00.000Z', 'dead'),
                        ('s', 'remark', '2', '{}', 'k2', 'in_flight', '2999-01-01T00:00:00.000Z', 'alive'),
                        ('s', 'remark', '3', '{}', 'k3', 'done', NULL, 'dead');",
            )
            .unwrap();
        assert_eq!(s.take_back("dead", now).unwrap(), TakenBack { pushes: 1, leases: 1 });
        let due: Vec<(String, bool)> = s
            .connection()
            .prepare("SELECT order_no, needs_read_back FROM outbox WHERE lease_until <= ?1 ORDER BY order_no")
            .unwrap()
            .query_map([ts(now)], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(due, vec![("1".to_string(), true)]);
        assert!(s.holders().unwrap().iter().all(|h| h.id != "dead"), "the dead holder is forgotten");
        assert_eq!(s.leases(None).unwrap().len(), 1);
    }

    #[test]
    fn the_rate_budget_never_allows_more_than_n_in_a_window() {
        let (_d, mut s) = store();
        let (n, window) = (3u32, 1000i64);
        let mut sent = Vec::new();
        let mut now = 0i64;
        while sent.len() < 10 {
            match s.take_rate_slot("s", n, window, now).unwrap() {
                None => sent.push(now),
                Some(wait) => {
                    assert!(wait > 0 && wait as i64 <= window, "wait {wait}");
                    now += wait as i64;
                }
            }
            // Two callers at the same instant, as two processes would be.
            if s.take_rate_slot("s", n, window, now).unwrap().is_none() {
                sent.push(now);
            }
            now += 7;
        }
        for t in &sent {
            let in_window = sent.iter().filter(|u| **u >= *t && **u < *t + window).count();
            assert!(in_window <= n as usize, "{in_window} starts in the window from {t}: {sent:?}");
        }
        // Other shops have budgets of their own; a lowered limit applies at once.
        assert_eq!(s.take_rate_slot("other", n, window, now).unwrap(), None);
        assert!(s.take_rate_slot("s", 1, window, now).unwrap().is_some());
        let slots: i64 =
            s.connection().query_row("SELECT COUNT(*) FROM rate_slots WHERE shop_id = 's'", [], |r| r.get(0)).unwrap();
        assert_eq!(slots, 1);
    }
}
