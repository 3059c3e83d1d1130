//! Youliang "liangben" ERP (PLATFORMS.md §3): the buyer side — the orders we placed with a
//! supplier, their outbound records and refunds; we push cancels and receipt confirmations.
//!
//! The order list filters only on creation time, so each pass lists new orders by creation
//! windows and then re-polls every stored open order by number (`more_order_sn`, 20 at a time):
//! that is how status changes of older orders are seen. Outbound records need one call per order.

pub mod map;
pub mod wire;

use crate::model::{OrderStatus, PushKind, Stream};
use crate::platforms::bearer::BearerClient;
use crate::platforms::http::Idempotency;
use crate::platforms::paging::{for_each_page, PageOf};
use crate::platforms::values;
use crate::platforms::window::{self, DayWindow};
use crate::platforms::{
    envelope, one_by_one, push_outcome, Batch, Capabilities, Connector, ConnectorParts, PushItem, PushOutcome,
    PushPayload, ReadBack, Sink, SyncError, SyncRequest,
};
use async_trait::async_trait;
use futures_util::{stream, StreamExt};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

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
        "buyer side: `cancelled` cancels our order, `completed` confirms receipt (naming the stored outbound record)",
        "the supplier refuses to cancel an order it has shipped",
    ],
};

/// Stored orders examined per page when looking for missing outbound records (bounded memory).
const CANDIDATE_PAGE: usize = 1000;
/// `out_info` calls in flight at once per shop (the shop's rate limit still applies to each).
const OUT_INFO_CONCURRENCY: usize = 4;

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

impl Liangben {
    async fn post(&self, path: &str, fields: Vec<(String, String)>, idem: Idempotency) -> Result<Value, SyncError> {
        self.client.call(Method::POST, path, Vec::new(), fields, idem).await
    }

    /// One page of a `has_next` list.
    async fn page(&self, path: &str, mut fields: Vec<(String, String)>, page: u64) -> Result<PageOf, SyncError> {
        fields.extend(form(&[
            ("page", page.to_string()),
            ("page_size", wire::PAGE_SIZE.to_string()),
            ("use_has_next", "true".into()),
        ]));
        let mut answer = self.post(path, fields, Idempotency::Read).await?;
        let rows = envelope::list_at(&mut answer, "/data/list", path)?;
        let more = answer.pointer("/data/has_next").and_then(Value::as_bool).unwrap_or(rows.len() >= wire::PAGE_SIZE);
        Ok(PageOf { rows, more })
    }

    fn order_batch(rows: Vec<Value>, seen: &mut HashSet<String>) -> Batch {
        let mut batch = Batch::default();
        batch.read(&rows, (Stream::Orders, "order_sn"), map::order, |b, o| b.orders.push(o));
        seen.extend(batch.orders.iter().map(|o| o.order_no.clone()));
        batch
    }

    async fn sync_orders(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let mut seen = HashSet::new();
        for w in window::pass_span(req, false).split(wire::WINDOW_DAYS) {
            self.list_window(w, sink, &mut seen).await?;
        }
        // Older orders change too, but the list cannot filter on change: ask for each open one.
        let open: Vec<&String> = req.open_orders.iter().filter(|o| !seen.contains(*o)).collect();
        for chunk in open.chunks(wire::MORE_ORDER_SN_MAX) {
            let names = chunk.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
            let fields = form(&[("more_order_sn", names)]);
            let seen = &mut seen;
            for_each_page(
                wire::ORDER_LIST,
                |page| self.page(wire::ORDER_LIST, fields.clone(), page),
                |rows, _| sink.commit(Self::order_batch(rows, seen)),
            )
            .await?;
        }
        Ok(())
    }

    async fn list_window(
        &self,
        w: DayWindow,
        sink: &mut dyn Sink,
        seen: &mut HashSet<String>,
    ) -> Result<(), SyncError> {
        let fields = form(&[
            ("start_time", format!("{} 00:00:00", window::day(w.start))),
            ("end_time", format!("{} 23:59:59", window::day(w.end))),
        ]);
        let cursor = w.cursor();
        for_each_page(
            wire::ORDER_LIST,
            |page| self.page(wire::ORDER_LIST, fields.clone(), page),
            |rows, last| {
                let mut batch = Self::order_batch(rows, seen);
                batch.cursor = last.then(|| cursor.clone());
                sink.commit(batch)
            },
        )
        .await
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
            let incomplete =
                page.into_iter().filter(|(order, shipments)| map::shipments_incomplete(&order.raw_json, shipments));
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
        for_each_page(
            wire::REFUND_LIST,
            |page| self.page(wire::REFUND_LIST, Vec::new(), page),
            |rows, _| {
                let mut batch = Batch::default();
                batch.read(&rows, (Stream::Refunds, "refund_sn"), map::refund, |b, r| b.refunds.push(r));
                sink.commit(batch)
            },
        )
        .await
    }

    async fn push_one(&self, item: &PushItem) -> Result<PushOutcome, SyncError> {
        let (path, fields) = match &item.payload {
            PushPayload::Status { status: OrderStatus::Cancelled } => {
                (wire::CANCEL, form(&[("order_sn", item.order_no.clone())]))
            }
            PushPayload::Status { status: OrderStatus::Completed } => {
                let mut f = form(&[("order_sn", item.order_no.clone()), ("remarks", "received (ordersync)".into())]);
                // The receipt names the outbound record when we have one stored.
                f.extend(item.shipment_ids.first().map(|p| ("purchase_sn".to_string(), p.clone())));
                (wire::RECEIPT, f)
            }
            other => return Ok(PushOutcome::Refused(format!("liangben cannot take {other:?}"))),
        };
        push_outcome(self.post(path, fields, Idempotency::Write).await)
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
        let names = items.iter().map(|i| i.order_no.as_str()).collect::<Vec<_>>().join(",");
        let page = self.page(wire::ORDER_LIST, form(&[("more_order_sn", names)]), 1).await?;
        Ok(items
            .iter()
            .map(|item| {
                let row =
                    page.rows.iter().find(|r| values::non_empty(r, "order_sn").as_deref() == Some(&item.order_no));
                let status = row.and_then(|r| values::int(r, "order_status").ok().flatten());
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
