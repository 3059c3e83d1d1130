//! YMCart ERP (PLATFORMS.md §1): our storefront, seller side.
//!
//! Orders are listed over day windows twice — by creation time and by `act_time` — because an
//! order untouched since it was placed has `act_time "0"` and never matches the modified-time
//! filter. Shipments follow a `max_id` high-water mark, read in either order a shop serves them
//! (`deliveries.rs`). Pushes go in batches of at most 20 with per-entry results; ship and status
//! pushes are read back from the order list before they are sent, so an order already shipped
//! with that tracking number, or already at or past the target status, is settled unsent.

mod client;
pub mod deliveries;
pub mod map;
pub mod wire;

use crate::model::{OrderStatus, PushKind, Stream};
use crate::platforms::http::Idempotency;
use crate::platforms::values;
use crate::platforms::window::{self, DayWindow};
use crate::platforms::{
    Batch, Capabilities, Connector, ConnectorParts, Forward, PushItem, PushOutcome, PushPayload, ReadBack, Shortfall,
    Side, Sink, SyncError, SyncRequest,
};
use async_trait::async_trait;
use client::Client;
use std::collections::{HashMap, HashSet};
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
    side: Side::Seller,
    forward: Forward::Ship { several: true, accepts: &[OrderStatus::AwaitingFulfillment, OrderStatus::Shipped] },
    external_ref: true,
    message_field: None,
};

/// An order number as the completeness check counts it: a 64-bit hash, not the text, so a
/// window of hundreds of thousands of orders costs megabytes less (a collision would need two
/// of them to share all 64 bits).
fn seen_key(order_no: &str) -> u64 {
    twox_hash::XxHash3_64::oneshot(order_no.as_bytes())
}

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
        // Once a query falls short of its `count` even after a re-read, no later window may move
        // the cursor past it: the next pass starts from that window again.
        let mut held = false;
        for w in window::pass_span(req, false).split(WINDOW_DAYS) {
            let mut last = Batch::default();
            // Creation time catches untouched orders (act_time "0"); act_time catches changes.
            for time_type in [None, Some("2")] {
                if let Some(short) = self.list_complete(w, time_type, sink, &mut last).await? {
                    last.shortfalls.push(short);
                    held = true;
                }
            }
            if !held {
                last.cursor = Some(w.cursor());
            }
            sink.commit(last)?;
        }
        Ok(())
    }

    /// Lists one window and filter; when fewer distinct rows came than `count` said, reads it
    /// once more and returns the shortfall if it is still short.
    async fn list_complete(
        &self,
        w: DayWindow,
        time_type: Option<&str>,
        sink: &mut dyn Sink,
        last: &mut Batch,
    ) -> Result<Option<Shortfall>, SyncError> {
        let mut seen = HashSet::new();
        let mut reported = 0;
        for attempt in 0..2 {
            reported = self.list_window(w, time_type, sink, last, &mut seen).await?;
            if seen.len() as u64 >= reported {
                return Ok(None);
            }
            if attempt == 0 {
                tracing::info!(window = %w.cursor(), reported, received = seen.len(), "orderList fell short of its count; reading it again");
            }
        }
        let filter = time_type.map_or("create_time", |_| "act_time");
        Ok(Some(Shortfall {
            query: format!("orderList {filter} {}..{}", window::day(w.start), window::day(w.end)),
            reported,
            received: seen.len() as u64,
        }))
    }

    /// Lists every page of one window and filter, adding each row's order number to `seen`;
    /// returns the `count` of the first answer (the total when the query started). The last page
    /// stays in `last` so the caller can commit it together with the cursor.
    ///
    /// Pages go on until the rows received reach `count` or a page brings nothing new — never
    /// to the first short page: a server that serves fewer rows than asked must lose nothing.
    async fn list_window(
        &self,
        w: DayWindow,
        time_type: Option<&str>,
        sink: &mut dyn Sink,
        last: &mut Batch,
        seen: &mut HashSet<u64>,
    ) -> Result<u64, SyncError> {
        let mut page_no: u64 = 1;
        let mut page_size = wire::PAGE_SIZE;
        let mut reported = None;
        loop {
            let mut fields = vec![
                ("page_no".to_string(), page_no.to_string()),
                ("page_size".to_string(), page_size.to_string()),
                ("order_by".to_string(), "0".to_string()),
                ("start_time".to_string(), window::day(w.start)),
                ("end_time".to_string(), window::day(w.end)),
            ];
            if let Some(t) = time_type {
                fields.push(("time_type".to_string(), t.to_string()));
            }
            let page = self.client.list("orderList", fields).await?;
            // A `count` of 0 (or none) beside rows is no total at all: page until a page is empty.
            let count =
                *reported.get_or_insert(if page.count == 0 && !page.rows.is_empty() { u64::MAX } else { page.count });
            // Rows stored before from the same bytes are counted, not read: most of a pass.
            let hashes: Vec<i64> = page.rows.iter().map(crate::store::raw_hash).collect();
            let known: HashMap<i64, String> = sink.known_orders(&hashes)?.into_iter().collect();
            let mut batch = Batch::default();
            let unread = page.rows.iter().zip(&hashes).filter(|(_, h)| !known.contains_key(*h)).map(|(row, _)| row);
            batch.read_text(unread, (Stream::Orders, "itemno"), map::order, |b, o| b.orders.push(o));
            batch.unchanged = (page.rows.len() - batch.orders.len() - batch.rejected.len()) as u64;
            let before = seen.len();
            // A row kept raw still counts when it names its order (not when keyed by its hash).
            let rejected = batch.rejected.iter().filter(|r| !r.vendor_key.starts_with("raw:")).map(|r| &r.vendor_key);
            let numbers = hashes.iter().filter_map(|h| known.get(h)).chain(batch.orders.iter().map(|o| &o.order_no));
            seen.extend(numbers.chain(rejected).map(|no| seen_key(no)));
            let new_rows = seen.len() - before;
            // A server that caps the page below what we asked keeps its own size: asking for
            // that size from page 2 on is right whether it counts offsets by its size or ours.
            if page_no == 1 && !page.rows.is_empty() && page.rows.len() < page_size && count > page.rows.len() as u64 {
                page_size = page.rows.len();
            }
            sink.commit(std::mem::replace(last, batch))?;
            if page.rows.is_empty() || new_rows == 0 || seen.len() as u64 >= count {
                // Without a total there is nothing to fall short of.
                return Ok(if count == u64::MAX { 0 } else { count });
            }
            page_no += 1;
        }
    }

    /// Reads deliveries from the saved high-water mark in whichever order the shop serves them
    /// (see [`deliveries`]); rows are committed as read, the cursor only once nothing below the
    /// mark can be missing.
    async fn sync_shipments(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let mut walk = deliveries::Walk::new(req.cursor.as_deref());
        while let Some(max_id) = walk.next_request() {
            let mut fields =
                vec![("page_no".to_string(), "1".to_string()), ("page_size".to_string(), wire::PAGE_SIZE.to_string())];
            fields.extend(max_id.map(|m| ("max_id".to_string(), m.to_string())));
            let page = self.client.list("deliveryList", fields).await?;
            let ids: Vec<i64> = page.rows.iter().filter_map(map::delivery_id).collect();
            let cursor = walk
                .take(&ids)
                .map_err(|detail| SyncError::Shape { path: "/api-erp-deliveryList.html".into(), detail })?;
            let mut batch = Batch { cursor, ..Batch::default() };
            batch.read_text(page.rows.iter(), (Stream::Shipments, "id"), map::shipment, |b, s| b.shipments.push(s));
            sink.commit(batch)?;
        }
        Ok(())
    }

    /// The current state of `order_nos` as orderList shows it: (order number, status code,
    /// tracking numbers) per row found.
    async fn states_of(&self, order_nos: &[&str]) -> Result<Vec<(String, String, Vec<String>)>, SyncError> {
        let fields = vec![
            ("itemno".to_string(), order_nos.join(",")),
            ("page_no".to_string(), "1".to_string()),
            ("page_size".to_string(), wire::PAGE_SIZE.to_string()),
        ];
        let page = self.client.list("orderList", fields).await?;
        let shape =
            |e: values::ValueError| SyncError::Shape { path: "/api-erp-orderList.html".into(), detail: e.to_string() };
        page.rows.iter().map(|r| map::order_state(r).map_err(shape)).collect()
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
        let nos: Vec<&str> = items.iter().map(|i| i.order_no.as_str()).collect();
        map::push_results(&answer, &nos)
            .map_err(|detail| SyncError::Shape { path: format!("/api-erp-{name}.html"), detail })
    }

    fn read_back_first(&self, kind: PushKind) -> bool {
        // One orderList call per batch of 20 is cheap next to an e-mail per entry, and it is what
        // keeps a status push from moving an order that has since gone further back.
        matches!(kind, PushKind::Ship | PushKind::Status)
    }

    async fn read_back(&self, items: &[PushItem]) -> Result<Vec<ReadBack>, SyncError> {
        let nos: Vec<&str> = items.iter().map(|i| i.order_no.as_str()).collect();
        let states = self.states_of(&nos).await?;
        Ok(items
            .iter()
            .map(|item| {
                let Some((_, code, tracking)) = states.iter().find(|(no, _, _)| *no == item.order_no) else {
                    return ReadBack::NotApplied;
                };
                let applied = match &item.payload {
                    PushPayload::Ship { tracking: sent, .. } => tracking.iter().any(|t| t == sent),
                    PushPayload::Status { status } => {
                        let current = map::lookup(map::ORDER_STATUS, code);
                        // At or past the target: resending could only move the order backwards.
                        current.is_some_and(|c| c.is_at_or_past(*status))
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
