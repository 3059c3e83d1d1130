//! Youliang "liangben" ERP (PLATFORMS.md §3): the buyer side — the orders we placed with a
//! supplier, their outbound records and refunds; we push cancels and receipt confirmations.
//!
//! The order list filters only on creation time, so each pass lists new orders by creation
//! windows and then re-polls every stored open order by number (`more_order_sn`, 20 at a time):
//! that is how status changes of older orders are seen. A list row without lines or amount is
//! completed from `order/get_order_info` before it is read. Where a list answer reports a
//! `total`, a query that falls short of it is read again, and a remaining shortfall holds the
//! cursor. Outbound records need one call per order. Readings of the ambiguous vendor page:
//! docs/platforms/liangben.md.

pub mod map;
pub mod wire;

use crate::model::{OrderStatus, PushKind, Stream};
use crate::platforms::bearer::BearerClient;
use crate::platforms::http::Idempotency;
use crate::platforms::paging::{for_each_page, PageOf};
use crate::platforms::values;
use crate::platforms::window;
use crate::platforms::{
    envelope, one_by_one, push_outcome, Batch, Capabilities, Connector, ConnectorParts, Forward, PushItem, PushOutcome,
    PushPayload, ReadBack, Shortfall, Side, Sink, StoredOrder, SyncError, SyncRequest,
};
use async_trait::async_trait;
use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// What Liangben can do.
pub static CAPABILITIES: Capabilities = Capabilities {
    platform: "liangben",
    streams: &[Stream::Orders, Stream::Shipments, Stream::Refunds],
    pushes: &[PushKind::Status],
    push_statuses: &[OrderStatus::Cancelled, OrderStatus::Completed],
    max_batch: 1,
    read_back: &[PushKind::Status],
    stream_gaps: &[],
    options: &[],
    credentials: &["token"],
    notes: &[
        "buyer side: `cancelled` cancels our order, `completed` confirms receipt of each outbound record until the order reads back as received",
        "the supplier refuses to cancel an order it has shipped",
    ],
    side: Side::Buyer,
    forward: Forward::Nothing,
    external_ref: true,
    message_field: None,
};

/// Stored orders examined per page when looking for missing outbound records (bounded memory).
const CANDIDATE_PAGE: usize = 1000;
/// `out_info` calls in flight at once per shop (the shop's rate limit still applies to each).
const OUT_INFO_CONCURRENCY: usize = 4;
/// `get_order_info` calls in flight at once per shop, for list rows without lines or amounts
/// (the shop's rate limit still applies to each).
const DETAIL_CONCURRENCY: usize = 4;
/// The remark sent with every receipt.
const RECEIPT_REMARK: &str = "received (ordersync)";

/// The Liangben connector for one shop.
pub struct Liangben {
    client: BearerClient,
}

/// Builds the connector (registry entry).
pub fn build(parts: ConnectorParts<'_>) -> Result<Arc<dyn Connector>, String> {
    let token = parts.credential("token")?;
    Ok(Arc::new(Liangben { client: BearerClient::new(parts.http, token) }))
}

fn form(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// One list answer: its rows, whether more follow, and the `total` it reports, if any.
struct ListPage {
    rows: Vec<Value>,
    more: bool,
    total: Option<u64>,
}

/// One list query: path and filter, the field that keys its rows, and how an admin would repeat
/// it (named in a shortfall).
struct Query {
    path: &'static str,
    fields: Vec<(String, String)>,
    key: &'static str,
    label: String,
}

/// `has_next` as vendors write flags: a bool, `1`/`0` or `"true"`/`"false"`; None when absent.
fn flag(data: &Value, field: &str) -> Option<bool> {
    match values::code(data, field).to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

impl Liangben {
    async fn post(&self, path: &str, fields: Vec<(String, String)>, idem: Idempotency) -> Result<Value, SyncError> {
        self.client.call(Method::POST, path, Vec::new(), fields, idem).await
    }

    /// One page of a `has_next` list, with the `total` the vendor may send beside `has_next`.
    /// Without `has_next`, the total (or else a full page) says whether more follow.
    async fn page(&self, path: &str, mut fields: Vec<(String, String)>, page: u64) -> Result<ListPage, SyncError> {
        fields.extend(form(&[
            ("page", page.to_string()),
            ("page_size", wire::PAGE_SIZE.to_string()),
            ("use_has_next", "true".into()),
        ]));
        let mut answer = self.post(path, fields, Idempotency::Read).await?;
        let rows = envelope::list_at(&mut answer, "/data/list", path)?;
        let data = answer.get("data").unwrap_or(&Value::Null);
        let total = values::int(data, "total").ok().flatten().and_then(|t| u64::try_from(t).ok());
        let size = wire::PAGE_SIZE as u64;
        let more = flag(data, "has_next").unwrap_or_else(|| match total {
            Some(total) => page.saturating_mul(size) < total,
            None => rows.len() >= wire::PAGE_SIZE,
        });
        Ok(ListPage { rows, more, total })
    }

    fn order_batch(rows: Vec<Value>, seen: &mut HashSet<String>) -> Batch {
        let mut batch = Batch::default();
        batch.read(&rows, (Stream::Orders, "order_sn"), map::order, |b, o| b.orders.push(o));
        seen.extend(batch.orders.iter().map(|o| o.order_no.clone()));
        batch
    }

    /// The full row of one order from `order/get_order_info`; an answer without an order of that
    /// number fails the pass with the shape it had.
    async fn order_info(&self, order_sn: String) -> Result<Value, SyncError> {
        let answer = self.post(wire::ORDER_INFO, form(&[("order_sn", order_sn.clone())]), Idempotency::Read).await?;
        map::detail_order(&answer, &order_sn).map_err(|detail| envelope::shape(wire::ORDER_INFO, detail))
    }

    /// Completes the rows that lack lines or amounts from their detail, a few calls at a time;
    /// the other rows cost nothing.
    async fn complete_orders(&self, mut rows: Vec<Value>) -> Result<Vec<Value>, SyncError> {
        let wanted: Vec<(usize, String)> = (rows.iter().enumerate())
            .filter(|(_, row)| map::needs_detail(row))
            .filter_map(|(i, row)| values::non_empty(row, "order_sn").map(|sn| (i, sn)))
            .collect();
        let details: Vec<(usize, Value)> = stream::iter(wanted)
            .map(|(i, sn)| async move { self.order_info(sn).await.map(|detail| (i, detail)) })
            .buffered(DETAIL_CONCURRENCY)
            .try_collect()
            .await?;
        for (i, detail) in details {
            if let Some(row) = rows.get_mut(i) {
                map::merge_detail(row, detail);
            }
        }
        Ok(rows)
    }

    /// Reads every page of `q` once, handing each page's rows (orders completed from their
    /// detail when `complete`) to `each`; returns the distinct rows received and the last
    /// total the vendor reported.
    async fn read_once<F>(&self, q: &Query, complete: bool, each: &mut F) -> Result<(u64, Option<u64>), SyncError>
    where
        F: FnMut(Vec<Value>) -> Result<(), SyncError> + Send,
    {
        let reported: Mutex<Option<u64>> = Mutex::new(None);
        let mut keys: HashSet<String> = HashSet::new();
        for_each_page(
            q.path,
            |page| {
                let reported = &reported;
                async move {
                    let answer = self.page(q.path, q.fields.clone(), page).await?;
                    if answer.total.is_some() {
                        *reported.lock().unwrap_or_else(|e| e.into_inner()) = answer.total;
                    }
                    let rows = if complete { self.complete_orders(answer.rows).await? } else { answer.rows };
                    Ok(PageOf { rows, more: answer.more })
                }
            },
            |rows, _| {
                keys.extend(rows.iter().map(|r| values::non_empty(r, q.key).unwrap_or_else(|| r.to_string())));
                each(rows)
            },
        )
        .await?;
        let reported = *reported.lock().unwrap_or_else(|e| e.into_inner());
        Ok((keys.len() as u64, reported))
    }

    /// Reads `q`, and once more when its distinct rows fell short of the total the vendor
    /// reported (where it reports one); returns the shortfall the re-read still shows.
    async fn read_checked<F>(&self, q: &Query, complete: bool, mut each: F) -> Result<Option<Shortfall>, SyncError>
    where
        F: FnMut(Vec<Value>) -> Result<(), SyncError> + Send,
    {
        let (received, reported) = self.read_once(q, complete, &mut each).await?;
        let Some(reported) = reported.filter(|&r| received < r) else { return Ok(None) };
        tracing::warn!(query = q.label, reported, received, "rows fell short of the vendor's total; reading once more");
        let (received, reported) = self.read_once(q, complete, &mut each).await?;
        Ok(reported.filter(|&r| received < r).map(|reported| Shortfall { query: q.label.clone(), reported, received }))
    }

    async fn sync_orders(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let mut seen = HashSet::new();
        // Once a window falls short, neither it nor any later window saves a cursor: the next
        // pass starts before the gap again.
        let mut held = false;
        for w in window::pass_span(req, false).split(wire::WINDOW_DAYS) {
            let (start, end) = (window::day(w.start), window::day(w.end));
            let q = Query {
                path: wire::ORDER_LIST,
                fields: form(&[("start_time", format!("{start} 00:00:00")), ("end_time", format!("{end} 23:59:59"))]),
                key: "order_sn",
                label: format!("order/get_order_list created {start}..{end}"),
            };
            let short = self.read_checked(&q, true, |rows| sink.commit(Self::order_batch(rows, &mut seen))).await?;
            held |= short.is_some();
            let batch = Batch {
                cursor: (!held).then(|| w.cursor()),
                shortfalls: short.into_iter().collect(),
                ..Batch::default()
            };
            if batch.cursor.is_some() || !batch.shortfalls.is_empty() {
                sink.commit(batch)?;
            }
        }
        // Older orders change too, but the list cannot filter on change: ask for each open one.
        let open: Vec<&String> = req.open_orders.iter().filter(|o| !seen.contains(*o)).collect();
        for chunk in open.chunks(wire::MORE_ORDER_SN_MAX) {
            let names = chunk.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
            let q = Query {
                path: wire::ORDER_LIST,
                label: format!("order/get_order_list more_order_sn={names}"),
                fields: form(&[("more_order_sn", names)]),
                key: "order_sn",
            };
            let short = self.read_checked(&q, true, |rows| sink.commit(Self::order_batch(rows, &mut seen))).await?;
            if let Some(short) = short {
                sink.commit(Batch { shortfalls: vec![short], ..Batch::default() })?;
            }
        }
        Ok(())
    }

    async fn out_info(&self, order_no: String) -> Result<(String, Vec<Value>), SyncError> {
        let mut answer = self.post(wire::OUT_INFO, form(&[("order_sn", order_no.clone())]), Idempotency::Read).await?;
        Ok((order_no, envelope::list_at(&mut answer, "/data/list", wire::OUT_INFO)?))
    }

    /// The cursor is the start of the last completed pass: orders whose rows changed since then
    /// are asked again even when they reached a terminal state (partly shipped, then completed
    /// before this stream ran, may have a record we have not seen).
    async fn sync_shipments(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let changed_since = req.cursor.clone().unwrap_or_default();
        let mut wanted: Vec<String> = Vec::new();
        let mut after = String::new();
        loop {
            let page = sink.shipment_candidates(&changed_since, &after, CANDIDATE_PAGE)?;
            let Some((last, _)) = page.last() else { break };
            after = last.order_no.clone();
            // An order that changed since the last pass is read again even when complete: the
            // supplier may have corrected a tracking number (links forward the new one).
            let changed = |order: &StoredOrder, shipments: &[String]| {
                !changed_since.is_empty() && !shipments.is_empty() && order.synced_at >= changed_since
            };
            let incomplete = page.into_iter().filter(|(order, shipments)| {
                map::shipments_incomplete(&order.raw_json, shipments) || changed(order, shipments)
            });
            wanted.extend(incomplete.map(|(order, _)| order.order_no));
        }
        let mut results =
            stream::iter(wanted).map(|no| self.out_info(no)).buffered(OUT_INFO_CONCURRENCY).chunks(wire::PAGE_SIZE);
        while let Some(chunk) = results.next().await {
            let mut batch = Batch::default();
            for result in chunk {
                let (order_no, records) = result?;
                let read = |rec: &Value| map::shipment(&order_no, rec);
                batch.read(&records, (Stream::Shipments, "purchase_sn"), read, |b, s| b.shipments.push(s));
            }
            sink.commit(batch)?;
        }
        // Saved in its own batch once every record is in: the next pass looks back to this start.
        sink.commit(Batch { cursor: Some(crate::store::ts(req.now)), ..Batch::default() })?;
        Ok(())
    }

    async fn sync_refunds(&self, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let q = Query {
            path: wire::REFUND_LIST,
            fields: Vec::new(),
            key: "refund_sn",
            label: "order/refund_list (every refund)".into(),
        };
        let short = self
            .read_checked(&q, false, |rows| {
                let mut batch = Batch::default();
                batch.read(&rows, (Stream::Refunds, "refund_sn"), map::refund, |b, r| b.refunds.push(r));
                sink.commit(batch)
            })
            .await?;
        if let Some(short) = short {
            sink.commit(Batch { shortfalls: vec![short], ..Batch::default() })?;
        }
        Ok(())
    }

    /// `order_status` of each named order as the supplier shows it now (None: not listed).
    async fn statuses(&self, order_nos: &[&str]) -> Result<Vec<Option<i64>>, SyncError> {
        let page = self.page(wire::ORDER_LIST, form(&[("more_order_sn", order_nos.join(","))]), 1).await?;
        Ok(order_nos
            .iter()
            .map(|no| {
                let row = page.rows.iter().find(|r| values::non_empty(r, "order_sn").as_deref() == Some(*no));
                row.and_then(|r| values::int(r, "order_status").ok().flatten())
            })
            .collect())
    }

    async fn status(&self, order_no: &str) -> Result<Option<i64>, SyncError> {
        Ok(self.statuses(&[order_no]).await?.into_iter().next().flatten())
    }

    /// The outbound records a receipt names, earliest first: the supplier's own list now (a
    /// record shipped since our last pass counts too), else the stored ones, else none (one
    /// receipt without `purchase_sn`).
    async fn receipt_records(&self, item: &PushItem) -> Result<Vec<Option<String>>, SyncError> {
        let (_, mut records) = self.out_info(item.order_no.clone()).await?;
        // Stable: records without a readable time keep the vendor's order, after the others.
        records.sort_by_key(|r| values::time(r, "out_time").ok().flatten().map_or((1, None), |t| (0, Some(t))));
        let live: Vec<Option<String>> =
            records.iter().filter_map(|r| values::non_empty(r, "purchase_sn")).map(Some).collect();
        Ok(match (live.is_empty(), item.shipment_ids.is_empty()) {
            (false, _) => live,
            (true, false) => item.shipment_ids.iter().cloned().map(Some).collect(),
            (true, true) => vec![None],
        })
    }

    /// Confirms receipt until the order reads back as received (6). One receipt may confirm the
    /// whole order or only the outbound record it names (the page does not say), so one is sent
    /// per record, reading the order back after each accepted one; the push is `done` only at 6.
    /// A record refused while the order awaits receipt (already confirmed by an earlier attempt,
    /// or not confirmable yet) does not stop the others.
    async fn receipt(&self, item: &PushItem) -> Result<PushOutcome, SyncError> {
        let order_no = item.order_no.as_str();
        let before = self.status(order_no).await?;
        if before == Some(wire::STATUS_COMPLETED) {
            return Ok(PushOutcome::AlreadyApplied);
        }
        let (mut accepted, mut refusals, mut now) = (0usize, Vec::new(), before);
        for purchase_sn in self.receipt_records(item).await? {
            let mut fields = form(&[("order_sn", order_no.to_string()), ("remarks", RECEIPT_REMARK.into())]);
            fields.extend(purchase_sn.clone().map(|p| ("purchase_sn".to_string(), p)));
            match push_outcome(self.post(wire::RECEIPT, fields, Idempotency::Write).await)? {
                PushOutcome::Done | PushOutcome::AlreadyApplied => accepted += 1,
                PushOutcome::Refused(why) | PushOutcome::Retry(why) => {
                    refusals.push(format!("{}: {why}", purchase_sn.as_deref().unwrap_or("order")));
                    continue;
                }
            }
            now = self.status(order_no).await?;
            if now == Some(wire::STATUS_COMPLETED) {
                return Ok(PushOutcome::Done);
            }
        }
        let refused = refusals.join("; ");
        if accepted == 0 && before != Some(wire::STATUS_AWAITING_RECEIPT) {
            // Not awaiting receipt (pending, cancelled, not shipped yet, unknown): the vendor's word stands.
            return Ok(PushOutcome::Refused(refused));
        }
        let status = now.map_or_else(|| "not listed".to_string(), |s| format!("order_status {s}"));
        Ok(PushOutcome::Retry(format!(
            "receipt sent, but the order reads back at {status}, not 6 (received): {accepted} receipt(s) accepted{}",
            if refused.is_empty() { String::new() } else { format!(", refused: {refused}") }
        )))
    }

    async fn push_one(&self, item: &PushItem) -> Result<PushOutcome, SyncError> {
        match &item.payload {
            PushPayload::Status { status: OrderStatus::Cancelled } => push_outcome(
                self.post(wire::CANCEL, form(&[("order_sn", item.order_no.clone())]), Idempotency::Write).await,
            ),
            PushPayload::Status { status: OrderStatus::Completed } => self.receipt(item).await,
            other => Ok(PushOutcome::Refused(format!("liangben cannot take {other:?}"))),
        }
    }
}

#[async_trait]
impl Connector for Liangben {
    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn sync(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        match req.stream {
            Stream::Orders => self.sync_orders(req, sink).await,
            Stream::Shipments => self.sync_shipments(req, sink).await,
            Stream::Refunds => self.sync_refunds(sink).await,
        }
    }

    async fn push(&self, items: &[PushItem]) -> Result<Vec<PushOutcome>, SyncError> {
        one_by_one(items, |item| self.push_one(item)).await
    }

    async fn read_back(&self, items: &[PushItem]) -> Result<Vec<ReadBack>, SyncError> {
        let names: Vec<&str> = items.iter().map(|i| i.order_no.as_str()).collect();
        let statuses = self.statuses(&names).await?;
        Ok(items
            .iter()
            .zip(statuses)
            .map(|(item, status)| {
                let target = match &item.payload {
                    PushPayload::Status { status: OrderStatus::Cancelled } => Some(wire::STATUS_CANCELLED),
                    PushPayload::Status { status: OrderStatus::Completed } => Some(wire::STATUS_COMPLETED),
                    _ => None,
                };
                if status.is_some() && status == target {
                    ReadBack::Applied
                } else {
                    ReadBack::NotApplied
                }
            })
            .collect())
    }
}
