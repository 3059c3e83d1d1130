//! Guanmai station openapi (PLATFORMS.md §2): a fresh-food station, seller side.
//!
//! The list filters on order date only, over at most 7 days, with offset paging and no total;
//! so every pass re-lists a look-back window, and fetches the detail (lines, customer, fen
//! amounts) only of orders that are new or whose list row changed. Stored open orders older
//! than that window are re-read one by one with `order/get` (restaurants settle weeks later).
//! There are no shipment or refund endpoints. Status pushes go one order per call and only
//! along 1→5, 1→10, 5→10, judged on the order as `order/get` reads it just before sending.

mod client;
pub mod map;
pub mod wire;

use crate::model::{OrderStatus, PushKind, Stream};
use crate::platforms::values;
use crate::platforms::window::{self, DayWindow};
use crate::platforms::{
    envelope, one_by_one, push_outcome, rejected, Batch, Capabilities, Connector, ConnectorParts, Forward, PushItem,
    PushOutcome, PushPayload, ReadBack, Side, Sink, SyncError, SyncRequest,
};
use async_trait::async_trait;
use client::Client;
use futures_util::{stream, StreamExt};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What Guanmai can do.
pub static CAPABILITIES: Capabilities = Capabilities {
    platform: "guanmai",
    streams: &[Stream::Orders],
    pushes: &[PushKind::Status],
    push_statuses: &[OrderStatus::Processing, OrderStatus::Shipped],
    max_batch: 1,
    read_back: &[PushKind::Status],
    stream_gaps: &[
        (Stream::Shipments, "Guanmai has no shipment endpoint (its own fleet delivers: status 10 is the shipment)"),
        (Stream::Refunds, "Guanmai has no refund endpoint"),
    ],
    options: &[],
    credentials: &["access_id", "secret"],
    notes: &[
        "status pushes only along awaiting_fulfillment→processing, awaiting_fulfillment→shipped, processing→shipped",
    ],
    side: Side::Seller,
    forward: Forward::Status {
        to: OrderStatus::Shipped,
        accepts: &[OrderStatus::AwaitingFulfillment, OrderStatus::Processing],
    },
    external_ref: false,
    message_field: None,
};

/// Detail calls in flight at once per shop (the shop's rate limit still applies to each).
const DETAIL_CONCURRENCY: usize = 4;

/// The Guanmai connector for one shop.
pub struct Guanmai {
    client: Client,
}

/// Builds the connector (registry entry).
pub fn build(parts: ConnectorParts<'_>) -> Result<Arc<dyn Connector>, String> {
    let (access_id, secret) = (parts.credential("access_id")?, parts.credential("secret")?);
    let client = Client::new(parts.http, access_id, secret);
    Ok(Arc::new(Guanmai { client }))
}

impl Guanmai {
    async fn sync_orders(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let mut listed = HashSet::new();
        for w in window::pass_span(req, true).split(wire::MAX_SPAN_DAYS) {
            let mut offset = 0usize;
            let mut previous_ids: Vec<String> = Vec::new();
            loop {
                let rows = self.list_page(w, offset).await?;
                let ids: Vec<String> = rows.iter().filter_map(|r| values::non_empty(r, "id")).collect();
                if !ids.is_empty() && ids == previous_ids {
                    return Err(envelope::shape(
                        wire::ORDERS_PATH,
                        format!("offset {offset} repeats the previous page"),
                    ));
                }
                let last = rows.len() < wire::PAGE_LIMIT;
                listed.extend(ids.iter().cloned());
                let mut batch = self.read_changed(&rows, sink).await?;
                if last {
                    batch.cursor = Some(w.cursor());
                }
                sink.commit(batch)?;
                if last {
                    break;
                }
                offset += rows.len();
                previous_ids = ids;
            }
        }
        self.reread_open(req, &listed, sink).await
    }

    /// Re-reads the stored open orders no list of this pass returned: the list filters on order
    /// date, so only `order/get` shows an older order being paid (15 → 100) or deleted (-1).
    async fn reread_open(
        &self,
        req: &SyncRequest,
        listed: &HashSet<String>,
        sink: &mut dyn Sink,
    ) -> Result<(), SyncError> {
        let wanted: Vec<String> = req.open_orders.iter().filter(|n| !listed.contains(*n)).cloned().collect();
        for chunk in wanted.chunks(wire::PAGE_LIMIT) {
            let stored: HashMap<String, Value> = sink
                .stored_orders(chunk)?
                .into_iter()
                .filter_map(|o| map::stored_list_row(&o.raw_json).map(|row| (o.order_no, row)))
                .collect();
            let details = self.details(chunk.to_vec()).await;
            let mut batch = Batch::default();
            for (id, detail) in details {
                match detail {
                    // An answer without an order in it must not overwrite the stored lines.
                    Ok(answer) if answer.pointer("/data/status").is_none_or(Value::is_null) => {
                        tracing::warn!(order_no = id, "Guanmai answered a re-read without an order; kept as stored")
                    }
                    Ok(answer) => {
                        // The stored list row stays (it is what the next list is compared with);
                        // status and everything else come from the fresh detail.
                        let row = stored.get(&id).cloned().unwrap_or_else(|| serde_json::json!({ "id": id }));
                        read_order(&mut batch, id, row, &answer);
                    }
                    // The vendor no longer serves it (removed rather than deleted to -1): what
                    // is stored is the last word we have.
                    Err(e @ SyncError::Vendor { .. }) => {
                        tracing::warn!(order_no = id, error = %e, "Guanmai refused re-reading a stored open order; kept as stored")
                    }
                    Err(e) => return Err(e),
                }
            }
            sink.commit(batch)?;
        }
        Ok(())
    }

    /// The details of `ids`, a few in flight at once, in the order given.
    async fn details(&self, ids: Vec<String>) -> Vec<(String, Result<Value, SyncError>)> {
        // Owned ids: futures borrowing from the caller would not be `Send` across the trait object.
        stream::iter(ids)
            .map(|id| {
                let detail = self.detail(id.clone());
                async move { (id, detail.await) }
            })
            .buffered(DETAIL_CONCURRENCY)
            .collect()
            .await
    }

    async fn list_page(&self, w: DayWindow, offset: usize) -> Result<Vec<Value>, SyncError> {
        let query = vec![
            ("query_type".to_string(), "1".to_string()),
            ("start_date".to_string(), window::day(w.start)),
            ("end_date".to_string(), window::day(w.end)),
            ("sort_type".to_string(), "date_asc".to_string()),
            ("offset".to_string(), offset.to_string()),
            ("limit".to_string(), wire::PAGE_LIMIT.to_string()),
        ];
        let mut answer = self.client.get(wire::ORDERS_PATH, query).await?;
        envelope::list_at(&mut answer, "/data/list", wire::ORDERS_PATH)
    }

    /// Reads the details of the rows that are new or changed since they were stored.
    async fn read_changed(&self, rows: &[Value], sink: &mut dyn Sink) -> Result<Batch, SyncError> {
        let ids: Vec<String> = rows.iter().filter_map(|r| values::non_empty(r, "id")).collect();
        let stored: HashMap<String, Option<Value>> =
            sink.stored_orders(&ids)?.into_iter().map(|o| (o.order_no, map::stored_list_row(&o.raw_json))).collect();
        let mut batch = Batch::default();
        let mut wanted = Vec::new();
        for row in rows {
            match values::non_empty(row, "id") {
                Some(id) if stored.get(&id).and_then(Option::as_ref) == Some(row) => {}
                Some(id) => wanted.push((id, row.clone())),
                None => batch.rejected.push(rejected(Stream::Orders, row, "id", "list row without `id`".into())),
            }
        }
        let details = self.details(wanted.iter().map(|(id, _)| id.clone()).collect()).await;
        for ((_, row), (id, detail)) in wanted.into_iter().zip(details) {
            match detail {
                Ok(answer) => read_order(&mut batch, id, row, &answer),
                // The vendor refused this one detail (deleted meanwhile?): keep the row raw.
                Err(e @ SyncError::Vendor { .. }) => {
                    batch.rejected.push(rejected(Stream::Orders, &row, "id", e.to_string()))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(batch)
    }

    async fn detail(&self, id: String) -> Result<Value, SyncError> {
        self.client.get(wire::ORDER_PATH, vec![("order_id".to_string(), id)]).await
    }

    /// One status push: reads the order's current code, then sends only a move the vendor allows.
    async fn push_status(&self, order_no: &str, status: OrderStatus) -> Result<PushOutcome, SyncError> {
        let Some(target) = map::push_code(status) else {
            return Ok(PushOutcome::Refused(format!("guanmai cannot move an order to `{status}`")));
        };
        // The order may not be stored yet (a warehouse system pushes right after it was placed),
        // and a stored status may be stale: the vendor's answer now is what the move is judged on.
        let current = match self.detail(order_no.to_string()).await {
            Ok(answer) => values::code(answer.get("data").unwrap_or(&Value::Null), "status"),
            Err(SyncError::Vendor { code, msg, .. }) => return Ok(PushOutcome::Refused(format!("code {code}: {msg}"))),
            Err(e) => return Err(e),
        };
        match map::check_vendor_move(&current, target) {
            map::MoveCheck::Send => {}
            map::MoveCheck::AlreadyThere => {
                tracing::info!(
                    order_no,
                    current,
                    target,
                    "Guanmai order already at or past the pushed status; not sent"
                );
                return Ok(PushOutcome::AlreadyApplied);
            }
            map::MoveCheck::Refused(why) => return Ok(PushOutcome::Refused(why)),
        }
        let form = vec![("order_id".to_string(), order_no.to_string()), ("status".to_string(), target.to_string())];
        push_outcome(self.client.post(wire::UPDATE_PATH, form).await)
    }
}

/// Reads one order from its list row and the `order/get` answer into `batch` (rejected raw when
/// it cannot be read). The detail carries no order id: `id` is the one it was asked for.
fn read_order(batch: &mut Batch, id: String, row: Value, answer: &Value) {
    let detail = answer.get("data").cloned().unwrap_or(Value::Null);
    let both = serde_json::json!({"id": id, "list": row, "detail": detail});
    let read = |both: &Value| map::order(&both["list"], &both["detail"]);
    batch.read(std::slice::from_ref(&both), (Stream::Orders, "id"), read, |b, o| b.orders.push(o));
}

#[async_trait]
impl Connector for Guanmai {
    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn sync(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        match req.stream {
            Stream::Orders => self.sync_orders(req, sink).await,
            other => Err(SyncError::Shape { path: String::new(), detail: format!("Guanmai cannot sync {other}") }),
        }
    }

    async fn push(&self, items: &[PushItem]) -> Result<Vec<PushOutcome>, SyncError> {
        one_by_one(items, |item| async move {
            match &item.payload {
                PushPayload::Status { status } => self.push_status(&item.order_no, *status).await,
                other => Ok(PushOutcome::Refused(format!("guanmai cannot take {other:?}"))),
            }
        })
        .await
    }

    async fn read_back(&self, items: &[PushItem]) -> Result<Vec<ReadBack>, SyncError> {
        one_by_one(items, |item| async move {
            let current = match self.detail(item.order_no.clone()).await {
                Ok(a) => a.get("data").and_then(|d| values::int(d, "status").ok().flatten()),
                Err(SyncError::Vendor { .. }) => None,
                Err(e) => return Err(e),
            };
            let target = match &item.payload {
                PushPayload::Status { status } => map::push_code(*status),
                _ => None,
            };
            Ok(match (current, target) {
                // Vendor codes grow along the lifecycle (1, 5, 10, 15, 100): at or past the target
                // means our move landed, or a later one overtook it.
                (Some(c), Some(t)) if c >= t => ReadBack::Applied,
                _ => ReadBack::NotApplied,
            })
        })
        .await
    }

    fn check_move(&self, payload: &PushPayload, current: Option<OrderStatus>) -> Result<(), String> {
        let PushPayload::Status { status } = payload else {
            return Ok(());
        };
        match current {
            // Not synced yet: the move is judged on the vendor's status when the push is sent.
            None => Ok(()),
            Some(from) if map::move_allowed(from, *status) => Ok(()),
            Some(from) => Err(format!(
                "guanmai cannot move an order from `{from}` to `{status}` (allowed: awaiting_fulfillment→processing, awaiting_fulfillment→shipped, processing→shipped)"
            )),
        }
    }
}
