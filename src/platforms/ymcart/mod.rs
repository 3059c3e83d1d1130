//! YMCart ERP (PLATFORMS.md §1): our storefront, seller side.
//!
//! Orders are listed over day windows twice — by creation time and by `act_time` — because an
//! order untouched since it was placed has `act_time "0"` and never matches the modified-time
//! filter. Shipments follow a `max_id` keyset cursor. Pushes go in batches of at most 20 with
//! per-entry results; reads of the order list tell whether an interrupted push already landed.

mod client;
pub mod map;
pub mod wire;

use crate::model::{OrderStatus, PushKind, Stream};
use crate::platforms::http::Idempotency;
use crate::platforms::values;
use crate::platforms::window::{self, DayWindow};
use crate::platforms::{
    Batch, Capabilities, Connector, ConnectorParts, PushItem, PushOutcome, PushPayload, ReadBack, Sink, SyncError,
    SyncRequest,
};
use async_trait::async_trait;
use client::Client;
use serde_json::Value;
use std::sync::Arc;

/// What YMCart can do.
pub static CAPABILITIES: Capabilities = Capabilities {
    platform: "ymcart",
    streams: &[Stream::Orders, Stream::Shipments],
    pushes: &[PushKind::Ship, PushKind::Status, PushKind::Remark],
    push_statuses: &[
        OrderStatus::Pending,
        OrderStatus::AwaitingFulfillment,
        OrderStatus::Cancelled,
        OrderStatus::Completed,
    ],
    max_batch: 20,
    read_back: &[PushKind::Ship, PushKind::Status],
    stream_gaps: &[(Stream::Refunds, "YMCart has no refund list")],
    options: &[],
    credentials: &["token"],
    notes: &["remarks cannot be read back: a remark whose request was cut off may be sent twice"],
};

/// Longest window one list call covers; shorter windows keep a backfill's progress saved often.
const WINDOW_DAYS: u32 = 7;

/// The YMCart connector for one shop.
pub struct YmCart {
    client: Client,
}

/// Builds the connector (registry entry).
pub fn build(parts: ConnectorParts<'_>) -> Result<Arc<dyn Connector>, String> {
    let token = parts.credential("token")?;
    Ok(Arc::new(YmCart { client: Client::new(parts.http, token) }))
}

impl YmCart {
    async fn sync_orders(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        for w in window::pass_span(req, false).split(WINDOW_DAYS) {
            let mut last = Batch::default();
            // Creation time catches untouched orders (act_time "0"); act_time catches changes.
            for time_type in [None, Some("2")] {
                self.list_window(w, time_type, sink, &mut last).await?;
            }
            last.cursor = Some(w.cursor());
            sink.commit(last)?;
        }
        Ok(())
    }

    /// Lists every page of one window and filter; the last page stays in `last` so the caller can
    /// commit it together with the cursor.
    async fn list_window(
        &self,
        w: DayWindow,
        time_type: Option<&str>,
        sink: &mut dyn Sink,
        last: &mut Batch,
    ) -> Result<(), SyncError> {
        let mut page_no: u64 = 1;
        loop {
            let mut fields = vec![
                ("page_no".to_string(), page_no.to_string()),
                ("page_size".to_string(), wire::PAGE_SIZE.to_string()),
                ("order_by".to_string(), "0".to_string()),
                ("start_time".to_string(), window::day(w.start)),
                ("end_time".to_string(), window::day(w.end)),
            ];
            if let Some(t) = time_type {
                fields.push(("time_type".to_string(), t.to_string()));
            }
            let page = self.client.list("orderList", fields).await?;
            let full = page.rows.len() >= wire::PAGE_SIZE;
            let mut batch = Batch::default();
            batch.read(&page.rows, (Stream::Orders, "itemno"), map::order, |b, o| b.orders.push(o));
            sink.commit(std::mem::replace(last, batch))?;
            // `count` may change while we page; a short page is the reliable end, and the page
            // bound keeps a vendor that repeats pages from looping forever.
            let pages = page.count.div_ceil(wire::PAGE_SIZE as u64);
            if !full || page_no > pages.max(1) {
                return Ok(());
            }
            page_no += 1;
        }
    }

    async fn sync_shipments(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let mut max_id: i64 = req.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
        loop {
            let fields = vec![
                ("page_no".to_string(), "1".to_string()),
                ("page_size".to_string(), wire::PAGE_SIZE.to_string()),
                ("max_id".to_string(), max_id.to_string()),
            ];
            let page = self.client.list("deliveryList", fields).await?;
            let mut batch = Batch::default();
            let highest = page.rows.iter().filter_map(|r| values::int(r, "id").ok().flatten()).fold(max_id, i64::max);
            batch.read(&page.rows, (Stream::Shipments, "id"), map::shipment, |b, s| b.shipments.push(s));
            if page.rows.is_empty() {
                return Ok(());
            }
            if highest <= max_id {
                return Err(SyncError::Shape {
                    path: "/api-erp-deliveryList.html".into(),
                    detail: format!("rows do not move past max_id {max_id}; refusing to loop"),
                });
            }
            max_id = highest;
            batch.cursor = Some(max_id.to_string());
            let full = page.rows.len() >= wire::PAGE_SIZE;
            sink.commit(batch)?;
            if !full {
                return Ok(());
            }
        }
    }

    /// The current orderList rows of `order_nos`, keyed by order number.
    async fn rows_of(&self, order_nos: &[&str]) -> Result<Vec<Value>, SyncError> {
        let fields = vec![
            ("itemno".to_string(), order_nos.join(",")),
            ("page_no".to_string(), "1".to_string()),
            ("page_size".to_string(), wire::PAGE_SIZE.to_string()),
        ];
        Ok(self.client.list("orderList", fields).await?.rows)
    }
}

#[async_trait]
impl Connector for YmCart {
    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn sync(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        match req.stream {
            Stream::Orders => self.sync_orders(req, sink).await,
            Stream::Shipments => self.sync_shipments(req, sink).await,
            Stream::Refunds => {
                Err(SyncError::Shape { path: String::new(), detail: "YMCart has no refund list".into() })
            }
        }
    }

    async fn push(&self, items: &[PushItem]) -> Result<Vec<PushOutcome>, SyncError> {
        let Some(first) = items.first() else {
            return Ok(Vec::new());
        };
        let encode = |r: serde_json::Result<String>| {
            r.map_err(|e| SyncError::Shape { path: String::new(), detail: e.to_string() })
        };
        let (name, field, body) = match &first.payload {
            PushPayload::Ship { .. } => {
                let entries: Vec<_> = items
                    .iter()
                    .filter_map(|i| match &i.payload {
                        PushPayload::Ship { carrier, tracking } => Some(wire::ShipEntry {
                            itemno: &i.order_no,
                            delivery_no: tracking,
                            shipping_corp_codeno: "",
                            shipping_corp_name: carrier,
                        }),
                        _ => None,
                    })
                    .collect();
                ("orderShip", "shipno_res", encode(serde_json::to_string(&entries))?)
            }
            PushPayload::Status { .. } => {
                let entries: Vec<_> = items
                    .iter()
                    .filter_map(|i| match &i.payload {
                        PushPayload::Status { status } => {
                            map::push_code(*status).map(|status| wire::StatusEntry { itemno: &i.order_no, status })
                        }
                        _ => None,
                    })
                    .collect();
                ("orderStatus", "status_res", encode(serde_json::to_string(&entries))?)
            }
            PushPayload::Remark { .. } => {
                let entries: Vec<_> = items
                    .iter()
                    .filter_map(|i| match &i.payload {
                        PushPayload::Remark { text } => Some(wire::RemarkEntry { itemno: &i.order_no, remark: text }),
                        _ => None,
                    })
                    .collect();
                ("orderRemark", "remark_res", encode(serde_json::to_string(&entries))?)
            }
        };
        let answer = self.client.call(name, vec![(field.to_string(), body)], Idempotency::Write).await?;
        // Contract: an entry listed with "success", or not listed at all, succeeded.
        let results: Vec<wire::EntryResult> = match answer.get("msg") {
            Some(v @ Value::Array(_)) => serde_json::from_value(v.clone()).map_err(|e| SyncError::Shape {
                path: format!("/api-erp-{name}.html"),
                detail: format!("`msg`: {e}"),
            })?,
            _ => Vec::new(),
        };
        Ok(items
            .iter()
            .map(|item| {
                let failure = results.iter().find(|r| r.itemno == item.order_no).map(|r| match &r.msg {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                match failure {
                    Some(code) if code != "success" && !code.is_empty() => PushOutcome::Refused(code),
                    _ => PushOutcome::Done,
                }
            })
            .collect())
    }

    async fn read_back(&self, items: &[PushItem]) -> Result<Vec<ReadBack>, SyncError> {
        let nos: Vec<&str> = items.iter().map(|i| i.order_no.as_str()).collect();
        let rows = self.rows_of(&nos).await?;
        Ok(items
            .iter()
            .map(|item| {
                let Some(row) = rows.iter().find(|r| values::text(r, "itemno").as_deref() == Some(&item.order_no))
                else {
                    return ReadBack::NotApplied;
                };
                let applied = match &item.payload {
                    PushPayload::Ship { tracking, .. } => map::tracking_numbers(row).iter().any(|t| t == tracking),
                    PushPayload::Status { status } => {
                        let code = values::int(row, "order_status").ok().flatten();
                        map::push_code(*status).map(i64::from) == code
                    }
                    PushPayload::Remark { .. } => return ReadBack::Unknown,
                };
                if applied {
                    ReadBack::Applied
                } else {
                    ReadBack::NotApplied
                }
            })
            .collect())
    }
}
