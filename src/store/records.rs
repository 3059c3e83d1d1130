//! Upserts of orders, shipments and refunds that detect real change and record transitions.
//!
//! A row whose fingerprint is unchanged is not written at all, so a repeated pass is a no-op.
//! An observation older than the stored one (by the vendor's modified time) is skipped; a
//! backwards status move with a newer time is applied and flagged in `status_changes`.

use super::db::{args, DbError, Exec, Param, Row, Stmt, Tx};
use super::{fingerprint, raw_hash, ts, vendor_ts, Fingerprint, Lease, Store, StoreError};
use crate::model::{Order, OrderStatus, Refund, RefundStatus, Rejected, Shipment, Stream};
use crate::platforms::{Batch, StoredOrder};
use chrono::{DateTime, Utc};

/// What committing one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchCounts {
    /// Records in the batch.
    pub seen: u64,
    /// Rows inserted.
    pub inserted: u64,
    /// Rows updated because something changed.
    pub updated: u64,
    /// Records skipped as older than what is stored.
    pub stale: u64,
    /// Records kept raw because they could not be normalized.
    pub rejected: u64,
    /// Backwards status moves recorded.
    pub regressions: u64,
}

impl BatchCounts {
    /// Rows written because something was new or changed.
    pub fn changed(&self) -> u64 {
        self.inserted + self.updated + self.rejected
    }

    /// Adds another batch's counts.
    pub fn add(&mut self, o: BatchCounts) {
        self.seen += o.seen;
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.stale += o.stale;
        self.rejected += o.rejected;
        self.regressions += o.regressions;
    }
}

enum Outcome {
    Inserted,
    Updated { regression: bool },
    Unchanged,
    Stale,
}

impl Store {
    /// Commits a batch's rows, raw rejects and cursor in one transaction.
    pub fn commit_batch(
        &mut self,
        shop_id: &str,
        platform: &str,
        stream: Stream,
        batch: &Batch,
        now: DateTime<Utc>,
    ) -> Result<BatchCounts, StoreError> {
        self.commit_batch_under(None, shop_id, platform, stream, batch, now)
    }

    /// [`Store::commit_batch`] for a pass held under `lease`: the batch commits only while the
    /// lease is still this pass's (checked, and the lease row locked, in the same transaction),
    /// so a process that stalled past its lease cannot write after another took the pass over.
    pub fn commit_batch_under(
        &mut self,
        lease: Option<&Lease>,
        shop_id: &str,
        platform: &str,
        stream: Stream,
        batch: &Batch,
        now: DateTime<Utc>,
    ) -> Result<BatchCounts, StoreError> {
        self.write(|tx| {
            if let Some(lease) = lease {
                let ours = format!(
                    "SELECT claim FROM leases WHERE shop_id = ?1 AND job = ?2 AND claim = ?3{}",
                    tx.for_share()
                );
                if tx.query_opt(&ours, args![lease.shop_id, lease.job, lease.claim])?.is_none() {
                    return Err(DbError::LeaseLost(format!(
                        "shop `{shop_id}` {stream}: another process holds this pass now; the batch was not written"
                    )));
                }
            }
            // A shop's batches commit one at a time, as SQLite's one writer makes them: a
            // shipment stored while an order batch of its shop is between its "any shipments
            // waiting?" look and its commit would otherwise never be linked to its order.
            tx.serialize_on(&format!("commit {shop_id}"))?;
            let mut counts = BatchCounts { seen: batch.unchanged, ..BatchCounts::default() };
            let now_text = ts(now);
            if !batch.orders.is_empty() {
                // Linking early shipments to their order costs a statement per order; most batches
                // have none waiting, which one look tells.
                let waiting = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM shipments WHERE shop_id = ?1 AND order_no IS NULL)",
                        args![shop_id],
                    )?
                    .flag(0)?;
                let mut sql = OrderSql::prepare(tx)?;
                for order in &batch.orders {
                    tally(&mut counts, upsert_order(&mut sql, (shop_id, platform), order, waiting, &now_text)?);
                }
            }
            for shipment in &batch.shipments {
                tally(&mut counts, upsert_shipment(tx, shop_id, shipment, &now_text)?);
            }
            for refund in &batch.refunds {
                tally(&mut counts, upsert_refund(tx, shop_id, refund, &now_text)?);
            }
            for rejected in &batch.rejected {
                counts.seen += 1;
                if store_rejected(tx, shop_id, rejected, &now_text)? {
                    counts.rejected += 1;
                }
                tracing::warn!(shop = shop_id, stream = %rejected.stream, key = rejected.vendor_key, error = rejected.error, "vendor record kept raw: it could not be normalized");
            }
            // The forwards these rows cause commit with them (and with the cursor): a crash can
            // never leave the rows without their pushes.
            super::links::apply(tx, &self.links, shop_id, batch, &now_text)?;
            if let Some(cursor) = &batch.cursor {
                tx.execute(
                    "INSERT INTO sync_state (shop_id, stream, cursor) VALUES (?1, ?2, ?3)
                     ON CONFLICT (shop_id, stream) DO UPDATE SET cursor = excluded.cursor",
                    args![shop_id, stream.as_str(), cursor],
                )?;
            }
            Ok(counts)
        })
    }
}

fn tally(counts: &mut BatchCounts, outcome: Outcome) {
    counts.seen += 1;
    match outcome {
        Outcome::Inserted => counts.inserted += 1,
        Outcome::Updated { regression } => {
            counts.updated += 1;
            counts.regressions += u64::from(regression);
        }
        Outcome::Unchanged => {}
        Outcome::Stale => counts.stale += 1,
    }
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(vendor_ts)
}

/// True when the stored observation is newer than the incoming one by the vendor's clock.
fn is_stale(stored: Option<&str>, incoming: Option<&str>) -> bool {
    matches!((stored, incoming), (Some(s), Some(i)) if i < s)
}

/// Upserts one order and its lines; `shipments_waiting` says whether any stored shipment still
/// lacks its order number (see `commit_batch`).
fn upsert_order(
    sql: &mut OrderSql<'_, '_>,
    (shop_id, platform): (&str, &str),
    o: &Order,
    shipments_waiting: bool,
    now: &str,
) -> Result<Outcome, DbError> {
    let created = vendor_ts(o.created_at);
    let updated = opt_ts(o.updated_at);
    let payment = o.payment_status.map(|p| p.as_str());
    let refund = o.refund_status.map(|r| r.as_str());
    let mut f = Fingerprint::default();
    for part in [
        o.platform_order_id.as_deref().unwrap_or(""),
        o.status.as_str(),
        &o.platform_status,
        payment.unwrap_or(""),
        refund.unwrap_or(""),
        &o.currency,
        &o.total_minor.to_string(),
        &o.shipping_minor.to_string(),
        o.buyer_name.as_deref().unwrap_or(""),
        o.buyer_phone.as_deref().unwrap_or(""),
        o.ship_address.as_deref().unwrap_or(""),
        o.external_ref.as_deref().unwrap_or(""),
        &created,
        updated.as_deref().unwrap_or(""),
    ] {
        f.add(part);
    }
    for l in &o.lines {
        let numbers = format!("{} {} {} {:?}", l.line_no, l.quantity, l.unit_price_minor, l.real_amount_minor);
        f.add(&numbers).add(&l.sku).add(&l.name).add(&l.quantity_exact);
        f.add(l.spec.as_deref().unwrap_or("")).add(l.real_quantity.as_deref().unwrap_or(""));
    }
    let fp = f.add(&o.raw_json).finish();
    let raw = raw_hash(&o.raw_json);
    let existing = Stored::read(&mut sql.read, shop_id, &o.order_no)?;
    let outcome = match decide(existing.as_ref(), &fp, updated.as_deref(), |old| {
        old.parse().unwrap_or(OrderStatus::Unknown).is_regression_to(o.status)
    }) {
        Outcome::Unchanged => {
            // Same row, read by another release (or stored before raw hashes): note its hash so
            // the next pass skips it unread.
            if existing.as_ref().and_then(|e| e.raw_hash) != Some(raw) {
                sql.note_raw_hash.execute(args![shop_id, o.order_no, raw])?;
            }
            return Ok(Outcome::Unchanged);
        }
        Outcome::Stale => return Ok(Outcome::Stale),
        other => other,
    };
    sql.upsert.execute(args![
        shop_id,
        o.order_no,
        platform,
        o.platform_order_id,
        o.status.as_str(),
        o.platform_status,
        payment,
        refund,
        o.currency,
        o.total_minor,
        o.shipping_minor,
        o.buyer_name,
        o.buyer_phone,
        o.ship_address,
        o.external_ref,
        created,
        updated,
        now,
        o.raw_json,
        fp,
        raw
    ])?;
    if existing.is_some() {
        sql.delete_lines.execute(args![shop_id, o.order_no])?;
    }
    for l in &o.lines {
        sql.insert_line.execute(args![
            shop_id,
            o.order_no,
            l.line_no,
            l.sku,
            l.name,
            l.quantity,
            l.unit_price_minor,
            l.quantity_exact,
            l.spec,
            l.real_quantity,
            l.real_amount_minor
        ])?;
    }
    if let Some(id) = o.platform_order_id.as_ref().filter(|_| shipments_waiting) {
        // Shipments that arrived before their order name it by internal id only; link them now.
        sql.link_shipments.execute(args![shop_id, id, o.order_no])?;
    }
    record_transition(
        &mut sql.transition,
        shop_id,
        ("order", &o.order_no),
        existing.as_ref(),
        (o.status.as_str(), &o.platform_status),
        &outcome,
        now,
    )?;
    Ok(outcome)
}

/// The stored state of an order or refund row, for deciding what an observation changes.
struct Stored {
    status: String,
    platform_status: String,
    updated_at: Option<String>,
    fingerprint: String,
    /// Orders only: the stored `raw_hash`.
    raw_hash: Option<i64>,
}

impl Stored {
    /// The query [`Stored::read`] runs on `table` keyed by `key_column` (constants of ours).
    fn sql(table: &str, key_column: &str) -> String {
        let raw_hash = if table == "orders" { "raw_hash" } else { "NULL" };
        format!(
            "SELECT status, platform_status, updated_at, fingerprint, {raw_hash} FROM {table} WHERE shop_id = ?1 AND {key_column} = ?2"
        )
    }

    /// Reads the row keyed (`shop_id`, key) with a statement of [`Stored::sql`].
    fn read(stmt: &mut Stmt<'_, '_>, shop_id: &str, key: &str) -> Result<Option<Stored>, DbError> {
        let Some(mut r) = stmt.query_opt(args![shop_id, key])? else { return Ok(None) };
        Ok(Some(Stored {
            status: r.text(0)?,
            platform_status: r.text(1)?,
            updated_at: r.opt_text(2)?,
            fingerprint: r.text(3)?,
            raw_hash: r.opt_int(4)?,
        }))
    }
}

/// The statements an order upsert runs, prepared once per batch rather than looked up in the
/// statement cache for every order.
struct OrderSql<'t, 'c> {
    read: Stmt<'t, 'c>,
    upsert: Stmt<'t, 'c>,
    note_raw_hash: Stmt<'t, 'c>,
    delete_lines: Stmt<'t, 'c>,
    insert_line: Stmt<'t, 'c>,
    link_shipments: Stmt<'t, 'c>,
    transition: Stmt<'t, 'c>,
}

impl<'t, 'c> OrderSql<'t, 'c> {
    fn prepare(tx: &'t Tx<'c>) -> Result<Self, DbError> {
        Ok(OrderSql {
            read: tx.prepare(&Stored::sql("orders", "order_no"))?,
            upsert: tx.prepare(UPSERT_ORDER)?,
            note_raw_hash: tx.prepare("UPDATE orders SET raw_hash = ?3 WHERE shop_id = ?1 AND order_no = ?2")?,
            delete_lines: tx.prepare("DELETE FROM order_lines WHERE shop_id = ?1 AND order_no = ?2")?,
            insert_line: tx.prepare(
                "INSERT INTO order_lines (shop_id, order_no, line_no, sku, name, quantity, unit_price_minor, quantity_exact,
                    spec, real_quantity, real_amount_minor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?,
            link_shipments: tx.prepare(
                "UPDATE shipments SET order_no = ?3 WHERE shop_id = ?1 AND platform_order_id = ?2 AND order_no IS NULL",
            )?,
            transition: tx.prepare(INSERT_TRANSITION)?,
        })
    }
}

const UPSERT_ORDER: &str =
    "INSERT INTO orders (shop_id, order_no, platform, platform_order_id, status, platform_status,
        payment_status, refund_status, currency, total_minor, shipping_minor, buyer_name, buyer_phone, ship_address,
        external_ref, created_at, updated_at, synced_at, raw_json, fingerprint, raw_hash)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)
     ON CONFLICT (shop_id, order_no) DO UPDATE SET platform = excluded.platform,
        platform_order_id = excluded.platform_order_id, status = excluded.status,
        platform_status = excluded.platform_status, payment_status = excluded.payment_status,
        refund_status = excluded.refund_status, currency = excluded.currency, total_minor = excluded.total_minor,
        shipping_minor = excluded.shipping_minor, buyer_name = excluded.buyer_name,
        buyer_phone = excluded.buyer_phone, ship_address = excluded.ship_address,
        external_ref = excluded.external_ref, created_at = excluded.created_at, updated_at = excluded.updated_at,
        synced_at = excluded.synced_at, raw_json = excluded.raw_json, fingerprint = excluded.fingerprint,
        raw_hash = excluded.raw_hash";

const INSERT_TRANSITION: &str = "INSERT INTO status_changes (shop_id, entity, entity_key, from_status, to_status,
        from_platform_status, to_platform_status, regression, observed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// What an observation does to the stored row: nothing when unchanged, nothing when older than
/// what is stored (by the vendor's clock), otherwise an insert or an update flagged as a
/// regression when `regression(old_status)` says the status moved backwards.
fn decide(
    existing: Option<&Stored>,
    fp: &str,
    updated: Option<&str>,
    regression: impl FnOnce(&str) -> bool,
) -> Outcome {
    match existing {
        None => Outcome::Inserted,
        Some(old) if old.fingerprint == fp => Outcome::Unchanged,
        Some(old) if is_stale(old.updated_at.as_deref(), updated) => Outcome::Stale,
        Some(old) => Outcome::Updated { regression: regression(&old.status) },
    }
}

/// Records a status transition (first sight included) when the unified or vendor status changed.
fn record_transition(
    insert: &mut Stmt<'_, '_>,
    shop_id: &str,
    (entity, key): (&str, &str),
    existing: Option<&Stored>,
    (to, to_platform): (&str, &str),
    outcome: &Outcome,
    now: &str,
) -> Result<(), DbError> {
    let from = existing.map(|e| e.status.as_str());
    let from_platform = existing.map(|e| e.platform_status.as_str());
    if from == Some(to) && from_platform == Some(to_platform) {
        return Ok(());
    }
    let regression = matches!(outcome, Outcome::Updated { regression: true });
    if regression {
        tracing::warn!(shop = shop_id, entity, key, from, to, "status moved backwards; recorded as a regression");
    }
    insert.execute(args![shop_id, entity, key, from, to, from_platform, to_platform, regression, now])?;
    Ok(())
}

fn upsert_shipment(tx: &mut Tx<'_>, shop_id: &str, s: &Shipment, now: &str) -> Result<Outcome, DbError> {
    let order_no = match (&s.order_no, &s.platform_order_id) {
        (Some(no), _) => Some(no.clone()),
        (None, Some(id)) => tx
            .query_opt("SELECT order_no FROM orders WHERE shop_id = ?1 AND platform_order_id = ?2", args![shop_id, id])?
            .map(|mut r| r.text(0))
            .transpose()?,
        (None, None) => None,
    };
    let shipped = opt_ts(s.shipped_at);
    let fp = fingerprint(&[
        order_no.as_deref().unwrap_or(""),
        s.platform_order_id.as_deref().unwrap_or(""),
        s.carrier.as_deref().unwrap_or(""),
        s.tracking_no.as_deref().unwrap_or(""),
        shipped.as_deref().unwrap_or(""),
        &s.raw_json,
    ]);
    let existing = tx
        .query_opt(
            "SELECT fingerprint FROM shipments WHERE shop_id = ?1 AND shipment_id = ?2",
            args![shop_id, s.shipment_id],
        )?
        .map(|mut r| r.text(0))
        .transpose()?;
    if existing.as_deref() == Some(fp.as_str()) {
        return Ok(Outcome::Unchanged);
    }
    tx.execute("INSERT INTO shipments (shop_id, shipment_id, order_no, platform_order_id, carrier, tracking_no, shipped_at, synced_at, raw_json, fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (shop_id, shipment_id) DO UPDATE SET order_no = excluded.order_no,
            platform_order_id = excluded.platform_order_id, carrier = excluded.carrier, tracking_no = excluded.tracking_no,
            shipped_at = excluded.shipped_at, synced_at = excluded.synced_at, raw_json = excluded.raw_json,
            fingerprint = excluded.fingerprint",
        args![shop_id, s.shipment_id, order_no, s.platform_order_id, s.carrier, s.tracking_no, shipped, now, s.raw_json, fp],
    )?;
    Ok(if existing.is_some() { Outcome::Updated { regression: false } } else { Outcome::Inserted })
}

fn upsert_refund(tx: &mut Tx<'_>, shop_id: &str, r: &Refund, now: &str) -> Result<Outcome, DbError> {
    let created = opt_ts(r.created_at);
    let updated = opt_ts(r.updated_at);
    let fp = fingerprint(&[
        &r.order_no,
        r.status.as_str(),
        &r.platform_status,
        &r.amount_minor.to_string(),
        r.reason.as_deref().unwrap_or(""),
        created.as_deref().unwrap_or(""),
        updated.as_deref().unwrap_or(""),
        &r.raw_json,
    ]);
    let existing = Stored::read(&mut tx.prepare(&Stored::sql("refunds", "refund_id"))?, shop_id, &r.refund_id)?;
    let outcome = match decide(existing.as_ref(), &fp, updated.as_deref(), |old| {
        // A refund moving back along its lifecycle, or out of a side exit, is reported like an
        // order regression.
        old.parse().unwrap_or(RefundStatus::Unknown).is_regression_to(r.status)
    }) {
        Outcome::Unchanged => return Ok(Outcome::Unchanged),
        Outcome::Stale => return Ok(Outcome::Stale),
        other => other,
    };
    tx.execute("INSERT INTO refunds (shop_id, refund_id, order_no, status, platform_status, amount_minor, reason, created_at, updated_at, synced_at, raw_json, fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (shop_id, refund_id) DO UPDATE SET order_no = excluded.order_no, status = excluded.status,
            platform_status = excluded.platform_status, amount_minor = excluded.amount_minor, reason = excluded.reason,
            created_at = excluded.created_at, updated_at = excluded.updated_at, synced_at = excluded.synced_at,
            raw_json = excluded.raw_json, fingerprint = excluded.fingerprint",
        args![shop_id, r.refund_id, r.order_no, r.status.as_str(), r.platform_status, r.amount_minor, r.reason, created, updated, now, r.raw_json, fp],
    )?;
    record_transition(
        &mut tx.prepare(INSERT_TRANSITION)?,
        shop_id,
        ("refund", &r.refund_id),
        existing.as_ref(),
        (r.status.as_str(), &r.platform_status),
        &outcome,
        now,
    )?;
    Ok(outcome)
}

/// Stores a raw reject; returns true when it was new or different.
fn store_rejected(tx: &mut Tx<'_>, shop_id: &str, r: &Rejected, now: &str) -> Result<bool, DbError> {
    let changed = tx.execute("INSERT INTO rejected_records (shop_id, stream, vendor_key, error, raw_json, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (shop_id, stream, vendor_key) DO UPDATE SET error = excluded.error, raw_json = excluded.raw_json,
            seen_at = excluded.seen_at
         WHERE rejected_records.raw_json IS DISTINCT FROM excluded.raw_json
            OR rejected_records.error IS DISTINCT FROM excluded.error",
        args![shop_id, r.stream.as_str(), r.vendor_key, r.error, r.raw_json, now],
    )?;
    Ok(changed > 0)
}

impl Store {
    /// Order numbers of the shop's stored orders that are not in a terminal state.
    pub fn open_orders(&self, shop_id: &str) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT order_no FROM orders WHERE shop_id = ?1 AND status NOT IN ('completed', 'cancelled') ORDER BY order_no",
            args![shop_id],
            |mut r| r.text(0),
        )
    }

    /// Refund ids of the shop's stored refunds that may still change (not closed, rejected or
    /// cancelled; see `Sink::open_refunds`).
    pub fn open_refunds(&self, shop_id: &str) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT refund_id FROM refunds WHERE shop_id = ?1 AND status NOT IN ('closed', 'rejected', 'cancelled') ORDER BY refund_id",
            args![shop_id],
            |mut r| r.text(0),
        )
    }

    /// Up to `limit` order numbers of the shop in `status`, oldest first.
    pub fn orders_in_status(
        &self,
        shop_id: &str,
        status: OrderStatus,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT order_no FROM orders WHERE shop_id = ?1 AND status = ?2 ORDER BY created_at, order_no LIMIT ?3",
            args![shop_id, status.as_str(), limit],
            |mut r| r.text(0),
        )
    }

    /// The stored orders among those whose raw JSON hashes to one of `raw_hashes` (see
    /// [`super::raw_hash`]), as (raw hash, order number): rows a pass may skip unread.
    pub fn orders_by_raw_hash(&self, shop_id: &str, raw_hashes: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
        let mut found = Vec::new();
        // One statement per page of at most 100 (SQLite's default limit is 32766 parameters).
        for chunk in raw_hashes.chunks(100) {
            let marks = (2..chunk.len() + 2).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
            let sql = format!("SELECT raw_hash, order_no FROM orders WHERE shop_id = ?1 AND raw_hash IN ({marks})");
            let params: Vec<Param<'_>> =
                std::iter::once(Param::Text(shop_id)).chain(chunk.iter().map(|h| Param::Int(*h))).collect();
            found.extend(self.rows(&sql, &params, |mut r| Ok((r.int(0)?, r.text(1)?)))?);
        }
        Ok(found)
    }

    /// Row counts of the synced tables for one shop: (orders, shipments, refunds, status changes).
    pub fn shop_counts(&self, shop_id: &str) -> Result<(i64, i64, i64, i64), StoreError> {
        let counts = self.row(
            "SELECT (SELECT COUNT(*) FROM orders WHERE shop_id = ?1), (SELECT COUNT(*) FROM shipments WHERE shop_id = ?1),
                    (SELECT COUNT(*) FROM refunds WHERE shop_id = ?1), (SELECT COUNT(*) FROM status_changes WHERE shop_id = ?1)",
            args![shop_id],
            |mut r| Ok((r.int(0)?, r.int(1)?, r.int(2)?, r.int(3)?)),
        )?;
        Ok(counts.unwrap_or_default())
    }

    /// The stored orders among `order_nos`.
    pub fn stored_orders(&self, shop_id: &str, order_nos: &[String]) -> Result<Vec<StoredOrder>, StoreError> {
        let mut out = Vec::new();
        for no in order_nos {
            out.extend(self.row(
                "SELECT order_no, status, platform_status, raw_json, synced_at FROM orders WHERE shop_id = ?1 AND order_no = ?2",
                args![shop_id, no],
                |mut r| stored_order(&mut r),
            )?);
        }
        Ok(out)
    }

    /// Stored orders without any shipment row, and every non-terminal order, each with the raw
    /// JSON of its stored shipments (see `Sink::shipment_candidates`).
    pub fn shipment_candidates(
        &self,
        shop_id: &str,
        changed_since: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(StoredOrder, Vec<String>)>, StoreError> {
        let rows = self.rows(
            "WITH page AS (
                SELECT order_no, status, platform_status, raw_json, synced_at FROM orders o
                WHERE shop_id = ?1 AND order_no > ?2 AND (status NOT IN ('completed', 'cancelled')
                    OR NOT EXISTS (SELECT 1 FROM shipments s WHERE s.shop_id = o.shop_id AND s.order_no = o.order_no)
                    OR (?4 != '' AND synced_at >= ?4))
                ORDER BY order_no LIMIT ?3)
             SELECT p.order_no, p.status, p.platform_status, p.raw_json, p.synced_at, s.raw_json
             FROM page p LEFT JOIN shipments s ON s.shop_id = ?1 AND s.order_no = p.order_no
             ORDER BY p.order_no, s.shipment_id",
            args![shop_id, after, limit, changed_since],
            |mut r| Ok((stored_order(&mut r)?, r.opt_text(5)?)),
        )?;
        let mut out: Vec<(StoredOrder, Vec<String>)> = Vec::new();
        for (order, shipment) in rows {
            match out.last_mut() {
                Some((last, raws)) if last.order_no == order.order_no => raws.extend(shipment),
                _ => out.push((order, shipment.into_iter().collect())),
            }
        }
        Ok(out)
    }

    /// Ids of the stored shipments of one order.
    pub fn shipment_ids(&self, shop_id: &str, order_no: &str) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT shipment_id FROM shipments WHERE shop_id = ?1 AND order_no = ?2 ORDER BY shipped_at, shipment_id",
            args![shop_id, order_no],
            |mut r| r.text(0),
        )
    }

    /// The stored unified status of an order, if the order is known.
    pub fn order_status(&self, shop_id: &str, order_no: &str) -> Result<Option<OrderStatus>, StoreError> {
        let status = self.row(
            "SELECT status FROM orders WHERE shop_id = ?1 AND order_no = ?2",
            args![shop_id, order_no],
            |mut r| r.text(0),
        )?;
        Ok(status.map(|s| s.parse().unwrap_or(OrderStatus::Unknown)))
    }
}

fn stored_order(r: &mut Row) -> Result<StoredOrder, DbError> {
    let status = r.text(1)?;
    Ok(StoredOrder {
        order_no: r.text(0)?,
        status: status.parse().unwrap_or(OrderStatus::Unknown),
        platform_status: r.text(2)?,
        raw_json: r.text(3)?,
        synced_at: r.text(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn order(no: &str, status: OrderStatus, updated_secs: i64) -> Order {
        Order {
            order_no: no.into(),
            platform_order_id: None,
            status,
            platform_status: status.as_str().into(),
            payment_status: None,
            refund_status: None,
            currency: "CNY".into(),
            total_minor: 100,
            shipping_minor: 0,
            buyer_name: None,
            buyer_phone: None,
            ship_address: None,
            external_ref: None,
            created_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            updated_at: Some(Utc.timestamp_opt(1_700_000_000 + updated_secs, 0).unwrap()),
            lines: Vec::new(),
            raw_json: format!("{{\"no\":\"{no}\",\"t\":{updated_secs}}}"),
        }
    }

    fn rejected(key: &str) -> Rejected {
        Rejected { stream: Stream::Orders, vendor_key: key.into(), error: "bad".into(), raw_json: "{}".into() }
    }

    /// Every figure a pass reports (and `sync_runs` records) counts what happened: new rows,
    /// changed ones, stale observations skipped, regressions, raw-kept records.
    #[test]
    fn batch_counts_say_what_each_commit_did() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let mut commit = |orders: Vec<Order>, rejected: Vec<Rejected>| {
            let batch = Batch { orders, rejected, ..Batch::default() };
            store.commit_batch("s", "p", Stream::Orders, &batch, Utc::now()).unwrap()
        };
        use OrderStatus::*;
        let first = commit(vec![order("1", Pending, 10), order("2", Completed, 10)], vec![rejected("r1")]);
        assert_eq!(first, BatchCounts { seen: 3, inserted: 2, updated: 0, stale: 0, rejected: 1, regressions: 0 });
        assert_eq!(first.changed(), 3);
        // The same again: nothing written, the raw record included.
        let again = commit(vec![order("1", Pending, 10), order("2", Completed, 10)], vec![rejected("r1")]);
        assert_eq!(again, BatchCounts { seen: 3, ..BatchCounts::default() });
        assert_eq!(again.changed(), 0);
        // Forward, backwards (newer), and an older observation.
        let moved = commit(
            vec![order("1", Shipped, 20), order("2", Shipped, 20), order("1", Pending, 5)],
            vec![rejected("r2"), rejected("r3")],
        );
        assert_eq!(moved, BatchCounts { seen: 5, inserted: 0, updated: 2, stale: 1, rejected: 2, regressions: 1 });
        assert_eq!(moved.changed(), 4);

        let mut total = first;
        total.add(moved);
        assert_eq!(total, BatchCounts { seen: 8, inserted: 2, updated: 2, stale: 1, rejected: 3, regressions: 1 });
    }

    fn changes(store: &Store) -> Vec<(String, Option<String>, String, i64)> {
        let conn = store.connection();
        let mut stmt = conn
            .prepare("SELECT entity_key, from_platform_status, to_platform_status, regression FROM status_changes ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
    }

    /// A transition is recorded when the unified or the vendor status moves, and only then.
    #[test]
    fn transitions_are_recorded_only_when_a_status_moves() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let mut commit = |o: Order| {
            let batch = Batch { orders: vec![o], ..Batch::default() };
            store.commit_batch("s", "p", Stream::Orders, &batch, Utc::now()).unwrap();
        };
        commit(order("1", OrderStatus::Pending, 10));
        // Another field changes (the total): no transition.
        commit(Order { total_minor: 200, ..order("1", OrderStatus::Pending, 11) });
        // Only the vendor's code moves (same unified status): a transition.
        commit(Order { platform_status: "102".into(), ..order("1", OrderStatus::Pending, 12) });
        // Backwards, with a newer time: applied and flagged.
        commit(Order { platform_status: "102".into(), ..order("1", OrderStatus::Shipped, 13) });
        commit(Order { platform_status: "200".into(), ..order("1", OrderStatus::AwaitingFulfillment, 14) });
        let got = changes(&Store::open(&dir.path().join("db")).unwrap());
        let want = vec![
            ("1".to_string(), None, "pending".to_string(), 0),
            ("1".into(), Some("pending".into()), "102".into(), 0),
            ("1".into(), Some("102".into()), "102".into(), 0),
            ("1".into(), Some("102".into()), "200".into(), 1),
        ];
        assert_eq!(got, want);
    }

    /// A pass that stalled past its lease writes nothing once another process took the pass.
    #[test]
    fn a_batch_under_a_lost_lease_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        let t0 = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let short = std::time::Duration::from_secs(10);
        let mine = store.take_lease("s", "orders", "me", t0, short, None).unwrap().expect("free");
        let batch = |no: &str| Batch { orders: vec![order(no, OrderStatus::Pending, 1)], ..Batch::default() };
        store.commit_batch_under(Some(&mine), "s", "p", Stream::Orders, &batch("1"), t0).expect("ours");
        // Stalled past the lease; another process takes the pass.
        let later = t0 + chrono::Duration::seconds(11);
        store.take_lease("s", "orders", "other", later, short, None).unwrap().expect("expired");
        let err = store.commit_batch_under(Some(&mine), "s", "p", Stream::Orders, &batch("2"), later).unwrap_err();
        assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
        assert!(err.to_string().contains("another process holds this pass"), "{err}");
        assert_eq!(store.open_orders("s").unwrap(), vec!["1".to_string()], "the second batch was not written");
    }

    /// What connectors re-read and the demo picks from: open orders, open refunds, orders in a
    /// status (oldest first, at most `limit`).
    #[test]
    fn open_orders_open_refunds_and_orders_in_status() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        use OrderStatus::*;
        let orders = vec![
            Order { created_at: Utc.timestamp_opt(1_700_000_300, 0).unwrap(), ..order("a", Shipped, 1) },
            order("b", Completed, 1),
            order("c", Cancelled, 1),
            Order { created_at: Utc.timestamp_opt(1_600_000_000, 0).unwrap(), ..order("d", Shipped, 1) },
            order("e", Pending, 1),
        ];
        let refund = |id: &str, status: RefundStatus| Refund {
            refund_id: id.into(),
            order_no: "a".into(),
            status,
            platform_status: status.as_str().into(),
            amount_minor: 1,
            reason: None,
            created_at: None,
            updated_at: None,
            raw_json: format!("{{\"id\":\"{id}\"}}"),
        };
        let refunds = vec![
            refund("r1", RefundStatus::Refunded),
            refund("r2", RefundStatus::Closed),
            refund("r3", RefundStatus::Rejected),
            refund("r4", RefundStatus::Cancelled),
            refund("r5", RefundStatus::Requested),
        ];
        let batch = Batch { orders, refunds, ..Batch::default() };
        store.commit_batch("s", "p", Stream::Orders, &batch, Utc::now()).unwrap();
        store.commit_batch("other", "p", Stream::Orders, &batch, Utc::now()).unwrap();
        assert_eq!(store.open_orders("s").unwrap(), ["a", "d", "e"]);
        assert_eq!(store.open_refunds("s").unwrap(), ["r1", "r5"], "refunded may still close");
        assert_eq!(store.orders_in_status("s", Shipped, 10).unwrap(), ["d", "a"], "oldest first");
        assert_eq!(store.orders_in_status("s", Shipped, 1).unwrap(), ["d"]);
        assert!(store.open_orders("nobody").unwrap().is_empty());
    }

    fn shipment(id: &str, order: &str, secs: i64) -> Shipment {
        Shipment {
            shipment_id: id.into(),
            order_no: Some(order.into()),
            platform_order_id: None,
            carrier: Some("SF".into()),
            tracking_no: Some(format!("T{id}")),
            shipped_at: Some(Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()),
            raw_json: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    /// The lookups connectors and commands make: stored orders by number, shipment candidates a
    /// page at a time with their shipments, an order's shipment ids and status, shop counts.
    #[test]
    fn the_lookups_find_what_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db")).unwrap();
        use OrderStatus::*;
        let batch = Batch {
            orders: vec![
                order("a", Completed, 1),
                order("b", Completed, 1),
                order("c", Shipped, 1),
                order("d", Cancelled, 1),
            ],
            shipments: vec![shipment("s2", "a", 20), shipment("s1", "a", 10), shipment("s3", "b", 5)],
            ..Batch::default()
        };
        let counts = store.commit_batch("s", "p", Stream::Orders, &batch, Utc::now()).unwrap();
        assert_eq!(counts.inserted, 7);

        let found = store.stored_orders("s", &["c".into(), "zz".into(), "a".into()]).unwrap();
        let found: Vec<(&str, OrderStatus)> = found.iter().map(|o| (o.order_no.as_str(), o.status)).collect();
        assert_eq!(found, [("c", Shipped), ("a", Completed)]);
        assert!(store.stored_orders("other", &["a".into()]).unwrap().is_empty());

        // Terminal orders with a shipment ("a", "b") are no candidates; "c" is open, "d" has none.
        let page = store.shipment_candidates("s", "", "", 10).unwrap();
        let names: Vec<&str> = page.iter().map(|(o, _)| o.order_no.as_str()).collect();
        assert_eq!(names, ["c", "d"]);
        assert!(page.iter().all(|(_, raws)| raws.is_empty()));
        let later = store.shipment_candidates("s", "", "c", 10).unwrap();
        assert_eq!(later.iter().map(|(o, _)| o.order_no.as_str()).collect::<Vec<_>>(), ["d"], "after `c`");
        assert_eq!(store.shipment_candidates("s", "", "", 1).unwrap().len(), 1, "at most `limit`");
        // Changed since a time: every order written since then, with its shipments' raw JSON.
        let since = store.shipment_candidates("s", "2000-01-01T00:00:00Z", "", 10).unwrap();
        let a = since.iter().find(|(o, _)| o.order_no == "a").expect("a changed since 2000");
        assert_eq!(a.1, ["{\"id\":\"s1\"}", "{\"id\":\"s2\"}"]);
        assert_eq!(store.shipment_candidates("s", "2999-01-01T00:00:00Z", "", 10).unwrap().len(), 2);

        assert_eq!(store.shipment_ids("s", "a").unwrap(), ["s1", "s2"], "in shipping order");
        assert!(store.shipment_ids("s", "c").unwrap().is_empty());
        assert_eq!(store.order_status("s", "c").unwrap(), Some(Shipped));
        assert_eq!(store.order_status("s", "zz").unwrap(), None);
        assert_eq!(store.shop_counts("s").unwrap(), (4, 3, 0, 4));
        assert_eq!(store.shop_counts("other").unwrap(), (0, 0, 0, 0));
    }
}
