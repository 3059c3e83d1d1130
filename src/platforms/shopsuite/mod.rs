//! ShopSuite trade API (PLATFORMS.md §4): the second buyer side — orders we placed in a mall,
//! with their shipments embedded (`logistics[]`), returns, and cancel/receive pushes.
//!
//! The order list has no updated-since filter: each pass lists by creation time from the cursor
//! (or the backfill) widened to `lookback_days`, then re-reads by detail every stored open order
//! the listing did not cover. Logistics rows are committed with their order, in one batch.

pub mod map;
pub mod wire;

use crate::model::{OrderStatus, PushKind, Stream};
use crate::platforms::bearer::BearerClient;
use crate::platforms::http::Idempotency;
use crate::platforms::paging::{for_each_page, PageOf};
use crate::platforms::values::{self, cst};
use crate::platforms::window::{self, DayWindow};
use crate::platforms::{
    envelope, one_by_one, push_outcome, Batch, Capabilities, Connector, ConnectorParts, PushItem, PushOutcome,
    PushPayload, ReadBack, Sink, SyncError, SyncRequest,
};
use async_trait::async_trait;
use chrono::{NaiveDate, NaiveTime, TimeZone};
use futures_util::{stream, StreamExt};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

/// What ShopSuite can do.
pub static CAPABILITIES: Capabilities = Capabilities {
    platform: "shopsuite",
    streams: &[Stream::Orders, Stream::Refunds],
    pushes: &[PushKind::Status],
    push_statuses: &[OrderStatus::Cancelled, OrderStatus::Completed],
    max_batch: 1,
    read_back: &[PushKind::Status],
    stream_gaps: &[(Stream::Shipments, "shipments come with the orders stream (each order embeds its logistics rows)")],
    options: &["cancel_reason"],
    credentials: &["token"],
    notes: &["buyer side: `cancelled` cancels our order (with options.cancel_reason), `completed` confirms receipt"],
};

/// Detail calls in flight at once per shop (the shop's rate limit still applies to each).
const DETAIL_CONCURRENCY: usize = 4;

/// The ShopSuite connector for one shop.
pub struct ShopSuite {
    client: BearerClient,
    cancel_reason: String,
}

/// Builds the connector (registry entry).
pub fn build(parts: ConnectorParts<'_>) -> Result<Arc<dyn Connector>, String> {
    let token = parts.credential("token")?;
    let cancel_reason =
        parts.shop.options.get("cancel_reason").cloned().unwrap_or_else(|| wire::DEFAULT_CANCEL_REASON.to_string());
    Ok(Arc::new(ShopSuite { client: BearerClient::new(parts.http, token), cancel_reason }))
}

fn query(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Unix milliseconds of a CST day's first and last instant.
fn day_bounds_ms(w: DayWindow) -> (i64, i64) {
    let at = |day: NaiveDate, t: NaiveTime| {
        cst().from_local_datetime(&day.and_time(t)).single().map(|t| t.timestamp_millis())
    };
    let start = at(w.start, NaiveTime::MIN).unwrap_or_default();
    let end = at(w.end + chrono::Duration::days(1), NaiveTime::MIN).unwrap_or_default() - 1;
    (start, end)
}

impl ShopSuite {
    async fn get(&self, path: &str, q: Vec<(String, String)>) -> Result<Value, SyncError> {
        self.client.call(Method::GET, path, q, Vec::new(), Idempotency::Read).await
    }

    /// One page of a `records`/`total` list.
    async fn page(&self, path: &str, mut q: Vec<(String, String)>, page: u64) -> Result<PageOf, SyncError> {
        q.extend(query(&[("page", page.to_string()), ("size", wire::PAGE_SIZE.to_string()), ("sort", "asc".into())]));
        let mut answer = self.get(path, q).await?;
        let rows = envelope::list_at(&mut answer, "/data/items", path)?;
        let data = answer.get("data").cloned().unwrap_or(Value::Null);
        // `total` counts pages, not rows (the vendor's own app pages until page >= total).
        let more = match values::int(&data, "total").ok().flatten() {
            Some(pages) => (page as i64) < pages,
            None => rows.len() >= wire::PAGE_SIZE,
        };
        Ok(PageOf { rows, more })
    }

    fn order_batch(rows: &[Value], seen: &mut HashSet<String>) -> Batch {
        let mut batch = Batch::default();
        batch.read(rows, (Stream::Orders, "order_id"), map::order, |b, (order, shipments)| {
            b.orders.push(order);
            b.shipments.extend(shipments);
        });
        seen.extend(batch.orders.iter().map(|o| o.order_no.clone()));
        batch
    }

    async fn sync_orders(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let mut seen = HashSet::new();
        for w in window::pass_span(req, true).split(wire::WINDOW_DAYS) {
            let (start, end) = day_bounds_ms(w);
            let q = query(&[
                ("createTimeStart", start.to_string()),
                ("createTimeEnd", end.to_string()),
                ("sidx", "order_time".into()),
            ]);
            let cursor = w.cursor();
            let seen = &mut seen;
            for_each_page(
                wire::ORDER_LIST,
                |page| self.page(wire::ORDER_LIST, q.clone(), page),
                |rows, last| {
                    let mut batch = Self::order_batch(&rows, seen);
                    batch.cursor = last.then(|| cursor.clone());
                    sink.commit(batch)
                },
            )
            .await?;
        }
        // Open orders created before the look-back still change: read each by its detail.
        let open: Vec<String> = req.open_orders.iter().filter(|o| !seen.contains(*o)).cloned().collect();
        let mut details =
            stream::iter(open).map(|id| self.detail(id)).buffered(DETAIL_CONCURRENCY).chunks(wire::PAGE_SIZE);
        while let Some(chunk) = details.next().await {
            let rows = chunk.into_iter().collect::<Result<Vec<_>, _>>()?;
            sink.commit(Self::order_batch(&rows.into_iter().flatten().collect::<Vec<_>>(), &mut seen))?;
        }
        Ok(())
    }

    /// One order by its detail; `None` when the mall no longer knows it (kept as stored).
    async fn detail(&self, id: String) -> Result<Option<Value>, SyncError> {
        match self.get(wire::ORDER_DETAIL, query(&[("order_id", id.clone())])).await {
            Ok(answer) => Ok(answer.get("data").cloned().filter(|d| !d.is_null())),
            Err(SyncError::Vendor { msg, .. }) => {
                tracing::warn!(order = id, msg, "ShopSuite no longer returns this stored order; keeping what we have");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn sync_refunds(&self, sink: &mut dyn Sink) -> Result<(), SyncError> {
        let q = query(&[("sidx", "return_add_time".into())]);
        for_each_page(
            wire::RETURN_LIST,
            |page| self.page(wire::RETURN_LIST, q.clone(), page),
            |rows, _| {
                let mut batch = Batch::default();
                batch.read(&rows, (Stream::Refunds, "return_id"), map::refund, |b, r| b.refunds.push(r));
                sink.commit(batch)
            },
        )
        .await
    }

    async fn push_one(&self, item: &PushItem) -> Result<PushOutcome, SyncError> {
        let (path, q) = match &item.payload {
            PushPayload::Status { status: OrderStatus::Cancelled } => (
                wire::CANCEL,
                query(&[("orderId", item.order_no.clone()), ("orderCancelReason", self.cancel_reason.clone())]),
            ),
            PushPayload::Status { status: OrderStatus::Completed } => {
                (wire::RECEIVE, query(&[("orderId", item.order_no.clone())]))
            }
            other => return Ok(PushOutcome::Refused(format!("shopsuite cannot take {other:?}"))),
        };
        push_outcome(self.client.call(Method::POST, path, q, Vec::new(), Idempotency::Write).await)
    }
}

#[async_trait]
impl Connector for ShopSuite {
    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn sync(&self, req: &SyncRequest, sink: &mut dyn Sink) -> Result<(), SyncError> {
        match req.stream {
            Stream::Orders => self.sync_orders(req, sink).await,
            Stream::Refunds => self.sync_refunds(sink).await,
            Stream::Shipments => Err(SyncError::Shape {
                path: String::new(),
                detail: "ShopSuite shipments come with the orders stream".into(),
            }),
        }
    }

    async fn push(&self, items: &[PushItem]) -> Result<Vec<PushOutcome>, SyncError> {
        one_by_one(items, |item| self.push_one(item)).await
    }

    async fn read_back(&self, items: &[PushItem]) -> Result<Vec<ReadBack>, SyncError> {
        one_by_one(items, |item| async move {
            let detail = self.detail(item.order_no.clone()).await?;
            let state = detail.and_then(|d| values::int(&d, "order_state_id").ok().flatten());
            let target = match &item.payload {
                PushPayload::Status { status: OrderStatus::Cancelled } => Some(wire::STATE_CANCELLED),
                PushPayload::Status { status: OrderStatus::Completed } => Some(wire::STATE_RECEIVED),
                _ => None,
            };
            Ok(if state.is_some() && state == target { ReadBack::Applied } else { ReadBack::NotApplied })
        })
        .await
    }
}
