//! Links in the database: matching supplier orders to storefront orders, forwarding their
//! shipments and cancels through the outbox, `link add`, and the figures `links` and `status` show.
//!
//! [`apply`] runs inside `commit_batch`'s transaction, so the rows, the cursor and the pushes
//! they cause commit together; each push goes through the outbox's dedupe key and each forward is
//! a row keyed by (supplier shop, shipment, tracking number, storefront shop), so evaluating an
//! order again — after a crash, a repeated pass, a storefront sync — never forwards twice.

use super::db::{args, DbError, Exec, Tx};
use super::outbox::enqueue_in;
use super::{ts, NewEntry, Store, StoreError};
use crate::links::{LinkPlan, Matching};
use crate::model::OrderStatus;
use crate::platforms::{Batch, Forward, PushPayload};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

/// The key that serializes every transaction evaluating the link `from` → `to` (PostgreSQL:
/// a supplier pass and a storefront pass in two instances must not each miss the other's rows;
/// SQLite's one writer already serializes them).
fn link_key(from: &str, to: &str) -> String {
    format!("ordersync link {from} -> {to}")
}

/// Takes the keys of `links` in one order (sorted), so two transactions never wait on each other.
fn serialize_links<'a>(tx: &mut Tx<'_>, links: impl Iterator<Item = &'a LinkPlan>) -> Result<(), DbError> {
    let keys: BTreeSet<String> = links.map(|l| link_key(&l.from, &l.to)).collect();
    for key in &keys {
        tx.serialize_on(key)?;
    }
    Ok(())
}

/// Runs every link naming `shop_id` over the orders `batch` touched. As a supplier: each touched
/// order is matched and its shipments and cancels forwarded. As a storefront: supplier orders
/// waiting for one of the batch's orders are evaluated again.
pub(super) fn apply(
    tx: &mut Tx<'_>,
    links: &[LinkPlan],
    shop_id: &str,
    batch: &Batch,
    now: &str,
) -> Result<(), DbError> {
    serialize_links(tx, links.iter().filter(|l| l.from == shop_id || (l.to == shop_id && !batch.orders.is_empty())))?;
    for link in links.iter().filter(|l| l.from == shop_id) {
        let mut touched: BTreeSet<&str> = BTreeSet::new();
        touched.extend(batch.orders.iter().map(|o| o.order_no.as_str()));
        touched.extend(batch.shipments.iter().filter_map(|s| s.order_no.as_deref()));
        touched.extend(batch.refunds.iter().map(|r| r.order_no.as_str()));
        // Rows an ERP wrote into order_links since: their supplier orders may not change again.
        let fresh = if link.matching == Matching::Table { unread_table_rows(tx, link)? } else { Vec::new() };
        touched.extend(fresh.iter().map(String::as_str));
        for order_no in touched {
            evaluate(tx, link, order_no, now)?;
        }
    }
    for link in links.iter().filter(|l| l.to == shop_id) {
        let mut waiting = BTreeSet::new();
        for order in &batch.orders {
            let rows = tx.query(
                "SELECT from_order FROM link_orders WHERE to_shop = ?1 AND candidate = ?2 AND from_shop = ?3",
                args![shop_id, order.order_no, link.from],
            )?;
            for mut r in rows {
                waiting.insert(r.text(0)?);
            }
        }
        for from_order in &waiting {
            evaluate(tx, link, from_order, now)?;
        }
    }
    Ok(())
}

/// Supplier orders named in `order_links` for `link` whose row was not read yet (new or
/// changed); a row naming a storefront order not stored yet is read again by that order's sync.
fn unread_table_rows(tx: &mut Tx<'_>, link: &LinkPlan) -> Result<Vec<String>, DbError> {
    let rows = tx.query(
        "SELECT l.from_order FROM order_links l WHERE l.from_shop = ?1 AND l.to_shop = ?2
         AND NOT EXISTS (SELECT 1 FROM link_orders m WHERE m.from_shop = l.from_shop AND m.from_order = l.from_order
            AND m.to_shop = l.to_shop AND m.candidate = l.to_order)
         AND EXISTS (SELECT 1 FROM orders o WHERE o.shop_id = l.from_shop AND o.order_no = l.from_order)",
        args![link.from, link.to],
    )?;
    rows.into_iter().map(|mut r| r.text(0)).collect()
}

/// Records how a supplier order of `link` was matched: its candidate, its storefront order
/// once stored, or why not (written only when something changed).
fn record(
    tx: &mut Tx<'_>,
    link: &LinkPlan,
    from_order: &str,
    (candidate, to_order, why): (Option<&str>, Option<&str>, Option<&str>),
    now: &str,
) -> Result<usize, DbError> {
    tx.execute(
        "INSERT INTO link_orders (from_shop, from_order, to_shop, candidate, to_order, why, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (from_shop, from_order, to_shop) DO UPDATE SET candidate = excluded.candidate,
            to_order = excluded.to_order, why = excluded.why, updated_at = excluded.updated_at
         WHERE link_orders.candidate IS DISTINCT FROM excluded.candidate
            OR link_orders.to_order IS DISTINCT FROM excluded.to_order
            OR link_orders.why IS DISTINCT FROM excluded.why",
        args![link.from, from_order, link.to, candidate, to_order, why, now],
    )
}

/// Matches one supplier order, records the match (or why not), and forwards what it calls for.
fn evaluate(tx: &mut Tx<'_>, link: &LinkPlan, from_order: &str, now: &str) -> Result<(), DbError> {
    let supplier = tx.query_opt(
        "SELECT status, external_ref, raw_json FROM orders WHERE shop_id = ?1 AND order_no = ?2",
        args![link.from, from_order],
    )?;
    // Shipments can arrive before their order; the order's own commit evaluates it.
    let Some(mut supplier) = supplier else {
        return Ok(());
    };
    let (supplier_status, external_ref, raw_json) = (supplier.text(0)?, supplier.opt_text(1)?, supplier.text(2)?);
    let candidate = match candidate(tx, link, from_order, external_ref, &raw_json)? {
        Ok(c) => c,
        Err(why) => {
            record(tx, link, from_order, (None, None, Some(&why)), now)?;
            return Ok(());
        }
    };
    let storefront = tx
        .query_opt("SELECT status FROM orders WHERE shop_id = ?1 AND order_no = ?2", args![link.to, candidate])?
        .map(|mut r| r.text(0))
        .transpose()?;
    let Some(storefront) = storefront else {
        let why =
            format!("storefront order `{candidate}` is not in shop `{}` (not synced yet, or no such order)", link.to);
        record(tx, link, from_order, (Some(&candidate), None, Some(&why)), now)?;
        return Ok(());
    };
    record(tx, link, from_order, (Some(&candidate), Some(&candidate), None), now)?;
    let storefront = storefront.parse().unwrap_or(OrderStatus::Unknown);
    let to = Target { from_order, to_order: &candidate, status: storefront };
    forward_shipments(tx, link, &to, now)?;
    let supplier_status = supplier_status.parse().unwrap_or(OrderStatus::Unknown);
    raise_alerts(tx, link, &to, supplier_status, now)
}

/// The storefront number a supplier order names by the link's match, or why it names none.
fn candidate(
    tx: &mut Tx<'_>,
    link: &LinkPlan,
    from_order: &str,
    external_ref: Option<String>,
    raw_json: &str,
) -> Result<Result<String, String>, DbError> {
    Ok(match &link.matching {
        Matching::ExternalRef => external_ref
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .ok_or_else(|| "the supplier order carries no external order number".to_string()),
        Matching::Message { field, pattern } => {
            let value: serde_json::Value = serde_json::from_str(raw_json).unwrap_or_default();
            match value.get(*field).and_then(|v| v.as_str()).map(str::trim).filter(|m| !m.is_empty()) {
                None => Err(format!("the supplier order has no `{field}`")),
                Some(message) => pattern
                    .find(message)
                    .ok_or_else(|| format!("`{field}` {message:?} holds no number by pattern `{}`", pattern.as_str())),
            }
        }
        Matching::Table => tx
            .query_opt(
                "SELECT to_order FROM order_links WHERE from_shop = ?1 AND from_order = ?2 AND to_shop = ?3",
                args![link.from, from_order, link.to],
            )?
            .map(|mut r| r.text(0))
            .transpose()?
            .ok_or_else(|| "no order_links row names its storefront order".to_string()),
    })
}

/// The storefront side of one matched supplier order.
struct Target<'a> {
    from_order: &'a str,
    to_order: &'a str,
    status: OrderStatus,
}

/// What happens to one supplier shipment.
enum Decision {
    Push(PushPayload),
    Wait(String),
    Skip(String),
}

/// Forwards each shipment of the supplier order not forwarded yet (a corrected tracking number
/// is a shipment not forwarded yet).
fn forward_shipments(tx: &mut Tx<'_>, link: &LinkPlan, to: &Target<'_>, now: &str) -> Result<(), DbError> {
    let shipments = tx.query(
        "SELECT shipment_id, carrier, tracking_no FROM shipments WHERE shop_id = ?1 AND order_no = ?2
         AND tracking_no IS NOT NULL AND TRIM(tracking_no) != '' ORDER BY shipped_at, shipment_id",
        args![link.from, to.from_order],
    )?;
    for mut row in shipments {
        let (shipment_id, carrier, tracking) = (row.text(0)?, row.opt_text(1)?, row.text(2)?);
        let state = tx
            .query_opt(
                "SELECT state FROM link_forwards WHERE from_shop = ?1 AND shipment_id = ?2 AND tracking_no = ?3 AND to_shop = ?4",
                args![link.from, shipment_id, tracking, link.to],
            )?
            .map(|mut r| r.text(0))
            .transpose()?;
        if state.is_some_and(|s| s != "waiting") {
            continue;
        }
        let carrier = link.carrier(carrier.as_deref().unwrap_or("").trim());
        let other_parcel = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM link_forwards WHERE from_shop = ?1 AND from_order = ?2 AND to_shop = ?3
                    AND state = 'queued' AND shipment_id != ?4)",
                args![link.from, to.from_order, link.to, shipment_id],
            )?
            .flag(0)?;
        let decision = decide(link.forward, to.status, other_parcel, || PushPayload::Ship {
            carrier: carrier.clone(),
            tracking: tracking.clone(),
        });
        let (state, outbox_id, note) = match decision {
            Decision::Push(payload) => {
                let entry = NewEntry { shop_id: link.to.clone(), order_no: to.to_order.to_string(), payload };
                ("queued", Some(enqueue_in(tx, &entry, now)?.id), None)
            }
            Decision::Wait(why) => ("waiting", None, Some(why)),
            Decision::Skip(why) => ("skipped", None, Some(why)),
        };
        tx.execute(
            "INSERT INTO link_forwards (from_shop, shipment_id, tracking_no, to_shop, from_order, to_order, carrier,
                state, outbox_id, note, first_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (from_shop, shipment_id, tracking_no, to_shop) DO UPDATE SET from_order = excluded.from_order,
                to_order = excluded.to_order, carrier = excluded.carrier, state = excluded.state,
                outbox_id = excluded.outbox_id, note = excluded.note",
            args![
                link.from,
                shipment_id,
                tracking,
                link.to,
                to.from_order,
                to.to_order,
                carrier,
                state,
                outbox_id,
                note,
                now
            ],
        )?;
    }
    Ok(())
}

/// How one shipment reaches a storefront order in `status`; `other_parcel`: another parcel of
/// the same supplier order was forwarded already.
fn decide(forward: Forward, status: OrderStatus, other_parcel: bool, ship: impl FnOnce() -> PushPayload) -> Decision {
    let list = |accepts: &[OrderStatus]| accepts.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    if status.is_terminal() {
        return Decision::Skip(format!("the storefront order is {status}"));
    }
    match forward {
        Forward::Nothing => Decision::Skip("the storefront cannot take a shipment".into()),
        Forward::Ship { several: false, .. } if other_parcel => Decision::Skip(
            "the storefront takes one tracking number per order: the first parcel's was forwarded".into(),
        ),
        Forward::Ship { accepts, .. } if accepts.contains(&status) => Decision::Push(ship()),
        Forward::Ship { accepts, .. } => {
            Decision::Wait(format!("the storefront order is {status}; it takes a shipment when {}", list(accepts)))
        }
        // One move serves every parcel (the dedupe key makes the second parcel's push the first's).
        Forward::Status { to, accepts } if accepts.contains(&status) => {
            Decision::Push(PushPayload::Status { status: to })
        }
        Forward::Status { to, .. } if status.is_at_or_past(to) => {
            Decision::Skip(format!("the storefront order is already {status}"))
        }
        Forward::Status { to, accepts } => {
            Decision::Wait(format!("the storefront order is {status}; it moves to {to} only from {}", list(accepts)))
        }
    }
}

/// Raises an alert on the storefront order for a supplier cancel and for each supplier refund
/// not refused; cancels the storefront order too when the link says so and it has not shipped.
fn raise_alerts(
    tx: &mut Tx<'_>,
    link: &LinkPlan,
    to: &Target<'_>,
    supplier_status: OrderStatus,
    now: &str,
) -> Result<(), DbError> {
    let mut alerts: Vec<(&str, String, String, Option<i64>)> = Vec::new();
    let raised = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM link_alerts WHERE from_shop = ?1 AND from_order = ?2 AND to_shop = ?3
                AND kind = 'supplier_cancelled')",
            args![link.from, to.from_order, link.to],
        )?
        .flag(0)?;
    // The link's setting when the cancel is first seen decides; evaluating the order again
    // (another pass, a changed config) never cancels what was only alerted.
    if supplier_status == OrderStatus::Cancelled && !raised {
        let (detail, outbox_id) = if !link.cancel_storefront {
            (
                "the supplier cancelled; the storefront order is left as it is (on_supplier_cancel = \"alert\")".into(),
                None,
            )
        } else if to.status == OrderStatus::Cancelled {
            ("the supplier cancelled; the storefront order is cancelled already".into(), None)
        } else if to.status.is_at_or_past(OrderStatus::Shipped) {
            (format!("the supplier cancelled; the storefront order is {} and is not cancelled", to.status), None)
        } else {
            let entry = NewEntry {
                shop_id: link.to.clone(),
                order_no: to.to_order.to_string(),
                payload: PushPayload::Status { status: OrderStatus::Cancelled },
            };
            let id = enqueue_in(tx, &entry, now)?.id;
            (
                "the supplier cancelled; the storefront order is being cancelled (on_supplier_cancel = \"cancel\")"
                    .into(),
                Some(id),
            )
        };
        alerts.push(("supplier_cancelled", "cancelled".into(), detail, outbox_id));
    }
    let refunds = tx.query(
        "SELECT refund_id, status, amount_minor FROM refunds WHERE shop_id = ?1 AND order_no = ?2
         AND status NOT IN ('rejected', 'cancelled') ORDER BY refund_id",
        args![link.from, to.from_order],
    )?;
    for mut row in refunds {
        let (refund_id, status, amount) = (row.text(0)?, row.text(1)?, row.int(2)?);
        let detail =
            format!("the supplier refunds {}.{:02} (refund {refund_id}, {status})", amount / 100, amount % 100);
        alerts.push(("supplier_refund", refund_id, detail, None));
    }
    for (kind, reference, detail, outbox_id) in alerts {
        tx.execute(
            "INSERT INTO link_alerts (from_shop, from_order, to_shop, to_order, kind, ref, detail, outbox_id, raised_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (from_shop, from_order, to_shop, kind, ref) DO NOTHING",
            args![link.from, to.from_order, link.to, to.to_order, kind, reference, detail, outbox_id, now],
        )?;
    }
    Ok(())
}

/// A supplier order of a link that names no stored storefront order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unmatched {
    /// The supplier order.
    pub from_order: String,
    /// Why it is not matched.
    pub why: String,
}

/// What one link did, for `ordersync links` and `status --check`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkFigures {
    /// The supplier shop.
    pub from: String,
    /// The storefront shop.
    pub to: String,
    /// Supplier orders matched to a stored storefront order.
    pub matched: u64,
    /// Supplier orders not matched, with why.
    pub unmatched: Vec<Unmatched>,
    /// Shipments whose push was delivered.
    pub forwarded: u64,
    /// Shipments waiting: for the storefront order to take them, or in the outbox.
    pub waiting: u64,
    /// Shipments whose push failed for good (a dead letter).
    pub failed: u64,
    /// Shipments deliberately not forwarded (a one-parcel storefront, a closed order), with why in `link_forwards.note`.
    pub skipped: u64,
    /// When the oldest shipment not forwarded (waiting or failed) was first seen.
    pub oldest_unforwarded_at: Option<String>,
    /// Alerts raised on storefront orders.
    pub alerts: u64,
}

/// An alert raised on a storefront order, for `ordersync status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LinkAlert {
    /// The storefront shop.
    pub to_shop: String,
    /// The storefront order.
    pub to_order: String,
    /// The supplier shop.
    pub from_shop: String,
    /// The supplier order.
    pub from_order: String,
    /// `supplier_cancelled` or `supplier_refund`.
    pub kind: String,
    /// What happened and what was done.
    pub detail: String,
    /// The state of the storefront cancel, when one was enqueued.
    pub cancel_state: Option<String>,
    /// When it was raised.
    pub raised_at: String,
}

impl Store {
    /// Records (or changes) an `order_links` row and forwards at once what it lets through.
    /// False when the same row was there already.
    pub fn link_add(
        &mut self,
        (from_shop, from_order): (&str, &str),
        (to_shop, to_order): (&str, &str),
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = ts(now);
        let links = std::sync::Arc::clone(&self.links);
        self.write(|tx| {
            let links = || links.iter().filter(|l| l.from == from_shop && l.to == to_shop);
            serialize_links(tx, links())?;
            let changed = tx.execute(
                "INSERT INTO order_links (from_shop, from_order, to_shop, to_order, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (from_shop, from_order, to_shop) DO UPDATE SET to_order = excluded.to_order
                 WHERE order_links.to_order != excluded.to_order",
                args![from_shop, from_order, to_shop, to_order, now],
            )? > 0;
            for link in links() {
                evaluate(tx, link, from_order, &now)?;
            }
            Ok(changed)
        })
    }

    /// How a supplier order stands on the link to `to_shop`: `None` when it was never
    /// evaluated (not synced), else its storefront order or why it has none.
    pub fn link_state(
        &self,
        from_shop: &str,
        from_order: &str,
        to_shop: &str,
    ) -> Result<Option<Result<String, String>>, StoreError> {
        let row = self.row(
            "SELECT to_order, why FROM link_orders WHERE from_shop = ?1 AND from_order = ?2 AND to_shop = ?3",
            args![from_shop, from_order, to_shop],
            |mut r| Ok((r.opt_text(0)?, r.opt_text(1)?)),
        )?;
        Ok(row.map(|(to_order, why)| to_order.ok_or_else(|| why.unwrap_or_default())))
    }

    /// Storefront orders of `to_shop` with a forwarded shipment not delivered yet (waiting or
    /// in the outbox): the demo's warehouse leaves them alone until it lands.
    pub fn orders_awaiting_forwards(&self, to_shop: &str) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows = self.rows(
            "SELECT DISTINCT f.to_order FROM link_forwards f LEFT JOIN outbox o ON o.id = f.outbox_id
             WHERE f.to_shop = ?1 AND (f.state = 'waiting' OR (f.state = 'queued' AND o.state IN ('pending', 'in_flight')))",
            args![to_shop],
            |mut r| r.text(0),
        )?;
        Ok(rows.into_iter().collect())
    }

    /// The figures of the link `from` → `to`.
    pub fn link_figures(&self, from: &str, to: &str) -> Result<LinkFigures, StoreError> {
        let mut f = LinkFigures { from: from.to_string(), to: to.to_string(), ..LinkFigures::default() };
        let count = |sql: &str| -> Result<u64, StoreError> {
            let n = self.row(sql, args![from, to], |mut r| r.int(0))?;
            Ok(n.unwrap_or(0) as u64)
        };
        f.matched =
            count("SELECT COUNT(*) FROM link_orders WHERE from_shop = ?1 AND to_shop = ?2 AND to_order IS NOT NULL")?;
        f.unmatched = self.rows(
            "SELECT from_order, why FROM link_orders WHERE from_shop = ?1 AND to_shop = ?2 AND to_order IS NULL
             ORDER BY from_order",
            args![from, to],
            |mut r| Ok(Unmatched { from_order: r.text(0)?, why: r.text(1)? }),
        )?;
        // A queued forward whose outbox row is gone was delivered and pruned.
        let figures = self.row(
            "SELECT CAST(COALESCE(SUM(CASE WHEN f.state = 'skipped' THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN f.state = 'queued' AND (o.state = 'done' OR o.id IS NULL)
                    THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN f.state = 'queued' AND o.state = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN f.state = 'waiting' OR (f.state = 'queued' AND o.state IN ('pending', 'in_flight'))
                    THEN 1 ELSE 0 END), 0) AS BIGINT),
                MIN(CASE WHEN f.state = 'waiting' OR (f.state = 'queued' AND o.state IN ('pending', 'in_flight', 'failed'))
                    THEN f.first_seen_at END)
             FROM link_forwards f LEFT JOIN outbox o ON o.id = f.outbox_id
             WHERE f.from_shop = ?1 AND f.to_shop = ?2",
            args![from, to],
            |mut r| Ok((r.int(0)?, r.int(1)?, r.int(2)?, r.int(3)?, r.opt_text(4)?)),
        )?;
        if let Some((skipped, forwarded, failed, waiting, oldest)) = figures {
            (f.skipped, f.forwarded, f.failed, f.waiting, f.oldest_unforwarded_at) =
                (skipped as u64, forwarded as u64, failed as u64, waiting as u64, oldest);
        }
        f.alerts = count("SELECT COUNT(*) FROM link_alerts WHERE from_shop = ?1 AND to_shop = ?2")?;
        Ok(f)
    }

    /// Every alert raised on storefront orders, newest first.
    pub fn link_alerts(&self) -> Result<Vec<LinkAlert>, StoreError> {
        self.rows(
            "SELECT a.to_shop, a.to_order, a.from_shop, a.from_order, a.kind, a.detail, o.state, a.raised_at
             FROM link_alerts a LEFT JOIN outbox o ON o.id = a.outbox_id ORDER BY a.id DESC",
            &[],
            |mut r| {
                Ok(LinkAlert {
                    to_shop: r.text(0)?,
                    to_order: r.text(1)?,
                    from_shop: r.text(2)?,
                    from_order: r.text(3)?,
                    kind: r.text(4)?,
                    detail: r.text(5)?,
                    cancel_state: r.opt_text(6)?,
                    raised_at: r.text(7)?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Order, Shipment, Stream};
    use chrono::TimeZone;
    use OrderStatus::*;

    const ONE_PARCEL: Forward = Forward::Ship { several: false, accepts: &[AwaitingFulfillment, Shipped] };
    const EACH_PARCEL: Forward = Forward::Ship { several: true, accepts: &[AwaitingFulfillment, Shipped] };
    const TO_SHIPPED: Forward = Forward::Status { to: Shipped, accepts: &[AwaitingFulfillment, Processing] };

    fn ship() -> PushPayload {
        PushPayload::Ship { carrier: "ZTO".into(), tracking: "T1".into() }
    }

    /// Every (storefront kind, storefront status, another parcel forwarded) → what a shipment becomes.
    #[test]
    fn each_storefront_takes_what_its_platform_can() {
        let cases: &[(Forward, OrderStatus, bool, &str)] = &[
            (EACH_PARCEL, AwaitingFulfillment, false, "push ship"),
            (EACH_PARCEL, Shipped, true, "push ship"),
            (EACH_PARCEL, Pending, false, "wait"),
            (EACH_PARCEL, Completed, false, "skip"),
            (EACH_PARCEL, Cancelled, false, "skip"),
            (ONE_PARCEL, AwaitingFulfillment, false, "push ship"),
            (ONE_PARCEL, Shipped, true, "skip"),
            (TO_SHIPPED, AwaitingFulfillment, false, "push status"),
            (TO_SHIPPED, Processing, true, "push status"),
            (TO_SHIPPED, Shipped, false, "skip"),
            (TO_SHIPPED, Delivered, false, "skip"),
            (TO_SHIPPED, Pending, false, "wait"),
            (Forward::Nothing, AwaitingFulfillment, false, "skip"),
        ];
        for (forward, status, other, want) in cases {
            let got = match decide(*forward, *status, *other, ship) {
                Decision::Push(PushPayload::Ship { .. }) => "push ship",
                Decision::Push(PushPayload::Status { status: Shipped }) => "push status",
                Decision::Push(_) => "push other",
                Decision::Wait(_) => "wait",
                Decision::Skip(_) => "skip",
            };
            assert_eq!(got, *want, "{forward:?} {status} other parcel {other}");
        }
    }

    fn order(no: &str, status: OrderStatus, external_ref: Option<&str>) -> Order {
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
            external_ref: external_ref.map(str::to_string),
            created_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            updated_at: None,
            lines: Vec::new(),
            raw_json: format!("{{\"no\":\"{no}\"}}"),
        }
    }

    /// The forwards a supplier commit causes are part of it: when the outbox refuses the push,
    /// the supplier's rows and cursor are not committed either; once it takes it, all three are.
    #[test]
    fn a_forward_commits_with_the_rows_and_cursor_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let plan = LinkPlan {
            from: "lb".into(),
            to: "ym".into(),
            matching: Matching::ExternalRef,
            carriers: [("中通".to_string(), "ZTO".to_string())].into(),
            forward: EACH_PARCEL,
            cancel_storefront: false,
        };
        let mut store = Store::open(&dir.path().join("db")).unwrap().with_links(std::sync::Arc::new(vec![plan]));
        let storefront = Batch { orders: vec![order("SF1", AwaitingFulfillment, None)], ..Batch::default() };
        store.commit_batch("ym", "ymcart", Stream::Orders, &storefront, Utc::now()).unwrap();
        let supplier = Batch {
            orders: vec![order("LB1", Shipped, Some("SF1"))],
            shipments: vec![Shipment {
                shipment_id: "CK1".into(),
                order_no: Some("LB1".into()),
                platform_order_id: None,
                carrier: Some("中通".into()),
                tracking_no: Some("T1".into()),
                shipped_at: None,
                raw_json: "{}".into(),
            }],
            cursor: Some("after-LB1".into()),
            ..Batch::default()
        };
        store
            .connection()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox full'); END;",
            )
            .unwrap();
        let err = store.commit_batch("lb", "liangben", Stream::Orders, &supplier, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("outbox full"), "{err}");
        let count = |store: &Store, sql: &str| -> i64 { store.connection().query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM orders WHERE shop_id = 'lb'"),
            0,
            "no supplier row without its forward"
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM shipments"), 0);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM sync_state WHERE shop_id = 'lb'"), 0, "the cursor did not move");
        assert_eq!(store.cursor("lb", Stream::Orders).unwrap(), None);

        store.connection().execute_batch("DROP TRIGGER refuse").unwrap();
        store.commit_batch("lb", "liangben", Stream::Orders, &supplier, Utc::now()).unwrap();
        let pushed: (String, String) = store
            .connection()
            .query_row("SELECT order_no, payload FROM outbox", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(pushed.0, "SF1");
        assert!(pushed.1.contains("\"ZTO\"") && pushed.1.contains("\"T1\""), "{}", pushed.1);
        assert_eq!(store.cursor("lb", Stream::Orders).unwrap().as_deref(), Some("after-LB1"));
        // Committed again (a repeated pass): nothing more.
        store.commit_batch("lb", "liangben", Stream::Orders, &supplier, Utc::now()).unwrap();
        assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox"), 1);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM link_forwards WHERE state = 'queued'"), 1);
    }
}
